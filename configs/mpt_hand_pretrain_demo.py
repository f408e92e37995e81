# MPT hand pre-training demo on the embedded synthetic assets, sized for a
# CPU.
#
#   .venv/bin/python tools/make_synthetic_assets.py --out data/synthetic --hands
#   .venv/bin/python tools/train.py configs/mpt_hand_pretrain_demo.py
#   .venv/bin/python tools/benchmark/bench_mpt_hand_pretrain_learning.py
#
# Differences from configs/mpt_hand_pretrain.py, all to fit a 2-core CPU in
# minutes: synthetic MANO-format hand and pose sets
# (tools/make_synthetic_assets.py --hands), a SHRUNK transformer (hidden
# sizes 128/64/32 instead of 1024/256/64, 1 layer per block instead of 4)
# reading 112x112 heatmaps (196 patch tokens instead of 784), 16 views per
# pose instead of 216 (validation: the held-out poses under the same views),
# a short schedule (1600 iterations of 32, lr 1e-3, 16 % of one paper
# epoch), and the heatmap pixel noise drawn on the joint windows only
# ('sparse'). Everything else (losses, MHM, cameras, schedule shape) is the
# paper config's.
_base_ = ['./mpt_hand_pretrain.py']

synthetic_root = 'data/synthetic'
hand_model_dir = f'{synthetic_root}/body_models'
hand_pose_root = f'{synthetic_root}/hand_poses'
hand_model = dict(model_path=hand_model_dir, is_rhand=True,
                  fingertip_ids='freihand')
heatmap_size = 112
max_iters = 1600

model = dict(
    data_preprocessor=dict(
        heatmap_size=heatmap_size,
        hand_model=dict(hand_model, flat_hand_mean=True),
        mhm=dict(pixel_noise_mode='sparse')),
    head=dict(
        input_size=heatmap_size,
        embed_dims=(128, 64, 32),
        hidden_dims=(128, 64, 32),
        num_layers=1,
        num_heads=4,
        # PyTorch's fused CPU attention kernel has no dropout
        attn_drop_rate=0.0),
    hand_model=hand_model,
    mesh_sampler=f'{hand_model_dir}/mano_downsampling.npz')

# 16 views per pose (seed 0), shared by training and validation as the body
# demo's 4 H3.6M cameras are: the held-out part is the poses (val.npz),
# not the viewpoints (the paper config validates on other viewpoints: with
# 216 views per pose they cover the sphere; 800 small iterations cannot).
# 1600 iterations of 32 random (pose, view) pairs of the 24 k (about two
# passes).
train_dataloader = dict(
    batch_size=32,
    num_workers=2,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(ann_file=f'{hand_pose_root}/train.npz', num_views=16,
                 view_seed=0))
val_dataloader = dict(
    batch_size=64,
    num_workers=1,
    dataset=dict(ann_file=f'{hand_pose_root}/val.npz', num_views=16,
                 view_seed=0))
test_dataloader = val_dataloader

optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-3))

train_cfg = dict(_delete_=True, type='IterBasedTrainLoop',
                 max_iters=max_iters, val_interval=400)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, end_factor=1.0, by_epoch=False,
         begin=0, end=int(max_iters * 0.1)),
    dict(type='LinearLR', start_factor=1.0, end_factor=0.0, by_epoch=False,
         begin=int(max_iters * 0.1), end=max_iters),
]
default_hooks = dict(logger=dict(interval=20),
                     checkpoint=dict(interval=400, by_epoch=False))
log_processor = dict(by_epoch=False)
