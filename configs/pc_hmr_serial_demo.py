# Serial PC-HMR demo on the embedded synthetic assets, sized for a CPU: it
# TRAINS a few iterations end to end (mesh stream + lifter + calibration).
#
#   .venv/bin/python tools/make_synthetic_assets.py --out data/synthetic
#   .venv/bin/python tools/train.py configs/pc_hmr_serial_demo.py
#
# Same framework as configs/pc_hmr_serial_mpt_h36m.py (MPT mesh stream ->
# H3.6M joints -> weak-perspective projection -> 2D-to-3D lifter -> target
# pose -> calibration neck), but it does not need the image datasets: the
# mesh stream reads the MoCap heatmap tokens of MPT pre-training
# (MPTMoCapHeatmapDataset on the synthetic AMASS-format motions, GT meshes
# from its cache). SHRUNK, to fit a 2-core CPU in a minute:
# - synthetic SMPL-format body model and motions (tools/make_synthetic_assets);
# - MPT transformer hidden sizes 128/64/32 and 1 layer per block (paper:
#   1024/256/64, 4 layers) on 112x112 heatmaps (paper 224x224);
# - the image variant of the lifter (MMPose image_pose_lift: TCN with
#   kernel sizes (1, 1, 1), i.e. a fully connected network on one frame)
#   with 128 channels (stock: 1024) instead of VideoPose3D's 243 frames;
#   its ImagePoseLifting statistics are crop statistics (centre S/2,
#   spread S/4 px for every joint; no target statistics: metres): the MoCap
#   heatmap frame is the lifter's image (lifter_input_frame='crop'; stock
#   statistics are of full 1000 x 1002 px H3.6M images);
# - trained from scratch for 2 epochs, so every module runs at the base lr
#   (the paper fine-tunes pretrained streams at 1e-5 and the neck at 1e-3,
#   see configs/pc_hmr_serial_mpt_h36m.py).
_base_ = ['./_base_/default_runtime.py', './_base_/schedules/pc_hmr_adam.py']
# registers PCHMREstimator and its streams (also when the package's
# __init__ does not import them)
custom_imports = dict(
    imports=['mpt_plugin', 'mpt_plugin.models.estimators.pc_hmr_estimator'],
    allow_failed_imports=False)

synthetic_root = 'data/synthetic'
data_root = f'{synthetic_root}/amass'
body_model_dir = f'{synthetic_root}/body_models'
cache_root = f'{synthetic_root}/cache'
body_model = dict(
    model_path=body_model_dir,
    joints_regressor=f'{body_model_dir}/J_regressor_h36m.npy',
    gender='neutral')
heatmap_size = 112
max_epochs = 2
lifter_channels = 128

model = dict(
    type='PCHMREstimator',
    framework='serial',
    input_size=heatmap_size,
    data_preprocessor=dict(
        type='MPTMoCapDataPreprocessor',
        heatmap_size=heatmap_size,
        # poses the MoCap bodies (each subject's gender) on the device
        body_model=dict(body_model, gender='subject'),
        mhm=dict(type='MPTMaskedHeatmapModeling')),
    body_model=body_model,
    mesh_stream=dict(
        type='PCHMRMPTMeshStream',
        mpt=dict(
            type='MPTPretrainEstimator',
            head=dict(
                type='MPTMeshTransformerHead',
                input_size=heatmap_size,
                embed_dims=(128, 64, 32),
                hidden_dims=(128, 64, 32),
                num_layers=1,
                num_heads=4,
                attn_drop_rate=0.0,
                global_feature='flatten',  # as mpt_pretrain_*.py
                loss=None),
            body_model=body_model,
            mesh_sampler=f'{body_model_dir}/mesh_downsampling.npz')),
    pose_lifter=dict(
        type='PoseLifter',
        backbone=dict(
            type='TCN',
            in_channels=2 * 17,
            stem_channels=lifter_channels,
            num_blocks=2,
            kernel_sizes=(1, 1, 1),
            dropout=0.5),
        head=dict(
            type='TemporalRegressionHead',
            in_channels=lifter_channels,
            num_joints=16,
            loss=dict(type='MSELoss'),
            decoder=dict(
                type='ImagePoseLifting',
                num_keypoints=17,
                root_index=0,
                remove_root=True,
                keypoints_mean=[[heatmap_size / 2] * 2] * 17,
                keypoints_std=[[heatmap_size / 4] * 2] * 17))),
    # no camera image behind the MoCap heatmaps: the heatmap frame is the
    # lifter's image
    lifter_input_frame='crop',
    neck=dict(type='PCHMRPoseCalibrationNeck'),
    loss_weights=dict(vertices=1.0, joints=1.0, pose=1.0))

dataset_common = dict(
    type='MPTMoCapHeatmapDataset',
    data_root=data_root,
    cache_root=cache_root,
    num_views=4)
train_dataloader = dict(
    batch_size=16,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(dataset_common, split='train', sample_fps=2))
val_dataloader = dict(
    batch_size=32,
    num_workers=0,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(dataset_common, split='val', sample_fps=2))
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
