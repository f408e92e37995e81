# Key2Mesh pre-training schedule (released settings; the scheduler is
# LGD's): Adam lr 1e-3, StepLR x0.8 every epoch, 10 epochs, batch 256;
# validation every epoch.
max_epochs = 10

train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
val_cfg = dict()
test_cfg = dict()

optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-3))
param_scheduler = [
    dict(type='StepLR', by_epoch=True, step_size=1, gamma=0.8),
]
auto_scale_lr = dict(base_batch_size=256, enable=False)
