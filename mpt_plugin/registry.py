"""Registries used by mpt_plugin.

Every component registers into MMPose's registries, so a config with
``default_scope='mmpose'`` and ``custom_imports=dict(imports=['mpt_plugin'])``
builds it with stock MMPose/MMEngine tools. Class names carry a prefix
(``MPT``, ``Key2Mesh``, ``PCHMR``) so they never clash with MMPose's own.
"""
from mmpose.registry import (DATA_SAMPLERS, DATASETS, EVALUATORS, HOOKS, LOOPS,
                             METRICS, MODEL_WRAPPERS, MODELS,
                             OPTIM_WRAPPER_CONSTRUCTORS, OPTIM_WRAPPERS,
                             PARAM_SCHEDULERS, TRANSFORMS, VISBACKENDS,
                             VISUALIZERS)

__all__ = [
    'DATASETS', 'DATA_SAMPLERS', 'EVALUATORS', 'HOOKS', 'LOOPS', 'METRICS',
    'MODELS', 'MODEL_WRAPPERS', 'OPTIM_WRAPPERS', 'OPTIM_WRAPPER_CONSTRUCTORS',
    'PARAM_SCHEDULERS', 'TRANSFORMS', 'VISBACKENDS', 'VISUALIZERS'
]
