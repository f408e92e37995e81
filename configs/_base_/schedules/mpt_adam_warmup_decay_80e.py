# MPT's fine-tuning schedule (Lin et al., section 4.1, appendix E), 80
# epochs (x max(dataset sizes) samples each, see
# configs/mpt_finetune_mixed.py): Adam, lr 2e-4, warm-up over the first
# 10 % of the steps then linear decay to 0; validation every 5 epochs.
# auto_scale_lr's reference: 16 GPUs x 32.
max_epochs = 80

train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=5)
val_cfg = dict()
test_cfg = dict()

optim_wrapper = dict(optimizer=dict(type='Adam', lr=2e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, end_factor=1.0, by_epoch=True,
         begin=0, end=max_epochs * 0.1, convert_to_iter_based=True),
    dict(type='LinearLR', start_factor=1.0, end_factor=0.0, by_epoch=True,
         begin=max_epochs * 0.1, end=max_epochs,
         convert_to_iter_based=True),
]
auto_scale_lr = dict(base_batch_size=512, enable=False)
