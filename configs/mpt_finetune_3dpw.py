# MPT fine-tuned on 3DPW training data, evaluated on the 3DPW test set
# (Lin et al., section 4.1: "we follow prior works and fine-tune with 3DPW
# training data"), starting from the mixed-dataset model.
#
#   tools/dist_train.sh configs/mpt_finetune_3dpw.py 16
#
# Files: data/preprocessed_datasets/{pw3d_train,pw3d_test}.npz,
# images under data/datasets/pw3d/imageFiles/. The schedule length on 3DPW is
# not given by the paper; 10 epochs with the same warm-up/decay is our choice.
#
# Model selection (a deviation from the released code): METRO's 3DPW
# fine-tuning, which MPT follows, validates every epoch on the 3DPW TEST
# split (its --val_yaml) and keeps the best PA-MPJPE epoch. Here validation
# reads four HELD-OUT 3DPW TRAINING sequences (`pw3d_split`), removed from
# training by the same split (part='train' vs part='val'); pw3d_test.npz is
# read by test_dataloader only. The official 3DPW validation sequences would
# be the natural choice, but mmhuman3d 0.11.0's Pw3dConverter converts only
# the train and test splits (ACCEPTED_MODES), so no HumanData file of them
# exists. The four (of 24: about 15 % of the person-frames) mix courtyard
# and outdoor scenes, one- and two-person sequences and different motions
# (carrying a backpack, dancing, shaking hands, climbing); whole sequences,
# never frames, are held out. To reproduce METRO's practice (selection on
# the test set; never report such a number as a test result), one line:
#   --cfg-options train_dataloader.dataset.split=None val_dataloader.dataset.ann_file=pw3d_test.npz val_dataloader.dataset.split=None
_base_ = ['./mpt_finetune_mixed.py']

# the best epoch of configs/mpt_finetune_mixed.py on its held-out subject S8
# (MMEngine names it best_mesh_PA-MPJPE_epoch_<N>.pth): set <N>, e.g.
#   --cfg-options load_from=work_dirs/mpt_finetune_mixed/best_mesh_PA-MPJPE_epoch_45.pth
load_from = 'work_dirs/mpt_finetune_mixed/best_mesh_PA-MPJPE_epoch_<N>.pth'
max_epochs = 10
# validation split of pw3d_train.npz (see the header)
pw3d_split = dict(
    by='sequence',
    held_out=['courtyard_backpack_00', 'courtyard_dancing_01',
              'courtyard_shakeHands_00', 'outdoors_climbing_02'])

train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='HumanDataDataset',
        data_prefix='data',
        ann_file='pw3d_train.npz',
        dataset_name='pw3d',
        convention='h36m',
        split=dict(pw3d_split, part='train'),
        pipeline={{_base_.train_pipeline}}))
# held-out training sequences (header), never the test set
val_dataloader = dict(
    dataset=dict(ann_file='pw3d_train.npz', dataset_name='pw3d',
                 split=dict(pw3d_split, part='val')))
test_dataloader = dict(
    dataset=dict(ann_file='pw3d_test.npz', dataset_name='pw3d'))
# 3DPW: GT joints and meshes from the gendered SMPL (MPTFinetuneEstimator)
val_evaluator = dict(
    type='MeshMetric', metric=['mpjpe', 'pa-mpjpe', 'pve'])
test_evaluator = val_evaluator

train_cfg = dict(max_epochs=max_epochs, val_interval=1)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, end_factor=1.0, by_epoch=True,
         begin=0, end=max_epochs * 0.1, convert_to_iter_based=True),
    dict(type='LinearLR', start_factor=1.0, end_factor=0.0, by_epoch=True,
         begin=max_epochs * 0.1, end=max_epochs,
         convert_to_iter_based=True),
]
default_hooks = dict(checkpoint=dict(interval=1))
