# Schedule, optimiser and evaluation shared by the PC-HMR configs.
# The paper trains each module with its own learning rate: the pre-trained
# mesh stream and pose lifter slowly (lr_mult 0.01), the calibration neck at
# the base rate. A config sets `train_cfg = dict(max_epochs=...)` and
# overrides what differs (the demos train everything at 1.0 from scratch).
_base_ = ['./default_runtime.py']

val_evaluator = dict(type='MeshMetric', metric=('mpjpe', 'pa-mpjpe', 'pve'))
test_evaluator = val_evaluator

train_cfg = dict(by_epoch=True, val_interval=5)
val_cfg = dict()
test_cfg = dict()

optim_wrapper = dict(
    optimizer=dict(type='Adam', lr=1e-3),
    paramwise_cfg=dict(
        custom_keys={
            'mesh_stream': dict(lr_mult=0.01),
            'pose_lifter': dict(lr_mult=0.01),
            'neck': dict(lr_mult=1.0)
        }))
param_scheduler = []
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(type='MPTAtomicCheckpointHook', interval=5,
                    max_keep_ckpts=3, save_best='mesh/PVE', rule='less'))
