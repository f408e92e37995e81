# MPT's fine-tuning schedule (Lin et al., section 4.1, appendix E), 80
# epochs (x max(dataset sizes) samples each, see
# configs/mpt_finetune_mixed.py): the 10-epoch schedule (Adam, lr 2e-4,
# warm-up over the first 10 % of the steps then linear decay to 0)
# stretched to 80 epochs; validation every 5 epochs.
_base_ = ['./mpt_adam_warmup_decay_10e.py']
max_epochs = 80

train_cfg = dict(max_epochs=max_epochs, val_interval=5)
# the same two phases, at 10 % and 100 % of the new length
param_scheduler = [
    dict(_base_.param_scheduler[0], end=max_epochs * 0.1),
    dict(_base_.param_scheduler[1], begin=max_epochs * 0.1, end=max_epochs),
]
