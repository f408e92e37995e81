"""HRNet / HigherHRNet pose feature maps: speed, and blob width per path.

``--mode speed`` (default): time per image. For each HRNet width and head
(``--heads``: ``higherhrnet``, the paper's, or ``topdown``), on random
``(B, 3, S, S)`` images:

- ``frozen``: ``freeze=True`` model in eval mode, forward under
  ``torch.no_grad()`` (testing without fine-tuning / frozen backbone),
- ``train``: ``freeze=False`` model in train mode, forward + backward of a
  dummy loss (end-to-end fine-tuning; no optimiser step).

Both include the aggregation / bilinear resize to ``--output-size``. Random
weights (the speed does not depend on them). On a shared machine pass
``--threads 1``: with more OpenMP threads than free cores a forward can be
10x slower (spin-waiting threads).

``--mode flops``: parameters and forward FLOPs (``torch.utils.
flop_counter.FlopCounterMode``, 2 per multiply-add) of one image per arch
and head, frozen model.

``--mode blob-width``: what the map resolution does to a joint's blob, in
pixels of the 224 crop frame, against MPT's pre-training heatmaps
``exp(-d^2 / sigma^2)`` with ``sigma = 3`` (Sec. 3.1.1). No trained
HigherHRNet weights are available here, so the measurement is of *ideal*
stage outputs, pushed through each path of
:class:`~mpt_plugin.models.backbones.hrnet_pose_feature_maps.
MPTHRNetPoseFeatureMaps` (the same aggregation function):

- ``trained``: each stage outputs exactly its training target, MMPose 0.x
  ``BottomUpGenerateTarget(sigma=2)`` for ``higherhrnet_w48_coco_512x512``:
  ``exp(-d^2 / (2 * 2^2))`` in *its own* heatmap pixels (peak 1) at the
  truncated position ``int(x / stride)`` (non-UDP). With the MPT definition
  that is ``sigma = 2 * sqrt(2)`` stage pixels: 11.31 px of the 224 frame
  at 1/4 resolution, 5.66 px at 1/2. Real networks give lower, wider blobs,
  so these widths are lower bounds for a COCO-trained network.
- ``delta``: a one-pixel peak at each stage (the sharpest output a network
  at that resolution can give): the width the resizes alone impose.

Paths: ``old`` (1/4 heatmaps, 56x56 from a 224 crop, bilinear x4 to 224:
this module before HigherHRNet's 1/2 stage was kept), ``112`` (1/4 resized
to 1/2 and averaged with the 1/2 heatmaps, native 112x112), ``224`` (those
maps projected x2 to 224: the paper's and the configs' setting),
``224-output`` (``stage_aggregation='output'``, later MMPose 0.x: both
stages straight to 224, then averaged), ``half-only`` (1/2 heatmaps alone
to 224, for reference), ``pretrain`` (our renderer, ``sigma = 3`` at 224,
calibrates the measures). Joints sweep a 16 x 16 sub-pixel grid over one
1/4-pixel period (``[100, 104)^2`` in the 224 frame); means over it.

Measures, all converted to the MPT definition ``exp(-d^2 / sigma^2)`` so
they compare directly with ``sigma = 3``:

- ``sigma_half``: the sigma of the MPT Gaussian whose area above half its
  peak equals the blob's (``area = pi * sigma^2 * ln 2``); ``FWHM = 2 *
  sqrt(ln 2) * sigma_half`` (5.00 px for sigma 3);
- ``sigma_mom``: the sigma with the same second moment about the blob's
  centroid (``var_x + var_y = sigma^2``); tails weigh more here;
- ``analytic``: ``sigma_mom`` predicted for Gaussian inputs: a bilinear
  resize from a grid of pitch ``h`` adds ``h^2 / 6`` per axis (variance of
  the triangle kernel); an average of two concentric peak-1 Gaussians of
  per-axis variances ``a^2``, ``b^2`` has ``(a^4 + b^4) / (a^2 + b^2)``
  (stage centre offsets ignored).

Examples::

    python tools/benchmark/bench_pose_feature_maps.py --threads 1 \\
        --archs w32 w48 --batch-size 1 --iters 2
    python tools/benchmark/bench_pose_feature_maps.py --mode flops \
        --heads topdown higherhrnet
    python tools/benchmark/bench_pose_feature_maps.py --mode blob-width
"""
import argparse
import math
import shlex
import sys
import time
from typing import Callable, Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from mpt_plugin.models.backbones.hrnet_pose_feature_maps import (
    MPTHRNetPoseFeatureMaps, aggregate_higherhrnet_heatmaps)
