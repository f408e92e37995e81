"""Render synthetic people into mmhuman3d-style image datasets.

One file::

    python tools/make_synthetic_images.py \\
        --data-prefix data/synthetic_images --layout h36m_p2 \\
        --dataset-name h36m --ann-file h36m_valid_protocol2.npz \\
        --num 64 --seed 0 \\
        --body-model-dir data/synthetic/body_models

The benchmark-shaped preset (``--all``) writes, under ``--data-prefix``::

    preprocessed_datasets/h36m_valid_protocol2.npz  (h36m,  layout h36m_p2)
    preprocessed_datasets/pw3d_test.npz             (pw3d,  layout pw3d)
    preprocessed_datasets/h36m_train.npz            (h36m,  train_full)
    preprocessed_datasets/muco3dhp_train.npz        (muco,  train_full)
    preprocessed_datasets/up3d_trainval.npz         (up3d,  train_full)
    preprocessed_datasets/coco_2014_train.npz       (coco,  train_2d)
    preprocessed_datasets/mpii_train.npz            (mpii,  train_2d)
    preprocessed_datasets/pw3d_train.npz            (pw3d,  train_full)
    datasets/{h36m,pw3d,muco,up3d,coco,mpii}/...    the images

(``--num`` images each, default 64 at 256x256; file ``k`` of the preset
uses seed ``1000 * seed + k``). Existing ``.npz`` files are kept unless
``--overwrite``; an interrupted run resumes where it stopped. Needs the
synthetic body models: ``python tools/make_synthetic_assets.py --out
data/synthetic``.
"""
import argparse
import os.path as osp
import sys
import time
from typing import List, Optional, Sequence, Tuple

_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if _ROOT not in sys.path:  # allow running from a checkout without install
    sys.path.insert(0, _ROOT)

from mpt_plugin.synthetic.human_images import (  # noqa: E402
    LAYOUTS, render_synthetic_human_data)

#: (ann_file, dataset_name, layout) of the ``--all`` preset.
ALL_PRESET: Tuple[Tuple[str, str, str], ...] = (
    ('h36m_valid_protocol2.npz', 'h36m', 'h36m_p2'),
    ('pw3d_test.npz', 'pw3d', 'pw3d'),
    ('h36m_train.npz', 'h36m', 'train_full'),
    ('muco3dhp_train.npz', 'muco', 'train_full'),
    ('up3d_trainval.npz', 'up3d', 'train_full'),
    ('coco_2014_train.npz', 'coco', 'train_2d'),
    ('mpii_train.npz', 'mpii', 'train_2d'),
    ('pw3d_train.npz', 'pw3d', 'train_full'),
)

_DEFAULT_ANN = {
    'h36m_p2': ('h36m', 'h36m_valid_protocol2.npz'),
    'pw3d': ('pw3d', 'pw3d_test.npz'),
    'train_full': ('h36m', 'h36m_train.npz'),
    'train_2d': ('coco', 'coco_2014_train.npz'),
}


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Render synthetic SMPL-format people into images and '
        'mmhuman3d HumanData .npz annotations.')
    parser.add_argument('--data-prefix', default='data/synthetic_images',
                        help='root of datasets/ and preprocessed_datasets/')
    parser.add_argument('--all', action='store_true',
                        help='write the benchmark-shaped preset (see the '
                        'module docstring)')
    parser.add_argument('--layout', default='train_full',
                        choices=sorted(LAYOUTS))
    parser.add_argument('--dataset-name', default=None,
                        help='image folder under datasets/ (default: per '
                        'layout: h36m for h36m_p2/train_full, pw3d, coco)')
    parser.add_argument('--ann-file', default=None,
                        help='.npz name under preprocessed_datasets/')
    parser.add_argument('--num', type=int, default=64,
                        help='images per file (default: 64)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--image-size', type=int, nargs=2, default=(256, 256),
                        metavar=('H', 'W'))
    parser.add_argument('--body-model-dir', default='data/synthetic/'
                        'body_models', help='folder with SMPL_*.npz')
    parser.add_argument('--joints-regressor', default=None,
                        help='J_regressor_h36m.npy (default: in '
                        '--body-model-dir)')
    parser.add_argument('--overwrite', action='store_true',
                        help='re-render files that already exist')
    parser.add_argument('--quiet', action='store_true', help='no progress')
    args = parser.parse_args(argv)
    if args.num < 1:
        parser.error(f'--num must be >= 1, got {args.num}')
    if args.seed < 0:
        parser.error(f'--seed must be >= 0, got {args.seed}')
    if min(args.image_size) < 16:
        parser.error(f'--image-size must be >= 16 px, got {args.image_size}')
    if not osp.isdir(args.body_model_dir):
        parser.error(f'--body-model-dir {args.body_model_dir!r} does not '
                     'exist; run tools/make_synthetic_assets.py --out '
                     'data/synthetic first')
    return args


def jobs(args: argparse.Namespace) -> List[Tuple[str, str, str, int]]:
    """(ann_file, dataset_name, layout, seed) of every file to write."""
    if args.all:
        return [(ann, name, layout, 1000 * args.seed + k)
                for k, (ann, name, layout) in enumerate(ALL_PRESET)]
    name, ann = _DEFAULT_ANN[args.layout]
    return [(args.ann_file or ann, args.dataset_name or name, args.layout,
             args.seed)]


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    for ann, name, layout, seed in jobs(args):
        path = render_synthetic_human_data(
            args.data_prefix, name, ann, args.num, args.body_model_dir,
            args.joints_regressor, layout=layout, seed=seed,
            image_size=tuple(args.image_size), overwrite=args.overwrite,
            quiet=args.quiet)
        if not args.quiet:
            print(f'[make_synthetic_images] {layout:10s} {path}', flush=True)
    if not args.quiet:
        print(f'[make_synthetic_images] done in '
              f'{time.perf_counter() - start:.1f} s', flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
