# Key2Mesh domain-adaptation demo on synthetic data, sized for a CPU:
#
#   .venv/bin/python tools/train.py configs/key2mesh_pretrain_demo.py
#   .venv/bin/python tools/train.py configs/key2mesh_da_demo.py \
#       --cfg-options model.source_checkpoint=\
#   work_dirs/key2mesh_pretrain_demo/epoch_6.pth
#   tools/dist_train.sh configs/key2mesh_da_demo.py 2   (2 CPU processes)
#
# Source: synthetic AMASS-format motions, pairs made by the preprocessor
# exactly as in pre-training. Target: the same kind of motions seen by a
# "detector" that differs from the pre-training keypoints (the dataset
# synthesises them, Key2MeshAMASSPairsDataset(keypoints2d=...)): hips
# defined 25 % of the way to the knees and a neck 20 % toward the nose, a
# systematic per-joint pixel offset, 2.5-px Gaussian jitter (instead of
# integer 1-px) and 30 % occlusion (instead of 20 %). The adaptation set
# has no 3D label (return_3d=False); an evaluation copy of the target keeps
# them for MPTMeshMetric only.
#
# SHRUNK against configs/key2mesh_da_3dpw.py: feature width 256 (critic
# 256 -> 128), batch 64 per domain, 1024 target samples, 2 epochs, critic
# steps 5 instead of 10; learning rates 1e-4 -> 1e-3 to move in so few
# steps. Loss weights (0.1 / 10 / 20, gradient penalty 50) are the released
# ones.
_base_ = ['./key2mesh_da_3dpw.py']

synthetic_root = 'data/synthetic'
body_model_dir = f'{synthetic_root}/body_models'
smpl = dict(type='MPTSMPL', model_path=body_model_dir, gender='neutral')
hidden_dim = 256
max_epochs = 2

# The "detector" of the target domain (OpenPose-18 indices: 1 neck,
# 0 nose, 8/11 right/left hip, 9/12 right/left knee).
target_keypoints2d = dict(
    body_model=smpl,
    jitter_std=2.5,
    round_jitter=False,
    occlusion_prob=0.3,
    bias_px=[[0.0, 1.5], [0.0, -1.0], [1.0, 0.0], [1.5, 1.0], [2.0, 1.0],
             [-1.0, 0.0], [-1.5, 1.0], [-2.0, 1.0], [1.5, -1.5], [1.0, 0.0],
             [0.5, 1.0], [-1.5, -1.5], [-1.0, 0.0], [-0.5, 1.0], [0.5, 1.0],
             [-0.5, 1.0], [1.0, 0.5], [-1.0, 0.5]],
    joint_blend=[(8, 9, 0.25), (11, 12, 0.25), (1, 0, 0.2)])

model = dict(
    estimator=dict(
        # the synthetic target's labels are in Key2Mesh's SMPL frame
        output_frame='smpl',
        regressor=dict(hidden_dim=hidden_dim, body_model=smpl),
        joint_regressor=f'{body_model_dir}/J_regressor_h36m.npy',
        data_preprocessor=dict(body_model=smpl)),
    critic=dict(in_dim=hidden_dim, hidden_dim=128),
    critic_steps=5,
    source_checkpoint=None)

amass = dict(
    type='Key2MeshAMASSPairsDataset',
    data_root=f'{synthetic_root}/amass',
    verbose=False)
train_dataloader = dict(
    batch_size=64,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        source=dict(amass, split='train', num_samples=2500),
        # `_delete_`: a synthetic AMASS target replaces the base's keypoint
        # file, whose keys MMEngine would otherwise merge in
        target=dict(
            amass,
            _delete_=True,
            split='train',
            num_samples=1024,
            seed=1,
            keypoints2d=target_keypoints2d,
            return_3d=False)))
_target_eval = dict(
    amass,
    split='val',
    num_samples=256,
    test_mode=True,
    seed=2,
    keypoints2d=target_keypoints2d,
    return_3d=True)
val_dataloader = dict(
    batch_size=128,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(_delete_=True, **_target_eval))  # as the target above
test_dataloader = val_dataloader

train_cfg = dict(max_epochs=max_epochs, val_interval=1)
optim_wrapper = dict(
    estimator=dict(optimizer=dict(lr=1e-3)),
    critic=dict(optimizer=dict(lr=1e-3)))
default_hooks = dict(
    logger=dict(interval=5),
    # a demo: no best-epoch selection (its validation set is also its test
    # set: the AMASS 'val' sequences seen by the synthetic detector)
    checkpoint=dict(interval=1, max_keep_ckpts=2, save_best=None))
