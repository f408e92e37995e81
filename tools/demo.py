"""Run a trained mesh estimator on one image and save the mesh.

    python tools/demo.py IMAGE CONFIG CHECKPOINT [--bbox X Y W H]
        [--out-dir DIR] [--device cpu]

The config's test pipeline (``test_dataloader.dataset.pipeline``, e.g.
``LoadImage -> MPTMeshAffine -> MPTPackMeshInputs``) crops the person box (the
whole image when ``--bbox`` is not given; enlarged by the dataset's
``bbox_scale_factor``), ``model.test_step`` predicts the mesh and two
files are written to ``--out-dir`` (default: next to the image):

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
import torch

_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if _ROOT not in sys.path:  # allow running from a checkout without install
    sys.path.insert(0, _ROOT)

from mmengine.config import Config  # noqa: E402
from mmengine.dataset import Compose, pseudo_collate  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmengine.runner.checkpoint import load_state_dict  # noqa: E402

import mpt_plugin  # noqa: E402,F401  (registers the components)
from mpt_plugin.body_models.conventions import get_keypoint_num  # noqa: E402
from mpt_plugin.registry import MODELS  # noqa: E402
from mpt_plugin.apis.tool_config import CfgOptionsAction  # noqa: E402
from mpt_plugin.utils.safe_checkpoint import (  # noqa: E402
    CheckpointLoadError, CorruptCheckpointError, read_checkpoint)
from mpt_plugin.visualization.mesh_visualizer import (  # noqa: E402
    crop_from_inputs, draw_mesh_overlay, load_smpl_faces)


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


def build_model(cfg: Config, checkpoint: str,
                device: str) -> torch.nn.Module:
    """Model from ``cfg.model`` with the checkpoint's weights, eval mode.

    The checkpoint is read with ``weights_only=True`` (whatever
    ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` says); a refused or broken file
    raises :class:`~mpt_plugin.utils.safe_checkpoint.CheckpointLoadError`
    naming it.
    """
    model = MODELS.build(cfg.model)
    ckpt = read_checkpoint(checkpoint, map_location='cpu')
    state = ckpt.get('state_dict', ckpt)
    if not isinstance(state, dict):
        raise CorruptCheckpointError(
            f'checkpoint {checkpoint}: "state_dict" is a '
            f'{type(state).__name__}, expected a dict', checkpoint)
    state = {k[len('module.'):] if k.startswith('module.') else k: v
             for k, v in state.items()}
    load_state_dict(model, state, strict=False, logger='current')
    return model.to(device).eval()


def make_data_info(image_path: str, bbox_xywh: np.ndarray,
                   num_keypoints: int, scale_factor: float) -> dict:
    """A ``data_info`` of the image-sample contract with empty GT."""
    x, y, w, h = (float(v) for v in bbox_xywh)
    zeros = np.zeros
    return dict(
        img_path=image_path, sample_idx=0, dataset_name='demo',
        bbox_xywh=np.array([x, y, w, h], np.float32),
        bbox_center=np.array([x + w / 2, y + h / 2], np.float32),
        bbox_scale=np.float32(max(w, h) * scale_factor),
        keypoints2d=zeros((num_keypoints, 2), np.float32),
        keypoints2d_visible=zeros(num_keypoints, np.float32),
        keypoints3d=zeros((num_keypoints, 3), np.float32),
        keypoints3d_visible=zeros(num_keypoints, np.float32),
        smpl_global_orient=zeros(3, np.float32),
        smpl_body_pose=zeros(69, np.float32),
        smpl_betas=zeros(10, np.float32), has_smpl=np.float32(0),
        gender=-1)


def find_faces(model: torch.nn.Module, cfg: Config,
               body_model_path: Optional[str]) -> np.ndarray:
    """Faces (F, 3) of the predicted mesh (see the module docstring)."""
    for module in model.modules():
        faces = getattr(module, 'faces', None)
        if isinstance(faces, np.ndarray) and faces.ndim == 2 and \
                faces.shape[1] == 3:
            return faces.astype(np.int64)
    path = body_model_path
    if path is None:
        body_model = cfg.model.get('body_model', None) or {}
        path = body_model.get('model_path', None)
    if path is None:
        raise ValueError('cannot find the mesh faces: the model has no SMPL '
                         'layer and the config no model.body_model.model_path;'
                         ' pass --body-model-path')
    return load_smpl_faces(path)


def write_obj(path: str, vertices: np.ndarray, faces: np.ndarray) -> None:
    """Wavefront OBJ: ``v`` lines (y up) and 1-based ``f`` lines."""
    verts = np.asarray(vertices, np.float64) * np.array([1.0, -1.0, -1.0])
    lines = [f'v {x:.6f} {y:.6f} {z:.6f}' for x, y, z in verts]
    lines += [f'f {a + 1} {b + 1} {c + 1}' for a, b, c in faces]
    with open(path, 'w', encoding='utf-8') as fh:
        fh.write('# mpt_plugin tools/demo.py: predicted mesh, metres, '
                 'pelvis-centred, y up\n')
        fh.write('\n'.join(lines) + '\n')


def run_demo(image: str, config: str, checkpoint: str,
             bbox: Optional[Sequence[float]] = None,
             out_dir: Optional[str] = None, device: str = 'cpu',
             body_model_path: Optional[str] = None,
             cfg_options: Optional[dict] = None) -> dict:
    """Predict the mesh in ``image``; returns the written paths and arrays.

    Returns:
        dict: ``overlay`` and ``obj`` paths, ``vertices`` (V, 3) and
        ``camera`` (3,) numpy arrays.
    """
    img = cv2.imread(image)
    if img is None:
        raise FileNotFoundError(f'cannot read image {image!r}')
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmpose'))
    height, width = img.shape[:2]
    box = np.array([0.0, 0.0, width, height] if bbox is None else bbox,
                   dtype=np.float64)
    if box.shape != (4, ) or box[2] <= 0 or box[3] <= 0:
        raise ValueError(f'--bbox must be X Y W H with W, H > 0, got {bbox}')
    dataset_cfg = cfg.test_dataloader.dataset
    pipeline = Compose(dataset_cfg.pipeline)
    num_kps = get_keypoint_num(dataset_cfg.get('convention', 'h36m'))
    data = pipeline(make_data_info(image, box, num_kps,
                                   dataset_cfg.get('bbox_scale_factor', 1.0)))
    model = build_model(cfg, checkpoint, device)
    with torch.no_grad():
        sample = model.test_step(pseudo_collate([data]))[0]
    pred = sample.pred_instances
    vertices = pred.vertices.detach().cpu().numpy().reshape(-1, 3)
    camera = pred.camera.detach().cpu().numpy().reshape(-1)[:3]
    faces = find_faces(model, cfg, body_model_path)
    if faces.max() >= len(vertices):
        raise ValueError(f'the faces index {faces.max() + 1} vertices but '
                         f'the model predicted {len(vertices)}')

    out_dir = out_dir or osp.dirname(osp.abspath(image))
    os.makedirs(out_dir, exist_ok=True)
    stem = osp.splitext(osp.basename(image))[0]
    crop = crop_from_inputs(data['inputs'])
    overlay = draw_mesh_overlay(crop, vertices, camera, faces)
    panel = np.concatenate([crop, overlay], axis=1)
    overlay_path = osp.join(out_dir, f'{stem}_mesh_overlay.png')
    if not cv2.imwrite(overlay_path, panel[..., ::-1]):
        raise OSError(f'could not write {overlay_path!r}')
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
