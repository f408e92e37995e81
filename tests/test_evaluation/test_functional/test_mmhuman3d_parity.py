"""Parity of ``mmhuman3d_metrics`` with mmhuman3d 0.11.0's own code.

The reference is mmhuman3d 0.11.0's wheel, downloaded once per session with
``python -m pip download mmhuman3d==0.11.0 --no-deps`` into the pytest cache
(skipped with a reason if the download fails, e.g. no network). Only two files
are executed, loaded by file path from the wheel (the ``mmhuman3d`` package
itself is never imported: its ``__init__`` asserts an old mmcv):

- ``mmhuman3d/core/evaluation/mesh_eval.py`` is loaded as
  ``_mmh3d_ref.mesh_eval`` under an empty stand-in package ``_mmh3d_ref``;
- ``eval_utils.py`` is loaded as ``_mmh3d_ref.eval_utils``, so its unmodified
  ``from .mesh_eval import compute_similarity_transform`` resolves to it;
- ``eval_utils`` imports ``trimesh`` (only used by the face metric): when
  trimesh is not installed a stub module stands in while the file executes.

All stand-in entries are removed from ``sys.modules`` afterwards.
"""
import importlib.util
import subprocess
import sys
import types
import zipfile
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from mpt_plugin.evaluation.functional.mmhuman3d_metrics import (
    ALIGNMENTS, keypoint_3d_auc, keypoint_3d_pck, keypoint_mpjpe,
    mmh3d_similarity_transform, vertice_pve)

WHEEL_REQ = 'mmhuman3d==0.11.0'
EVAL_DIR = 'mmhuman3d/core/evaluation/'


def _load_reference(wheel: Path, out_dir: Path) -> types.ModuleType:
    """Extract and load mmhuman3d's ``eval_utils`` by file path."""
    with zipfile.ZipFile(wheel) as zf:
        for name in ('mesh_eval.py', 'eval_utils.py'):
            (out_dir / name).write_bytes(zf.read(EVAL_DIR + name))
    pkg_name = '_mmh3d_ref'
    added = []
    saved = {}
    try:
        pkg = types.ModuleType(pkg_name)
        pkg.__path__ = [str(out_dir)]
        sys.modules[pkg_name] = pkg
        added.append(pkg_name)
        if importlib.util.find_spec('trimesh') is None:
            trimesh = types.ModuleType('trimesh')
            proximity = types.ModuleType('trimesh.proximity')
            proximity.closest_point = None
            trimesh.proximity = proximity
            for name, mod in (('trimesh', trimesh),
                              ('trimesh.proximity', proximity)):
                saved[name] = sys.modules.get(name)
                sys.modules[name] = mod
        modules = {}
        for name in ('mesh_eval', 'eval_utils'):
            full = f'{pkg_name}.{name}'
            spec = importlib.util.spec_from_file_location(
                full, out_dir / f'{name}.py')
            mod = importlib.util.module_from_spec(spec)
            sys.modules[full] = mod
            added.append(full)
            spec.loader.exec_module(mod)
            modules[name] = mod
    finally:
        for name in added:
            sys.modules.pop(name, None)
        for name, mod in saved.items():
            if mod is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = mod
    return modules['eval_utils']


@pytest.fixture(scope='session')
def ref(request, tmp_path_factory):
    """mmhuman3d 0.11.0's ``eval_utils`` module, from the real wheel."""
    cache = getattr(request.config, 'cache', None)
    if cache is not None:
        wheel_dir = Path(cache.mkdir('mmhuman3d_0.11.0_wheel'))
    else:
        wheel_dir = tmp_path_factory.mktemp('mmhuman3d_wheel')
    wheels = sorted(wheel_dir.glob('mmhuman3d-0.11.0-*.whl'))
    if not wheels:
        proc = subprocess.run([
            sys.executable, '-m', 'pip', 'download', WHEEL_REQ, '--no-deps',
            '--disable-pip-version-check', '-q', '-d',
            str(wheel_dir)
        ],
                              capture_output=True,
                              text=True,
                              timeout=300)
        wheels = sorted(wheel_dir.glob('mmhuman3d-0.11.0-*.whl'))
        if proc.returncode != 0 or not wheels:
            last = (proc.stderr.strip().splitlines() or [''])[-1]
            pytest.skip(f'could not download {WHEEL_REQ} (no network?): '
                        f'{last}')
    return _load_reference(wheels[0], tmp_path_factory.mktemp('mmh3d_src'))


