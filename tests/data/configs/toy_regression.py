# A tiny config to test the training machinery (tools/train.py, tools/test.py,
# distributed launch, resume) on a CPU in seconds: a synthetic regression
# dataset and a two-layer MLP from mpt_plugin.testing.
_base_ = ['../../../configs/_base_/default_runtime.py']

# the toy components live in mpt_plugin.testing
custom_imports = dict(
    imports=['mpt_plugin', 'mpt_plugin.testing'], allow_failed_imports=False)

in_channels = 4
out_channels = 2

model = dict(
    type='MPTToyRegressor',
    in_channels=in_channels,
    hidden_channels=16,
    out_channels=out_channels,
    data_preprocessor=dict(type='MPTToyDataPreprocessor'))

dataset_cfg = dict(
    type='MPTToyRegressionDataset',
    in_channels=in_channels,
    out_channels=out_channels,
    noise_std=0.01,
    weight_seed=0)

# 12 samples, 4 per batch: 8 iterations pass the data several times in a
# shuffled order. InfiniteSampler avoids the 2 s pause MMEngine's iteration
# loop makes whenever a finite (DefaultSampler) dataloader restarts.
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(num_samples=12, sample_seed=1, **dataset_cfg))
val_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(num_samples=8, sample_seed=2, test_mode=True, **dataset_cfg))
test_dataloader = val_dataloader
val_evaluator = dict(type='MPTToyMSEMetric')
test_evaluator = val_evaluator

optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.05, momentum=0.9))
param_scheduler = [
    dict(type='MultiStepLR', by_epoch=False, milestones=[6], gamma=0.5)
]
auto_scale_lr = dict(base_batch_size=4, enable=False)

train_cfg = dict(type='IterBasedTrainLoop', max_iters=8, val_interval=4)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

default_hooks = dict(
    logger=dict(interval=1),
    checkpoint=dict(interval=2, by_epoch=False, max_keep_ckpts=-1))
log_processor = dict(by_epoch=False, window_size=1)
