"""Evaluation protocol of every shipped config: no model selection on the
test data, no validation on training data.

For each config in ``configs/`` (loaded with MMEngine's ``Config``), the
datasets of ``train_dataloader``, ``val_dataloader`` and
``test_dataloader`` are flattened (mixed ``datasets``, domain-adaptation
``source`` / ``target``, wrapped ``dataset``) and each leaf is reduced to the
data it reads: the resolved annotation file plus its subject/sequence
``split``, or an AMASS folder plus its sequence split. Then:

- a config that reads the validation metric (checkpoint ``save_best``, an
  early-stopping hook, a ``ReduceOnPlateau`` scheduler: anything with a
  ``monitor``) must not validate on data it tests on, nor on data it trains
  or adapts on (same file with overlapping selections, judged by
  :func:`~mpt_plugin.datasets.human_data_split.splits_overlap`);
- no config validates on a benchmark file (``h36m_valid_protocol*``,
  ``pw3d_test*``): those belong to ``test_dataloader`` only.

The negative cases build bad configs (in memory, or a shipped config with
the ``--cfg-options`` that reproduce METRO's practice) and check that the
checker reports them.
"""
import glob
import inspect
import os.path as osp
import re

import pytest
from mmengine.config import Config, ConfigDict

from mpt_plugin.datasets.human_data_split import splits_overlap
from mpt_plugin.registry import DATASETS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG_FILES = sorted(glob.glob(osp.join(REPO, 'configs', '*.py')))
CONFIG_NAMES = [osp.splitext(osp.basename(f))[0] for f in CONFIG_FILES]
BENCHMARK = re.compile(r'(^|/)(h36m_valid_protocol\d*|pw3d_test)[^/]*$')
#: Keys holding nested datasets (Mixed / DomainAdaptation / wrappers).
NESTED = ('datasets', 'dataset', 'source', 'target')
#: The line in configs/mpt_finetune_mixed.py that reproduces METRO.
METRO_OPTIONS = {
    'train_dataloader.dataset.datasets.0.split': None,
    'val_dataloader.dataset.ann_file': 'h36m_valid_protocol2.npz',
    'val_dataloader.dataset.split': None,
}


def _leaves(ds):
    """Leaf dataset configs of a (nested) dataset config."""
    if not isinstance(ds, dict):
        return []
    nested = [ds[k] for k in NESTED if k in ds]
    if not nested:
        return [ds]
    out = []
    for item in nested:
        for sub in (item if isinstance(item, (list, tuple)) else [item]):
            out += _leaves(sub)
    return out


def _default(type_name, arg, fallback=None):
    cls = DATASETS.get(type_name) if isinstance(type_name, str) else None
    if cls is None:
        return fallback
    param = inspect.signature(cls.__init__).parameters.get(arg)
    return fallback if param is None else param.default


def _data(leaf):
    """``(identity, selection)`` of the data a leaf dataset reads.

    identity: ``('file', resolved path)`` or ``('amass', folder,
    val_fraction, sequences)``; selection: the ``split`` dict of a file
    (None = every row) or the AMASS split name."""
    t = leaf.get('type')
    if 'ann_file' in leaf:
        ann = str(leaf['ann_file'])
        if osp.isabs(ann):
            path = ann
        elif 'data_prefix' in leaf or t == 'MPTHumanDataDataset':
            prefix = leaf.get('data_prefix', _default(t, 'data_prefix', ''))
            path = osp.join(prefix, 'preprocessed_datasets', ann)
        else:
            path = osp.join(leaf.get('data_root', '') or '', ann)
        return ('file', osp.normpath(path)), leaf.get('split')
    if 'data_root' in leaf:
        seqs = leaf.get('sequences')
        ident = ('amass', osp.normpath(leaf['data_root']),
                 leaf.get('val_fraction', _default(t, 'val_fraction')),
                 None if seqs is None else tuple(seqs))
        return ident, leaf.get('split', _default(t, 'split', 'all'))
    return ('unknown', t, repr(sorted(leaf.items()))), None


def _overlap(a, b):
    (id_a, sel_a), (id_b, sel_b) = _data(a), _data(b)
    if id_a != id_b:
        return False
    if id_a[0] == 'file':
        return splits_overlap(sel_a, sel_b)
    if id_a[0] == 'amass' and id_a[3] is None:
        return sel_a == sel_b or 'all' in (sel_a, sel_b)
    return True


