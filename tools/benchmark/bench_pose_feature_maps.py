"""Time per image of the HRNet pose feature maps (MPT backbone).

For each HRNet width, measures on random ``(B, 3, S, S)`` images:

- ``frozen``: ``freeze=True`` model in eval mode, forward under
  ``torch.no_grad()`` (testing without fine-tuning / frozen backbone),
- ``train``: ``freeze=False`` model in train mode, forward + backward of a
  dummy loss (end-to-end fine-tuning; no optimiser step).

Both include the bilinear resize to ``--output-size``. Random weights (the
speed does not depend on them). Prints a markdown table and the command.

On a shared machine pass ``--threads 1``: with more OpenMP threads than
free cores a forward can be 10x slower (spin-waiting threads).

Example::

    python tools/benchmark/bench_pose_feature_maps.py --threads 1 \\
        --archs w32 w48 --batch-size 1 --iters 2
"""
import argparse
import shlex
import sys
import time
from typing import List, Optional

import torch

from mpt_plugin.models.backbones.hrnet_pose_feature_maps import \
    MPTHRNetPoseFeatureMaps


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--archs', nargs='+', default=['w32', 'w48'],
                        choices=['w32', 'w48'])
    parser.add_argument('--modes', nargs='+', default=['frozen', 'train'],
                        choices=['frozen', 'train'])
    parser.add_argument('--image-size', type=int, default=224,
                        help='input side S (multiple of 32)')
    parser.add_argument('--output-size', type=int, default=224,
                        help='heatmap side after resizing')
    parser.add_argument('--batch-size', type=int, default=1)
    parser.add_argument('--iters', type=int, default=2,
                        help='timed iterations')
    parser.add_argument('--warmup', type=int, default=1,
                        help='untimed iterations before timing')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch intra-op threads (default: torch default)')
    parser.add_argument('--device', default='cpu')
    return parser.parse_args(argv)


def _sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def time_mode(arch: str, mode: str, args: argparse.Namespace,
              device: torch.device) -> dict:
    """Best seconds per image over ``args.iters`` runs of one setting."""
    model = MPTHRNetPoseFeatureMaps(
        arch=arch, output_size=args.output_size,
        freeze=(mode == 'frozen')).to(device)
    model.train(mode == 'train')
    images = torch.randn(args.batch_size, 3, args.image_size,
                         args.image_size, device=device)

    def step() -> None:
        if mode == 'frozen':
            with torch.no_grad():
                model(images)
        else:
            model.zero_grad(set_to_none=True)
            model(images).square().mean().backward()

    for _ in range(args.warmup):
        step()
    _sync(device)
    best = float('inf')
    for _ in range(args.iters):
        start = time.perf_counter()
        step()
        _sync(device)
        best = min(best, time.perf_counter() - start)
    params = sum(p.numel() for p in model.parameters())
    return dict(
        arch=arch,
        mode=mode,
        params_m=params / 1e6,
        ms_per_image=1e3 * best / args.batch_size)


def main(argv: Optional[List[str]] = None) -> List[dict]:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    rows = [
        time_mode(arch, mode, args, device) for arch in args.archs
        for mode in args.modes
    ]
    print(f'\nimage {args.image_size}x{args.image_size} -> heatmaps '
          f'{args.output_size}x{args.output_size}, batch {args.batch_size}, '
          f'device {device}, threads {torch.get_num_threads()}, best of '
          f'{args.iters}\n')
    print('| arch | mode | params (M) | ms / image |')
    print('|---|---|---:|---:|')
    for row in rows:
        print(f"| {row['arch']} | {row['mode']} | {row['params_m']:.1f} | "
              f"{row['ms_per_image']:.0f} |")
    argv_used = sys.argv[1:] if argv is None else argv
    print('\ncommand: python tools/benchmark/bench_pose_feature_maps.py ' +
          ' '.join(shlex.quote(a) for a in argv_used))
    return rows


if __name__ == '__main__':
    main()
