"""Time ``mmhuman3d_metrics`` against mmhuman3d 0.11.0's own metric code.

    .venv/bin/python tools/benchmark/bench_mesh_metric.py \
        [--num-samples 35515] [--num-joints 14] [--pve-samples 2000] \
        [--num-verts 6890] [--repeat 3] [--wheel-dir DIR]

Random joints in mm, 3DPW-test sized (35,515 samples x 14 LSP joints) with a
mask containing zeros, for MPJPE / 3DPCK / 3DAUC under every alignment, and
SMPL-sized meshes (``--pve-samples`` x 6890 vertices; the full 35,515 would
need ~6 GB per array) for PVE. The reference is mmhuman3d 0.11.0's
``eval_utils.py`` / ``mesh_eval.py`` from its wheel (``pip download``-ed into
``--wheel-dir``, loaded by file path: the ``mmhuman3d`` package is never
imported). Prints a markdown table (best of ``--repeat`` runs, seconds) with
speed-ups and the largest difference between the two results, and the command
line.
"""
import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
import types
import zipfile
from pathlib import Path

import numpy as np

from mpt_plugin.evaluation.functional import mmhuman3d_metrics as ours

WHEEL_REQ = 'mmhuman3d==0.11.0'
EVAL_DIR = 'mmhuman3d/core/evaluation/'


def load_reference(wheel_dir: Path) -> types.ModuleType:
    """Download (once) the wheel and load its ``eval_utils`` by file path.

    ``mesh_eval.py`` and ``eval_utils.py`` are executed as modules of an
    empty stand-in package ``_mmh3d_ref`` (so the relative import of
    ``compute_similarity_transform`` resolves unchanged); ``trimesh`` is
    stubbed while loading if it is not installed.

    Args:
        wheel_dir (Path): Directory for the downloaded wheel.

    Returns:
        types.ModuleType: mmhuman3d's ``eval_utils`` module.
    """
    wheel_dir.mkdir(parents=True, exist_ok=True)
    wheels = sorted(wheel_dir.glob('mmhuman3d-0.11.0-*.whl'))
    if not wheels:
        subprocess.run([
            sys.executable, '-m', 'pip', 'download', WHEEL_REQ, '--no-deps',
            '-q', '-d',
            str(wheel_dir)
        ],
                       check=True)
        wheels = sorted(wheel_dir.glob('mmhuman3d-0.11.0-*.whl'))
    if not wheels:
        raise FileNotFoundError(f'no mmhuman3d 0.11.0 wheel in {wheel_dir}')
    src_dir = Path(tempfile.mkdtemp(prefix='mmh3d_src_'))
    with zipfile.ZipFile(wheels[0]) as zf:
        for name in ('mesh_eval.py', 'eval_utils.py'):
            (src_dir / name).write_bytes(zf.read(EVAL_DIR + name))
    pkg = types.ModuleType('_mmh3d_ref')
    pkg.__path__ = [str(src_dir)]
    sys.modules['_mmh3d_ref'] = pkg
    if importlib.util.find_spec('trimesh') is None:
        stub = types.ModuleType('trimesh')
        stub.proximity = types.ModuleType('trimesh.proximity')
        stub.proximity.closest_point = None
        sys.modules['trimesh'] = stub
        sys.modules['trimesh.proximity'] = stub.proximity
    mod = None
    for name in ('mesh_eval', 'eval_utils'):
        spec = importlib.util.spec_from_file_location(
            f'_mmh3d_ref.{name}', src_dir / f'{name}.py')
        mod = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = mod
        spec.loader.exec_module(mod)
    return mod


def make_data(num: int, num_points: int, seed: int):
    """Random ``(pred, gt)`` in mm ``(num, num_points, 3)`` and a mask."""
    rng = np.random.default_rng(seed)
    gt = rng.normal(scale=300., size=(num, num_points, 3))
    pred = (gt * rng.uniform(0.9, 1.1, (num, 1, 1)) +
            rng.normal(scale=rng.uniform(10, 120, (num, 1, 1)),
                       size=gt.shape))
    mask = rng.random((num, num_points)) > 0.1
    return pred, gt, mask


def best_time(fn, repeat: int):
    """Best wall time of ``repeat`` calls (s) and the last result."""
    best, out = float('inf'), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--num-samples', type=int, default=35515)
    parser.add_argument('--num-joints', type=int, default=14)
    parser.add_argument('--pve-samples', type=int, default=2000)
    parser.add_argument('--num-verts', type=int, default=6890)
    parser.add_argument('--repeat', type=int, default=3)
    parser.add_argument(
        '--wheel-dir',
        type=Path,
        default=Path.home() / '.cache' / 'mpt_plugin' / 'mmhuman3d_wheel')
    args = parser.parse_args()

    ref = load_reference(args.wheel_dir)
    pred, gt, mask = make_data(args.num_samples, args.num_joints, 0)
    vpred, vgt, _ = make_data(args.pve_samples, args.num_verts, 1)

    cases = []
    for align in ours.ALIGNMENTS:
        for metric in ('keypoint_mpjpe', 'keypoint_3d_pck',
                       'keypoint_3d_auc'):
            cases.append((metric, align, (pred, gt, mask, align),
                          f'{args.num_samples} x {args.num_joints}'))
    for align in ours.ALIGNMENTS:
        cases.append(('vertice_pve', align, (vpred, vgt, align),
                      f'{args.pve_samples} x {args.num_verts}'))

    rows = []
    tot_ref = tot_ours = 0.
    for metric, align, fargs, size in cases:
        t_ref, v_ref = best_time(lambda: getattr(ref, metric)(*fargs),
                                 args.repeat)
        t_our, v_our = best_time(lambda: getattr(ours, metric)(*fargs),
                                 args.repeat)
        tot_ref += t_ref
        tot_ours += t_our
        rows.append(f'| {metric} | {align} | {size} | {t_ref:.4f} | '
                    f'{t_our:.4f} | {t_ref / t_our:.1f}x | '
                    f'{abs(float(v_ref) - v_our):.1e} |')

    print('| metric | alignment | N x K | mmhuman3d (s) | ours (s) | '
          'speed-up | abs diff |')
    print('|---|---|---|---|---|---|---|')
    print('\n'.join(rows))
    print(f'| **all** | | | {tot_ref:.3f} | {tot_ours:.3f} | '
          f'{tot_ref / tot_ours:.1f}x | |')
    print(f'\nbest of {args.repeat}; numpy {np.__version__}; command: '
          f'{" ".join([Path(sys.executable).name] + sys.argv)}')


if __name__ == '__main__':
    main()
