# MPT's schedule (Lin et al., appendix E), 10 epochs: Adam, lr 2e-4,
# warm-up over the first 10 % of the steps then linear decay to 0;
# validation every epoch. auto_scale_lr's reference: 16 GPUs x 32.
max_epochs = 10

train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
val_cfg = dict()
test_cfg = dict()

optim_wrapper = dict(optimizer=dict(type='Adam', lr=2e-4))
param_scheduler = [
    # warm-up over the first 10 % of the steps (1 of 10 epochs)
    dict(type='LinearLR', start_factor=1e-3, end_factor=1.0, by_epoch=True,
         begin=0, end=max_epochs * 0.1, convert_to_iter_based=True),
    # then linear decay to 0
    dict(type='LinearLR', start_factor=1.0, end_factor=0.0, by_epoch=True,
         begin=max_epochs * 0.1, end=max_epochs,
         convert_to_iter_based=True),
]
auto_scale_lr = dict(base_batch_size=512, enable=False)
