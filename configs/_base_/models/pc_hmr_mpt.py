# PC-HMR (Luan et al., AAAI 2021, Sec. 3.2-3.3) with the MPT mesh regressor
# as the mesh stream, on image crops. Serial framework (Fig. 2a): image ->
# HRNet-W32 heatmaps -> MPT transformer -> mesh M^hmr and weak-perspective
# camera -> J^hmr = U M^hmr (17 H3.6M joints, Eq. 2) -> 2D pose by the
# camera (Eq. 3) -> 1-frame VideoPose3D lifter -> J^target (Eq. 4) ->
# calibration neck with shape compensation (Eq. 5, Sec. 3.3, Table 3's
# default design) -> M^target. The parallel configs set `framework` and
# what their pose stream reads.
_base_ = [
    './smpl.py', './mpt_mesh_transformer.py', './hrnet_w32.py',
    './videopose3d_243.py'
]

input_size = 224  # image crops

model = dict(
    type='PCHMREstimator',
    framework='serial',
    input_size=input_size,
    data_preprocessor=dict(
        type='MPTMeshDataPreprocessor',
        body_model=_base_.gt_body_model,
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True),
    body_model=_base_.body_model,
    mesh_stream=dict(
        type='PCHMRMPTMeshStream',
        mpt=dict(
            type='MPTPretrainEstimator',
            head=dict(_base_.mpt_mesh_transformer, input_size=input_size,
                      loss=None),
            body_model=_base_.body_model,
            mesh_sampler=_base_.mesh_sampler),
        heatmap_estimator=_base_.heatmap_estimator),
    # 1-frame VideoPose3D (MMPose's video-pose-lift_tcn-1frm config): the
    # 243-frame model with every kernel size 1
    pose_lifter=dict(
        _base_.videopose3d_243,
        backbone=dict(_base_.videopose3d_243.backbone,
                      kernel_sizes=(1, 1, 1, 1, 1))),
    # Lifter input: the 2D pose mapped back from the crop to the original
    # camera image (MPTMeshAffine's crop_affine) and normalised by the image
    # size, (x - (w/2, h/2)) / (w/2), as the stock VideoPoseLifting codec
    # was trained (not crop-normalised).
    lifter_input_frame='image',
    neck=dict(
        type='PCHMRPoseCalibrationNeck',
        shape_compensation=dict(hidden_dim=256)),
    loss_weights=dict(vertices=1.0, joints=1.0, pose=1.0))