def _monitors(cfg):
    """Names of the components that read the validation metric."""
    found = []
    ckpt = (cfg.get('default_hooks') or {}).get('checkpoint') or {}
    if ckpt.get('save_best'):
        found.append(f'CheckpointHook(save_best={ckpt["save_best"]!r})')
    scheds = cfg.get('param_scheduler') or []
    if isinstance(scheds, dict) and 'type' not in scheds:
        scheds = [s for v in scheds.values() for s in (
            v if isinstance(v, (list, tuple)) else [v])]
    elif isinstance(scheds, dict):
        scheds = [scheds]
    for item in list(scheds) + list(cfg.get('custom_hooks') or []):
        t = str(item.get('type', ''))
        if 'monitor' in item or 'ReduceOnPlateau' in t or 'EarlyStop' in t:
            found.append(t)
    return found


def _loader_leaves(cfg, key):
    loader = cfg.get(key)
    if not loader or not loader.get('dataset'):
        return []
    return _leaves(loader['dataset'])


def protocol_errors(cfg):
    """Why ``cfg`` breaks the evaluation protocol ([] if it does not)."""
    errors = []
    val = _loader_leaves(cfg, 'val_dataloader')
    test = _loader_leaves(cfg, 'test_dataloader')
    train = _loader_leaves(cfg, 'train_dataloader')
    for leaf in val:
        ident = _data(leaf)[0]
        if ident[0] == 'file' and BENCHMARK.search(ident[1]):
            errors.append(f'validates on the benchmark file {ident[1]}')
    monitors = _monitors(cfg)
    if not monitors:
        return errors
    for v in val:
        for t in test:
            if _overlap(v, t):
                errors.append(f'{monitors} reads validation on '
                              f'{_data(v)[0][1]} which it also tests on')
        for t in train:
            if _overlap(v, t):
                errors.append(f'{monitors} reads validation on '
                              f'{_data(v)[0][1]} (selection '
                              f'{_data(v)[1]}) overlapping the training / '
                              f'adaptation selection {_data(t)[1]}')
    return errors


@pytest.fixture(scope='module')
def configs():
    return {
        n: Config.fromfile(f)
        for n, f in zip(CONFIG_NAMES, CONFIG_FILES)
    }


def test_every_config_is_checked(configs):
    assert len(configs) >= 19
    # the checker sees the data of every config (no unknown leaf)
    for name, cfg in configs.items():
        for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
            for leaf in _loader_leaves(cfg, key):
                assert _data(leaf)[0][0] in ('file', 'amass'), (name, key,
                                                               leaf)


@pytest.mark.parametrize('name', CONFIG_NAMES)
def test_shipped_config_protocol(name, configs):
    cfg = configs[name]
    assert protocol_errors(cfg) == []
    if not _monitors(cfg):
        return
    # a config that selects on validation validates on held-out data:
    # a held-out subject/sequence part of a file, or AMASS 'val' sequences
    for leaf in _loader_leaves(cfg, 'val_dataloader'):
        ident, sel = _data(leaf)
        if ident[0] == 'file':
            assert sel is not None and sel['part'] == 'val', (name, leaf)
        else:
            assert sel == 'val', (name, leaf)


def test_one_held_out_set_per_file(configs):
    """Every config that splits a file holds out the same groups of it (so
    a model selected in one config was not trained on another's
    validation groups): S8 for Human3.6M, four sequences for 3DPW."""
    held = {}
    for name, cfg in configs.items():
        for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
            for leaf in _loader_leaves(cfg, key):
                ident, sel = _data(leaf)
                if ident[0] == 'file' and sel is not None:
                    held.setdefault(osp.basename(ident[1]), set()).add(
                        (sel.get('by', 'subject'), tuple(sel['held_out'])))
    assert held['h36m_train.npz'] == {('subject', ('S8', ))}
    assert held['h36m_train_openpose.npz'] == {('subject', ('S8', ))}
    assert held['pw3d_train.npz'] == {
        ('sequence', ('courtyard_backpack_00', 'courtyard_dancing_01',
                      'courtyard_shakeHands_00', 'outdoors_climbing_02'))
    }


def test_benchmark_files_only_in_test(configs):
    """The paper benchmarks are tested on, by the configs that say so."""
    tested = {
        n: {_data(leaf)[0][1] for leaf in _loader_leaves(c, 'test_dataloader')
            if _data(leaf)[0][0] == 'file'}
        for n, c in configs.items()
    }
    for name in ('mpt_finetune_mixed', 'mpt_test_h36m_p2', 'mpt_da_h36m',
                 'pc_hmr_serial_mpt_h36m', 'pc_hmr_parallel_mpt_h36m'):
        assert tested[name] == {
            'data/preprocessed_datasets/h36m_valid_protocol2.npz'
        }, name
    for name in ('mpt_finetune_3dpw', 'mpt_test_3dpw'):
        assert tested[name] == {'data/preprocessed_datasets/pw3d_test.npz'}
    assert tested['key2mesh_da_h36m'] == {
        'data/preprocessed_datasets/h36m_valid_protocol2_openpose.npz'
    }
    for name in ('key2mesh_da_3dpw', 'pc_hmr_parallel_key2mesh_3dpw'):
        assert tested[name] == {'data/preprocessed_datasets/pw3d_test.npz'}


