# MPT hand pre-training data: a hand pose set x virtual cameras around the
# hand (MPTHandPoseDataset). The paper pre-trains on MobRecon's
# "Complement" set (1520 poses x 216 viewpoints, uniform; not downloadable
# here): data/hand_poses/{train,val}.npz hold a set in the documented
# format of mpt_plugin/datasets/hand_pose_io.py (a synthetic stand-in is
# written by tools/make_synthetic_assets.py --hands). Validation: held-out
# poses under other viewpoints, scored with FreiHAND's evaluation.
hand_pose_root = 'data/hand_poses'

train_dataloader = dict(
    batch_size=32,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='MPTHandPoseDataset',
                 ann_file=f'{hand_pose_root}/train.npz', num_views=216,
                 view_seed=0))
val_dataloader = dict(
    batch_size=64,
    num_workers=4,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='MPTHandPoseDataset',
                 ann_file=f'{hand_pose_root}/val.npz', num_views=8,
                 view_seed=1))
test_dataloader = val_dataloader
# wrist-centred predictions and targets: MPJPE / MPVPE are root-relative.
# (A list: MMEngine reads a dict with a `metrics` key as an evaluator.)
val_evaluator = [
    dict(type='MPTFreiHANDMetric',
         metrics=('mpjpe', 'pa-mpjpe', 'mpvpe', 'pa-mpvpe', 'pa-f-score'))
]
test_evaluator = val_evaluator
