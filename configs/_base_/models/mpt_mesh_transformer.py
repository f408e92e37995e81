# MPT's mesh regression transformer head (Lin et al., sections 3.1, 3.3,
# appendix A). Its defaults are the paper's sizes: 3 blocks x 4 layers x 4
# heads, hidden sizes 1024/256/64, 8x8 patches of 224x224 maps (784
# tokens), 431-vertex coarse mesh upsampled to 6890. Model fragments set
# what differs (input_size, in_channels, loss).
mpt_mesh_transformer = dict(
    type='MPTMeshTransformerHead',
    # What the queries get next to their template xyz (a deviation):
    # 'flatten' (the head's default, our choice) is a position-aware
    # summary of the heatmap tokens (each reduced to 4 channels,
    # flattened in patch order, projected), shared by all queries. The
    # METRO paper concatenates one pooled CNN feature; METRO's released
    # body network instead gives each query its own learned mix of the
    # 7x7 grid features, Conv1d(49 -> 445): global_feature='token_mix'
    # does that with the 784 patch tokens (not yet measured against
    # 'flatten'). A plain mean of the patch tokens ('mean') does not
    # depend on where the joints are; with it the transformer only learnt
    # the mean pose (docs/benchmarks.md).
    global_feature='flatten',
    loss=dict(type='MPTMeshLoss'))