from mpt_plugin.models.utils.heatmap_patch_embed import render_heatmaps

#: Crop side (px) and MPT's pre-training sigma (``exp(-d^2 / sigma^2)``).
CROP = 224
PRETRAIN_SIGMA = 3.0
#: MMPose 0.x HigherHRNet target sigma (``exp(-d^2 / (2 sigma^2))``, stage
#: pixels) and the same Gaussian in the MPT definition.
MMPOSE_SIGMA = 2.0
MMPOSE_SIGMA_MPT = MMPOSE_SIGMA * math.sqrt(2.0)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--mode', default='speed',
                        choices=['speed', 'flops', 'blob-width'])
    parser.add_argument('--archs', nargs='+', default=['w32', 'w48'],
                        choices=['w32', 'w48'])
    parser.add_argument('--heads', nargs='+', default=['higherhrnet'],
                        choices=['higherhrnet', 'topdown'])
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
    parser.add_argument('--phases', type=int, default=16,
                        help='blob-width: sub-pixel joint positions per axis')
    return parser.parse_args(argv)


# ------------------------------------------------------------------ speed
def _sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def time_mode(arch: str, head: str, mode: str, args: argparse.Namespace,
              device: torch.device) -> dict:
    """Best seconds per image over ``args.iters`` runs of one setting."""
    model = MPTHRNetPoseFeatureMaps(
        arch=arch, head_type=head, output_size=args.output_size,
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
        head=head,
        mode=mode,
        params_m=params / 1e6,
        ms_per_image=1e3 * best / args.batch_size)


def run_speed(args: argparse.Namespace) -> List[dict]:
    device = torch.device(args.device)
    rows = [
        time_mode(arch, head, mode, args, device) for arch in args.archs
        for head in args.heads for mode in args.modes
    ]
    print(f'\nimage {args.image_size}x{args.image_size} -> heatmaps '
          f'{args.output_size}x{args.output_size}, batch {args.batch_size}, '
          f'device {device}, threads {torch.get_num_threads()}, best of '
          f'{args.iters}\n')
    print('| arch | head | mode | params (M) | ms / image |')
    print('|---|---|---|---:|---:|')
    for row in rows:
        print(f"| {row['arch']} | {row['head']} | {row['mode']} | "
              f"{row['params_m']:.1f} | {row['ms_per_image']:.0f} |")
    return rows


def run_flops(args: argparse.Namespace) -> List[dict]:
    from torch.utils.flop_counter import FlopCounterMode
    rows = []
    for arch in args.archs:
        for head in args.heads:
            model = MPTHRNetPoseFeatureMaps(
                arch=arch, head_type=head, output_size=args.output_size,
                freeze=True)
            images = torch.randn(1, 3, args.image_size, args.image_size)
            with torch.no_grad(), FlopCounterMode(display=False) as counter:
                model(images)
            rows.append(
                dict(arch=arch, head=head,
                     params_m=sum(p.numel()
                                  for p in model.parameters()) / 1e6,
                     gflops=counter.get_total_flops() / 1e9))
    print(f'\nimage {args.image_size}x{args.image_size} -> heatmaps '
          f'{args.output_size}x{args.output_size}, one image\n')
    print('| arch | head | params (M) | GFLOPs |')
    print('|---|---|---:|---:|')
    for row in rows:
        print(f"| {row['arch']} | {row['head']} | {row['params_m']:.2f} | "
              f"{row['gflops']:.2f} |")
    return rows


