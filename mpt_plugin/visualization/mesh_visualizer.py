"""Draw predicted (and ground-truth) meshes over the network's input crop.

The mesh comes from ``PoseDataSample.pred_instances`` (image-sample
contract): ``vertices`` (1, V, 3) metres, camera-aligned axes (x right,
y down, z forward), pelvis-centred, and the weak-perspective ``camera``
(1, 3) = ``(s, tx, ty)`` with ``x_norm = s * (X[:2] + t)`` and
``x_px = (x_norm + 1) * S / 2 - 0.5`` in the S x S crop (pixel centres at
integers, the convention of ``MPTMeshAffine`` and of the fine-tuning GT). For the picture the weak
perspective camera is turned into a long-focal pinhole camera
(``mpt_plugin.geometry.cameras.weak_perspective_to_translation``: the
mesh is moved to ``(tx, ty, 2 f / (S s))`` and seen with focal ``f`` and
principal point ``((S - 1) / 2, (S - 1) / 2)``), which reproduces the weak-perspective
projection up to the mesh's depth relief (< 1 % for ``f = 5000``), and
rasterised with :mod:`mpt_plugin.visualization.rasterizer`.

Images handed to :meth:`MPTMeshVisualizer.add_datasample` are RGB uint8
(MMEngine's convention); the crop in ``data_batch['inputs']`` is BGR
(:func:`crop_from_inputs` converts it).
"""
import os
import os.path as osp
from typing import Optional, Sequence, Union

import cv2
import numpy as np
import torch
from mmengine.dist import master_only
from mmengine.visualization import Visualizer

from mpt_plugin.geometry.cameras import weak_perspective_to_translation
from mpt_plugin.registry import VISUALIZERS
from .mesh_figure import GT_COLOR, PRED_COLOR
from .rasterizer import _check_faces, _check_vertices, _to_numpy, render_mesh

__all__ = ['MPTMeshVisualizer', 'draw_mesh_overlay', 'crop_from_inputs',
           'load_smpl_faces']

#: Focal length (px) of the pinhole camera standing in for the weak
#: perspective one.
DEFAULT_FOCAL_LENGTH = 5000.0


def crop_from_inputs(inputs: Union[torch.Tensor, np.ndarray]) -> np.ndarray:
    """One packed input crop -> RGB image.

    Args:
        inputs: (3, S, S) BGR (``MPTPackMeshInputs`` output, uint8 or float in
            [0, 255]).

    Returns:
        np.ndarray: (S, S, 3) uint8 RGB.
    """
    arr = _to_numpy(inputs, 'inputs', dtype=np.float64)
    if arr.ndim != 3 or arr.shape[0] != 3:
        raise ValueError('inputs must be one (3, S, S) BGR crop, got shape '
                         f'{arr.shape}')
    img = np.clip(np.round(arr), 0, 255).astype(np.uint8).transpose(1, 2, 0)
    return np.ascontiguousarray(img[..., ::-1])


def load_smpl_faces(model_path: Union[str, os.PathLike]) -> np.ndarray:
    """SMPL faces (F, 3) int64 from a model file or folder (no pickle).

    Args:
        model_path: an SMPL ``.npz``/``.pkl`` or a folder holding
            ``SMPL_NEUTRAL.{npz,pkl}``.

    Returns:
        np.ndarray: (F, 3) int64 vertex indices.
    """
    from mpt_plugin.body_models.io import load_body_model_file
    from mpt_plugin.body_models.smpl import resolve_smpl_model_file
    path = resolve_smpl_model_file(model_path, 'neutral')
    return np.asarray(load_body_model_file(path)['f'], dtype=np.int64)


