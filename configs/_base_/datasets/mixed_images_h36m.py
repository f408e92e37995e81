# MPT fine-tuning data (Lin et al., section 4.1): Human3.6M, MuCo-3DHP,
# UP-3D, COCO and MPII image crops mixed for training; subject S8 of
# h36m_train.npz held out of training for validation (model selection,
# configs/mpt_finetune_mixed.py says why); Human3.6M protocol 2 for
# testing only.
# Files (mmhuman3d's layout and names):
#   data/preprocessed_datasets/{h36m_train,muco3dhp_train,up3d_trainval,
#       coco_2014_train,mpii_train,h36m_valid_protocol2}.npz
#   data/datasets/{h36m,muco,up3d,coco,mpii}/...  (images)
_base_ = ['./mpt_image_pipelines.py']

data_prefix = 'data'
# validation split of h36m_train.npz: subject S8 held out of training;
# part='train' trains on the rest, part='val' validates on S8
h36m_split = dict(by='subject', held_out=['S8'])


def _humandata(ann_file, dataset_name, pipeline=_base_.train_pipeline,
               **kwargs):
    return dict(type='MPTHumanDataDataset', data_prefix=data_prefix,
                ann_file=ann_file, dataset_name=dataset_name,
                convention='h36m', pipeline=pipeline, **kwargs)


train_dataloader = dict(
    batch_size=32,  # per GPU (not given by the paper: our choice)
    num_workers=8,
    # workers are re-created each epoch so that they see the mixed dataset's
    # epoch (MPTDatasetEpochHook)
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(
        type='MPTMixedHumanDataDataset',
        datasets=[
            _humandata('h36m_train.npz', 'h36m',
                       split=dict(h36m_split, part='train')),
            _humandata('muco3dhp_train.npz', 'muco'),
            _humandata('up3d_trainval.npz', 'up3d'),
            _humandata('coco_2014_train.npz', 'coco'),
            _humandata('mpii_train.npz', 'mpii'),
        ],
        # FIXED shares, our choice (not METRO's concatenation), and one
        # epoch = as many samples as the largest dataset has (as
        # mmhuman3d): see "Mixing and epoch length" in
        # configs/mpt_finetune_mixed.py
        partition=[0.35, 0.15, 0.1, 0.25, 0.15]))
val_dataloader = dict(
    batch_size=32,
    num_workers=4,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    # held-out training subject S8, never the test set
    dataset=_humandata('h36m_train.npz', 'h36m',
                       split=dict(h36m_split, part='val'),
                       pipeline=_base_.test_pipeline, test_mode=True))
# Human3.6M protocol 2 (S9, S11, camera 60457274): test only
test_dataloader = dict(
    batch_size=32,
    num_workers=4,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=_humandata('h36m_valid_protocol2.npz', 'h36m',
                       pipeline=_base_.test_pipeline, test_mode=True))
# Human3.6M protocol 2: 14 LSP joints of the 17 H3.6M ones, pelvis = joint 0
val_evaluator = dict(type='MPTMeshMetric', metric=['mpjpe', 'pa-mpjpe'])
test_evaluator = val_evaluator
