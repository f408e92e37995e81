# Image pipelines of MPT fine-tuning on 224x224 crops: flip, scale /
# rotation and colour noise for training (transforms in
# mpt_plugin/datasets/transforms).
crop_size = 224

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
