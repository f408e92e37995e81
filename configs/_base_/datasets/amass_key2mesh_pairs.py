# Key2Mesh pre-training data: AMASS SMPL parameters, made into (2D
# keypoints, SMPL) pairs on the device by Key2MeshDataPreprocessor.
# Validation and test: the AMASS 'val' sequences (held out of training).
data_root = 'data/amass'
dataset_common = dict(
    type='Key2MeshAMASSPairsDataset', data_root=data_root, verbose=True)

train_dataloader = dict(
    batch_size=256,  # released setting
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(dataset_common, split='train', num_samples=2_000_000))
val_dataloader = dict(
    batch_size=512,
    num_workers=4,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        dataset_common, split='val', num_samples=20_000, test_mode=True))
test_dataloader = val_dataloader
# MPJPE, PA-MPJPE on the 17 H3.6M-regressor joints -> LSP-14, PVE
val_evaluator = dict(type='MPTMeshMetric', metric=('mpjpe', 'pa-mpjpe', 'pve'))
test_evaluator = val_evaluator
