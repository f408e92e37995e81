# Key2Mesh domain adaptation model: the pre-trained Key2Mesh estimator
# (./key2mesh.py, as ./key2mesh_estimator.py) wrapped by
# ./wgan_domain_adaptation.py. The SMPL head and the source extractor are
# frozen; the re-projection loss is Key2MeshLoss's joint-weighted L1 with
# LGD's reduction (mean over all elements, inferred).
_base_ = ['./key2mesh.py', './wgan_domain_adaptation.py']

model = dict(
    _base_.wgan_domain_adaptation,
    estimator=dict(
        type='Key2MeshEstimator',
        regressor=_base_.key2mesh_regressor,
        joint_regressor=_base_.h36m_regressor,
        loss=dict(type='Key2MeshLoss'),
        # HumanData SMPL labels are in the camera frame: predict in it too
        output_frame='camera',
        data_preprocessor=_base_.key2mesh_preprocessor),
    # path of the pre-trained Key2Mesh checkpoint (or use load_from with a
    # MPTWGANDomainAdaptation checkpoint)
    source_checkpoint=None)
