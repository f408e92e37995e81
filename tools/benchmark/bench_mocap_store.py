"""The MoCap SMPL store against the posed-mesh cache it replaced.

    .venv/bin/python tools/benchmark/bench_mocap_store.py \\
        [--tree work_dirs/bench_amass] [--subjects 32] [--legacy-tree DIR] \\
        [--legacy-meshes 20000] [--threads 2]

Measures, side by side in one run:

1. a synthetic AMASS-format tree (``make_synthetic_amass_tree``: 32 subjects
   x 5 motions of 8-20 s at 60/120 fps, about 200 k frames; generated once
   under ``--tree``);
2. the store build from scratch over every frame of that tree: source
   frames/s of one process (reading, validating and writing every frame),
   and bytes per stored frame (all files, meta.json included);
3. with ``--legacy-tree`` (a checkout of the commit before the store, e.g.
   ``git worktree add /tmp/legacy 1504811``): today's ``MoCapMeshCache``
   build of the same tree in a child process on that code, float16 vertices
   (the paper config's), on the first ``--legacy-meshes`` frames sampled by
   count (posing every frame would need 8 GB of disk here): meshes/s and
   bytes per mesh;
4. posing on the training device (this CPU): ``MoCapTargetBuilder`` (the
   gendered SMPL, camera, crop and targets) per batch of 32 and 256, against
   one training step of the demo model at the same batch size and of the
   paper-size model (at batch 2, scaled per sample: a batch of 32 takes
   minutes here);
5. the extrapolation to the paper's 2 M meshes (GB on disk).

Prints a markdown table and the command line; ``--json OUT`` saves the
numbers.
"""
import argparse
import json
import os
import os.path as osp
import shlex
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PAPER_MESHES = 2_000_000

LEGACY_SCRIPT = r'''
import json, os, sys, time
import numpy as np
from mpt_plugin.datasets.mocap_mesh_cache import MoCapMeshCache
tree, cache_root, bm_dir, n = sys.argv[1:5]
bm = dict(model_path=bm_dir, gender='file',
          joints_regressor=os.path.join(bm_dir, 'J_regressor_h36m.npy'))
t = time.perf_counter()
cache = MoCapMeshCache.get_or_build(tree, cache_root, bm, num_samples=int(n),
                                    dtype='float16', verbose=False)
dt = time.perf_counter() - t
size = sum(os.path.getsize(os.path.join(cache.cache_dir, f))
           for f in os.listdir(cache.cache_dir))
print(json.dumps(dict(meshes=len(cache), seconds=dt, bytes=size)))
'''


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--tree', default='work_dirs/bench_amass',
                   help='synthetic AMASS tree (generated if missing)')
    p.add_argument('--subjects', type=int, default=32)
    p.add_argument('--sequences-per-subject', type=int, default=5)
    p.add_argument('--seconds', type=float, nargs=2, default=(8.0, 20.0))
    p.add_argument('--body-models', default='data/synthetic/body_models')
    p.add_argument('--legacy-tree', default=None,
                   help='checkout of the commit before the store')
    p.add_argument('--legacy-meshes', type=int, default=20000)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--repeats', type=int, default=5)
    p.add_argument('--skip-paper-step', action='store_true',
                   help='do not time the paper-size model (slow on a CPU)')
    p.add_argument('--json', default=None)
    return p.parse_args(argv)


def make_tree(args) -> int:
    """Generate the tree once; returns its frame count."""
    from mpt_plugin.datasets.amass_io import read_amass_sequence
    from mpt_plugin.synthetic.amass_motion import make_synthetic_amass_tree
    marker = osp.join(args.tree, 'TREE.json')
    spec = dict(subjects=args.subjects, seqs=args.sequences_per_subject,
                seconds=list(args.seconds))
    if osp.isfile(marker):
        with open(marker) as f:
            done = json.load(f)
        if done.get('spec') == spec:
            return done['frames']
    paths = make_synthetic_amass_tree(
        args.tree, num_subjects=args.subjects,
        sequences_per_subject=args.sequences_per_subject,
        seconds=tuple(args.seconds))
    frames = sum(read_amass_sequence(p).num_frames for p in paths)
    with open(marker, 'w') as f:
        json.dump(dict(spec=spec, frames=frames), f)
    return frames


def time_store_build(tree: str) -> dict:
    from mpt_plugin.datasets.mocap_smpl_store import MoCapSMPLStore
    with tempfile.TemporaryDirectory() as root:
        t = time.perf_counter()
        store = MoCapSMPLStore.get_or_build(tree, root, verbose=False)
        dt = time.perf_counter() - t
        return dict(frames=len(store),
                    source_frames=store.meta['num_source_frames'],
                    seconds=dt, bytes=store.bytes_on_disk(),
                    sequences=store.num_sequences)


def time_legacy_build(args) -> dict:
    with tempfile.TemporaryDirectory() as root:
        env = dict(os.environ, PYTHONPATH=osp.abspath(args.legacy_tree),
                   OMP_NUM_THREADS=str(args.threads))
        out = subprocess.run(
            [sys.executable, '-c', LEGACY_SCRIPT, osp.abspath(args.tree),
             root, osp.abspath(args.body_models), str(args.legacy_meshes)],
            env=env, capture_output=True, text=True, cwd=args.legacy_tree)
        if out.returncode:
            raise RuntimeError(f'legacy cache build failed:\n{out.stderr}')
        return json.loads(out.stdout.strip().splitlines()[-1])


