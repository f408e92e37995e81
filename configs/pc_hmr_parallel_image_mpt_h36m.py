# Parallel PC-HMR (Luan et al., AAAI 2021, Sec. 3.2, Fig. 2b) on Human3.6M
# with the MPT mesh regressor as the mesh stream: the IMAGE-LIFTER variant
# (one frame in, no temporal context).
#
#   tools/dist_train.sh configs/pc_hmr_parallel_image_mpt_h36m.py 8
#
# Mesh stream: image -> HRNet heatmaps -> MPT transformer -> M^hmr.
# Pose stream: the same image -> 2D pose estimator (a stock MMPose
# TopdownPoseEstimator, decoded by a differentiable soft-argmax) -> 2D pose
# of the 17 H3.6M joints -> 1-frame VideoPose3D (MMPose's
# video-pose-lift_tcn-1frm config, kernel sizes (1, 1, 1, 1, 1)) ->
# J^target. The calibration neck (with shape compensation, Table 3's default
# design) deforms M^hmr from U M^hmr to J^target.
#
# The paper's Table 2 rows with a 2D estimator and an image lifter use
# SemanticGCN; MMPose 1.x ships no SemanticGCN, and the 1-frame VideoPose3D
# is its image lifter. MMPose 1.x ships no CPN either, so an HRNet-W32
# top-down model stands in (Table 2's HRNet rows); it must be trained on the
# H3.6M 2D joints (17 outputs in the regressor's order) before fine-tuning.
# The video variant (243 real frames) is configs/pc_hmr_parallel_mpt_h36m.py.
#
# Lifter input (lifter_input_frame='image', set by
# _base_/models/pc_hmr_mpt.py): the soft-argmax 2D of the crop is mapped
# back to the original camera image (MPTMeshAffine's crop_affine) and
# normalised by the image size, (x - (w/2, h/2)) / (w/2), as MMPose's
# VideoPoseLifting codec feeds the stock checkpoint; not crop-normalised.
#
# Paper settings (Sec. 4) as configs/pc_hmr_serial_mpt_h36m.py: streams
# pretrained separately, then 90 epochs of fine-tuning, mini-batch 1024,
# lr 1e-3 (calibration module) / 1e-5 (the other modules).
_base_ = [
    './_base_/pc_hmr_runtime.py', './_base_/models/pc_hmr_mpt.py',
    './_base_/datasets/h36m_images.py', './_base_/schedules/pc_hmr_adam.py'
]

max_epochs = 90

model = dict(
    framework='parallel',
    # the HRNet-W32 heatmap estimator of _base_/models/hrnet_w32.py (a base's
    # variable is reachable only through `_base_`)
    pose_estimator_2d=_base_.heatmap_estimator)

optim_wrapper = dict(
    paramwise_cfg=dict(
        custom_keys={
            'pose_estimator_2d': dict(lr_mult=0.01)
        }))
train_cfg = dict(max_epochs=max_epochs)
auto_scale_lr = dict(base_batch_size=1024, enable=False)
