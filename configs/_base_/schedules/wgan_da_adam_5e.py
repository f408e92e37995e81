# Key2Mesh's adaptation schedule (released settings) for the
# MPTWGANDomainAdaptation configs: 5 epochs, batch 256 per domain, one Adam
# (lr 1e-4) for the adapted estimator with StepLR x0.8 per epoch, one for
# the critic at a constant 1e-4; validation every epoch.
max_epochs = 5

train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
val_cfg = dict()
test_cfg = dict()

optim_wrapper = dict(
    constructor='MPTMultiOptimWrapperConstructor',
    estimator=dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=1e-4)),
    critic=dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=1e-4)))
# StepLR on the adapted estimator only; the critic keeps its rate
param_scheduler = dict(
    estimator=[dict(type='StepLR', by_epoch=True, step_size=1, gamma=0.8)],
    critic=[dict(type='ConstantLR', by_epoch=True, factor=1.0)])
auto_scale_lr = dict(base_batch_size=256, enable=False)
