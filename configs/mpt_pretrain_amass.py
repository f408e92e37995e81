# MPT: Mesh Pre-Training on AMASS with MoCap-generated heatmaps and Masked
# Heatmap Modeling (Lin et al., sections 3.1-3.4, appendices A, B, E).
#
#   tools/dist_train.sh configs/mpt_pretrain_amass.py 16
#
# Paper settings: Adam, lr 2e-4, warm-up over the first 10 % of the steps then
# linear decay to 0, 10 epochs, 2 M meshes sparsely sampled from AMASS, 4
# virtual cameras (H3.6M S1) -> 8 M heatmap-mesh pairs, MHM on; transformer 3
# blocks x 4 layers x 4 heads, hidden sizes 1024/256/64, 8x8 patches of
# 224x224 heatmaps (784 tokens), 431-vertex coarse mesh upsampled to 6890.
# The per-GPU batch size is not given by the paper (16 V100s); 32 per GPU
# (512 in total) is our choice.
_base_ = ['./_base_/default_runtime.py']

data_root = 'data/amass'
body_model_dir = 'data/body_models'
cache_root = 'data/cache'
body_model = dict(
    model_path=body_model_dir,
    joints_regressor=f'{body_model_dir}/J_regressor_h36m.npy',
    gender='neutral')
mesh_sampler = f'{body_model_dir}/mesh_downsampling.npz'
num_views = 4
max_epochs = 10

model = dict(
    type='MPTPretrainEstimator',
    data_preprocessor=dict(
        type='MPTMoCapDataPreprocessor',
        mhm=dict(type='MPTMaskedHeatmapModeling')),
    head=dict(
        type='MPTMeshTransformerHead',
        # Queries get a position-aware summary of the heatmap tokens (like
        # METRO's pooled CNN feature). A plain mean of the patch tokens does
        # not depend on where the joints are, and with it the transformer
        # only learnt the mean pose in our CPU runs (docs/benchmarks.md).
        global_feature='flatten',
        loss=dict(type='MPTMeshLoss')),
    body_model=body_model,
    mesh_sampler=mesh_sampler)

dataset_common = dict(
    type='MPTMoCapHeatmapDataset',
    data_root=data_root,
    body_model=body_model,
    cache_root=cache_root,
    num_views=num_views,
    cache_dtype='float16')

train_dataloader = dict(
    batch_size=32,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(dataset_common, split='train', num_samples=2_000_000))
val_dataloader = dict(
    batch_size=64,
    num_workers=4,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(dataset_common, split='val', num_samples=20_000))
test_dataloader = val_dataloader
val_evaluator = dict(type='MPTMoCapMeshMetric')
test_evaluator = val_evaluator

train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
val_cfg = dict()
test_cfg = dict()

optim_wrapper = dict(optimizer=dict(type='Adam', lr=2e-4))
param_scheduler = [
    # warm-up over the first 10 % of the steps (1 of 10 epochs)
    dict(type='LinearLR', start_factor=1e-3, end_factor=1.0, by_epoch=True,
         begin=0, end=max_epochs * 0.1, convert_to_iter_based=True),
    # then linear decay to 0
    dict(type='LinearLR', start_factor=1.0, end_factor=0.0, by_epoch=True,
         begin=max_epochs * 0.1, end=max_epochs,
         convert_to_iter_based=True),
]
auto_scale_lr = dict(base_batch_size=512, enable=False)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3,
                    save_best='mocap/pa_mpjpe', rule='less'))
