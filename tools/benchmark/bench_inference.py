"""Throughput of ``inference_mesh`` and ``inference_keypoints`` (CPU or GPU).

    .venv/bin/python tools/benchmark/bench_inference.py \\
        [--mesh-config configs/mpt_finetune_demo.py] \\
        [--keypoints-config configs/key2mesh_pretrain_demo.py] \\
        [--synthetic-body-model data/synthetic/body_models] \\
        [--batch-sizes 1 32] [--num-images 32] [--people 1] \\
        [--repeats 3] [--warmup 1] [--threads 2] [--device cpu] \\
        [--json out.json]

- ``inference_mesh``: ``--num-images`` synthetic images (``--image-size``
  H W, BGR arrays in memory: decoding files is not timed) with
  ``--people`` boxes each, through the mesh config's test pipeline and
  ``test_step`` in batches of ``batch_size`` people: images/s and people/s
  (crop, normalisation, model, cameras and 2D keypoints of the results);
- ``inference_keypoints``: the same number of frames with ``--people``
  COCO-17 detections each (arrays): frames/s and people/s.

Each setting is run ``--warmup`` times (default 1) untimed, then
``--repeats`` times; the table gives the median. Models keep their initial (random) weights: throughput
does not depend on them. ``--synthetic-body-model DIR`` points every body
model, regressor and mesh-sampler path of the configs at ``DIR`` and drops
pretrained backbone files, so the paper-size configs
(``configs/mpt_finetune_mixed.py``, ``key2mesh_pretrain_amass.py``) run
without SMPL or COCO weights. An empty ``--mesh-config`` or
``--keypoints-config`` skips that half. The 1-minute load average before
and after is printed: other processes inflate the numbers.
"""
import argparse
import json
import os
import os.path as osp
import platform
import statistics
import sys
import time
from typing import Any, Dict, List, Optional, Sequence

import cv2
import numpy as np
import torch

_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from mmengine.config import Config  # noqa: E402

import mpt_plugin  # noqa: E402,F401
from mpt_plugin.apis import (inference_keypoints, inference_mesh,  # noqa
                             init_model)
from mpt_plugin.utils.file_io import write_atomic  # noqa: E402

#: Config keys pointed at the synthetic body-model folder (file names in it).
_PATH_KEYS = {
    'model_path': None,
    'joints_regressor': 'J_regressor_h36m.npy',
    'joint_regressor': 'J_regressor_h36m.npy',
    'mesh_sampler': 'mesh_downsampling.npz',
}
#: Config keys of pretrained weight files dropped with a synthetic model.
_WEIGHT_KEYS = ('checkpoint', 'source_checkpoint', 'pose_checkpoint')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--mesh-config',
                        default='configs/mpt_finetune_demo.py',
                        help="image model config ('' skips)")
    parser.add_argument('--keypoints-config',
                        default='configs/key2mesh_pretrain_demo.py',
                        help="keypoint model config ('' skips)")
    parser.add_argument('--synthetic-body-model', default=None,
                        help='body-model folder replacing every body model '
                        'path of the configs')
    parser.add_argument('--batch-sizes', type=int, nargs='+', default=[1, 32])
    parser.add_argument('--num-images', type=int, default=32)
    parser.add_argument('--people', type=int, default=1,
                        help='boxes / detections per image')
    parser.add_argument('--image-size', type=int, nargs=2, default=[256, 192],
                        metavar=('H', 'W'))
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--warmup', type=int, default=1,
                        help='untimed runs before the timed ones')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch threads (default: torch\'s)')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--json', default=None, help='write results here')
    args = parser.parse_args(argv)
    for name in ('num_images', 'people', 'repeats'):
        if getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be >= 1')
    if args.warmup < 0:
        parser.error('--warmup must be >= 0')
    if min(args.batch_sizes) < 1:
        parser.error('--batch-sizes must be >= 1')
    return args


def _point_paths(node: Any, folder: str) -> None:
    """Rewrites body-model paths and drops weight files, in place."""
    if isinstance(node, dict):
        for key in list(node.keys()):
            value = node[key]
            if key in _PATH_KEYS and isinstance(value, str):
                name = _PATH_KEYS[key]
                node[key] = folder if name is None else osp.join(folder, name)
            elif key in _WEIGHT_KEYS and isinstance(value, str):
                node[key] = None
            else:
                _point_paths(value, folder)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _point_paths(value, folder)


def load_model(config: str, synthetic: Optional[str], device: str):
    """``init_model`` of ``config`` (random weights), paths rewritten."""
    cfg = Config.fromfile(config)
    if synthetic is not None:
        _point_paths(cfg.model, osp.abspath(synthetic))
    torch.manual_seed(0)
    return init_model(cfg, None, device)


