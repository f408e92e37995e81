# Parallel PC-HMR demo with a Key2Mesh mesh stream on the embedded synthetic
# assets, sized for a CPU: it TRAINS a few iterations end to end.
#
#   .venv/bin/python tools/make_synthetic_assets.py --out data/synthetic
#   .venv/bin/python tools/train.py configs/pc_hmr_parallel_key2mesh_demo.py
#
# Same framework as configs/pc_hmr_parallel_key2mesh_3dpw.py: the mesh
# stream (Key2Mesh) and the pose stream (a VideoPose3D-style TCN lifter) read
# the same normalised 2D keypoints (OpenPose-18, synthesised on the fly from
# AMASS SMPL parameters by Key2MeshAMASSPairsDataset +
# Key2MeshPairsPreprocessor); the lifter's target pose calibrates the
# Key2Mesh mesh, with the neck's shape compensation switched on.
# SHRUNK, to fit a 2-core CPU in a minute:
# - synthetic SMPL-format body model and AMASS-format motions;
# - Key2Mesh feature width 64 and 1 residual block (paper: 1024, 2);
# - lifter: the image (1-frame) VideoPose3D TCN (kernel sizes 1, 1, 1) with
#   64 channels (stock 1024): the AMASS pairs are single frames, so a video
#   lifter would only ever see one frame replicated (the video path is
#   configs/pc_hmr_parallel_video_demo.py); its input is the Key2Mesh unit
#   box mapped to [-1, 1] and used as the "image" (lifter_input_frame=
#   'crop'), the frame it is trained on here from scratch;
# - shape-compensation MLP width 32 (default 256);
# - trained from scratch for 5 epochs of 160 samples, so every module
#   runs at the base lr (the paper fine-tunes at 1e-5, the neck at 1e-3).
# It inherits the model and schedule fragments of
# configs/pc_hmr_parallel_key2mesh_3dpw.py rather than that config, whose
# 3DPW loaders and best-checkpoint selection it does not use.
_base_ = [
    './_base_/default_runtime.py', './_base_/models/pc_hmr_key2mesh.py',
    './_base_/schedules/pc_hmr_adam.py'
]
# registers PCHMREstimator and its streams (also when the package's
# __init__ does not import them)
custom_imports = dict(
    imports=['mpt_plugin', 'mpt_plugin.models.estimators.pc_hmr_estimator'],
    allow_failed_imports=False)

synthetic_root = 'data/synthetic'
data_root = f'{synthetic_root}/amass'
body_model_dir = f'{synthetic_root}/body_models'
body_model = dict(
    model_path=body_model_dir,
    joints_regressor=f'{body_model_dir}/J_regressor_h36m.npy',
    gender='neutral')
smpl = dict(type='MPTSMPL', model_path=body_model_dir, gender='neutral')
max_epochs = 5
lifter_channels = 64

model = dict(
    data_preprocessor=dict(type='Key2MeshPairsPreprocessor', body_model=smpl),
    body_model=body_model,
    mesh_stream=dict(
        regressor=dict(hidden_dim=64, num_blocks=1, body_model=smpl)),
    pose_lifter=dict(
        backbone=dict(stem_channels=lifter_channels, num_blocks=2,
                      kernel_sizes=(1, 1, 1)),
        head=dict(in_channels=lifter_channels)),
    neck=dict(shape_compensation=dict(hidden_dim=32)))

dataset_common = dict(type='Key2MeshAMASSPairsDataset', data_root=data_root)
train_dataloader = dict(
    batch_size=16,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(dataset_common, split='train', num_samples=160))
val_dataloader = dict(
    batch_size=32,
    num_workers=0,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(dataset_common, split='val', num_samples=32,
                 test_mode=True))
test_dataloader = val_dataloader
val_evaluator = dict(type='MPTMeshMetric', metric=('mpjpe', 'pa-mpjpe', 'pve'))
test_evaluator = val_evaluator
train_cfg = dict(max_epochs=max_epochs, val_interval=1)
# the paper's per-module lr structure, all 1.0 here (trained from scratch)
optim_wrapper = dict(
    paramwise_cfg=dict(
        custom_keys=dict(mesh_stream=dict(lr_mult=1.0),
                         pose_lifter=dict(lr_mult=1.0))))
default_hooks = dict(
    logger=dict(interval=5),
    checkpoint=dict(interval=1, max_keep_ckpts=1))
