# 3DPW 2D detections (OpenPose-18 in HumanData files,
# Key2MeshKeypointsDataset) for validation and testing; their `eval_gt`
# SMPL labels (camera frame) give the GT mesh through the neutral body
# model, as Key2Mesh evaluates. mmhuman3d 0.11.0's Pw3dConverter writes
# only pw3d_train / pw3d_test, so four held-out 3DPW TRAINING sequences
# stand in for 3DPW-val (the same four as configs/mpt_finetune_3dpw.py,
# which says why); pw3d_test.npz is read by test_dataloader only.
ann_root = 'data/preprocessed_datasets'
pw3d_split = dict(
    by='sequence',
    held_out=['courtyard_backpack_00', 'courtyard_dancing_01',
              'courtyard_shakeHands_00', 'outdoors_climbing_02'])

val_dataloader = dict(
    batch_size=512,
    num_workers=4,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='Key2MeshKeypointsDataset',
        ann_file=f'{ann_root}/pw3d_train.npz',
        data_format='humandata',
        split=dict(pw3d_split, part='val'),
        test_mode=True))
test_dataloader = dict(
    batch_size=512,
    num_workers=4,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='Key2MeshKeypointsDataset',
        ann_file=f'{ann_root}/pw3d_test.npz',
        data_format='humandata',
        test_mode=True))
val_evaluator = dict(type='MPTMeshMetric', metric=('mpjpe', 'pa-mpjpe', 'pve'))
test_evaluator = val_evaluator
