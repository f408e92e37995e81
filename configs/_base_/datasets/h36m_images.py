# Human3.6M image crops of the PC-HMR configs (MPTHumanDataDataset on
# mmhuman3d HumanData files; sample keys: MPTHumanDataDataset's docstring,
# mpt_plugin/datasets/human_data_dataset.py; transforms in
# mpt_plugin/datasets/transforms): training subjects S1, S5, S6, S7,
# subject S8 held out for validation (model selection), protocol 2 (S9,
# S11) for testing only. (MPT's image configs read
# ./mixed_images_h36m.py: other augmentation and batch sizes.)
h36m_split = dict(by='subject', held_out=['S8'])  # validation subject
dataset_type = 'MPTHumanDataDataset'
data_prefix = 'data'
crop_size = 224

train_pipeline = [
    dict(type='LoadImage'),
    dict(type='MPTMeshRandomFlip', prob=0.5, convention='h36m'),
    dict(type='MPTMeshRandomScaleRotation', rot_factor=30, scale_factor=0.25),
    dict(type='MPTMeshAffine', input_size=crop_size),
    dict(type='MPTMeshColorNoise', noise_factor=0.4),
    dict(type='MPTPackMeshInputs')
]
test_pipeline = [
    dict(type='LoadImage'),
    dict(type='MPTMeshAffine', input_size=crop_size),
    dict(type='MPTPackMeshInputs')
]
train_dataloader = dict(
    batch_size=128,  # x 8 GPUs = the paper's mini-batch 1024
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_prefix=data_prefix,
        ann_file='h36m_train.npz',
        dataset_name='h36m',
        convention='h36m',
        split=dict(h36m_split, part='train'),
        pipeline=train_pipeline))
# held-out training subject S8, never the test set
val_dataloader = dict(
    batch_size=64,
    num_workers=4,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_prefix=data_prefix,
        ann_file='h36m_train.npz',
        dataset_name='h36m',
        convention='h36m',
        split=dict(h36m_split, part='val'),
        test_mode=True,
        pipeline=test_pipeline))
# Human3.6M protocol 2 (S9, S11, camera 60457274): test only
test_dataloader = dict(
    batch_size=64,
    num_workers=4,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_prefix=data_prefix,
        ann_file='h36m_valid_protocol2.npz',
        dataset_name='h36m',
        convention='h36m',
        test_mode=True,
        pipeline=test_pipeline))
val_evaluator = dict(type='MPTMeshMetric', metric=('mpjpe', 'pa-mpjpe', 'pve'))
test_evaluator = val_evaluator
