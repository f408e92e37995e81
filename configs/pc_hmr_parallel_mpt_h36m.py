# Parallel PC-HMR (Luan et al., AAAI 2021, Sec. 3.2, Fig. 2b) on Human3.6M
# with the MPT mesh regressor as the mesh stream.
#
#   tools/dist_train.sh configs/pc_hmr_parallel_mpt_h36m.py 8
#
# VIDEO config (Table 2's parallel HMR + VideoPose3D rows; CPN 2D: MPVE
# 61.1 mm, also Table 1).
# Mesh stream: image of the target frame -> HRNet heatmaps -> MPT
# transformer -> M^hmr.
# Pose stream: the 2D poses of 243 frames of the target frame's sequence
# (MPTHumanDataSequenceDataset: frames t - 121 .. t + 121 of the same
# subject/action/camera folder, consecutive stored frames (frame_stride=1),
# ends padded by edge replication as VideoPose3D pads) -> VideoPose3D
# (243-frame TCN, MMPose's video-pose-lift_tcn-243frm-supv-cpn-ft) ->
# J^target of the centre frame. The calibration neck (with shape
# compensation, Table 3's default design) deforms M^hmr from U M^hmr to
# J^target. The centre frame's image / 3D / SMPL labels are the targets.
#
# The 2D window is the annotation file's `keypoints2d`, as the paper takes
# "2D pose in the official code of VideoPose3D" (CPN detections of every
# frame); mmhuman3d's h36m files hold GROUND-TRUTH 2D there, which gives an
# upper bound, not the CPN row: write the detections (CPN, or HRNet for the
# HRNet row) into `keypoints2d` of the files to reproduce the paper.
# Lifter input normalisation: original-image pixels, (x - (w/2, h/2)) / (w/2)
# with the image size of each frame (MMPose's VideoPoseLifting codec and
# VideoPose3D's normalize_screen_coordinates: what the stock checkpoint was
# trained on; the 3D target is root-centred), NOT crop-normalised.
# Frame rate: VideoPose3D's 243 frames are 50 fps frames (4.9 s). mmhuman3d
# keeps every 5th Human3.6M frame (ids advance by 5, 10 fps), so
# `expected_frame_step=1` makes the dataset refuse such a file instead of
# silently feeding 24 s windows; convert the videos with every frame.
# The image-lifter variant (HRNet 2D of the target image, 1-frame lifter)
# is configs/pc_hmr_parallel_image_mpt_h36m.py.
#
# Paper settings (Sec. 4) as configs/pc_hmr_serial_mpt_h36m.py: streams
# pretrained separately, then 90 epochs of fine-tuning, mini-batch 1024,
# lr 1e-3 (calibration module) / 1e-5 (the other modules).
_base_ = [
    './_base_/pc_hmr_runtime.py', './_base_/models/pc_hmr_mpt.py',
    './_base_/datasets/h36m_images.py', './_base_/schedules/pc_hmr_adam.py'
]

seq_len = 243  # VideoPose3D's receptive field (kernel sizes 3^5)
frame_stride = 1  # stored frames between window frames
expected_frame_step = 1  # frame ids of a 50 fps file advance by 1
max_epochs = 90

model = dict(
    framework='parallel',
    # the 243-frame VideoPose3D (_base_/models/videopose3d_243.py)
    pose_lifter=dict(backbone=dict(kernel_sizes=(3, 3, 3, 3, 3))),
    lifter_input_frame='image')

# video samples: the image pipelines of _base_/datasets/h36m_images.py
# with MPTMeshSequenceAlign (the centre frame's flip / rotation applied to the
# window) and MPTPackMeshSequenceInputs in place of MPTPackMeshInputs
video_train_pipeline = _base_.train_pipeline[:-1] + [
    dict(type='MPTMeshSequenceAlign', convention='h36m'),
    dict(type='MPTPackMeshSequenceInputs')
]
video_test_pipeline = _base_.test_pipeline[:-1] + [
    dict(type='MPTMeshSequenceAlign', convention='h36m'),
    dict(type='MPTPackMeshSequenceInputs')
]
video_dataset = dict(
    type='MPTHumanDataSequenceDataset',
    seq_len=seq_len,
    frame_stride=frame_stride,
    id_format='h36m',
    expected_frame_step=expected_frame_step)
train_dataloader = dict(
    dataset=dict(video_dataset, pipeline=video_train_pipeline))
val_dataloader = dict(
    dataset=dict(video_dataset, pipeline=video_test_pipeline))
test_dataloader = dict(
    dataset=dict(video_dataset, pipeline=video_test_pipeline))
train_cfg = dict(max_epochs=max_epochs)
auto_scale_lr = dict(base_batch_size=1024, enable=False)
