# Parallel PC-HMR VIDEO demo on synthetic rendered image sequences, sized
# for a CPU: it TRAINS a few iterations end to end with real 2D windows.
#
#   .venv/bin/python tools/make_synthetic_assets.py --out data/synthetic
#   .venv/bin/python tools/make_synthetic_images.py --all \
#       --data-prefix data/synthetic_images \
#       --body-model-dir data/synthetic/body_models
#   .venv/bin/python tools/train.py configs/pc_hmr_parallel_video_demo.py
#
# Same pipeline as configs/pc_hmr_parallel_mpt_h36m.py (the video config):
# each sample is one image (mesh stream) plus the 2D keypoints of T frames of
# its own sequence (MPTHumanDataSequenceDataset: the image folder is the
# sequence, the number in the file name the frame; consecutive stored frames,
# frame_stride=1; the ends padded by edge replication as VideoPose3D pads),
# the centre frame's flip / rotation applied to the window
# (MPTMeshSequenceAlign), the window normalised by the image size the way
# MMPose's VideoPoseLifting codec does, (x - (w/2, h/2)) / (w/2), and lifted
# by a TCN whose receptive field is T. SHRUNK, to fit a 2-core CPU:
# - T = 9 frames (kernel sizes 3, 3; the paper's VideoPose3D: 243) with 32
#   channels (stock 1024): the synthetic sequences have 8 frames, so every
#   window is padded at one end or both;
# - the synthetic files keep every 5th frame id like mmhuman3d's h36m files
#   (expected_frame_step=5; the paper config demands 1, i.e. 50 fps);
# - synthetic SMPL-format body model and rendered people (random poses per
#   frame: the sequences test the sampling, not temporal smoothness);
# - 64x64 crops, a tiny HRNet (8-64 channels, 1 block per stage, random
#   init) and a tiny MPT head (32x32 maps, 16 tokens, hidden 64/32/16);
# - trained from scratch for 1 epoch, every module at lr 1e-3.
_base_ = ['./pc_hmr_parallel_mpt_h36m.py']

data_prefix = 'data/synthetic_images'
body_model_dir = 'data/synthetic/body_models'
body_model = dict(
    model_path=body_model_dir,
    joints_regressor=f'{body_model_dir}/J_regressor_h36m.npy',
    gender='neutral')
crop_size = 64
map_size = 32  # side of the heatmaps read by the MPT head
seq_len = 9
lifter_channels = 32
max_epochs = 1

tiny_hrnet = dict(
    type='HRNet',
    in_channels=3,
    extra=dict(
        stage1=dict(num_modules=1, num_branches=1, block='BOTTLENECK',
                    num_blocks=(1, ), num_channels=(8, )),
        stage2=dict(num_modules=1, num_branches=2, block='BASIC',
                    num_blocks=(1, 1), num_channels=(8, 16)),
        stage3=dict(num_modules=1, num_branches=3, block='BASIC',
                    num_blocks=(1, 1, 1), num_channels=(8, 16, 32)),
        stage4=dict(num_modules=1, num_branches=4, block='BASIC',
                    num_blocks=(1, 1, 1, 1), num_channels=(8, 16, 32, 64))))

model = dict(
    input_size=crop_size,
    data_preprocessor=dict(body_model=dict(body_model, gender='subject')),
    body_model=body_model,
    mesh_stream=dict(
        mpt=dict(
            head=dict(
                input_size=map_size,
                embed_dims=(64, 32, 16),
                hidden_dims=(64, 32, 16),
                num_layers=1,
                num_heads=4,
                attn_drop_rate=0.0),
            body_model=body_model,
            mesh_sampler=f'{body_model_dir}/mesh_downsampling.npz'),
        heatmap_estimator=dict(
            backbone=tiny_hrnet,
            head=dict(
                in_channels=8,
                decoder=dict(
                    input_size=(crop_size, crop_size),
                    heatmap_size=(crop_size // 4, crop_size // 4))))),
    pose_lifter=dict(
        backbone=dict(stem_channels=lifter_channels, num_blocks=1,
                      kernel_sizes=(3, 3)),
        head=dict(in_channels=lifter_channels)),
    neck=dict(shape_compensation=dict(hidden_dim=32)))

video_train_pipeline = [
    dict(type='LoadImage'),
    dict(type='MPTMeshRandomFlip', prob=0.5, convention='h36m'),
    dict(type='MPTMeshRandomScaleRotation', rot_factor=30, scale_factor=0.25),
    dict(type='MPTMeshAffine', input_size=crop_size),
    dict(type='MPTMeshColorNoise', noise_factor=0.4),
    dict(type='MPTMeshSequenceAlign', convention='h36m'),
    dict(type='MPTPackMeshSequenceInputs')
]
video_test_pipeline = [
    dict(type='LoadImage'),
    dict(type='MPTMeshAffine', input_size=crop_size),
    dict(type='MPTMeshSequenceAlign', convention='h36m'),
    dict(type='MPTPackMeshSequenceInputs')
]
video_dataset = dict(
    type='MPTHumanDataSequenceDataset',
    data_prefix=data_prefix,
    dataset_name='h36m',
    convention='h36m',
    seq_len=seq_len,
    frame_stride=1,
    id_format='h36m',
    expected_frame_step=5)
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(video_dataset, ann_file='h36m_train.npz',
                 pipeline=video_train_pipeline))
# validation: subject S8 of the synthetic h36m_train.npz, held out of
# training by the base config's split (the default 64-image file holds S1,
# S5, S6, S7, S8); the synthetic protocol-2 file is the test set only
val_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(video_dataset, ann_file='h36m_train.npz',
                 test_mode=True, pipeline=video_test_pipeline))
test_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(video_dataset, ann_file='h36m_valid_protocol2.npz',
                 test_mode=True, pipeline=video_test_pipeline))

# the synthetic protocol-2 test file has no SMPL (as the real one): no PVE
test_evaluator = dict(type='MPTMeshMetric', metric=('mpjpe', 'pa-mpjpe'))
train_cfg = dict(max_epochs=max_epochs, val_interval=1)
# trained from scratch: every module at the base lr
optim_wrapper = dict(
    paramwise_cfg=dict(
        custom_keys=dict(mesh_stream=dict(lr_mult=1.0),
                         pose_lifter=dict(lr_mult=1.0))))
default_hooks = dict(
    logger=dict(interval=5),
    # a demo: no best-checkpoint selection
    checkpoint=dict(interval=1, max_keep_ckpts=1, save_best=None))
