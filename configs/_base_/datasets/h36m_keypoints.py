# Human3.6M OpenPose detections (Key2MeshKeypointsDataset on HumanData
# files) for validation and testing: subject S8 of
# h36m_train_openpose.npz held out for validation (as
# configs/mpt_finetune_mixed.py holds out S8), protocol 2 (S9, S11) for
# testing only.
ann_root = 'data/preprocessed_datasets'
h36m_split = dict(by='subject', held_out=['S8'])

val_dataloader = dict(
    batch_size=512,
    num_workers=4,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='Key2MeshKeypointsDataset',
        ann_file=f'{ann_root}/h36m_train_openpose.npz',
        data_format='humandata',
        split=dict(h36m_split, part='val'),
        test_mode=True))
test_dataloader = dict(
    batch_size=512,
    num_workers=4,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='Key2MeshKeypointsDataset',
        ann_file=f'{ann_root}/h36m_valid_protocol2_openpose.npz',
        data_format='humandata',
        test_mode=True))
val_evaluator = dict(type='MPTMeshMetric', metric=('mpjpe', 'pa-mpjpe'))
test_evaluator = val_evaluator
