# MPT image fine-tuning demo on synthetic rendered images, sized for a CPU.
#
#   .venv/bin/python tools/make_synthetic_assets.py --out data/synthetic
#   .venv/bin/python tools/make_synthetic_images.py --all \
#       --data-prefix data/synthetic_images \
#       --body-model-dir data/synthetic/body_models
#   .venv/bin/python tools/train.py configs/mpt_finetune_demo.py
#   .venv/bin/python tools/test.py configs/mpt_finetune_demo.py \
#       work_dirs/mpt_finetune_demo/epoch_2.pth
#
# Differences from configs/mpt_finetune_mixed.py, all to fit a 2-core CPU:
# the synthetic SMPL-format body model, synthetic HumanData files rendered by
# tools/make_synthetic_images.py (same file names and layout as the real
# ones), HRNet-W32 WITHOUT COCO weights (none can be downloaded here) on
# 128x128 crops, a SHRUNK transformer (hidden sizes 128/64/32, 1 layer per
# block, 112x112 maps = 196 tokens), two datasets (a 3D one and a 2D-only
# one) instead of five, lr 1e-3 and 2 epochs. Losses, masking of missing GT,
# augmentation and metrics are the paper's / mmhuman3d's.
# Model selection as configs/mpt_finetune_mixed.py: subject S8 of the
# synthetic h36m_train.npz is held out of training and picks the best epoch
# (the default 64-image file holds S1, S5, S6, S7, S8: 8 frames each of
# S7 and S8); the synthetic h36m_valid_protocol2.npz is the test set only.
_base_ = ['./mpt_finetune_mixed.py']

data_prefix = 'data/synthetic_images'
body_model_dir = 'data/synthetic/body_models'
body_model = dict(
    model_path=body_model_dir,
    joints_regressor=f'{body_model_dir}/J_regressor_h36m.npy',
    gender='neutral')
crop_size = 128  # HRNet needs sides divisible by 32
input_size = 112  # pose-map resolution read by the head (paper table 10)
max_epochs = 2
load_from = None
h36m_split = dict(by='subject', held_out=['S8'])  # as the base config

model = dict(
    backbone=dict(arch='w32', checkpoint=None, output_size=input_size),
    head=dict(
        input_size=input_size,
        embed_dims=(128, 64, 32),
        hidden_dims=(128, 64, 32),
        num_layers=1,
        num_heads=4,
        attn_drop_rate=0.0),
    data_preprocessor=dict(body_model=dict(body_model, gender='subject')),
    body_model=body_model,
    mesh_sampler=f'{body_model_dir}/mesh_downsampling.npz')

train_pipeline = [
    dict(type='LoadImage'),
    dict(type='MPTMeshRandomFlip', prob=0.5, convention='h36m'),
    dict(type='MPTMeshRandomScaleRotation', rot_factor=30., scale_factor=0.25,
         rot_prob=0.6),
    dict(type='MPTMeshAffine', input_size=crop_size),
    dict(type='MPTMeshColorNoise', noise_factor=0.4),
    dict(type='MPTPackMeshInputs'),
]
test_pipeline = [
    dict(type='LoadImage'),
    dict(type='MPTMeshAffine', input_size=crop_size),
    dict(type='MPTPackMeshInputs'),
]
common = dict(type='MPTHumanDataDataset', data_prefix=data_prefix,
              convention='h36m')
train_dataloader = dict(
    batch_size=16,
    num_workers=2,
    dataset=dict(
        type='MPTMixedHumanDataDataset',
        datasets=[
            dict(common, ann_file='h36m_train.npz', dataset_name='h36m',
                 split=dict(h36m_split, part='train'),
                 pipeline=train_pipeline),
            dict(common, ann_file='coco_2014_train.npz',
                 dataset_name='coco', pipeline=train_pipeline),
        ],
        partition=[0.7, 0.3]))
val_dataloader = dict(
    batch_size=16,
    num_workers=1,
    dataset=dict(common, ann_file='h36m_train.npz', dataset_name='h36m',
                 split=dict(h36m_split, part='val'),
                 pipeline=test_pipeline, test_mode=True))
test_dataloader = dict(
    batch_size=16,
    num_workers=1,
    dataset=dict(common, ann_file='h36m_valid_protocol2.npz',
                 dataset_name='h36m', pipeline=test_pipeline,
                 test_mode=True))

optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-3))
train_cfg = dict(max_epochs=max_epochs, val_interval=1)
# warm-up over 5 iterations (the tiny schedule has too few steps for 10 %),
# chained with a linear decay to 0 over the whole run
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, end_factor=1.0, by_epoch=False,
         begin=0, end=5),
    dict(type='LinearLR', start_factor=1.0, end_factor=0.0, by_epoch=True,
         begin=0, end=max_epochs, convert_to_iter_based=True),
]
visualizer = dict(body_model_path=body_model_dir)
default_hooks = dict(logger=dict(interval=5),
                     checkpoint=dict(interval=1))