def _joints(seed: int, n: int = 64, k: int = 14):
    """Random mm joints with a mask containing zeros (bool, (N, K))."""
    rng = np.random.default_rng(seed)
    gt = rng.normal(scale=300., size=(n, k, 3))
    rot = Rotation.random(n, random_state=rng).as_matrix()
    # mix of small and large errors so PCK/AUC are away from 0 and 100
    noise = rng.normal(scale=rng.uniform(10, 120, (n, 1, 1)), size=gt.shape)
    pred = (rng.uniform(0.8, 1.2, (n, 1, 1)) *
            np.einsum('nij,nkj->nki', rot, gt) + noise +
            rng.normal(scale=50, size=(n, 1, 3)))
    pred[: n // 2] = gt[: n // 2] + noise[: n // 2]
    mask = rng.random((n, k)) > 0.25
    assert not mask.all() and mask.any()
    return pred, gt, mask


@pytest.mark.parametrize('alignment', ALIGNMENTS)
def test_keypoint_metrics_match_mmhuman3d(ref, alignment):
    for seed in range(3):
        pred, gt, mask = _joints(seed)
        ours = keypoint_mpjpe(pred, gt, mask, alignment)
        theirs = ref.keypoint_mpjpe(pred, gt, mask, alignment)
        assert abs(ours - theirs) < 1e-6
        for thr in (150., 60.):
            ours = keypoint_3d_pck(pred, gt, mask, alignment, thr)
            theirs = ref.keypoint_3d_pck(pred, gt, mask, alignment, thr)
            assert 0 < theirs < 100
            assert abs(ours - theirs) < 1e-6
        ours = keypoint_3d_auc(pred, gt, mask, alignment)
        theirs = ref.keypoint_3d_auc(pred, gt, mask, alignment)
        assert 0 < theirs < 100
        assert abs(ours - theirs) < 1e-6


def test_all_ones_mask_and_17_joints_match(ref):
    pred, gt, _ = _joints(7, n=20, k=17)
    mask = np.ones(gt.shape[:2], dtype=bool)
    for alignment in ALIGNMENTS:
        assert abs(
            keypoint_mpjpe(pred, gt, mask, alignment) -
            ref.keypoint_mpjpe(pred, gt, mask, alignment)) < 1e-6


@pytest.mark.parametrize('alignment', ALIGNMENTS)
def test_vertice_pve_matches_mmhuman3d(ref, alignment):
    rng = np.random.default_rng(3)
    gt = rng.normal(scale=400., size=(8, 300, 3))
    pred = gt + rng.normal(scale=30., size=gt.shape) + 20.
    ours = vertice_pve(pred, gt, alignment)
    theirs = ref.vertice_pve(pred, gt, alignment)
    assert theirs > 1
    assert abs(ours - theirs) < 1e-6


def test_similarity_transform_matches_per_sample(ref):
    pred, gt, _ = _joints(11, n=16)
    pred[0] = pred[0] * np.array([-1., 1., 1.])  # needs the reflection fix
    # the stand-in modules were removed from sys.modules after loading
    assert '_mmh3d_ref.mesh_eval' not in sys.modules
    theirs = np.stack([
        ref.compute_similarity_transform(p, g) for p, g in zip(pred, gt)
    ])
    assert np.allclose(mmh3d_similarity_transform(pred, gt), theirs,
                       atol=1e-8, rtol=0)


def test_known_values():
    gt = np.zeros((1, 4, 3))
    pred = np.zeros((1, 4, 3))
    pred[0, :, 0] = [0., 100., 149.9, 150.]  # strict '<' at 150 mm
    mask = np.ones((1, 4), dtype=bool)
    assert keypoint_mpjpe(pred, gt, mask) == pytest.approx(99.975)
    assert keypoint_3d_pck(pred, gt, mask) == pytest.approx(75.)
    # errors 0, 100, 149.9, 150 vs thresholds 0..150 step 5: below-counts
    # are 0 at t=0, 1 for t in 5..100 (20), 2 for 105..145 (9), 3 at 150
    expected = (20 * 0.25 + 9 * 0.5 + 0.75) / 31 * 100
    assert keypoint_3d_auc(pred, gt, mask) == pytest.approx(expected)
    # masked-out joints are ignored
    mask[0, 1:] = False
    assert keypoint_mpjpe(pred, gt, mask) == 0
    assert keypoint_3d_pck(pred, gt, mask) == 100
    assert vertice_pve(pred, gt) == pytest.approx(99.975)


def test_bad_input_raises():
    pred = np.zeros((2, 3, 3))
    mask = np.ones((2, 3), dtype=bool)
    with pytest.raises(ValueError, match='alignment'):
        keypoint_mpjpe(pred, pred, mask, 'rigid')
    with pytest.raises(ValueError, match='no valid joint'):
        keypoint_3d_pck(pred, pred, ~mask)
    with pytest.raises(ValueError, match='mask must have shape'):
        keypoint_3d_auc(pred, pred, mask[:, :2])
    with pytest.raises(ValueError, match='equal shapes'):
        vertice_pve(pred, pred[:, :2])
    with pytest.raises(ValueError, match='3D points'):
        keypoint_mpjpe(pred[..., :2], pred[..., :2], mask, 'procrustes')
