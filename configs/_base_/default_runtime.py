# Runtime settings shared by mpt_plugin configs (MMPose 1.x conventions).
# Components are looked up in MMPose's registries; `custom_imports` makes a
# stock MMPose/MMEngine entry script register mpt_plugin's components.
default_scope = 'mmpose'
custom_imports = dict(imports=['mpt_plugin'], allow_failed_imports=False)

# hooks
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # MMEngine's CheckpointHook, writing checkpoints and `last_checkpoint`
    # atomically (temporary file + rename): a killed run never leaves a
    # truncated file under a final name
    checkpoint=dict(type='MPTAtomicCheckpointHook', interval=10),
    sampler_seed=dict(type='DistSamplerSeedHook'))

# multi-processing and distributed backend; tools/train.py and tools/test.py
# switch `nccl` to `gloo` when no GPU is present
# (mpt_plugin.engine.distributed.setup_distributed)
env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'))

# visualizer (MMEngine's; mesh visualisation hooks are opt-in per config)
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(
    type='Visualizer', vis_backends=vis_backends, name='visualizer')

# logger
log_processor = dict(
    type='LogProcessor', window_size=50, by_epoch=True, num_digits=6)
log_level = 'INFO'
load_from = None
resume = False

# file I/O backend
backend_args = dict(backend='local')

# reproducibility
randomness = dict(seed=0)