# ------------------------------------------------------------- blob width
def blob_sigmas(maps: Tensor, pitch: float) -> Dict[str, Tensor]:
    """Blob widths of single-peak maps, as MPT sigmas in crop pixels.

    Args:
        maps (Tensor): ``(B, H, W)`` maps, one blob each, pixel ``i`` at
            crop position ``pitch * i + (pitch - 1) / 2`` (the centre of
            the crop pixels it covers, F.interpolate's align_corners=False
            convention).
        pitch (float): Crop pixels per map pixel.

    Returns:
        dict: ``sigma_half``, ``sigma_mom``, ``peak`` (each ``(B,)``).
    """
    peak = maps.flatten(1).amax(1)
    above = (maps >= peak[:, None, None] / 2).flatten(1).sum(1)
    sigma_half = torch.sqrt(above * pitch**2 / (math.pi * math.log(2.0)))
    w = maps.clamp(min=0)
    rows = pitch * torch.arange(maps.shape[1], dtype=maps.dtype)
    cols = pitch * torch.arange(maps.shape[2], dtype=maps.dtype)
    mass = w.sum((1, 2))
    py = w.sum(2)  # (B, H)
    px = w.sum(1)  # (B, W)
    my = (py * rows).sum(1) / mass
    mx = (px * cols).sum(1) / mass
    var = ((py * (rows - my[:, None])**2).sum(1) +
           (px * (cols - mx[:, None])**2).sum(1)) / mass
    return dict(sigma_half=sigma_half, sigma_mom=var.sqrt(), peak=peak)


def _joint_grid(phases: int) -> Tensor:
    """``(N, 2)`` joints ``(x, y)`` in crop pixels (centres at integers)
    on a sub-pixel grid over one 1/4-pixel period ``[100, 104)^2``."""
    t = 100.0 + 4.0 * torch.arange(phases, dtype=torch.float64) / phases
    ys, xs = torch.meshgrid(t, t, indexing='ij')
    return torch.stack([xs.flatten(), ys.flatten()], 1)


def stage_targets(joints: Tensor, stride: int, kind: str) -> Tensor:
    """Ideal ``(N, 1, S, S)`` stage output (``S = CROP / stride``): MMPose
    0.x's bottom-up target (``kind='trained'``) or a one-pixel peak
    (``'delta'``) at stage pixel ``int(x / stride)``."""
    size = CROP // stride
    centre = torch.trunc(joints / stride)
    if kind == 'delta':
        maps = torch.zeros(len(joints), 1, size, size, dtype=joints.dtype)
        idx = centre.long()
        maps[torch.arange(len(joints)), 0, idx[:, 1], idx[:, 0]] = 1.0
        return maps
    return render_heatmaps(
        centre[:, None], torch.ones(len(joints), 1, dtype=joints.dtype),
        size=size, sigma=MMPOSE_SIGMA_MPT)


def _resize(maps: Tensor, size: int) -> Tensor:
    return F.interpolate(
        maps, size=(size, size), mode='bilinear', align_corners=False)


