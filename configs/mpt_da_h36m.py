# MPT + WGAN-GP domain adaptation (the Key2Mesh/WDGRL component applied to
# MPT's token encoder): MoCap-generated heatmaps are the labelled source
# domain, the pose feature maps of a stock COCO HigherHRNet-W48 on Human3.6M
# training crops the unlabelled target domain (only their 2D keypoints are
# used, for the re-projection loss; no 3D label). Starting point: the
# "testing without fine-tuning" model (configs/mpt_test_no_finetune_h36m_p2.py),
# evaluated on Human3.6M protocol 2.
#
#   tools/dist_train.sh configs/mpt_da_h36m.py 8 \
#       --cfg-options model.source_checkpoint=checkpoints/mpt_pretrain_amass.pth
#
# Adapted: the head's token encoder (patch embedding + MLP). Frozen (by
# WGANDomainAdaptation, which also keeps them in eval mode): the
# HRNet backbone, the transformer, the upsampling and camera layers, and the
# source copy of the encoder. Hyper-parameters of the adaptation loop are
# Key2Mesh's (models_spec C.4: 10 critic steps, gradient penalty 50, domain
# weight 0.1, re-projection 10, feature regularisation 20), lr 1e-4 for both
# optimisers; the critic reads the mean patch token (1024-d).
_base_ = ['./mpt_finetune_mixed.py']

amass_root = 'data/amass'
cache_root = 'data/cache'
max_epochs = 5

_estimator = {{_base_.model}}
model = dict(
    _delete_=True,
    type='WGANDomainAdaptation',
    estimator=_estimator,
    critic=dict(type='Key2MeshDomainCritic', in_dim=1024, hidden_dim=1024,
                dropout=0.2),
    critic_steps=10,
    gradient_penalty=dict(type='Key2MeshGradientPenalty', loss_weight=50.0),
    domain_loss_weight=0.1,
    target_loss_weights=dict(loss_reprojection=10.0),
    feature_reg_weight=20.0,
    feature_reg_mode='source',
    source_loss_weight=0.0,
    # the MoCap-pre-trained MPT (head weights; the backbone keeps its COCO
    # weights from `pose_checkpoint`)
    source_checkpoint='checkpoints/mpt_pretrain_amass.pth',
    data_preprocessor=dict(
        type='MPTDomainAdaptationPreprocessor',
        # source: MoCap joints -> MHM on the device, as in pre-training
        source=dict(type='MPTMoCapDataPreprocessor',
                    mhm=dict(type='MPTMaskedHeatmapModeling')),
        # target: the estimator's own image preprocessor (ImageNet mean/std)
        target=None))
model_wrapper_cfg = dict(
    type='MMSeparateDistributedDataParallel',
    broadcast_buffers=False,
    find_unused_parameters=False)
load_from = None

source_dataset = dict(
    type='MPTMoCapHeatmapDataset',
    data_root=amass_root,
    body_model=_base_.body_model,
    cache_root=cache_root,
    num_views=4,
    cache_dtype='float16',
    split='train',
    num_samples=2_000_000)
target_dataset = dict(
    type='HumanDataDataset',
    data_prefix='data',
    ann_file='h36m_train.npz',
    dataset_name='h36m',
    convention='h36m',
    pipeline=_base_.test_pipeline)  # crops only: no augmentation
train_dataloader = dict(
    _delete_=True,
    batch_size=32,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='mpt_domain_adaptation_collate',
                    source='default_collate', target='pseudo_collate'),
    dataset=dict(type='DomainAdaptationDataset', source=source_dataset,
                 target=target_dataset, pairing='random'))
custom_hooks = [
    dict(type='MPTMeshVisualizationHook', enable=False, interval=50),
]

train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
optim_wrapper = dict(
    _delete_=True,
    constructor='MPTMultiOptimWrapperConstructor',
    estimator=dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=1e-4)),
    critic=dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=1e-4)))
param_scheduler = dict(
    _delete_=True,
    estimator=[dict(type='ConstantLR', by_epoch=True, factor=1.0)],
    critic=[dict(type='ConstantLR', by_epoch=True, factor=1.0)])
auto_scale_lr = dict(base_batch_size=256, enable=False)
default_hooks = dict(checkpoint=dict(interval=1))
