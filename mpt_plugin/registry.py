"""Registries used by mpt_plugin, and its naming rule.

Every component registers into MMPose's registries, so a config with
``default_scope='mmpose'`` and ``custom_imports=dict(imports=['mpt_plugin'])``
builds it with stock MMPose/MMEngine tools. MMPose has no ``FUNCTIONS``
registry: collate functions go to MMEngine's, where the Runner looks them up.

Naming rule, true for every registered name:

- A name starts with one of :data:`NAME_PREFIXES`: ``Key2Mesh`` or
  ``PCHMR`` for parts that exist only for that method, ``MPT`` (the
  plugin's prefix, which keeps our names apart from MMPose's) for
  everything else, including the MPT paper's own parts. Registered
  functions use ``mpt_``.
- The file is the name in snake case without the plugin prefix ``MPT``
  (``MPTMeshTransformerHead`` -> ``models/heads/mesh_transformer_head.py``);
  a method prefix stays (``PCHMRPoseCalibrationNeck`` ->
  ``models/necks/pc_hmr_pose_calibration_neck.py``). It lies in the folder of
  its registry kind, never in a ``utils/`` folder.
- Renamed components stay buildable under their old names
  (:data:`DEPRECATED_NAMES`), so existing configs and checkpoints load.

``tests/test_architecture/test_registry_names.py`` walks the registries and
checks all three.
"""
from mmengine.registry import FUNCTIONS
from mmpose.registry import (DATA_SAMPLERS, DATASETS, EVALUATORS, HOOKS, LOOPS,
                             METRICS, MODEL_WRAPPERS, MODELS,
                             OPTIM_WRAPPER_CONSTRUCTORS, OPTIM_WRAPPERS,
                             PARAM_SCHEDULERS, TRANSFORMS, VISBACKENDS,
                             VISUALIZERS)

__all__ = [
    'DATASETS', 'DATA_SAMPLERS', 'EVALUATORS', 'FUNCTIONS', 'HOOKS', 'LOOPS',
    'METRICS', 'MODELS', 'MODEL_WRAPPERS', 'OPTIM_WRAPPERS',
    'OPTIM_WRAPPER_CONSTRUCTORS', 'PARAM_SCHEDULERS', 'TRANSFORMS',
    'VISBACKENDS', 'VISUALIZERS', 'NAME_PREFIXES', 'DEPRECATED_NAMES',
    'register_deprecated_names'
]

#: every registered name starts with one of these
NAME_PREFIXES = ('MPT', 'Key2Mesh', 'PCHMR', 'mpt_')

#: old name -> current name, for configs and checkpoints written before the
#: naming rule (2026-12): same class, registered under both names
DEPRECATED_NAMES = {
    'MeshMetric': 'MPTMeshMetric',
    'HumanDataDataset': 'MPTHumanDataDataset',
    'HumanDataSequenceDataset': 'MPTHumanDataSequenceDataset',
    'MixedHumanDataDataset': 'MPTMixedHumanDataDataset',
    'DomainAdaptationDataset': 'MPTDomainAdaptationDataset',
    'PackMeshInputs': 'MPTPackMeshInputs',
    'PackMeshSequenceInputs': 'MPTPackMeshSequenceInputs',
    'MeshAffine': 'MPTMeshAffine',
    'MeshColorNoise': 'MPTMeshColorNoise',
    'MeshRandomFlip': 'MPTMeshRandomFlip',
    'MeshRandomScaleRotation': 'MPTMeshRandomScaleRotation',
    'MeshSequenceAlign': 'MPTMeshSequenceAlign',
    'WGANDomainAdaptation': 'MPTWGANDomainAdaptation',
    'Key2MeshDomainCritic': 'MPTDomainCritic',
    'Key2MeshGradientPenalty': 'MPTGradientPenalty',
}


def register_deprecated_names() -> None:
    """Register each old name of :data:`DEPRECATED_NAMES` in the registry
    that holds its current name (called once by ``import mpt_plugin``)."""
    registries = (DATASETS, TRANSFORMS, METRICS, MODELS, HOOKS)
    for old, new in DEPRECATED_NAMES.items():
        holders = [r for r in registries if new in r.module_dict]
        if len(holders) != 1:
            raise RuntimeError(f'{new} (new name of {old}) must be registered '
                               f'in exactly one registry, found {holders}')
        if old not in holders[0].module_dict:
            holders[0].register_module(name=old, module=holders[0].get(new))
