"""Every registered name leads to its file (issue 13, registry hygiene).

The rule (``mpt_plugin/registry.py``): a registered name starts with one
prefix of :data:`mpt_plugin.registry.NAME_PREFIXES`; the file is the name in
snake case, the plugin prefix ``MPT`` left out, a method prefix
(``Key2Mesh``, ``PCHMR``) kept; the file lies in the folder of its registry
kind, never in a ``utils/`` folder. Renamed components stay loadable under
their old names (:data:`mpt_plugin.registry.DEPRECATED_NAMES`).
"""
import re

import pytest
from mmengine.registry import Registry

import mpt_plugin.testing  # noqa: F401 (the test fixtures follow the rule)
from mpt_plugin import registry as plugin_registry
from mpt_plugin.registry import DEPRECATED_NAMES, NAME_PREFIXES

# registry kind -> package folders (below mpt_plugin/) its components live in
FOLDERS = {
    'DATASETS': ('datasets', 'testing'),
    'FUNCTIONS': ('datasets', ),
    'TRANSFORMS': ('datasets/transforms', ),
    'METRICS': ('evaluation/metrics', 'testing'),
    'HOOKS': ('engine/hooks', 'testing'),
    'OPTIM_WRAPPER_CONSTRUCTORS': ('engine/optim_wrappers', ),
    'VISUALIZERS': ('visualization', ),
    'MODELS': ('body_models', 'models/backbones', 'models/necks',
               'models/heads', 'models/losses', 'models/estimators',
               'models/data_preprocessors', 'models/streams', 'testing'),
}
# acronyms and compound words written as one snake-case token
_TOKENS = {'Key2Mesh': 'Key2mesh', 'PCHMR': 'PcHmr', 'MoCap': 'Mocap',
           'HRNet': 'Hrnet', 'FreiHAND': 'Freihand'}


def snake_case(name: str) -> str:
    """``MPTHRNetPoseFeatureMaps`` -> ``mpt_hrnet_pose_feature_maps``."""
    for word, token in _TOKENS.items():
        name = name.replace(word, token)
    name = re.sub(r'(?<=[A-Z])(?=[A-Z][a-z])', '_', name)
    return re.sub(r'(?<=[a-z0-9])(?=[A-Z])', '_', name).lower()


def expected_stem(name: str) -> str:
    """File stem of a registered name: snake case, ``MPT`` left out."""
    for prefix in ('MPT', 'mpt_'):
        if name.startswith(prefix):
            return snake_case(name[len(prefix):])
    return snake_case(name)


def _plugin_components():
    """(registry kind, name, class) of every mpt_plugin registration."""
    found = []
    for kind in dir(plugin_registry):
        reg = getattr(plugin_registry, kind)
        if not isinstance(reg, Registry):
            continue
        for name, obj in reg.module_dict.items():
            if getattr(obj, '__module__', '').startswith('mpt_plugin.'):
                found.append((kind, name, obj))
    return found


COMPONENTS = _plugin_components()


def test_snake_case():
    assert expected_stem('MPTHRNetPoseFeatureMaps') == \
        'hrnet_pose_feature_maps'
    assert expected_stem('Key2MeshAMASSPairsDataset') == \
        'key2mesh_amass_pairs_dataset'
    assert expected_stem('PCHMRMPTMeshStream') == 'pc_hmr_mpt_mesh_stream'
    assert expected_stem('MPTGenderedSMPL') == 'gendered_smpl'
    assert expected_stem('MPTMoCapHeatmapDataset') == 'mocap_heatmap_dataset'
    assert expected_stem('MPTSMPL') == 'smpl'
    assert expected_stem('MPTWGANDomainAdaptation') == 'wgan_domain_adaptation'
    assert expected_stem('mpt_domain_adaptation_collate') == \
        'domain_adaptation_collate'


def test_components_were_found():
    names = {name for _, name, _ in COMPONENTS}
    # one of each kind at least, so the walk below cannot pass vacuously
    assert {'MPTMeshTransformerHead', 'MPTHumanDataDataset',
            'MPTMeshAffine', 'MPTMeshMetric', 'MPTAtomicCheckpointHook',
            'MPTMeshVisualizer', 'MPTToyRegressor'} <= names


@pytest.mark.parametrize('kind,name,cls', COMPONENTS,
                         ids=[f'{k}:{n}' for k, n, _ in COMPONENTS])
def test_name_leads_to_file(kind, name, cls):
    if name in DEPRECATED_NAMES:
        # an old name: the same class as its new name
        new = DEPRECATED_NAMES[name]
        assert getattr(plugin_registry, kind).get(new) is cls
        return
    assert name == cls.__name__
    assert name.startswith(NAME_PREFIXES), name
    module = cls.__module__.split('.')
    assert 'utils' not in module, cls.__module__
    assert module[-1] == expected_stem(name), cls.__module__
    folder = '/'.join(module[1:-1])
    assert folder in FOLDERS[kind], (kind, cls.__module__)


def test_deprecated_names_resolve():
    for old, new in DEPRECATED_NAMES.items():
        kinds = [k for k, n, _ in COMPONENTS if n == new]
        assert kinds, f'{old} -> {new}: {new} is not registered'
        reg = getattr(plugin_registry, kinds[0])
        assert reg.get(old) is reg.get(new)

