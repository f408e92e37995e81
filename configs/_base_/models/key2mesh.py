# Key2Mesh (paper sec. 3.2-3.3 and its released model / data-generation
# code): the network and the on-the-fly 2D synthesis shared by pre-training
# (./key2mesh_estimator.py) and domain adaptation
# (./key2mesh_domain_adaptation.py), so that an adapted model loads the
# pre-trained weights.
_base_ = ['./smpl.py']

# OpenPose-18 2D keypoints -> MLP feature extractor (1024-d, 2 residual
# blocks) -> SMPL head (24 x 6D + 10 betas)
key2mesh_regressor = dict(
    type='Key2MeshRegressor',
    num_keypoints=18,
    input_convention='openpose_coco18',
    hidden_dim=1024,
    num_blocks=2,
    dropout=0.2,
    body_model=_base_.smpl)
# (2D keypoints, SMPL) pairs made from AMASS SMPL parameters: integer 1-px
# jitter, 20 % per-joint occlusion, bbox normalisation
key2mesh_preprocessor = dict(
    type='Key2MeshDataPreprocessor',
    body_model=_base_.smpl,
    jitter_std=1.0,
    occlusion_prob=0.2,
    conf_threshold=0.1,
    target_2d='clean')