def _median_ms(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times) * 1000)


def _batch(dataset, size: int):
    from mmengine.dataset import default_collate
    idx = np.linspace(0, len(dataset) - 1, size).astype(int)
    return default_collate([dataset[int(i)] for i in idx])


def time_posing_and_steps(args) -> dict:
    """Posing per batch and training steps (ms) on this CPU."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mpt_plugin.registry import DATASETS, MODELS
    init_default_scope('mmpose')
    bm = osp.abspath(args.body_models)
    out = {}
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'mpt_pretrain_demo.py'))
    ds_cfg = dict(cfg.train_dataloader.dataset, data_root=args.tree,
                  cache_root=osp.join(args.tree, '..', 'bench_store'),
                  num_samples=20000, sample_fps=None, verbose=False)
    dataset = DATASETS.build(ds_cfg)
    for name, path in (('demo', 'mpt_pretrain_demo.py'),
                       ('paper', 'mpt_pretrain_amass.py')):
        if name == 'paper' and args.skip_paper_step:
            continue
        mcfg = Config.fromfile(osp.join(REPO, 'configs', path)).model
        paths = dict(model_path=bm,
                     joints_regressor=osp.join(bm, 'J_regressor_h36m.npy'))
        mcfg.body_model.update(paths)
        mcfg.data_preprocessor.body_model.update(paths)
        mcfg.mesh_sampler = osp.join(bm, 'mesh_downsampling.npz')
        model = MODELS.build(mcfg)
        model.init_weights()
        model.train()
        opt = torch.optim.Adam(model.parameters(), lr=1e-5)
        pre = model.data_preprocessor
        step_sizes = (32, 256) if name == 'demo' else (2, )
        for bs in step_sizes:
            batch = _batch(dataset, bs)
            if name == 'demo':
                from mpt_plugin.models.utils.batch_fields import stack_fields
                params = stack_fields(batch['inputs'], dict(
                    pose_aa=(72, ), betas=(10, ), gender=()))
                cams = stack_fields(batch['data_samples'], dict(
                    cam_R=(3, 3), cam_T=(3, ), cam_f=(2, ), cam_c=(2, )))
                out[f'posing_ms_b{bs}'] = _median_ms(
                    lambda: pre.targets(params, cams), args.repeats)

            def step():
                data = pre(batch, True)
                losses = model(**data, mode='loss')
                opt.zero_grad()
                sum(losses.values()).backward()
                opt.step()

            out[f'{name}_step_ms_b{bs}'] = _median_ms(
                step, args.repeats if name == 'demo' else 2)
    return out


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    frames = make_tree(args)
    res = dict(tree_frames=frames, threads=args.threads)
    res['store'] = time_store_build(args.tree)
    if args.legacy_tree:
        res['legacy'] = time_legacy_build(args)
    res.update(time_posing_and_steps(args))

    s = res['store']
    per_frame = s['bytes'] / s['frames']
    rows = [
        ('AMASS frames in the tree', f'{frames:,} ({s["sequences"]} '
         'sequences)'),
        ('store build, one process', f'{s["seconds"]:.2f} s = '
         f'{s["source_frames"] / s["seconds"]:,.0f} frames/s'),
        ('store bytes per frame (all files)', f'{per_frame:.0f} B'),
        ('store at the paper\'s 2 M meshes',
         f'{per_frame * PAPER_MESHES / 1e9:.2f} GB'),
    ]
    if 'legacy' in res:
        lg = res['legacy']
        per_mesh = lg['bytes'] / lg['meshes']
        rows += [
            ('posed-mesh cache build (float16, gendered), one process',
             f'{lg["meshes"]:,} meshes in {lg["seconds"]:.1f} s = '
             f'{lg["meshes"] / lg["seconds"]:,.0f} meshes/s'),
            ('posed-mesh cache bytes per mesh', f'{per_mesh:,.0f} B '
             f'({per_mesh / per_frame:,.0f}x the store)'),
            ('posed-mesh cache at 2 M meshes',
             f'{per_mesh * PAPER_MESHES / 1e9:.1f} GB'),
        ]
    for bs in (32, 256):
        pose = res[f'posing_ms_b{bs}']
        step = res[f'demo_step_ms_b{bs}']
        rows.append((f'posing a batch of {bs} (CPU)', f'{pose:.1f} ms'))
        rows.append((f'demo training step, batch {bs} (posing included)',
                     f'{step:.0f} ms (posing {100 * pose / step:.0f} %)'))
        if 'paper_step_ms_b2' in res:
            paper = res['paper_step_ms_b2'] / 2 * bs
            rows.append((f'paper-size step, batch {bs} (from batch 2)',
                         f'{paper / 1000:.1f} s (posing '
                         f'{100 * pose / paper:.2f} %)'))
    print(f'command: {" ".join(shlex.quote(a) for a in sys.argv)}')
    print(f'torch {torch.__version__}, {args.threads} threads, '
          f'{time.strftime("%Y-%m-%d")}')
    print('| quantity | value |\n|---|---|')
    for k, v in rows:
        print(f'| {k} | {v} |')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(res, f, indent=1)


if __name__ == '__main__':
    main()
