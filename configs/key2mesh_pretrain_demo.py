# Key2Mesh pre-training demo on the embedded synthetic assets, sized for a
# CPU (minutes):
#
#   .venv/bin/python tools/make_synthetic_assets.py --out data/synthetic \
#       --skip-existing
#   .venv/bin/python tools/train.py configs/key2mesh_pretrain_demo.py
#
# Differences from configs/key2mesh_pretrain_amass.py, all SHRUNK to fit a
# 2-core CPU: synthetic SMPL-format body model and AMASS-format motions
# (tools/make_synthetic_assets.py), feature width 256 instead of 1024,
# batch 64 instead of 256, about 2.5 k training frames, 6 epochs with the
# StepLR every 2 epochs. Loss, camera, noise, occlusion, optimiser (Adam
# 1e-3) and evaluation are the released ones.
_base_ = ['./key2mesh_pretrain_amass.py']

synthetic_root = 'data/synthetic'
body_model_dir = f'{synthetic_root}/body_models'
smpl = dict(type='MPTSMPL', model_path=body_model_dir, gender='neutral')
max_epochs = 6

model = dict(
    regressor=dict(hidden_dim=256, body_model=smpl),
    joint_regressor=f'{body_model_dir}/J_regressor_h36m.npy',
    data_preprocessor=dict(body_model=smpl))

dataset_common = dict(
    type='Key2MeshAMASSPairsDataset',
    data_root=f'{synthetic_root}/amass',
    verbose=True)
train_dataloader = dict(
    batch_size=64,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(dataset_common, split='train', num_samples=2500))
val_dataloader = dict(
    batch_size=128,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        dataset_common, split='val', num_samples=256, test_mode=True))
test_dataloader = val_dataloader

train_cfg = dict(max_epochs=max_epochs, val_interval=2)
param_scheduler = [
    dict(type='StepLR', by_epoch=True, step_size=2, gamma=0.8),
]
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=2, max_keep_ckpts=2))