def draw_mesh_overlay(image: np.ndarray,
                      vertices,
                      camera,
                      faces: np.ndarray,
                      color: Sequence[float] = PRED_COLOR,
                      alpha: float = 0.8,
                      focal_length: float = DEFAULT_FOCAL_LENGTH,
                      crop_size: Optional[float] = None) -> np.ndarray:
    """Render a weak-perspective mesh over a crop.

    Args:
        image: (H, W, 3) uint8 crop (any channel order; ``color`` is in the
            same order).
        vertices: (V, 3) or (1, V, 3) metres, camera-aligned axes,
            pelvis-centred.
        camera: (3,) or (1, 3) ``(s, tx, ty)``.
        faces: (F, 3) vertex indices.
        color: mesh colour, values in [0, 1].
        alpha: opacity of the mesh over the image (1 = opaque).
        focal_length: focal length (px) of the stand-in pinhole camera.
        crop_size: ``S`` of the camera convention; None = the image width.

    Returns:
        np.ndarray: (H, W, 3) uint8.
    """
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError('image must be an (H, W, 3) uint8 crop, got '
                         f'{img.shape} {img.dtype}')
    verts = _check_vertices(np.reshape(_to_numpy(vertices, 'vertices'),
                                       (-1, 3)), 'vertices')
    faces = _check_faces(faces, len(verts))
    cam = _to_numpy(camera, 'camera').reshape(-1)
    if cam.shape != (3, ) or not np.isfinite(cam).all():
        raise ValueError('camera must be one weak-perspective (s, tx, ty), '
                         f'got {camera!r}')
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f'alpha must lie in [0, 1], got {alpha}')
    height, width = img.shape[:2]
    size = float(width if crop_size is None else crop_size)
    if cam[0] < -1e-6:  # a mirrored camera cannot be drawn with a pinhole
        return img.copy()
    transl = weak_perspective_to_translation(
        torch.from_numpy(cam.astype(np.float64))[None], focal_length, size,
        eps=1e-6)[0].numpy()
    out = render_mesh(verts + transl, faces, focal_length, (height, width),
                      principal_point=((size - 1) / 2.0, (size - 1) / 2.0),
                      color=color,
                      background=img, near=1e-3)
    blend = img.astype(np.float64)
    blend[out.mask] = (alpha * out.image[out.mask] +
                       (1.0 - alpha) * blend[out.mask])
    return np.round(blend).astype(np.uint8)


def _field(instances, name: str) -> Optional[np.ndarray]:
    if instances is None or name not in instances:
        return None
    return _to_numpy(getattr(instances, name), name)


