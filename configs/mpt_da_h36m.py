# MPT + WGAN-GP domain adaptation (the Key2Mesh/WDGRL component applied to
# MPT's token encoder): MoCap-generated heatmaps are the labelled source
# domain, the pose feature maps of a stock COCO HigherHRNet-W48 on Human3.6M
# training crops the unlabelled target domain. No label of the target is
# read: the re-projection loss compares the predicted LSP-14 joints with the
# frozen HigherHRNet's own detections, decoded from the same pose feature
# maps (argmax + quarter-pixel refinement, confidence = heatmap peak;
# COCO-17 -> 12 LSP joints by name, neck and head top weight 0, joints
# below `target_keypoint_threshold` weight 0), as Key2Mesh adapts to
# OpenPose detections. `target_keypoints='annotation'` re-projects onto the
# HumanData `keypoints2d` instead: ground truth in h36m_train.npz (NOT
# label-free; an upper bound), detections if a file stores them there.
# Starting point: the "testing without fine-tuning" model
# (configs/mpt_test_no_finetune_h36m_p2.py), evaluated on Human3.6M
# protocol 2.
#
#   tools/dist_train.sh configs/mpt_da_h36m.py 8 \
#       --cfg-options model.source_checkpoint=checkpoints/mpt_pretrain_amass.pth
#
# Model selection as configs/mpt_finetune_mixed.py: the best epoch
# (PA-MPJPE) is chosen on the labels of the held-out training subject S8,
# which is also removed from the adaptation target (the same split); the
# target crops come from S1, S5, S6, S7; protocol 2 (S9, S11) is read by
# test_dataloader only.
#
# Adapted: the head's token encoder (patch embedding + MLP). Frozen (by
# WGANDomainAdaptation, which also keeps them in eval mode): the
# HRNet backbone, the transformer, the upsampling and camera layers, and the
# source copy of the encoder. Hyper-parameters of the adaptation loop are
# Key2Mesh's released ones (10 critic steps, gradient penalty 50, domain
# weight 0.1, re-projection 10, feature regularisation 20), lr 1e-4 for both
# optimisers; the critic reads the mean patch token (1024-d).
#
# Schedule = Key2Mesh's adaptation schedule: 5 epochs, batch 256 per domain
# (= 8 GPUs x 32 per GPU, the command above, the per-GPU batch of the
# other MPT configs; whether 256 crops of 224 through HigherHRNet-W48 + the
# transformer fit one GPU was not measured). DDP
# averages the encoder's and the critic's gradients over the 8 ranks, so
# every update sees 256 source + 256 target samples as in Key2Mesh (512 for
# the critic). Adam 1e-4, StepLR x0.8 per epoch on the adapted encoder, the
# critic at a constant 1e-4 (as configs/key2mesh_da_3dpw.py). With fewer
# GPUs the batch per domain shrinks: keep lr 1e-4 (Adam; `--auto-scale-lr`
# would scale it linearly from base_batch_size=256) or raise
# train_dataloader.batch_size.
# Pairing: DomainAdaptationDataset(pairing='random') redraws the MoCap frame
# paired with each target crop every epoch (generator seeded by (seed,
# epoch, index); MPTDatasetEpochHook sets the epoch, hence
# persistent_workers=False); a resumed run redraws the same pairs.
_base_ = ['./mpt_finetune_mixed.py']

# where the target's 2D keypoints come from: 'pose_network' (label-free) or
# 'annotation' (the HumanData keypoints2d); from the command line:
# --cfg-options model.estimator.target_keypoints=annotation
target_keypoints = 'pose_network'
# MMPose 0.x HigherHRNet's detection_threshold; Key2Mesh's normalize_p2d
# threshold on OpenPose confidences is also 0.1
target_keypoint_threshold = 0.1

amass_root = 'data/amass'
cache_root = 'data/cache'
max_epochs = 5

_estimator = dict(_base_.model, target_keypoints=target_keypoints,
                  target_keypoint_threshold=target_keypoint_threshold)
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
    # ASSUMPTION: Key2Mesh's Eq. 7 is lost. 'source' = MSE(E_t(x_s),
    # E_s(x_s)); 'target' = MSE(E_t(x_t), E_s(x_t)). Compared on
    # Key2Mesh's synthetic DA benchmark (docs/benchmarks.md), not for MPT.
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
    # S1, S5, S6, S7: subject S8 is held out for model selection
    split=dict(by='subject', held_out=['S8'], part='train'),
    pipeline=_base_.test_pipeline)  # crops only: no augmentation
train_dataloader = dict(
    _delete_=True,
    batch_size=32,  # per GPU: x 8 GPUs = 256 per domain (Key2Mesh)
    num_workers=8,
    # MPTDatasetEpochHook must reach the workers' dataset copies
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='mpt_domain_adaptation_collate',
                    source='default_collate', target='pseudo_collate'),
    dataset=dict(type='DomainAdaptationDataset', source=source_dataset,
                 target=target_dataset, pairing='random'))
custom_hooks = [
    # redraws the source/target pairing every epoch (set_epoch)
    dict(type='MPTDatasetEpochHook'),
    dict(type='MPTMeshVisualizationHook', enable=False, interval=50),
]

train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
optim_wrapper = dict(
    _delete_=True,
    constructor='MPTMultiOptimWrapperConstructor',
    estimator=dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=1e-4)),
    critic=dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=1e-4)))
# StepLR on the adapted encoder only; the critic keeps its rate
param_scheduler = dict(
    _delete_=True,
    estimator=[dict(type='StepLR', by_epoch=True, step_size=1, gamma=0.8)],
    critic=[dict(type='ConstantLR', by_epoch=True, factor=1.0)])
auto_scale_lr = dict(base_batch_size=256, enable=False)
default_hooks = dict(checkpoint=dict(interval=1))
