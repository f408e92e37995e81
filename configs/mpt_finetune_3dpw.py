# MPT fine-tuned on 3DPW training data, evaluated on the 3DPW test set
# (Lin et al., section 4.1: "we follow prior works and fine-tune with 3DPW
# training data"), starting from the mixed-dataset model.
#
#   tools/dist_train.sh configs/mpt_finetune_3dpw.py 16
#
# Files: data/preprocessed_datasets/{pw3d_train,pw3d_test}.npz,
# images under data/datasets/pw3d/imageFiles/. The schedule length on 3DPW is
# not given by the paper; 10 epochs with the same warm-up/decay is our choice.
_base_ = ['./mpt_finetune_mixed.py']

load_from = 'work_dirs/mpt_finetune_mixed/best_mesh_PA-MPJPE.pth'
max_epochs = 10

train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='HumanDataDataset',
        data_prefix='data',
        ann_file='pw3d_train.npz',
        dataset_name='pw3d',
        convention='h36m',
        pipeline={{_base_.train_pipeline}}))
val_dataloader = dict(
    dataset=dict(ann_file='pw3d_test.npz', dataset_name='pw3d'))
test_dataloader = val_dataloader
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
