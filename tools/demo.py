"""Run a trained mesh estimator on one image and save the mesh.

    python tools/demo.py IMAGE CONFIG CHECKPOINT [--bbox X Y W H]
        [--out-dir DIR] [--device cpu]

A thin wrapper of :mod:`mpt_plugin.apis` (``init_model`` +
``inference_mesh``; ``tools/infer.py`` does folders, videos, several people
and the HumanData results file). The config's test pipeline crops the person
box (the whole image when ``--bbox`` is not given; enlarged by the dataset's
``bbox_scale_factor``), the model predicts the mesh and two files are
written to ``--out-dir`` (default: next to the image):

- ``<stem>_mesh_overlay.png``: the input crop | the predicted mesh over it
  (weak-perspective camera of the prediction);
- ``<stem>_mesh.obj``: the predicted vertices (metres, pelvis-centred,
  turned 180 deg about x into a y-UP frame so mesh viewers show the body
  upright) and the body model's faces (1-based).

The faces come from the model's SMPL layer when it has one, else from
``model.body_model.model_path`` in the config, else from
``--body-model-path``.
"""
import argparse
import os
import os.path as osp
import sys
from typing import Optional, Sequence

import cv2
import numpy as np

_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if _ROOT not in sys.path:  # allow running from a checkout without install
    sys.path.insert(0, _ROOT)

import mpt_plugin  # noqa: E402,F401  (registers the components)
from mpt_plugin.apis.inference import (find_faces, inference_mesh,  # noqa
                                       init_model, load_image, write_obj)
from mpt_plugin.apis.tool_config import CfgOptionsAction  # noqa: E402
from mpt_plugin.utils.file_io import write_atomic  # noqa: E402
from mpt_plugin.utils.safe_checkpoint import CheckpointLoadError  # noqa
from mpt_plugin.visualization.mesh_visualizer import (  # noqa: E402
    crop_from_inputs, draw_mesh_overlay)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Predict and save the mesh of the person in an image.')
    parser.add_argument('image', help='input image')
    parser.add_argument('config', help='model config')
    parser.add_argument('checkpoint', help='checkpoint (.pth)')
    parser.add_argument('--bbox', type=float, nargs=4, default=None,
                        metavar=('X', 'Y', 'W', 'H'),
                        help='person box in pixels (default: whole image)')
    parser.add_argument('--out-dir', default=None,
                        help='output folder (default: the image folder)')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--body-model-path', default=None,
                        help='SMPL file/folder for the faces when the model '
                        'and config have none')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction)
    return parser.parse_args(argv)


def run_demo(image: str, config: str, checkpoint: str,
             bbox: Optional[Sequence[float]] = None,
             out_dir: Optional[str] = None, device: str = 'cpu',
             body_model_path: Optional[str] = None,
             cfg_options: Optional[dict] = None) -> dict:
    """Predict the mesh in ``image``; returns the written paths and arrays.

    Args:
        bbox: ``(x, y, w, h)`` px; None = the whole image.

    Returns:
        dict: ``overlay`` and ``obj`` paths, ``vertices`` (V, 3) and
        ``camera`` (3,) numpy arrays.
    """
    img, _ = load_image(image)
    if bbox is not None:
        box = np.asarray(bbox, dtype=np.float64)
        if box.shape != (4, ) or not box[2] > 0 or not box[3] > 0:
            raise ValueError('--bbox must be X Y W H with W, H > 0, got '
                             f'{bbox}')
    model = init_model(config, checkpoint, device, cfg_options)
    sample = inference_mesh(model, img, None if bbox is None else [bbox],
                            bbox_format='xywh', return_inputs=True)[0]
    pred = sample.pred_instances
    vertices = pred.vertices.reshape(-1, 3)
    camera = pred.camera.reshape(-1)[:3]
    faces = find_faces(model, model.cfg, body_model_path)
    if faces.max() >= len(vertices):
        raise ValueError(f'the faces index {faces.max() + 1} vertices but '
                         f'the model predicted {len(vertices)}')

    out_dir = out_dir or osp.dirname(osp.abspath(image))
    os.makedirs(out_dir, exist_ok=True)
    stem = osp.splitext(osp.basename(image))[0]
    crop = crop_from_inputs(sample.input_crop)
    overlay = draw_mesh_overlay(crop, vertices, camera, faces)
    panel = np.concatenate([crop, overlay], axis=1)
    overlay_path = osp.join(out_dir, f'{stem}_mesh_overlay.png')

    def write_png(tmp: str) -> None:
        if not cv2.imwrite(tmp, panel[..., ::-1]):
            raise OSError(f'could not write {overlay_path!r}')

    write_atomic(overlay_path, write_png)
    obj_path = osp.join(out_dir, f'{stem}_mesh.obj')
    write_obj(obj_path, vertices, faces)
    return dict(overlay=overlay_path, obj=obj_path, vertices=vertices,
                camera=camera)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    try:
        out = run_demo(args.image, args.config, args.checkpoint, args.bbox,
                       args.out_dir, args.device, args.body_model_path,
                       args.cfg_options)
    except CheckpointLoadError as err:
        sys.exit(f'demo.py: error: {type(err).__name__}: {err}')
    print(f'[demo] wrote {out["overlay"]}')
    print(f'[demo] wrote {out["obj"]}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
