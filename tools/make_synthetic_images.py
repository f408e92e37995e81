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

A synthetic FreiHAND folder in the official layout (rendered right hands,
``training/rgb/%08d.jpg`` x 4 versions, ``evaluation/rgb``,
``{training,evaluation}_{K,mano,xyz,verts,scale}.json``; see
:mod:`mpt_plugin.synthetic.freihand_images`)::

    python tools/make_synthetic_images.py --freihand data/freihand \\
        --freihand-num-training 8 --freihand-num-evaluation 4 --seed 0 \\
        --hand-model-dir data/synthetic/body_models

needs the synthetic hands (``python tools/make_synthetic_assets.py --out
data/synthetic --hands``) and is always rewritten (it is deterministic and
takes about a second). Given alone, ``--freihand`` writes only FreiHAND;
with ``--all``, ``--layout``, ``--dataset-name``, ``--ann-file`` or
``--data-prefix`` it writes the people images as well.
"""
import argparse
import os.path as osp
import sys
import time
from typing import List, Optional, Sequence, Tuple

_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if _ROOT not in sys.path:  # allow running from a checkout without install
    sys.path.insert(0, _ROOT)

from mpt_plugin.synthetic.freihand_images import (  # noqa: E402
    write_synthetic_freihand)
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

DEFAULT_DATA_PREFIX = 'data/synthetic_images'
DEFAULT_LAYOUT = 'train_full'

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
    parser.add_argument('--data-prefix', default=None,
                        help='root of datasets/ and preprocessed_datasets/ '
                        f'(default: {DEFAULT_DATA_PREFIX})')
    parser.add_argument('--all', action='store_true',
                        help='write the benchmark-shaped preset (see the '
                        'module docstring)')
    parser.add_argument('--layout', default=None, choices=sorted(LAYOUTS),
                        help=f'default: {DEFAULT_LAYOUT}')
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
    parser.add_argument('--freihand', default=None, metavar='DIR',
                        help='write a synthetic FreiHAND folder (official '
                        'layout) to DIR; alone, only FreiHAND is written')
    parser.add_argument('--freihand-num-training', type=int, default=8,
                        help='FreiHAND training samples (x 4 images; '
                        'default: 8)')
    parser.add_argument('--freihand-num-evaluation', type=int, default=4,
                        help='FreiHAND evaluation samples (default: 4)')
    parser.add_argument('--hand-model-dir', default='data/synthetic/'
                        'body_models', help='folder with MANO_RIGHT.npz '
                        '(for --freihand)')
    parser.add_argument('--quiet', action='store_true', help='no progress')
    args = parser.parse_args(argv)
    # Alone, --freihand writes only FreiHAND; any people option asks for
    # the people images too (without --freihand they are always written).
    args.humans = args.freihand is None or args.all or any(
        getattr(args, name) is not None
        for name in ('layout', 'dataset_name', 'ann_file', 'data_prefix'))
    if args.data_prefix is None:
        args.data_prefix = DEFAULT_DATA_PREFIX
    if args.layout is None:
        args.layout = DEFAULT_LAYOUT
    if args.num < 1:
        parser.error(f'--num must be >= 1, got {args.num}')
    if args.seed < 0:
        parser.error(f'--seed must be >= 0, got {args.seed}')
    if min(args.image_size) < 16:
        parser.error(f'--image-size must be >= 16 px, got {args.image_size}')
    if args.humans and not osp.isdir(args.body_model_dir):
        parser.error(f'--body-model-dir {args.body_model_dir!r} does not '
                     'exist; run tools/make_synthetic_assets.py --out '
                     'data/synthetic first')
    if args.freihand is not None:
        if min(args.freihand_num_training,
               args.freihand_num_evaluation) < 1:
            parser.error('--freihand-num-training and '
                         '--freihand-num-evaluation must be >= 1, got '
                         f'{args.freihand_num_training}, '
                         f'{args.freihand_num_evaluation}')
        if not any(osp.isfile(osp.join(args.hand_model_dir, f'MANO_RIGHT.'
                                       f'{ext}')) for ext in ('npz', 'pkl')):
            parser.error(f'--hand-model-dir {args.hand_model_dir!r} has no '
                         'MANO_RIGHT.npz; run tools/make_synthetic_assets.py '
                         '--out data/synthetic --hands first')
    return args


def jobs(args: argparse.Namespace) -> List[Tuple[str, str, str, int]]:
    """(ann_file, dataset_name, layout, seed) of every file to write."""
    if not getattr(args, 'humans', True):
        return []
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
    if args.freihand is not None:
        info = write_synthetic_freihand(
            args.freihand, args.hand_model_dir,
            num_training=args.freihand_num_training,
            num_evaluation=args.freihand_num_evaluation, seed=args.seed)
        if not args.quiet:
            print(f'[make_synthetic_images] freihand   {info["root"]} '
                  f'({info["training_images"]} training, '
                  f'{info["evaluation_images"]} evaluation images)',
                  flush=True)
    if not args.quiet:
        print(f'[make_synthetic_images] done in '
              f'{time.perf_counter() - start:.1f} s', flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