def synthetic_images(num: int, height: int, width: int,
                     seed: int = 0) -> List[np.ndarray]:
    """Textured backgrounds with a drawn person, (H, W, 3) uint8 BGR."""
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(num):
        img = (rng.random((height, width, 3)) * 120).astype(np.uint8)
        cx = int(width * rng.uniform(0.3, 0.7))
        cv2.ellipse(img, (cx, height // 2), (width // 8, height // 3), 0, 0,
                    360, (40, 80, 220), -1)
        cv2.circle(img, (cx, height // 8), width // 12, (190, 200, 230), -1)
        images.append(img)
    return images


def person_boxes(num: int, people: int, height: int,
                 width: int) -> np.ndarray:
    """(num, people, 4) xyxy boxes tiling each image's width."""
    step = width / people
    boxes = np.array([[i * step, 0.0, (i + 1) * step, float(height)]
                      for i in range(people)])
    return np.repeat(boxes[None], num, axis=0)


def coco_detections(num: int, seed: int = 0) -> np.ndarray:
    """(num, 17, 3) COCO-17 px + score of a standing person."""
    base = np.array([[60, 30], [56, 26], [64, 26], [52, 28], [68, 28],
                     [45, 50], [75, 50], [40, 75], [80, 75], [38, 98],
                     [82, 98], [50, 100], [70, 100], [49, 130], [71, 130],
                     [48, 158], [72, 158]], np.float64)
    rng = np.random.default_rng(seed)
    kps = base[None] + rng.normal(0, 3, (num, 17, 2))
    return np.concatenate([kps, np.full((num, 17, 1), 0.9)], -1)


def _sync(device: str) -> None:
    if str(device).startswith('cuda'):
        torch.cuda.synchronize()


def _median_seconds(fn, repeats: int, device: str, warmup: int = 1
                    ) -> float:
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_mesh(args: argparse.Namespace) -> List[Dict[str, Any]]:
    model = load_model(args.mesh_config, args.synthetic_body_model,
                       args.device)
    height, width = args.image_size
    images = synthetic_images(args.num_images, height, width)
    boxes = list(person_boxes(args.num_images, args.people, height, width))
    rows = []
    for bsz in args.batch_sizes:
        seconds = _median_seconds(
            lambda: inference_mesh(model, images, boxes, batch_size=bsz),
            args.repeats, args.device, args.warmup)
        rows.append(dict(api='inference_mesh', config=args.mesh_config,
                         batch_size=bsz, images=args.num_images,
                         people=args.num_images * args.people,
                         seconds=seconds,
                         images_per_s=args.num_images / seconds,
                         people_per_s=args.num_images * args.people /
                         seconds))
    return rows


def bench_keypoints(args: argparse.Namespace) -> List[Dict[str, Any]]:
    model = load_model(args.keypoints_config, args.synthetic_body_model,
                       args.device)
    num = args.num_images * args.people
    dets = coco_detections(num)
    rows = []
    for bsz in args.batch_sizes:
        seconds = _median_seconds(
            lambda: inference_keypoints(model, dets, batch_size=bsz),
            args.repeats, args.device, args.warmup)
        rows.append(dict(api='inference_keypoints',
                         config=args.keypoints_config, batch_size=bsz,
                         images=args.num_images, people=num,
                         seconds=seconds,
                         images_per_s=args.num_images / seconds,
                         people_per_s=num / seconds))
    return rows


def _load() -> str:
    try:
        return '{:.2f}'.format(os.getloadavg()[0])
    except OSError:
        return '?'


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    load_before = _load()
    rows = []
    if args.mesh_config:
        rows += bench_mesh(args)
    if args.keypoints_config:
        rows += bench_keypoints(args)
    load_after = _load()
    print(f'# {platform.processor() or platform.machine()}, torch '
          f'{torch.__version__}, {torch.get_num_threads()} threads, device '
          f'{args.device}; load average {load_before} -> {load_after}')
    print('| API | config | batch | images/s | people/s | seconds |')
    print('|---|---|---:|---:|---:|---:|')
    for row in rows:
        print(f'| {row["api"]} | {osp.basename(row["config"])} | '
              f'{row["batch_size"]} | {row["images_per_s"]:.2f} | '
              f'{row["people_per_s"]:.2f} | {row["seconds"]:.3f} |')
    if args.json:
        report = dict(rows=rows, threads=torch.get_num_threads(),
                      device=args.device, load_before=load_before,
                      load_after=load_after,
                      argv=list(sys.argv[1:] if argv is None else argv))

        def writer(tmp: str) -> None:
            with open(tmp, 'w', encoding='utf-8') as fh:
                json.dump(report, fh, indent=1)

        write_atomic(args.json, writer)
    return 0


if __name__ == '__main__':
    sys.exit(main())
