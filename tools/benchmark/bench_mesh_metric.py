"""Time ``MPTMeshMetric`` / ``mmhuman3d_metrics`` against mmhuman3d 0.11.0.

    .venv/bin/python tools/benchmark/bench_mesh_metric.py --mode run \
        [--num-samples 35515] [--pve-samples 35515] [--batch-size 32] \
        [--sample-layout views|copies]
    .venv/bin/python tools/benchmark/bench_mesh_metric.py --mode kernels \
        [--batch-size 32] [--num-verts 6890] [--repeat 3]
    .venv/bin/python tools/benchmark/bench_mesh_metric.py --mode functions \
        [--num-samples 35515] [--num-joints 14] [--pve-samples 2000] \
        [--num-verts 6890] [--repeat 3] [--wheel-dir DIR]

``--mode run`` is one whole evaluation of a 3DPW-test-sized set in one
process: our ``MPTMeshMetric`` (``process`` on every batch of model outputs,
then ``compute_metrics``) against what mmhuman3d's
``HumanImageDataset.evaluate`` does with the same outputs (concatenate the
per-batch arrays, select the 14 LSP joints, centre on the pelvis, convert to
mm, then its ``eval_utils`` function for each of the seven metrics; its
body-model pass that produces the PVE meshes is not timed). Both report all
seven metrics; the largest difference is printed.
Per-sample meshes are rows of the batch outputs, as our estimators' ``predict``
gives them (``--sample-layout views``, MPTMeshMetric's zero-copy batch path), or
separate tensors (``copies``, its per-sample path).

``--mode functions`` times each functional metric separately; ``--mode
kernels`` times ways of computing the PVE sums of a batch (no reference).

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


def _run_batches(num: int, num_verts: int, pve_num: int, batch: int,
                 seed: int):
    """Model-output-like batches: ``joints_h36m`` (B, 17, 3) and, for the
    first ``pve_num`` samples, ``vertices`` (B, V, 3), float32 metres.

    The meshes of all batches are row blocks of two ``(pve_num, V, 3)``
    tensors filled in place: no temporary the size of a batch is left in
    the heap, so that the full 3DPW size (2 x 2.9 GB of meshes, plus the
    reference's concatenated copies and temporaries) fits in 24 GiB.
    """
    import torch
    gen = torch.Generator().manual_seed(seed)
    all_gt_v = torch.empty(pve_num, num_verts, 3)
    all_pred_v = torch.empty(pve_num, num_verts, 3)
    for start in range(0, num, batch):
        bsz = min(batch, num - start)
        gt_j = torch.randn(bsz, 17, 3, generator=gen) * 0.3
        pred_j = gt_j * (0.9 + 0.2 * torch.rand(bsz, 1, 1, generator=gen)) \
            + torch.randn(bsz, 17, 3, generator=gen) * 0.05
        out = dict(pred_j=pred_j, gt_j=gt_j)
        end = min(start + bsz, pve_num)
        if end > start:
            gt_v = all_gt_v[start:end].normal_(0., 0.3, generator=gen)
            out['gt_v'] = gt_v
            out['pred_v'] = all_pred_v[start:end].normal_(
                0., 0.05, generator=gen).add_(gt_v)
        yield out


def run_comparison(args, ref) -> None:
    """One evaluation run of all seven metrics, ours vs mmhuman3d's."""
    import torch

    from mpt_plugin.body_models.conventions import H36M_TO_J14
    from mpt_plugin.evaluation.metrics import MPTMeshMetric
    torch.set_num_threads(args.threads)
    names = ('mpjpe', 'pa-mpjpe', '3dpck', 'pa-3dpck', '3dauc', 'pa-3dauc')
    with_pve = args.pve_samples == args.num_samples
    if not with_pve and args.pve_samples:
        raise SystemExit('--mode run: --pve-samples must be 0 or equal to '
                         '--num-samples (PVE needs a mesh for every sample)')
    metric_names = names + (('pve', ) if with_pve else ())

    # ---- ours: MPTMeshMetric on per-sample dicts, as the Evaluator passes them
    batches = []
    for b in _run_batches(args.num_samples, args.num_verts,
                          args.pve_samples, args.batch_size, args.seed):
        samples = []
        for i in range(b['gt_j'].shape[0]):
            pred = dict(joints_h36m=b['pred_j'][i:i + 1])
            gt = dict(joints_h36m=b['gt_j'][i:i + 1])
            if 'gt_v' in b:
                pred['vertices'] = b['pred_v'][i:i + 1]
                gt['vertices'] = b['gt_v'][i:i + 1]
                if args.sample_layout == 'copies':
                    pred['vertices'] = pred['vertices'].clone()
                    gt['vertices'] = gt['vertices'].clone()
            samples.append(dict(pred_instances=pred, gt_instances=gt))
        batches.append((b, samples))
    metric = MPTMeshMetric(metric=metric_names)
    t0 = time.perf_counter()
    for _, samples in batches:
        metric.process({}, samples)
    res_ours = metric.compute_metrics(metric.results)
    t_ours = time.perf_counter() - t0
    # drop our per-sample views (peak memory: the meshes are freed once the
    # reference has concatenated them)
    batches = [(b, None) for b, _ in batches]
    del samples

    # ---- mmhuman3d: concatenate outputs, _parse_result, eval_utils
    t0 = time.perf_counter()
    pred = np.concatenate([b['pred_j'].numpy() for b, _ in batches])
    gt = np.concatenate([b['gt_j'].numpy() for b, _ in batches])
    mask = np.ones(gt.shape[:2])
    pred_pelvis, gt_pelvis = pred[:, 0], gt[:, 0]
    pred = (pred[:, H36M_TO_J14] - pred_pelvis[:, None]) * 1000
    gt = (gt[:, H36M_TO_J14] - gt_pelvis[:, None]) * 1000
    mask = mask[:, H36M_TO_J14] > 0
    res_ref = {}
    for name in names:
        align = 'procrustes' if name.startswith('pa-') else 'none'
        fn = dict(mpjpe=ref.keypoint_mpjpe, pck=ref.keypoint_3d_pck,
                  auc=ref.keypoint_3d_auc)[name.split('-')[-1].replace(
                      '3d', '')]
        res_ref[name.upper()] = float(fn(pred, gt, mask, align))
    t_ref_joints = time.perf_counter() - t0
    t_ref_pve = 0.
    if with_pve:
        # mmhuman3d concatenates the per-batch outputs and scales them to mm
        # (new arrays there; in place here, which only favours it)
        t0 = time.perf_counter()
        pred_v = np.concatenate([b.pop('pred_v').numpy() for b, _ in batches])
        gt_v = np.concatenate([b.pop('gt_v').numpy() for b, _ in batches])
        del batches
        pred_v *= 1000.
        gt_v *= 1000.
        res_ref['PVE'] = float(ref.vertice_pve(pred_v, gt_v))
        t_ref_pve = time.perf_counter() - t0
        del pred_v, gt_v
    t_ref = t_ref_joints + t_ref_pve

    diff = max(abs(res_ours[k] - res_ref[k]) for k in res_ref)
    print('| | samples | mmhuman3d (s) | MPTMeshMetric (s) | speed-up |')
    print('|---|---:|---:|---:|---:|')
    print(f'| one evaluation run, {len(metric_names)} metrics | '
          f'{args.num_samples} | {t_ref:.2f} | {t_ours:.2f} | '
          f'{t_ref / t_ours:.1f}x |')
    print(f'\nmmhuman3d: joints {t_ref_joints:.2f} s, PVE {t_ref_pve:.2f} s; '
          f'largest metric difference {diff:.1e}')
    print('values:', {k: round(v, 4) for k, v in res_ours.items()})
    print(f'torch threads {torch.get_num_threads()}; numpy {np.__version__}; '
          f'command: {" ".join([Path(sys.executable).name] + sys.argv)}')


def time_pve_kernels(args) -> None:
    """Per-sample cost of ways to compute PVE sums on batches of meshes."""
    import torch
    import torch.nn.functional as F

    from mpt_plugin.evaluation.metrics.mesh_metric import vertex_error_sums
    torch.set_num_threads(args.threads)
    bsz, num = args.batch_size, 200
    gen = torch.Generator().manual_seed(args.seed)
    data = [(torch.randn(bsz, args.num_verts, 3, generator=gen),
             torch.randn(bsz, args.num_verts, 3, generator=gen))
            for _ in range(num)]

    def per_sample_pairwise(p, g):
        return torch.stack([
            F.pairwise_distance(p[i], g[i], eps=0.).sum() for i in range(bsz)
        ])

    cases = {
        'read both batches once (sum)': lambda p, g: p.sum() + g.sum(),
        'per sample F.pairwise_distance': per_sample_pairwise,
        'batched vector_norm(p - g, dim=-1)':
        lambda p, g: torch.linalg.vector_norm(p - g, dim=-1).sum(-1),
        'batched vertex_error_sums (strided adds)': vertex_error_sums,
        'per sample vertex_error_sums':
        lambda p, g: torch.cat([
            vertex_error_sums(p[i:i + 1], g[i:i + 1]) for i in range(bsz)
        ]),
    }
    print(f'| PVE kernel ({bsz} x {args.num_verts} x 3 float32 per batch) '
          '| us/sample |')
    print('|---|---:|')
    for name, fn in cases.items():
        best = float('inf')
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            for p, g in data:
                fn(p, g)
            best = min(best, time.perf_counter() - t0)
        print(f'| {name} | {best / (num * bsz) * 1e6:.1f} |')
    print(f'\ntorch threads {torch.get_num_threads()}; command: '
          f'{" ".join([Path(sys.executable).name] + sys.argv)}')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--mode', choices=('run', 'functions', 'kernels'),
                        default='run')
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--num-samples', type=int, default=35515)
    parser.add_argument('--num-joints', type=int, default=14)
    parser.add_argument('--pve-samples', type=int, default=None,
                        help='meshes for PVE (run: 0 or --num-samples, the '
                        'default; functions: default 2000)')
    parser.add_argument('--num-verts', type=int, default=6890)
    parser.add_argument(
        '--sample-layout',
        choices=('views', 'copies'),
        default='views',
        help="run: per-sample meshes as rows of the batch output ('views', "
        "as the estimators' predict gives them) or as separate tensors "
        "('copies': MPTMeshMetric's per-sample path)")
    parser.add_argument('--repeat', type=int, default=3)
    parser.add_argument(
        '--wheel-dir',
        type=Path,
        default=Path.home() / '.cache' / 'mpt_plugin' / 'mmhuman3d_wheel')
    args = parser.parse_args()

    if args.mode == 'kernels':
        time_pve_kernels(args)
        return
    ref = load_reference(args.wheel_dir)
    if args.mode == 'run':
        if args.pve_samples is None:
            args.pve_samples = args.num_samples
        run_comparison(args, ref)
        return
    if args.pve_samples is None:
        args.pve_samples = 2000
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
