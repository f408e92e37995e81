# Parallel PC-HMR (Luan et al., AAAI 2021) with Key2Mesh as the mesh
# stream. Both streams read 2D keypoints (OpenPose-18, normalised to their
# unit box as Key2Mesh does): the mesh stream is the Key2Mesh regressor
# (paper sizes: 1024 features, 2 residual blocks), the pose stream a
# single-frame VideoPose3D TCN lifter (MMPose's video-pose-lift_tcn-1frm
# config, 36 input channels) predicting the 17 H3.6M joints; the neck
# calibrates the Key2Mesh mesh towards them (shape compensation on, the
# paper's default design).
_base_ = ['./smpl.py', './videopose3d_243.py']

model = dict(
    type='PCHMREstimator',
    framework='parallel',
    # AMASS pairs (training) and keypoint batches (3DPW detections)
    data_preprocessor=dict(type='Key2MeshDataPreprocessor',
                           body_model=_base_.smpl),
    body_model=_base_.body_model,
    mesh_stream=dict(
        type='PCHMRKey2MeshStream',
        regressor=dict(
            type='Key2MeshRegressor',
            num_keypoints=18,
            hidden_dim=1024,
            num_blocks=2,
            body_model=_base_.smpl)),
    pose_lifter=dict(
        _base_.videopose3d_243,
        backbone=dict(_base_.videopose3d_243.backbone, in_channels=2 * 18,
                      kernel_sizes=(1, 1, 1, 1, 1))),
    # The lifter's input is the Key2Mesh unit box mapped to [-1, 1] and
    # treated as its image (no camera image behind the keypoints): the 2D
    # is box-normalised, so this lifter must be trained on that input (a
    # stock H3.6M checkpoint expects the 17 H3.6M joints in full-image
    # coordinates and does not apply).
    lifter_input_frame='crop',
    neck=dict(
        type='PCHMRPoseCalibrationNeck',
        shape_compensation=dict(hidden_dim=256)),
    loss_weights=dict(vertices=1.0, joints=1.0, pose=1.0))
