"""Training throughput of the paper-size MPT mesh regression transformer.

Measures, at the paper's dimensions (3 blocks x 4 layers x 4 heads, hidden
1024/256/64, 14 + 431 + 784 tokens; with ``--variant hand`` the hand
network of the released hand code: 21 + 195 + 784 tokens, 21 heatmap
channels, 195 -> 778 vertices and the hand loss):

- training samples/s: forward + loss + backward (no optimiser step) on
  random pre-training inputs (sparse joint heatmaps by default),
- the analytic GFLOP per training sample (``flops_per_sample``, 3x forward),
- the achieved GFLOP/s (analytic FLOPs / measured time),
- this machine's fp32 matmul rate (a large ``torch.mm``) for comparison.

Prints a markdown table and the command line.

Example::

    python tools/benchmark/bench_mpt_head.py --threads 2 --batch-size 2 \\
        --iters 3
    python tools/benchmark/bench_mpt_head.py --variant hand --threads 2 \\
        --batch-size 8 --iters 3
"""
import argparse
import shlex
import sys
import time
from typing import List, Optional

import torch

from mpt_plugin.models.heads.mesh_transformer_head import (
    HAND_PAPER_DIMS, PAPER_DIMS, MPTMeshTransformerHead)

#: Head dimensions and loss of each ``--variant`` (the hand loss: the
#: released hand code's, as configs/_base_/models/mpt_hand_mesh_transformer.py).
VARIANTS = dict(
    body=dict(dims=PAPER_DIMS, loss=dict(type='MPTMeshLoss')),
    hand=dict(dims=HAND_PAPER_DIMS,
              loss=dict(type='MPTMeshLoss', vertex_level_weights=(0.5, 0.5),
                        joints_criterion='mse', coord_reduction='mean',
                        joints_root_indices=(0, ))))


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--threads', type=int, default=None,
                        help='torch intra-op threads (default: torch default)')
    parser.add_argument('--batch-size', type=int, default=2)
    parser.add_argument('--iters', type=int, default=3,
                        help='timed training iterations')
    parser.add_argument('--warmup', type=int, default=1,
                        help='untimed iterations before timing')
    parser.add_argument('--input', choices=['sparse', 'dense'],
                        default='sparse',
                        help='sparse joints (pre-training) or dense maps')
    parser.add_argument('--matmul-size', type=int, default=2048,
                        help='side of the square fp32 matmul for the peak')
    parser.add_argument('--variant', choices=sorted(VARIANTS),
                        default='body',
                        help="the body network or the hand one")
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args(argv)


def _sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def measure_matmul_gflops(size: int, device: torch.device,
                          repeats: int = 5) -> float:
    """Best fp32 ``torch.mm`` rate over ``repeats`` runs, GFLOP/s."""
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    torch.mm(a, b)  # warm-up
    _sync(device)
    best = float('inf')
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return 2.0 * size**3 / best / 1e9


def make_batch(head: MPTMeshTransformerHead, batch_size: int, mode: str,
               device: torch.device):
    """Random inputs and GT of the right shapes."""
    size, k = head.input_size, head.in_channels
    if mode == 'sparse':
        x = dict(
            joints_px=torch.rand(batch_size, k, 2, device=device) *
            (size - 1),
            joint_weights=torch.ones(batch_size, k, device=device))
    else:
        x = torch.rand(batch_size, k, size, size, device=device)
    levels = dict(zip(('vertices_coarse', 'vertices_mid', 'vertices')
                      if len(head.num_vertices) == 3 else
                      ('vertices_coarse', 'vertices'), head.num_vertices))
    j = head.num_joints
    gt = {key: torch.randn(batch_size, n, 3, device=device) * 0.3
          for key, n in levels.items()}
    gt.update(
        joints_3d=torch.randn(batch_size, j, 3, device=device) * 0.3,
        joints_2d_norm=torch.rand(batch_size, j, 2, device=device) * 2 - 1)
    return x, gt


def main(argv: Optional[List[str]] = None) -> dict:
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    device = torch.device(args.device)

    variant = VARIANTS[args.variant]
    dims = variant['dims']
    regressor = torch.softmax(
        torch.randn(dims['num_joints'], dims['num_vertices'][-1]), dim=1)
    head = MPTMeshTransformerHead(
        **dims, loss=dict(variant['loss'],
                          joint_regressor=regressor)).to(device)
    head.train()
    x, gt = make_batch(head, args.batch_size, args.input, device)

    def step():
        head.zero_grad(set_to_none=True)
        losses = head.loss(x, gt)
        sum(losses.values()).backward()

    for _ in range(args.warmup):
        step()
    _sync(device)
    times = []
    for _ in range(args.iters):
        start = time.perf_counter()
        step()
        _sync(device)
        times.append(time.perf_counter() - start)
    mean_t = sum(times) / len(times)
    samples_per_s = args.batch_size / mean_t
    sparse = args.input == 'sparse'
    gflop_sample = head.flops_per_sample(train=True,
                                         sparse_input=sparse) / 1e9
    layers = sum(v for k, v in head.flops_breakdown(sparse).items()
                 if k.endswith('_layers'))
    achieved = gflop_sample * samples_per_s
    peak = measure_matmul_gflops(args.matmul_size, device)

    result = dict(
        variant=args.variant,
        device=str(device),
        threads=torch.get_num_threads(),
        batch_size=args.batch_size,
        iters=args.iters,
        input=args.input,
        params_m=head.num_parameters() / 1e6,
        s_per_iter=mean_t,
        samples_per_s=samples_per_s,
        gflop_per_sample=gflop_sample,
        gflop_layers_only=3 * layers / 1e9,
        achieved_gflops=achieved,
        matmul_gflops=peak,
        fraction_of_matmul=achieved / peak)

    rows = [
        ('network', args.variant),
        ('device / threads', f'{result["device"]} / {result["threads"]}'),
        ('batch size / timed iters / input',
         f'{args.batch_size} / {args.iters} / {args.input}'),
        ('parameters', f'{result["params_m"]:.2f} M'),
        ('time per iteration (fwd+loss+bwd)', f'{mean_t:.2f} s'),
        ('training samples/s', f'{samples_per_s:.3f}'),
        ('analytic GFLOP / training sample',
         f'{gflop_sample:.1f} (transformer layers only: '
         f'{result["gflop_layers_only"]:.1f})'),
        ('achieved GFLOP/s', f'{achieved:.1f}'),
        (f'fp32 matmul GFLOP/s ({args.matmul_size}^3 torch.mm)',
         f'{peak:.1f}'),
        ('achieved / matmul', f'{100 * result["fraction_of_matmul"]:.0f} %'),
    ]
    print('| quantity | value |')
    print('|---|---|')
    for name, value in rows:
        print(f'| {name} | {value} |')
    cmd = ' '.join(shlex.quote(a) for a in [
        'python', 'tools/benchmark/bench_mpt_head.py'
    ] + (sys.argv[1:] if argv is None else list(argv)))
    print(f'\nCommand: `{cmd}`')
    return result


if __name__ == '__main__':
    main()
