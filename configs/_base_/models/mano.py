# The MANO files every hand config reads (the official release's names):
#   data/body_models/{MANO_RIGHT,MANO_LEFT}.pkl (chumpy pickles, read by our
#       restricted loader; .npz conversions work too),
#   data/body_models/mano_downsampling.npz (778 -> 195 -> 49 -> 13 -> 4
#       vertices; the Mesh Graphormer / METRO release's file)
# The hand demos point their copies at data/synthetic/body_models
# (tools/make_synthetic_assets.py --hands).
hand_model_dir = 'data/body_models'
# The right hand (FreiHAND's), FreiHAND's fingertip vertex ids for the
# 21 joints (hand_21 order: wrist, thumb 1-4, index, middle, ring, pinky)
hand_model = dict(model_path=hand_model_dir, is_rhand=True,
                  fingertip_ids='freihand')
hand_mesh_sampler = f'{hand_model_dir}/mano_downsampling.npz'
