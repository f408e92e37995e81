# 3DPW image crops for MPT fine-tuning (Lin et al., section 4.1):
# pw3d_train.npz for training, minus four held-out training sequences that
# validate (model selection, configs/mpt_finetune_3dpw.py says why);
# pw3d_test.npz for testing only.
# Files: data/preprocessed_datasets/{pw3d_train,pw3d_test}.npz,
# images under data/datasets/pw3d/imageFiles/.
_base_ = ['./mpt_image_pipelines.py']

data_prefix = 'data'
# validation split of pw3d_train.npz: whole sequences, never frames
pw3d_split = dict(
    by='sequence',
    held_out=['courtyard_backpack_00', 'courtyard_dancing_01',
              'courtyard_shakeHands_00', 'outdoors_climbing_02'])
dataset_common = dict(
    type='MPTHumanDataDataset', data_prefix=data_prefix, dataset_name='pw3d',
    convention='h36m')

train_dataloader = dict(
    batch_size=32,
    num_workers=8,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(dataset_common, ann_file='pw3d_train.npz',
                 split=dict(pw3d_split, part='train'),
                 pipeline=_base_.train_pipeline))
# held-out training sequences, never the test set
val_dataloader = dict(
    batch_size=32,
    num_workers=4,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(dataset_common, ann_file='pw3d_train.npz',
                 split=dict(pw3d_split, part='val'),
                 pipeline=_base_.test_pipeline, test_mode=True))
test_dataloader = dict(
    batch_size=32,
    num_workers=4,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(dataset_common, ann_file='pw3d_test.npz',
                 pipeline=_base_.test_pipeline, test_mode=True))
# 3DPW: GT joints and meshes from the gendered SMPL (MPTFinetuneEstimator)
val_evaluator = dict(type='MPTMeshMetric', metric=['mpjpe', 'pa-mpjpe', 'pve'])
test_evaluator = val_evaluator