@VISUALIZERS.register_module()
class MPTMeshVisualizer(Visualizer):
    """MMEngine visualiser drawing MPT's meshes over the input crop.

    Panels, left to right: the crop (with the GT 2D keypoints when
    ``draw_gt``), the predicted mesh over the crop (``draw_pred``) and the
    GT mesh over the crop (``draw_gt`` and ``gt_instances.vertices``
    present; drawn with the *predicted* camera, as the GT has none).
    Images go to the ``vis_backends`` (e.g. ``LocalVisBackend``,
    ``TensorboardVisBackend``) through :meth:`add_image`, or to
    ``out_file``.

    Args:
        name: instance name (MMEngine's ``ManagerMixin``).
        image: optional initial image.
        vis_backends: backend configs.
        save_dir: root folder of the backends' files.
        faces: (F, 3) mesh faces; or give ``body_model_path``.
        body_model_path: SMPL file/folder to read the faces from (lazily).
        focal_length: focal length of the stand-in pinhole camera (px).
        alpha: mesh opacity.
        pred_color: (r, g, b) in [0, 1] of predicted meshes.
        gt_color: (r, g, b) in [0, 1] of GT meshes.
        keypoint_radius: radius (px) of the GT keypoint dots (0: none).
    """

    def __init__(self,
                 name: str = 'visualizer',
                 image: Optional[np.ndarray] = None,
                 vis_backends: Optional[Sequence[dict]] = None,
                 save_dir: Optional[str] = None,
                 faces: Optional[np.ndarray] = None,
                 body_model_path: Optional[str] = None,
                 focal_length: float = DEFAULT_FOCAL_LENGTH,
                 alpha: float = 0.8,
                 pred_color: Sequence[float] = PRED_COLOR,
                 gt_color: Sequence[float] = GT_COLOR,
                 keypoint_radius: int = 2) -> None:
        super().__init__(name=name, image=image, vis_backends=vis_backends,
                         save_dir=save_dir)
        self._faces = (None if faces is None else np.asarray(
            faces, dtype=np.int64))
        self.body_model_path = body_model_path
        self.focal_length = float(focal_length)
        self.alpha = float(alpha)
        self.pred_color = tuple(pred_color)
        self.gt_color = tuple(gt_color)
        self.keypoint_radius = int(keypoint_radius)

    @property
    def faces(self) -> np.ndarray:
        """(F, 3) int64 faces (read from ``body_model_path`` on first use).
        """
        if self._faces is None:
            if self.body_model_path is None:
                raise ValueError(
                    'MPTMeshVisualizer needs mesh faces: pass faces=(F, 3) '
                    'or body_model_path=<SMPL file or folder>')
            self._faces = load_smpl_faces(self.body_model_path)
        return self._faces

    def _mesh_panel(self, image: np.ndarray, instances,
                    camera: Optional[np.ndarray], color) -> Optional[
                        np.ndarray]:
        verts = _field(instances, 'vertices')
        if verts is None or camera is None:
            return None
        return draw_mesh_overlay(image, verts[0], camera, self.faces,
                                 color=color, alpha=self.alpha,
                                 focal_length=self.focal_length)

    def _keypoint_panel(self, image: np.ndarray, gt) -> np.ndarray:
        panel = image.copy()
        kps = _field(gt, 'keypoints2d')
        if kps is None or self.keypoint_radius <= 0:
            return panel
        vis = _field(gt, 'keypoints2d_visible')
        kps = kps.reshape(-1, kps.shape[-1])[:, :2]
        vis = (np.ones(len(kps)) if vis is None else vis.reshape(-1))
        for (x, y), v in zip(kps, vis):
            if v > 0 and np.isfinite([x, y]).all():
                cv2.circle(panel, (int(round(x)), int(round(y))),
                           self.keypoint_radius, (255, 60, 60), -1,
                           lineType=cv2.LINE_AA)
        return panel

    def draw_datasample(self,
                        image: np.ndarray,
                        data_sample,
                        draw_gt: bool = True,
                        draw_pred: bool = True) -> np.ndarray:
        """The side-by-side picture of one sample (see the class doc).

        Args:
            image: (S, S, 3) uint8 RGB input crop.
            data_sample: ``PoseDataSample`` with ``pred_instances``
                (``vertices``, ``camera``) and optionally ``gt_instances``.
            draw_gt: draw GT keypoints and the GT mesh when present.
            draw_pred: draw the predicted mesh.

        Returns:
            np.ndarray: (S, k * S, 3) uint8 RGB, k = number of panels.
        """
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError('image must be an (H, W, 3) RGB crop, got '
                             f'shape {image.shape}')
        image = image.astype(np.uint8)
        pred = data_sample.get('pred_instances', None)
        gt = data_sample.get('gt_instances', None)
        camera = _field(pred, 'camera')
        camera = None if camera is None else camera.reshape(-1)[:3]
        panels = [self._keypoint_panel(image, gt) if draw_gt else image]
        if draw_pred:
            if _field(pred, 'vertices') is None or camera is None:
                raise KeyError('draw_pred=True needs pred_instances.vertices '
                               '(1, V, 3) and pred_instances.camera (1, 3)')
            panels.append(self._mesh_panel(image, pred, camera,
                                           self.pred_color))
        if draw_gt and camera is not None:
            gt_panel = self._mesh_panel(image, gt, camera, self.gt_color)
            if gt_panel is not None:
                panels.append(gt_panel)
        return np.concatenate(panels, axis=1)

    @master_only
    def add_datasample(self,
                       name: str,
                       image: np.ndarray,
                       data_sample,
                       draw_gt: bool = True,
                       draw_pred: bool = True,
                       show: bool = False,
                       wait_time: float = 0,
                       out_file: Optional[str] = None,
                       step: int = 0) -> np.ndarray:
        """Draw one sample and send it to the backends (or a file).

        Args:
            name: image name for the backends.
            image: (S, S, 3) uint8 RGB input crop.
            data_sample: ``PoseDataSample`` (see :meth:`draw_datasample`).
            draw_gt: draw the ground truth.
            draw_pred: draw the prediction.
            show: show the picture in a window.
            wait_time: seconds to wait when showing.
            out_file: write a PNG/JPEG there instead of to the backends.
            step: global step for the backends.

        Returns:
            np.ndarray: the drawn RGB picture.
        """
        drawn = self.draw_datasample(image, data_sample, draw_gt, draw_pred)
        self.set_image(drawn)
        if show:
            self.show(drawn, win_name=name, wait_time=wait_time)
        if out_file is not None:
            folder = osp.dirname(osp.abspath(out_file))
            os.makedirs(folder, exist_ok=True)
            if not cv2.imwrite(out_file, drawn[..., ::-1]):
                raise OSError(f'could not write {out_file!r}')
        else:
            self.add_image(name, drawn, step)
        return drawn
