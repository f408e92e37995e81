"""The shape of ``configs/``: an experiment inherits ``_base_/`` fragments
only, a demo (``*_demo.py``) overrides one experiment or fragments, and no
dataset fragment shadows an MMPose dataset-metainfo file (MMPose reads
``configs/_base_/datasets/<name>.py`` relative to the working directory
before its own copy)."""
import ast
import glob
import os.path as osp

import mmpose
import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = osp.join(REPO, 'configs')
EXPERIMENTS = sorted(
    osp.basename(f) for f in glob.glob(osp.join(CONFIGS, '*.py')))


def _bases(path):
    """The ``_base_`` list of a config file, read without executing it."""
    with open(path) as f:
        tree = ast.parse(f.read())
    for node in tree.body:
        if (isinstance(node, ast.Assign)
                and getattr(node.targets[0], 'id', None) == '_base_'):
            bases = ast.literal_eval(node.value)
            return [bases] if isinstance(bases, str) else list(bases)
    return []


@pytest.mark.parametrize('name', EXPERIMENTS)
def test_experiments_inherit_fragments_demos_one_experiment(name):
    bases = _bases(osp.join(CONFIGS, name))
    assert bases, name
    fragments = [b for b in bases if b.startswith('./_base_/')]
    if not name.endswith('_demo.py'):
        assert fragments == bases, name
        return
    parents = [b for b in bases if b not in fragments]
    assert len(parents) <= 1, name
    for parent in parents:
        assert not parent.endswith('_demo.py'), name
        assert osp.basename(parent) in EXPERIMENTS, name


def test_no_fragment_shadows_mmpose_metainfo():
    mmpose_metainfo = {
        osp.basename(f) for f in glob.glob(
            osp.join(osp.dirname(mmpose.__file__), '.mim', 'configs',
                     '_base_', 'datasets', '*.py'))
    }
    assert mmpose_metainfo  # e.g. coco.py, h36m.py, mpii.py
    ours = {
        osp.basename(f)
        for f in glob.glob(osp.join(CONFIGS, '_base_', 'datasets', '*.py'))
    }
    assert ours and not ours & mmpose_metainfo
