# Parallel PC-HMR (Luan et al., AAAI 2021, Sec. 3.2, Fig. 2b) on Human3.6M
# with the MPT mesh regressor as the mesh stream.
#
#   tools/dist_train.sh configs/pc_hmr_parallel_mpt_h36m.py 8
#
# Mesh stream: image -> HRNet heatmaps -> MPT transformer -> M^hmr.
# Pose stream: image -> 2D pose estimator (a stock MMPose
# TopdownPoseEstimator, decoded by a differentiable soft-argmax) -> 2D pose of
# the 17 H3.6M joints -> VideoPose3D lifter (243-frame TCN, the single frame
# replicated) -> J^target. The calibration neck (with shape compensation,
# Table 3's default design) deforms M^hmr from U M^hmr to J^target.
#
# The paper's pose stream is CPN + VideoPose3D (MPVE 61.1 mm, Table 1/2);
# MMPose 1.x ships no CPN, so an HRNet-W32 top-down model stands in (Table
# 2's HRNet row); it must be trained on the H3.6M 2D joints (17 outputs in
# the regressor's order) before fine-tuning.
#
# Paper settings (Sec. 4) as configs/pc_hmr_serial_mpt_h36m.py: streams
# pretrained separately, then 90 epochs of fine-tuning, mini-batch 1024,
# lr 1e-3 (calibration module) / 1e-5 (the other modules).
_base_ = ['./pc_hmr_serial_mpt_h36m.py']

pose_estimator_2d = dict(
    type='TopdownPoseEstimator',
    backbone={{_base_.hrnet_w32}},
    head=dict(
        type='HeatmapHead',
        in_channels=32,
        out_channels=17,
        deconv_out_channels=None,
        loss=dict(type='KeypointMSELoss', use_target_weight=True),
        decoder={{_base_.heatmap_codec}}))

model = dict(framework='parallel', pose_estimator_2d=pose_estimator_2d)

optim_wrapper = dict(
    paramwise_cfg=dict(
        custom_keys={
            'pose_estimator_2d': dict(lr_mult=0.01)
        }))
