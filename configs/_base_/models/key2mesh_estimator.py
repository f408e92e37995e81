# Key2Mesh pre-training model (Key2Mesh paper sec. 3.2-3.3): the regressor
# of ./key2mesh.py on AMASS pairs seen by a fixed camera (f = 256 px at
# 6 m, random root rotation), with LGD's loss (inferred: the Key2Mesh repo
# has no training code, and builds on LGD): 1.0 L1(pose axis-angle) + 1.0
# L1(betas) + 0.3 wL1(2D re-projection) + 0.3 wL1(3D joints), OpenPose-18
# joint weights.
_base_ = ['./key2mesh.py']

model = dict(
    type='Key2MeshEstimator',
    regressor=_base_.key2mesh_regressor,
    joint_regressor=_base_.h36m_regressor,
    loss=dict(
        type='Key2MeshLoss',
        pose_weight=1.0,
        betas_weight=1.0,
        keypoints2d_weight=0.3,
        keypoints3d_weight=0.3,
        # LGD's weighted_L1_loss: mean(w * |d|) over all elements, masked
        # joints counted (inferred; 'weight_normalized' divides by
        # C * sum(w * mask) instead and makes the 2D/3D terms 62/18 weaker)
        reduction='mean'),
    data_preprocessor=dict(_base_.key2mesh_preprocessor, focal=256.0,
                           distance=6.0))
