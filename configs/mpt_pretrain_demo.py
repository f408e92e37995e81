# MPT pre-training demo on the embedded synthetic assets, sized for a CPU.
#
#   make demo      (generates data/synthetic if missing, trains, evaluates)
#   .venv/bin/python tools/train.py configs/mpt_pretrain_demo.py
#   tools/dist_train.sh configs/mpt_pretrain_demo.py 2
#
# Differences from configs/mpt_pretrain_amass.py, all to fit a 2-core CPU in
# minutes: synthetic SMPL-format body model and AMASS-format motions
# (tools/make_synthetic_assets.py), a SHRUNK transformer (hidden sizes
# 128/64/32 instead of 1024/256/64, 1 layer per block instead of 4) reading
# 112x112 heatmaps (196 patch tokens instead of 784), fewer meshes and a
# short schedule with lr 1e-3, and the heatmap pixel noise drawn on the joint
# windows only ('sparse'). Everything else (losses, MHM, MVM, cameras,
# schedule shape) is the paper config's.
_base_ = ['./mpt_pretrain_amass.py']

synthetic_root = 'data/synthetic'
data_root = f'{synthetic_root}/amass'
body_model_dir = f'{synthetic_root}/body_models'
cache_root = f'{synthetic_root}/cache'
body_model = dict(
    model_path=body_model_dir,
    joints_regressor=f'{body_model_dir}/J_regressor_h36m.npy',
    gender='neutral')
mocap_body_model = dict(body_model, gender='subject')
heatmap_size = 112
max_epochs = 3

model = dict(
    data_preprocessor=dict(
        heatmap_size=heatmap_size,
        body_model=mocap_body_model,
        # the paper config's pixel noise (std 0.05) on the joint windows
        # only ('sparse'): exact dense noise costs ~30x more on a CPU
        mhm=dict(pixel_noise_mode='sparse')),
    head=dict(
        input_size=heatmap_size,
        embed_dims=(128, 64, 32),
        hidden_dims=(128, 64, 32),
        num_layers=1,
        num_heads=4,
        # PyTorch's fused CPU attention kernel has no dropout: with attention
        # dropout it falls back to the unfused path (10x slower here)
        attn_drop_rate=0.0),
    body_model=body_model,
    mesh_sampler=f'{body_model_dir}/mesh_downsampling.npz')

dataset_common = dict(data_root=data_root, cache_root=cache_root)
train_dataloader = dict(
    batch_size=32,
    num_workers=2,
    dataset=dict(dataset_common, num_samples=None, sample_fps=20))
val_dataloader = dict(
    batch_size=64,
    num_workers=1,
    dataset=dict(dataset_common, num_samples=None, sample_fps=10))
test_dataloader = val_dataloader

# the tiny model and short schedule learn faster with a larger step than the
# paper's 2e-4 (same warm-up and linear decay)
optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-3))

train_cfg = dict(max_epochs=max_epochs, val_interval=1)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, end_factor=1.0, by_epoch=True,
         begin=0, end=max_epochs * 0.1, convert_to_iter_based=True),
    dict(type='LinearLR', start_factor=1.0, end_factor=0.0, by_epoch=True,
         begin=max_epochs * 0.1, end=max_epochs,
         convert_to_iter_based=True),
]
default_hooks = dict(logger=dict(interval=20))