def blob_paths() -> Dict[str, Tuple[Callable[[Tensor, Tensor], Tensor],
                                    float]]:
    """Path name -> (function of the (quarter, half) stage maps, pitch)."""

    def agg(size: int, how: str = 'half'):
        return lambda q, h: aggregate_higherhrnet_heatmaps(
            q, h, 1, size=(size, size), stage_aggregation=how)

    return {
        'old: 1/4 (56) -> 224': (lambda q, h: _resize(q, CROP), 1.0),
        'new: aggregate, 112 native': (agg(CROP // 2), 2.0),
        'new: aggregate 112 -> 224 (configs)': (agg(CROP), 1.0),
        'new, stage_aggregation=output, 224': (agg(CROP, 'output'), 1.0),
        'ref: 1/2 only (112) -> 224': (lambda q, h: _resize(h, CROP), 1.0),
    }


def analytic_sigma_mom(path: str) -> Optional[float]:
    """MPT sigma with the same second moment, for ``trained`` inputs (see
    the module docstring); None where not derived."""
    a2 = (MMPOSE_SIGMA * 4)**2  # per-axis variance, 1/4 target, crop px
    b2 = (MMPOSE_SIGMA * 2)**2  # 1/2 target
    tri = {4: 16 / 6, 2: 4 / 6}  # variance added by a resize from pitch h

    def mix(v1: float, v2: float) -> float:
        return (v1 * v1 + v2 * v2) / (v1 + v2)

    per_axis = {
        'old: 1/4 (56) -> 224': a2 + tri[4],
        'new: aggregate, 112 native': mix(a2 + tri[4], b2),
        'new: aggregate 112 -> 224 (configs)': mix(a2 + tri[4], b2) + tri[2],
        'new, stage_aggregation=output, 224': mix(a2 + tri[4], b2 + tri[2]),
        'ref: 1/2 only (112) -> 224': b2 + tri[2],
    }.get(path)
    return None if per_axis is None else math.sqrt(2 * per_axis)


def run_blob_width(args: argparse.Namespace) -> List[dict]:
    joints = _joint_grid(args.phases)
    rows = []
    ref = render_heatmaps(
        joints[:, None], torch.ones(len(joints), 1, dtype=joints.dtype),
        size=CROP, sigma=PRETRAIN_SIGMA)[:, 0]
    stats = blob_sigmas(ref, 1.0)
    rows.append(
        dict(kind='pretrain', path='ref: MPT pre-training, sigma 3 at 224',
             analytic=PRETRAIN_SIGMA,
             **{k: float(v.mean()) for k, v in stats.items()}))
    for kind in ('trained', 'delta'):
        quarter = stage_targets(joints, 4, kind)
        half = stage_targets(joints, 2, kind)
        for path, (fn, pitch) in blob_paths().items():
            maps = fn(quarter, half)[:, 0]
            stats = blob_sigmas(maps, pitch)
            rows.append(
                dict(kind=kind, path=path,
                     analytic=(analytic_sigma_mom(path)
                               if kind == 'trained' else None),
                     **{k: float(v.mean()) for k, v in stats.items()}))
    fwhm = 2 * math.sqrt(math.log(2.0))
    print(f'\nblob widths in 224-crop pixels, as sigma of exp(-d^2/sigma^2) '
          f'(pre-training: {PRETRAIN_SIGMA:g}); mean over {len(joints)} '
          'sub-pixel joint positions; FWHM = 1.665 sigma_half\n')
    print('| stage outputs | path | sigma_half | FWHM (px) | sigma_mom | '
          'analytic sigma_mom | peak |')
    print('|---|---|---:|---:|---:|---:|---:|')
    for r in rows:
        analytic = '' if r['analytic'] is None else f"{r['analytic']:.2f}"
        print(f"| {r['kind']} | {r['path']} | {r['sigma_half']:.2f} | "
              f"{fwhm * r['sigma_half']:.2f} | {r['sigma_mom']:.2f} | "
              f"{analytic} | {r['peak']:.3f} |")
    return rows


def main(argv: Optional[List[str]] = None) -> List[dict]:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.mode == 'speed':
        rows = run_speed(args)
    elif args.mode == 'flops':
        rows = run_flops(args)
    else:
        rows = run_blob_width(args)
    argv_used = sys.argv[1:] if argv is None else argv
    print('\ncommand: python tools/benchmark/bench_pose_feature_maps.py ' +
          ' '.join(shlex.quote(a) for a in argv_used))
    return rows


if __name__ == '__main__':
    main()
