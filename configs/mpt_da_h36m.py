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
# MPTWGANDomainAdaptation, which also keeps them in eval mode): the
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
# Pairing: MPTDomainAdaptationDataset(pairing='random') redraws the MoCap frame
# paired with each target crop every epoch (generator seeded by (seed,
# epoch, index); MPTDatasetEpochHook sets the epoch, hence
# persistent_workers=False); a resumed run redraws the same pairs.
_base_ = [
    './_base_/mpt_image_runtime.py',
    './_base_/models/mpt_finetune_higherhrnet_w48.py',
    './_base_/models/wgan_domain_adaptation.py',
    './_base_/datasets/mixed_images_h36m.py',
    './_base_/schedules/wgan_da_adam_5e.py'
]

# where the target's 2D keypoints come from: 'pose_network' (label-free) or
# 'annotation' (the HumanData keypoints2d); from the command line:
# --cfg-options model.estimator.target_keypoints=annotation
target_keypoints = 'pose_network'
# MMPose 0.x HigherHRNet's detection_threshold; Key2Mesh's normalize_p2d
# threshold on OpenPose confidences is also 0.1
target_keypoint_threshold = 0.1

amass_root = 'data/amass'
cache_root = 'data/cache'

# The fine-tuning estimator of the base, wrapped by the adaptation model:
# `_delete_` because MMEngine would otherwise merge the wrapper's keys into
# the estimator's dict.
model = dict(
    _base_.wgan_domain_adaptation,
    _delete_=True,
    estimator=dict(_base_.model, target_keypoints=target_keypoints,
                   target_keypoint_threshold=target_keypoint_threshold),
    # the MoCap-pre-trained MPT (head weights; the backbone keeps its COCO
    # weights from `pose_checkpoint`)
    source_checkpoint='checkpoints/mpt_pretrain_amass.pth',
    data_preprocessor=dict(
        type='MPTDomainAdaptationPreprocessor',
        # source: MoCap bodies posed on the device -> joints -> MHM, as in
        # pre-training
        source=dict(type='MPTMoCapDataPreprocessor',
                    body_model=_base_.mocap_body_model,
                    mhm=dict(type='MPTMaskedHeatmapModeling')),
        # target: the estimator's own image preprocessor (ImageNet mean/std)
        target=None))
load_from = None

source_dataset = dict(
    type='MPTMoCapHeatmapDataset',
    data_root=amass_root,
    cache_root=cache_root,
    num_views=4,
    split='train',
    num_samples=2_000_000)
target_dataset = dict(
    type='MPTHumanDataDataset',
    data_prefix='data',
    ann_file='h36m_train.npz',
    dataset_name='h36m',
    convention='h36m',
    # S1, S5, S6, S7: subject S8 is held out for model selection
    split=dict(by='subject', held_out=['S8'], part='train'),
    pipeline=_base_.test_pipeline)  # crops only: no augmentation
# `_delete_`: the paired domains replace the base's mixed training set,
# whose keys MMEngine would otherwise merge in
train_dataloader = dict(
    _delete_=True,
    batch_size=32,  # per GPU: x 8 GPUs = 256 per domain (Key2Mesh)
    num_workers=8,
    # MPTDatasetEpochHook must reach the workers' dataset copies
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='mpt_domain_adaptation_collate',
                    source='default_collate', target='pseudo_collate'),
    dataset=dict(type='MPTDomainAdaptationDataset', source=source_dataset,
                 target=target_dataset, pairing='random'))
default_hooks = dict(checkpoint=dict(interval=1))  # validated every epoch
