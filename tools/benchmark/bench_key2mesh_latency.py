"""Key2Mesh latency on CPU: 2D keypoints -> SMPL mesh.

    .venv/bin/python tools/benchmark/bench_key2mesh_latency.py \
        [--body-models data/synthetic/body_models] [--threads 2]

Times ``Key2MeshRegressor`` in eval mode under ``torch.inference_mode`` at
batch 1 and batch 512: the network with 6D -> rotation -> axis-angle alone,
and with the SMPL forward (6890 vertices) included. Median of repeated calls
after warm-up. The paper's figure is 3.4 ms per batch-1 call on a GPU.
Needs the synthetic assets (``make assets``) or real SMPL files.
"""
import argparse
import os.path as osp
import statistics
import sys
import time

import torch

import mpt_plugin  # noqa: F401
from mpt_plugin.models.heads import Key2MeshRegressor


def median_ms(fn, repeats: int) -> float:
    for _ in range(3):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--body-models', default='data/synthetic/body_models')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--repeats', type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model_file = osp.join(args.body_models, 'SMPL_NEUTRAL.npz')
    if not osp.isfile(model_file):
        sys.exit(f'{model_file} not found: run `make assets` first')
    rows = []
    for with_body in (False, True):
        model = Key2MeshRegressor(
            body_model=dict(type='MPTSMPL', model_path=model_file)
            if with_body else None).eval()
        for bs in (1, 512):
            x = torch.rand(bs, 18, 2)
            with torch.inference_mode():
                ms = median_ms(lambda: model(x), args.repeats)
            rows.append((with_body, bs, ms))
    print(f'command: {" ".join(sys.argv)}')
    print(f'torch {torch.__version__}, CPU, {args.threads} threads\n')
    print('| body model | batch | ms per call (median) | ms per sample |')
    print('|---|---:|---:|---:|')
    for with_body, bs, ms in rows:
        print(f"| {'yes (6890 vertices)' if with_body else 'no'} | {bs} | "
              f'{ms:.2f} | {ms / bs:.3f} |')


if __name__ == '__main__':
    main()
