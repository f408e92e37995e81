# MPT + WGAN-GP domain adaptation demo on the synthetic assets, sized for a
# CPU: source = synthetic AMASS-format MoCap heatmaps, target = synthetic
# rendered images (tools/make_synthetic_images.py --all) seen through a
# frozen HRNet-W32 WITHOUT COCO weights (none can be downloaded here), so it
# shows that the pieces compose and train, not a useful adaptation.
#
#   .venv/bin/python tools/train.py configs/mpt_da_demo.py
#
# Shrunk as configs/mpt_finetune_demo.py (tiny transformer, 112x112 maps,
# 128x128 crops), 2 critic steps instead of 10, a few hundred MoCap frames,
# no source checkpoint (the untrained estimator is adapted). The target 2D
# are the (untrained) pose network's own decoded detections, as in
# configs/mpt_da_h36m.py; pairing redrawn every epoch (MPTDatasetEpochHook).
_base_ = ['./mpt_da_h36m.py']

synthetic_root = 'data/synthetic'
body_model_dir = f'{synthetic_root}/body_models'
body_model = dict(
    model_path=body_model_dir,
    joints_regressor=f'{body_model_dir}/J_regressor_h36m.npy',
    gender='neutral')
data_prefix = 'data/synthetic_images'
crop_size = 128
input_size = 112
max_epochs = 1

model = dict(
    estimator=dict(
        backbone=dict(arch='w32', checkpoint=None, output_size=input_size),
        head=dict(input_size=input_size, embed_dims=(128, 64, 32),
                  hidden_dims=(128, 64, 32), num_layers=1, num_heads=4,
                  attn_drop_rate=0.0),
        data_preprocessor=dict(body_model=dict(body_model, gender='subject')),
        body_model=body_model,
        mesh_sampler=f'{body_model_dir}/mesh_downsampling.npz'),
    critic=dict(in_dim=128, hidden_dim=128),
    critic_steps=2,
    source_checkpoint=None,
    data_preprocessor=dict(source=dict(
        heatmap_size=input_size,
        body_model=dict(body_model, gender='subject'))))

test_pipeline = [
    dict(type='LoadImage'),
    dict(type='MPTMeshAffine', input_size=crop_size),
    dict(type='MPTPackMeshInputs'),
]
train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        source=dict(data_root=f'{synthetic_root}/amass',
                    cache_root=f'{synthetic_root}/cache',
                    num_samples=200),
        target=dict(data_prefix=data_prefix, pipeline=test_pipeline)))
# validation: subject S8 of the synthetic h36m_train.npz, held out of the
# adaptation target (as configs/mpt_da_h36m.py; the default 64-image file
# holds S1, S5, S6, S7, S8); test: the synthetic protocol-2 file
val_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_prefix=data_prefix, pipeline=test_pipeline))
test_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_prefix=data_prefix, pipeline=test_pipeline))
train_cfg = dict(max_epochs=max_epochs)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(save_best=None))