# ------------------------------------------------------------- negatives
def _humandata(ann, split=None, **kw):
    return dict(type='MPTHumanDataDataset', ann_file=ann, dataset_name='h36m',
                split=split, **kw)


H36M_TRAIN = dict(held_out=['S8'], part='train')
H36M_VAL = dict(held_out=['S8'], part='val')


def _toy(train, val, test, save_best='mesh/PA-MPJPE', **extra):
    cfg = dict(
        train_dataloader=dict(dataset=train),
        val_dataloader=dict(dataset=val),
        test_dataloader=dict(dataset=test),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook',
                                           save_best=save_best)))
    cfg.update(extra)
    return Config(cfg)


GOOD = dict(
    train=_humandata('h36m_train.npz', H36M_TRAIN),
    val=_humandata('h36m_train.npz', H36M_VAL),
    test=_humandata('h36m_valid_protocol2.npz'))


@pytest.mark.parametrize('case,changes,message', [
    ('good', {}, None),
    ('val_is_test', dict(val=GOOD['test']),
     'validates on the benchmark file'),
    # the same file, named through an absolute path / another prefix form
    ('val_is_test_absolute', dict(
        val=_humandata('/abs/x/preprocessed_datasets/h.npz', H36M_VAL),
        test=_humandata('h.npz', H36M_VAL, data_prefix='/abs/x')),
     'which it also tests on'),
    ('val_in_train', dict(train=_humandata('h36m_train.npz')),
     'overlapping the training'),
    ('val_bigger_than_held_out', dict(
        val=_humandata('h36m_train.npz', dict(held_out=['S8', 'S7'],
                                              part='val'))),
     'overlapping the training'),
    ('mixed_train', dict(train=dict(
        type='MPTMixedHumanDataDataset',
        datasets=[_humandata('coco.npz'), _humandata('h36m_train.npz')],
        partition=[0.5, 0.5])), 'overlapping the training'),
    ('da_target', dict(train=dict(
        type='MPTDomainAdaptationDataset',
        source=dict(type='Key2MeshAMASSPairsDataset', data_root='a',
                    split='train'),
        target=dict(type='Key2MeshKeypointsDataset',
                    ann_file='data/preprocessed_datasets/h36m_train.npz',
                    split=dict(held_out=['S9'], part='train')))),
     'overlapping the training'),
    ('amass_val_is_test', dict(
        train=dict(type='Key2MeshAMASSPairsDataset', data_root='a',
                   split='train'),
        val=dict(type='Key2MeshAMASSPairsDataset', data_root='a',
                 split='val'),
        test=dict(type='Key2MeshAMASSPairsDataset', data_root='a',
                  split='val')), 'which it also tests on'),
])
def test_checker_on_toy_configs(case, changes, message):
    parts = dict(GOOD, **changes)
    errors = protocol_errors(_toy(parts['train'], parts['val'],
                                  parts['test']))
    if message is None:
        assert errors == []
    else:
        assert errors and any(message in e for e in errors), errors


def test_metric_reading_schedulers_and_hooks_count():
    bad = dict(GOOD, val=_humandata('h36m_train.npz'))  # val in train
    assert protocol_errors(_toy(bad['train'], bad['val'], bad['test'],
                                save_best=None)) == []
    plateau = _toy(bad['train'], bad['val'], bad['test'], save_best=None,
                   param_scheduler=[dict(type='ReduceOnPlateauLR',
                                         monitor='mesh/PA-MPJPE')])
    assert protocol_errors(plateau)
    multi = _toy(bad['train'], bad['val'], bad['test'], save_best=None,
                 param_scheduler=dict(estimator=[
                     dict(type='ReduceOnPlateauLR', monitor='loss')
                 ]))
    assert protocol_errors(multi)
    early = _toy(bad['train'], bad['val'], bad['test'], save_best=None,
                 custom_hooks=[dict(type='EarlyStoppingHook',
                                    monitor='mesh/PA-MPJPE')])
    assert protocol_errors(early)


def test_metro_cfg_options_line_is_caught(configs):
    """The one-line override given in configs/mpt_finetune_mixed.py to
    reproduce METRO's selection on Human3.6M P2 breaks the protocol."""
    cfg = Config(ConfigDict(configs['mpt_finetune_mixed'].to_dict()))
    text = open(osp.join(REPO, 'configs', 'mpt_finetune_mixed.py')).read()
    for key, value in METRO_OPTIONS.items():
        assert f'{key}={value}' in text, key
    cfg.merge_from_dict(METRO_OPTIONS)
    assert cfg.train_dataloader.dataset.datasets[0].split is None
    errors = protocol_errors(cfg)
    assert any('which it also tests on' in e for e in errors), errors
