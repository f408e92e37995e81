"""Meshes of an image, a folder of images, a video or an MMPose predictions
file (the command line of :class:`mpt_plugin.apis.MeshInferencer`).

    python tools/infer.py INPUT CONFIG [CHECKPOINT] --out-dir DIR
        [--bboxes BOXES.json] [--bbox-format xyxy|xywh]
        [--save-mesh obj|ply|none] [--no-overlay] [--no-results]
        [--batch-size 16] [--device cpu] [--convention coco]
        [--body-model-path SMPL] [--no-progress] [--cfg-options K=V ...]

INPUT: an image, a folder of images (sorted by name), a video (frames in
order; video lifters get their 2D windows) or, for keypoint models
(Key2Mesh, PC-HMR's Key2Mesh stream), an MMPose predictions ``.json``.
Without CHECKPOINT the model keeps its initial (random) weights.

``--bboxes``: a JSON file with one list of boxes for every image / frame,
or a dict from image file name (relative to the folder) or frame index to
that image's boxes; images without an entry use the whole image.

Writes to ``--out-dir``: ``overlays/`` (PNG per image, MP4 per video),
``meshes/`` (OBJ or PLY per person) and ``inference_result.npz`` (HumanData
with the keys of mmhuman3d's ``demo/estimate_smpl.py``; see
``mpt_plugin/apis/mesh_inferencer.py``). Files of a folder that cannot be
read are skipped and listed at the end; any other bad input or checkpoint
ends the run with one line naming it and exit status 1.
"""
import argparse
import os.path as osp
import sys
from typing import Optional, Sequence

_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if _ROOT not in sys.path:  # allow running from a checkout without install
    sys.path.insert(0, _ROOT)

import mpt_plugin  # noqa: E402,F401  (registers the components)
from mpt_plugin.apis.inference import BBOX_FORMATS  # noqa: E402
from mpt_plugin.apis.mesh_inferencer import MeshInferencer  # noqa: E402
from mpt_plugin.apis.tool_config import CfgOptionsAction  # noqa: E402
from mpt_plugin.utils.safe_checkpoint import CheckpointLoadError  # noqa: E402


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Predict the meshes of the people in images, a video '
        'or 2D detections.')
    parser.add_argument('input', help='image, folder, video or (keypoint '
                        'models) MMPose predictions .json')
    parser.add_argument('config', help='model config')
    parser.add_argument('checkpoint', nargs='?', default=None,
                        help='checkpoint (.pth); default: initial weights')
    parser.add_argument('--out-dir', required=True, help='output folder')
    parser.add_argument('--bboxes', default=None,
                        help='JSON boxes: a list for every image, or a dict '
                        'by image name / frame index')
    parser.add_argument('--bbox-format', default='xyxy',
                        choices=BBOX_FORMATS)
    parser.add_argument('--save-mesh', default='obj',
                        choices=('obj', 'ply', 'none'))
    parser.add_argument('--no-overlay', action='store_true',
                        help='do not write overlays')
    parser.add_argument('--no-results', action='store_true',
                        help='do not write inference_result.npz')
    parser.add_argument('--batch-size', type=int, default=16)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--convention', default='coco',
                        help='joint convention of a predictions .json')
    parser.add_argument('--body-model-path', default=None,
                        help='SMPL file/folder for the faces when the model '
                        'and config have none')
    parser.add_argument('--no-progress', action='store_true')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction)
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        parser.error(f'--batch-size must be >= 1, got {args.batch_size}')
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    if not osp.exists(args.input):  # before the model is built
        sys.exit('infer.py: error: FileNotFoundError: input not found: '
                 f'{args.input}')
    try:
        inferencer = MeshInferencer(
            args.config, args.checkpoint, args.device, args.batch_size,
            args.cfg_options, args.body_model_path, args.convention)
        out = inferencer(
            args.input, args.out_dir, bboxes=args.bboxes,
            bbox_format=args.bbox_format,
            save_overlay=not args.no_overlay,
            save_mesh=None if args.save_mesh == 'none' else args.save_mesh,
            save_results=not args.no_results,
            show_progress=not args.no_progress)
    except (CheckpointLoadError, OSError, ValueError, TypeError,
            KeyError) as err:
        sys.exit(f'infer.py: error: {type(err).__name__}: '
                 f'{err.args[0] if isinstance(err, KeyError) else err}')
    print(f'[infer] {out["num_people"]} people; {len(out["overlays"])} '
          f'overlays, {len(out["meshes"])} meshes in {args.out_dir}')
    if out['results']:
        print(f'[infer] wrote {out["results"]}')
    for name, reason in out['failed']:
        print(f'[infer] skipped {name}: {reason}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
