# The released hand mesh code's FreiHAND schedule (METRO / Mesh Graphormer,
# shared/reference/hand_spec.md): Adam, lr 1e-4, 200 epochs, x0.1 at epoch
# 100; 8 GPUs x 32 images. No validation during training: the released
# code keeps the last model (FreiHAND has no validation split, and its
# evaluation split is the test set).
max_epochs = 200

train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
val_cfg = None
val_dataloader = None
val_evaluator = None
test_cfg = dict()

optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-4))
param_scheduler = [
    dict(type='MultiStepLR', by_epoch=True, milestones=[100], gamma=0.1),
]
auto_scale_lr = dict(base_batch_size=256, enable=False)
