# VideoPose3D (Pavllo et al.) as MMPose's
# video-pose-lift_tcn-243frm-supv-cpn-ft config: a TCN over the 2D poses of
# 243 frames (receptive field 3^5, kernel sizes 3) of the 17 H3.6M joints,
# predicting the centre frame's root-centred 3D joints. With every kernel
# size 1 it is MMPose's 1-frame (image) lifter,
# video-pose-lift_tcn-1frm-supv-cpn-ft.
videopose3d_243 = dict(
    type='PoseLifter',
    backbone=dict(
        type='TCN',
        in_channels=2 * 17,
        stem_channels=1024,
        num_blocks=4,
        kernel_sizes=(3, 3, 3, 3, 3),
        dropout=0.25,
        use_stride_conv=True),
    head=dict(
        type='TemporalRegressionHead',
        in_channels=1024,
        num_joints=17,
        loss=dict(type='MPJPELoss'),
        decoder=dict(
            type='VideoPoseLifting',
            num_keypoints=17,
            zero_center=True,
            root_index=0,
            remove_root=False)))
