"""Key2Mesh latency on CPU: 2D keypoints -> SMPL mesh.

    .venv/bin/python tools/benchmark/bench_key2mesh_latency.py \\
        [--body-models data/synthetic/body_models] [--threads 1 2] \\
        [--batches 1 512] [--repeats 200] [--repeats-large 20]

Times ``Key2MeshRegressor`` (default size, 18 OpenPose keypoints) in eval
mode under ``torch.inference_mode``, from normalised keypoints ``(B, 18,
2)`` to

- ``no``: betas, 6D -> rotation matrices -> axis-angle (no mesh);
- ``yes``: the same plus the SMPL forward (6890 vertices, ``smpl_45``
  joints) through ``MPTSMPL``'s inference fast path (``fast_lbs``);
- ``yes, reference``: the SMPL forward through ``smplx.lbs`` instead
  (``fast_inference=False``), for comparison.

Each configuration is warmed up, then called ``--repeats`` times (batch 1)
or ``--repeats-large`` times (larger batches); the table gives the median
per call and per sample. The configurations are interleaved round by
round, so a burst of load from other processes hits all of them alike. The
1-minute load average before and after is printed with the table: other
processes on the machine inflate the numbers. The fast and reference
meshes are compared (max abs difference, metres). The paper's figure is
3.4 ms per batch-1 call (on a GPU). Needs the synthetic assets
(``make assets``) or real SMPL files.
"""
import argparse
import os
import os.path as osp
import platform
import statistics
import sys
import time
from typing import Callable, Dict, List, Tuple

import torch

import mpt_plugin  # noqa: F401
from mpt_plugin.models.heads import Key2MeshRegressor

#: (label, body model used, MPTSMPL fast path)
CONFIGS = (('no', False, True), ('yes (fast path)', True, True),
           ('yes, reference smplx.lbs', True, False))


def build_models(model_file: str) -> Dict[str, Key2MeshRegressor]:
    """One regressor per configuration sharing the network weights."""
    torch.manual_seed(0)
    base = Key2MeshRegressor().eval()
    models = {}
    for label, with_body, fast in CONFIGS:
        body = dict(type='MPTSMPL', model_path=model_file,
                    fast_inference=fast) if with_body else None
        model = Key2MeshRegressor(body_model=body).eval()
        model.load_state_dict(base.state_dict())
        models[label] = model
    return models


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo (Linux), else platform's guess."""
    try:
        with open('/proc/cpuinfo', encoding='utf-8') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or 'unknown CPU'


def time_calls(fn: Callable[[torch.Tensor], object], x: torch.Tensor,
               repeats: int) -> List[float]:
    """Wall-clock ms of ``repeats`` calls ``fn(x)``."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(x)
        times.append((time.perf_counter() - start) * 1e3)
    return times


def bench(models: Dict[str, Key2MeshRegressor], threads: List[int],
          batches: List[int], repeats: int, repeats_large: int,
          rounds: int, loads: List[float]
          ) -> Dict[Tuple[int, str, int], List[float]]:
    """Interleaved timing: ``rounds`` rounds, each over every thread count,
    batch size and configuration, so load bursts from other processes hit
    all configurations alike. The 1-minute load average after each round
    is appended to ``loads``."""
    inputs = {bs: torch.rand(bs, 18, 2) for bs in batches}
    times: Dict[Tuple[int, str, int], List[float]] = {}
    with torch.inference_mode():
        for num_threads in threads:  # warm-up
            torch.set_num_threads(num_threads)
            for bs in batches:
                for model in models.values():
                    for _ in range(3):
                        model(inputs[bs])
        for _ in range(rounds):
            for num_threads in threads:
                torch.set_num_threads(num_threads)
                for bs in batches:
                    n = repeats if bs == 1 else repeats_large
                    per_round = max(1, n // rounds)
                    for label, model in models.items():
                        times.setdefault((num_threads, label, bs), []).extend(
                            time_calls(model, inputs[bs], per_round))
            loads.append(os.getloadavg()[0])
    return times


def max_fast_ref_diff(models: Dict[str, Key2MeshRegressor]) -> float:
    """Max |fast - reference| over vertices and joints (metres), B = 64."""
    x = torch.rand(64, 18, 2)
    with torch.inference_mode():
        fast = models[CONFIGS[1][0]](x)
        ref = models[CONFIGS[2][0]](x)
    return max((fast[k] - ref[k]).abs().max().item()
               for k in ('vertices', 'joints'))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--body-models', default='data/synthetic/body_models')
    parser.add_argument('--threads', type=int, nargs='+', default=[1, 2])
    parser.add_argument('--batches', type=int, nargs='+', default=[1, 512])
    parser.add_argument('--repeats', type=int, default=200,
                        help='timed calls per configuration at batch 1')
    parser.add_argument('--repeats-large', type=int, default=20,
                        help='timed calls per configuration at batch > 1')
    parser.add_argument('--rounds', type=int, default=4,
                        help='interleaved rounds the calls are split into')
    args = parser.parse_args()
    model_file = osp.join(args.body_models, 'SMPL_NEUTRAL.npz')
    if not osp.isfile(model_file):
        sys.exit(f'{model_file} not found: run `make assets` first')

    models = build_models(model_file)
    load_before = os.getloadavg()
    loads: List[float] = []
    times = bench(models, args.threads, args.batches, args.repeats,
                  args.repeats_large, args.rounds, loads)
    results = {
        key: (statistics.median(values), len(values))
        for key, values in times.items()
    }
    load_after = os.getloadavg()
    diff = max_fast_ref_diff(models)

    python = osp.relpath(sys.executable)
    if python.startswith('..'):
        python = sys.executable
    print(f'command: {" ".join([python] + sys.argv)}')
    print(f'torch {torch.__version__}, CPU {cpu_name()} '
          f'({os.cpu_count()} logical cores), threads {args.threads}')
    print(f'load average (1/5/15 min) before: '
          f'{" ".join(f"{v:.2f}" for v in load_before)}, after: '
          f'{" ".join(f"{v:.2f}" for v in load_after)}; 1-min load after '
          f'each round: {" ".join(f"{v:.2f}" for v in loads)}')
    print(f'max |fast - reference| (vertices, joints; B = 64): '
          f'{diff:.2e} m\n')
    print('| threads | body model (SMPL, 6890 vertices) | batch | '
          'ms per call (median) | ms per sample | calls |')
    print('|---:|---|---:|---:|---:|---:|')
    for threads in args.threads:
        for label, _, _ in CONFIGS:
            for bs in args.batches:
                ms, n = results[(threads, label, bs)]
                print(f'| {threads} | {label} | {bs} | {ms:.2f} | '
                      f'{ms / bs:.4f} | {n} |')


if __name__ == '__main__':
    main()
