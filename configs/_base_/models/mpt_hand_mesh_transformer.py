# The hand variant of MPT's mesh regression transformer: the released METRO
# / Mesh Graphormer hand networks' sizes and losses
# (shared/reference/hand_spec.md): 21 joint and 195 coarse-vertex queries
# (216 tokens + 784 heatmap patches), one learned Linear(195, 778)
# upsampling, 21 hand heatmaps; body sizes otherwise (3 blocks x 4 layers x
# 4 heads, hidden 1024/256/64).
_base_ = ['./mpt_mesh_transformer.py']

mpt_hand_mesh_transformer = dict(
    _base_.mpt_mesh_transformer,
    in_channels=21,
    num_joints=21,
    num_vertices=(195, 778),
    # weak-perspective scale s at initialisation (our deviation, as the
    # body's positive softplus scale): about that of a hand filling the
    # crop, 2 / (1.2 x ~0.17 m) ~ 10, instead of the body's 1.0 (a 1.7 m
    # body); with s = 1 the re-projection loss first pushes the 3D joints
    # to ~10x their metric size, against the 3D losses
    camera_scale_init=10.0,
    # the released hand code trains with mvm_percent = 0.0 (its comment:
    # 0 % or 5 % works better for hands)
    mvm_ratio=0.0,
    # released hand loss: 0.5 L1 on the 195 and 0.5 on the 778 vertices,
    # squared-error 3D joints (tokens + mesh-regressed, wrist-centred) and
    # 2D joints (both projections), every weight 1.0, nn.L1Loss /
    # nn.MSELoss element means
    loss=dict(
        type='MPTMeshLoss',
        vertices_weight=1.0,
        joints_weight=1.0,
        joints_reg_weight=1.0,
        joints_proj_weight=1.0,
        vertex_level_weights=(0.5, 0.5),
        joints_criterion='mse',
        coord_reduction='mean',
        joints_root_indices=(0, ),
        proj_joints='both'))
