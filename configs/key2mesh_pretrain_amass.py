# Key2Mesh pre-training on AMASS (Key2Mesh paper sec. 3.2-3.3 and its
# released model / data-generation code): (2D keypoints, SMPL) pairs made
# on the fly from AMASS SMPL parameters (random root rotation, fixed camera
# f = 256 px at 6 m, integer 1-px jitter, 20 % per-joint occlusion, bbox
# normalisation), an MLP feature extractor (1024-d) and SMPL head (24 x 6D
# + 10 betas).
#
#   tools/dist_train.sh configs/key2mesh_pretrain_amass.py 1
#
# Released/paper settings: Adam lr 1e-3, 10 epochs, batch 256; the loss is
# LGD's (inferred: the Key2Mesh repo has no training code, and builds on LGD):
# 1.0 L1(pose axis-angle) + 1.0 L1(betas) + 0.3 wL1(2D re-projection) +
# 0.3 wL1(3D joints), OpenPose-18 joint weights, wL1 = LGD's mean of
# w * |d| over all elements (reduction='mean', inferred: Key2Mesh keeps
# LGD's (1, 18, 3) weight tensor); StepLR(1 epoch, 0.8) as LGD.
# Evaluation: MPTMeshMetric (MPJPE, PA-MPJPE on the 17 H3.6M-regressor joints
# -> LSP-14, PVE) on the AMASS validation split (monitored only; the last
# epoch is kept, see default_hooks).
_base_ = [
    './_base_/default_runtime.py', './_base_/models/key2mesh_estimator.py',
    './_base_/datasets/amass_key2mesh_pairs.py',
    './_base_/schedules/key2mesh_adam_steplr_10e.py'
]

custom_imports = dict(
    imports=[
        'mpt_plugin',
        'mpt_plugin.models.estimators.key2mesh_estimator',
        'mpt_plugin.models.data_preprocessors.key2mesh_data_preprocessor',
    ],
    allow_failed_imports=False)

default_hooks = dict(
    # No best-epoch selection: the paper pre-trains a fixed 10 epochs and
    # domain adaptation starts from the last checkpoint. The AMASS 'val'
    # sequences (held out of training) are monitored only; test_dataloader
    # reads the same split, so selecting on it would report a selected
    # number.
    checkpoint=dict(interval=1, max_keep_ckpts=3))
