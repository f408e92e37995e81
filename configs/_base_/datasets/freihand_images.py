# FreiHAND (Zimmermann et al., ICCV 2019) in its official layout under
# data/freihand (training_{K,mano,xyz,verts,scale}.json, training/rgb,
# evaluation_*.json, evaluation/rgb), with the image pipeline of the
# released hand mesh code (shared/reference/hand_spec.md): no flip;
# rotation N(0, 90 deg) clipped to +-180, zeroed with p = 0.6; crop scale
# N(1, 0.25) clipped to [0.75, 1.25]; colour noise U[0.6, 1.4] per channel;
# the central 180-px box of the 224 image (MPTFreiHANDDataset's box)
# resized to 224. Testing: the evaluation split (3,960 images), scored with
# FreiHAND's official evaluation.
freihand_root = 'data/freihand'
crop_size = 224

train_pipeline = [
    dict(type='LoadImage'),
    dict(type='MPTMeshRandomScaleRotation', rot_factor=90., scale_factor=0.25,
         rot_prob=0.6),
    dict(type='MPTMeshAffine', input_size=crop_size),
    dict(type='MPTMeshColorNoise', noise_factor=0.4),
    dict(type='MPTPackMeshInputs', num_keypoints=21),
]
test_pipeline = [
    dict(type='LoadImage'),
    dict(type='MPTMeshAffine', input_size=crop_size),
    dict(type='MPTPackMeshInputs', num_keypoints=21),
]

# per GPU; the released hand code: 8 GPUs x 32 images
train_dataloader = dict(
    batch_size=32,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='MPTFreiHANDDataset', data_root=freihand_root,
                 split='training', pipeline=train_pipeline))
test_dataloader = dict(
    batch_size=32,
    num_workers=4,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='MPTFreiHANDDataset', data_root=freihand_root,
                 split='evaluation', test_mode=True,
                 pipeline=test_pipeline))
# Predictions and GT are wrist-centred (weak-perspective model: no depth),
# so the unaligned MPJPE / MPVPE are wrist-relative; the PA numbers, the
# papers' table, are FreiHAND's. pred_json='...' writes the submission file.
test_evaluator = dict(type='MPTFreiHANDMetric')
