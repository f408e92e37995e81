# Schedule and optimiser of the PC-HMR configs (Luan et al., Sec. 4). The
# paper trains each module with its own learning rate: the pre-trained
# mesh stream and pose lifter slowly (lr_mult 0.01: 1e-5), the calibration
# neck at the base rate 1e-3. The optimiser is not named by the paper;
# Adam, as HMR and VideoPose3D. A config sets train_cfg.max_epochs and
# overrides what differs (the demos train everything at 1.0 from scratch).
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
