# The SMPL files every model config reads (mmhuman3d's layout and names):
#   data/body_models/{SMPL_NEUTRAL,SMPL_MALE,SMPL_FEMALE}.pkl,
#       J_regressor_h36m.npy (17 H3.6M joints from the 6890 vertices),
#       mesh_downsampling.npz (6890 -> 1723 -> 431 vertices)
# Model fragments inherit this file and read the variables as
# `_base_.<name>` (a base's variables are reachable only through
# `_base_`). The demos point their copies at data/synthetic/body_models.
body_model_dir = 'data/body_models'
h36m_regressor = f'{body_model_dir}/J_regressor_h36m.npy'
# SMPL layer of MPT and PC-HMR: neutral model, H3.6M joint regressor
body_model = dict(
    model_path=body_model_dir, joints_regressor=h36m_regressor,
    gender='neutral')
# SMPL that poses the GT bodies before the model, on the training device
# (the data preprocessors' targets: MPTMoCapDataPreprocessor for AMASS
# bodies, MPTMeshDataPreprocessor for image samples): each subject's own
# gender as AMASS / the HumanData file records it ('subject', as mmhuman3d
# poses 3DPW's GT; 'neutral' poses everyone with the neutral model)
gt_body_model = dict(
    model_path=body_model_dir, joints_regressor=h36m_regressor,
    gender='subject')
mocap_body_model = gt_body_model  # the name earlier configs read
# SMPL module of Key2Mesh (a registered MPTSMPL)
smpl = dict(type='MPTSMPL', model_path=body_model_dir, gender='neutral')
mesh_sampler = f'{body_model_dir}/mesh_downsampling.npz'
