# Runtime of the MPT image configs (fine-tuning, testing, domain
# adaptation): the default runtime plus the mesh visualiser, the hooks the
# mixed / paired datasets need, and the best-checkpoint selection on the
# validation PA-MPJPE (held-out training data, never the test set).
_base_ = ['./default_runtime.py']

# every 5 epochs, with the validation of the 80-epoch schedule; the
# configs that validate every epoch set interval=1
default_hooks = dict(
    checkpoint=dict(interval=5, max_keep_ckpts=3,
                    save_best='mesh/PA-MPJPE', rule='less'))
custom_hooks = [
    # sets the epoch of the mixed dataset's draw and of the
    # domain-adaptation pairing (set_epoch)
    dict(type='MPTDatasetEpochHook'),
    # draws predicted meshes over validation crops (local PNGs / TensorBoard);
    # enable=True or `tools/test.py --show-dir` style overrides switch it on
    dict(type='MPTMeshVisualizationHook', enable=False, interval=50),
]
visualizer = dict(
    type='MPTMeshVisualizer',
    name='visualizer',
    vis_backends=[dict(type='LocalVisBackend'),
                  dict(type='TensorboardVisBackend')],
    body_model_path='data/body_models')  # as models/smpl.py
