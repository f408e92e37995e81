# MPT pre-training data: 2 M meshes sparsely sampled from AMASS, each seen
# by 4 virtual cameras (H3.6M S1) -> 8 M heatmap-mesh pairs
# (MPTMoCapHeatmapDataset: SMPL parameters in one store under data/cache,
# bodies posed on the training device by the model's data preprocessor).
# Validation and
# test: 20 k frames of the AMASS 'val' sequences, held out of training by
# split_amass_sequences.
data_root = 'data/amass'
cache_root = 'data/cache'
num_views = 4

dataset_common = dict(
    type='MPTMoCapHeatmapDataset',
    data_root=data_root,
    cache_root=cache_root,
    num_views=num_views)

train_dataloader = dict(
    # per GPU: the paper's batch size is not given (16 V100s); 32 per GPU
    # (512 in total) is our choice
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
