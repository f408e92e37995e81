"""Inference in MMPose's style: build a model, run it on images or 2D
keypoints, get one ``PoseDataSample`` per person.

- :func:`init_model`: any of our estimators (MPT fine-tuned, Key2Mesh,
  PC-HMR; a domain-adaptation wrapper gives its estimator) from a config,
  weights read with ``weights_only=True``, eval mode, ``model.cfg`` set.
- :func:`inference_mesh`: image models (MPT fine-tuned, PC-HMR with the MPT
  image stream): an image (path or BGR array) or a list of them, and person
  boxes (the whole image when none) -> meshes. The config's test pipeline
  (``test_dataloader.dataset.pipeline``: ``LoadImage -> MPTMeshAffine ->
  MPTPackMeshInputs``) crops each box; ``model.test_step`` runs in batches
  of ``batch_size`` people on the model's device.
- :func:`inference_keypoints`: keypoint models (Key2Mesh, PC-HMR with the
  Key2Mesh stream): 2D detections (arrays, MMPose ``PoseDataSample``\\ s or
  an MMPose predictions JSON) -> meshes.

Hands (``MPTHandFinetuneEstimator``, e.g.
``configs/mpt_hand_test_freihand.py``)
go through :func:`inference_mesh` with hand boxes: the fields below with
``vertices`` (1, 778, 3) centred on the wrist, ``joints_freihand`` (1, 21,
3) and ``keypoints`` (1, 21, 2) in the ``hand_21`` order (the mesh's
FreiHAND joints) instead of the H3.6M ones; :func:`find_faces` gives
MANO's faces.

Every returned sample's ``pred_instances`` holds numpy float32 arrays with
a leading dimension 1 (one person):

- ``vertices`` (1, V, 3): metres, camera-aligned axes (x right, y down,
  z forward), pelvis (H3.6M joint 0 of the model's 17-joint regressor) at
  the origin; no translation (a weak-perspective camera has no depth). For
  image models they are the model's own output (pelvis-centred by the
  estimators' contract); Key2Mesh's untranslated SMPL mesh (and its SMPL
  axes, ``output_frame='smpl'``) is turned into camera axes and centred;
- ``joints_h36m`` (1, 17, 3): the model's 17 H3.6M joints, pelvis-centred;
- ``keypoints`` (1, 17, 2) image pixels (pixel centres at integers) and
  ``keypoint_scores`` (1, 17) (ones): the H3.6M joints regressed from
  ``vertices`` seen by ``camera_image``;
- ``camera`` (1, 3): weak perspective ``(s, tx, ty)`` in the person's crop,
  ``x_norm = s (X_xy + t)`` with ``x_norm = 2 (x_px - c) / side`` in
  ``[-1, 1]`` over the square of side ``side`` centred at ``c``
  (``bbox_center`` / ``bbox_scale`` metainfo). Image models: the model's
  own camera (the crop of ``MPTMeshAffine``; its half-pixel convention
  ``crop_to_norm`` gives exactly this map; PC-HMR: its mesh stream's
  camera, applied to the calibrated mesh). Keypoint models have none: it
  is fitted in closed form to the detections
  (:func:`~mpt_plugin.geometry.cameras.fit_weak_perspective_camera`) and
  expressed in the square around the detection box;
- ``camera_image`` (1, 3): the same camera in image pixels,
  ``x_px = s_px (X_xy + t)`` (:func:`camera_crop_to_image`);
- ``bboxes`` (1, 4) ``x1, y1, x2, y2`` px and ``bbox_scores`` (1,);
- ``smpl_global_orient`` (1, 3), ``smpl_body_pose`` (1, 69) and
  ``smpl_betas`` (1, 10) (axis-angle radians; the global orientation in
  the camera axes of ``vertices``) only for models predicting SMPL
  parameters (Key2Mesh); re-posing them with the neutral SMPL gives
  ``vertices`` up to a translation. MPT regresses vertices and PC-HMR
  calibrates a mesh: neither has SMPL parameters for its output.

Other ``pred_instances`` fields of the estimator (``joints``,
``vertices_uncalibrated``, ...) are kept (as numpy). The ground truth the
packing transform adds (zeros at inference) is dropped before the model
runs, so no target is built. Metainfo: ``img_path`` (None for arrays),
``ori_shape``, ``bbox_center``, ``bbox_scale``, ``crop_affine``,
``image_index`` (position in the input list) and ``person_id`` (row of
the box); keypoint inputs: ``source`` and ``instance_id``.

Errors name the input: unreadable images (:class:`ImageReadError`, a
``FileNotFoundError`` for missing files), bad boxes or keypoints
(:class:`InferenceInputError`, a ``ValueError``), a checkpoint that does
not fit the config (:class:`CheckpointMismatchError`, a
:class:`~mpt_plugin.utils.safe_checkpoint.CheckpointLoadError`), a model of
the other input kind (``TypeError``).
"""
import copy
import os
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmengine.logging import print_log
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData
from mmpose.structures import PoseDataSample
from torch import Tensor, nn

from mpt_plugin.body_models.conventions import (coco17_to_openpose18,
                                                convert_keypoints,
                                                get_keypoint_names,
                                                get_keypoint_num, get_mapping)
from mpt_plugin.datasets.human_data_sequence_dataset import sequence_windows
from mpt_plugin.datasets.key2mesh_keypoints_dataset import \
    Key2MeshKeypointsDataset
from mpt_plugin.geometry.cameras import (SMPL_TO_CAMERA_ROTATION,
                                         camera_crop_to_image,
                                         camera_image_to_crop,
                                         fit_weak_perspective_camera,
                                         smpl_to_camera_axes,
                                         weak_perspective_project)
from mpt_plugin.geometry.keypoints import normalize_keypoints_2d
from mpt_plugin.geometry.rotations import rotate_smpl_root
from mpt_plugin.models.estimators import (Key2MeshEstimator,
                                          MPTFinetuneEstimator,
                                          MPTHandFinetuneEstimator,
                                          MPTPretrainEstimator,
                                          MPTWGANDomainAdaptation)
from mpt_plugin.models.streams import PCHMRKey2MeshStream, PCHMRMPTMeshStream
from mpt_plugin.registry import MODELS
from mpt_plugin.utils.file_io import write_atomic
from mpt_plugin.utils.safe_checkpoint import (CheckpointLoadError,
                                              load_estimator_weights)
from mpt_plugin.visualization.mesh_visualizer import (draw_mesh_overlay,
                                                      load_smpl_faces)

__all__ = [
    'init_model', 'inference_mesh', 'inference_keypoints',
    'model_input_kind', 'load_image', 'check_bboxes', 'make_data_info',
    'mesh_stream_keypoints',
    'track_windows',
    'find_faces', 'write_obj', 'write_ply', 'draw_meshes',
    'ImageReadError', 'InferenceInputError', 'CheckpointMismatchError',
    'BBOX_FORMATS'
]

#: Box layouts accepted by :func:`check_bboxes`.
BBOX_FORMATS = ('xyxy', 'xywh')
#: Transforms of a test pipeline that read a 2D window of the sequence.
_WINDOW_TRANSFORMS = ('MPTMeshSequenceAlign', 'MPTPackMeshSequenceInputs')
#: Smallest |scale| of a weak-perspective camera divided by.
_EPS = 1e-8

ImageLike = Union[str, os.PathLike, np.ndarray]


class ImageReadError(ValueError):
    """An image (or video) exists but cannot be decoded; names the file."""


class InferenceInputError(ValueError):
    """A box, keypoint array or detection file that cannot be used; the
    message names the input (image, box / detection index) and what was
    expected."""


class CheckpointMismatchError(CheckpointLoadError):
    """The checkpoint's weights do not fit the model of the config (missing
    or unexpected keys, other shapes); names both files."""


# ---------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------


def init_model(config: Union[str, os.PathLike, Config],
               checkpoint: Optional[str] = None,
               device: Union[str, torch.device] = 'cpu',
               cfg_options: Optional[dict] = None) -> nn.Module:
    """Build the config's model, load the checkpoint, eval mode.

    Any estimator of the plugin (``MPTFinetuneEstimator``,
    ``MPTPretrainEstimator``, ``Key2MeshEstimator``, ``PCHMREstimator``);
    for an ``MPTWGANDomainAdaptation`` config its ``estimator`` is returned
    (the critic is not needed for inference; the checkpoint's
    ``estimator.*`` weights are loaded into it). With a checkpoint, a
    backbone ``checkpoint`` and a ``source_checkpoint`` of the config are
    not read (the checkpoint holds every weight).

    Args:
        config (str | os.PathLike | Config): Config file or object (not
            modified).
        checkpoint (str, optional): Checkpoint path or URL; read with
            ``torch.load(weights_only=True)`` whatever the environment says
            (:func:`~mpt_plugin.utils.safe_checkpoint.load_estimator_weights`:
            ``state_dict`` inside or the dict itself, ``module.`` and
            ``estimator.`` prefixes removed); every key of the model must be
            there and nothing else. None keeps the initial (random)
            weights.
        device (str | torch.device): Defaults to ``'cpu'``.
        cfg_options (dict, optional): Overrides merged into the config
            (``--cfg-options``).

    Returns:
        nn.Module: The model on ``device`` in eval mode, with ``model.cfg``
        (the merged :class:`Config`).

    Raises:
        CheckpointLoadError: The file is unsafe, corrupt or missing
            (subclasses name the file); :class:`CheckpointMismatchError`
            when its weights do not fit the config's model.
        KeyError: The config has no ``model``.
    """
    if isinstance(config, Config):
        cfg = copy.deepcopy(config)
        name = cfg.filename or '<Config>'
    elif isinstance(config, (str, os.PathLike)):
        name = os.fspath(config)
        cfg = Config.fromfile(name)
    else:
        raise TypeError('config must be a path or an mmengine Config, got '
                        f'{type(config).__name__}')
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if 'model' not in cfg:
        raise KeyError(f'config {name} has no "model"')
    init_default_scope(cfg.get('default_scope', 'mmpose'))
    if checkpoint is not None:
        if 'source_checkpoint' in cfg.model:
            cfg.model.source_checkpoint = None
        backbone = cfg.model.get('backbone')
        if isinstance(backbone, dict) and backbone.get('checkpoint'):
            backbone['checkpoint'] = None
    model = MODELS.build(cfg.model)
    if isinstance(model, MPTWGANDomainAdaptation):
        model = model.estimator
    if checkpoint is not None:
        _load_weights(model, os.fspath(checkpoint), name)
    model.cfg = cfg
    return model.to(device).eval()


def _load_weights(model: nn.Module, checkpoint: str, config: str) -> None:
    """:func:`load_estimator_weights` (missing / unexpected keys and other
    shapes refused) with the mismatch naming both files."""
    try:
        load_estimator_weights(model, checkpoint)
    except CheckpointLoadError:
        raise
    except (KeyError, RuntimeError) as err:
        msg = str(err.args[0]) if isinstance(err, KeyError) else str(err)
        raise CheckpointMismatchError(
            f'checkpoint {checkpoint} does not match the model of config '
            f'{config} ({type(model).__name__}): {msg[:2000]}',
            checkpoint) from None


def model_input_kind(model: nn.Module) -> str:
    """``'image'`` or ``'keypoints'``: what the model reads at inference.

    Raises:
        TypeError: A model that reads MoCap joints / heatmaps only
            (``MPTPretrainEstimator``, PC-HMR with an MPT stream without
            its ``heatmap_estimator``).
    """
    if isinstance(model, Key2MeshEstimator):
        return 'keypoints'
    stream = getattr(model, 'mesh_stream', None)
    if isinstance(stream, PCHMRKey2MeshStream):
        return 'keypoints'
    if isinstance(stream, PCHMRMPTMeshStream) and \
            stream.heatmap_estimator is None:
        raise TypeError(
            f'{type(model).__name__} with a PCHMRMPTMeshStream without a '
            'heatmap_estimator reads MoCap heatmaps, not images; inference '
            'needs an image model (mesh_stream.heatmap_estimator) or a '
            'keypoint model')
    if isinstance(model, MPTPretrainEstimator) and not isinstance(
            model, (MPTFinetuneEstimator, MPTHandFinetuneEstimator)):
        if getattr(model, 'num_mesh_levels', 3) == 2:  # hands
            raise TypeError(
                f'{type(model).__name__} reads hand joints (heatmap tokens), '
                'not images: use its head in MPTHandFinetuneEstimator '
                '(configs/mpt_hand_test_freihand.py) for image inference')
        raise TypeError(
            'MPTPretrainEstimator reads MoCap joints (heatmap tokens), not '
            'images: fine-tune it (MPTFinetuneEstimator, e.g. '
            'configs/mpt_finetune_demo.py) for image inference')
    return 'image'


def _model_cfg(model: nn.Module) -> Config:
    cfg = getattr(model, 'cfg', None)
    if cfg is None:
        raise AttributeError(
            f'{type(model).__name__} has no .cfg; build it with '
            'mpt_plugin.apis.init_model (the test pipeline comes from the '
            'config)')
    return cfg


def _model_device(model: nn.Module) -> torch.device:
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return torch.device('cpu')


def _joint_regressor(model: nn.Module,
                     num_vertices: int) -> Optional[Tensor]:
    """The model's (17, V) H3.6M regressor, or None."""
    reg = getattr(model, 'joint_regressor', None)
    if isinstance(reg, Tensor) and reg.dim() == 2 and \
            reg.shape == (17, num_vertices):
        return reg
    return None


# ---------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------


def load_image(image: ImageLike, name: Optional[str] = None
               ) -> Tuple[np.ndarray, Optional[str]]:
    """An image path or array -> ``(H, W, 3)`` uint8 BGR and its path.

    Args:
        image: A file path, or an ``(H, W, 3)`` BGR / ``(H, W)`` grey
            uint8 array (not copied when already BGR uint8).
        name (str, optional): How to call the input in errors (default:
            the path, or ``'image array'``).

    Returns:
        tuple: ``(img, path)``; ``path`` is None for arrays.

    Raises:
        FileNotFoundError: No such file (message ``cannot read image``).
        ImageReadError: The file does not decode, or a bad array.
    """
    if isinstance(image, (str, os.PathLike)):
        path = os.fspath(image)
        if not osp.isfile(path):
            raise FileNotFoundError(f'cannot read image {path!r}: no such '
                                    'file')
        img = cv2.imread(path, cv2.IMREAD_COLOR)
        if img is None:
            raise ImageReadError(f'cannot read image {path!r}: not an image '
                                 'OpenCV can decode (damaged or another '
                                 'format)')
        if img.size == 0:
            raise ImageReadError(f'cannot read image {path!r}: it is empty')
        return img, path
    where = name or 'image array'
    if isinstance(image, Tensor):
        image = image.detach().cpu().numpy()
    if not isinstance(image, np.ndarray):
        raise ImageReadError(f'{where}: expected a path or an (H, W, 3) '
                             f'uint8 BGR array, got {type(image).__name__}')
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 \
            or image.shape[0] == 0 or image.shape[1] == 0:
        raise ImageReadError(f'{where}: expected an (H, W, 3) uint8 BGR '
                             f'array, got {image.shape} {image.dtype}')
    return image, None


def check_bboxes(bboxes: Any, image_shape: Tuple[int, int],
                 bbox_format: str = 'xyxy',
                 where: str = 'image') -> Tuple[np.ndarray, np.ndarray]:
    """Person boxes -> ``(N, 4)`` xyxy float64 px and ``(N,)`` scores.

    Args:
        bboxes: ``(N, 4)`` or ``(N, 5)`` (score last) boxes, or one box
            ``(4,)`` / ``(5,)``; None = the whole image (score 1).
        image_shape (tuple): ``(H, W)`` of the image.
        bbox_format (str): ``'xyxy'`` (x1, y1, x2, y2) or ``'xywh'`` (x, y,
            w, h), pixels.
        where (str): The image, named in errors.

    Returns:
        tuple: ``xyxy`` (N, 4) and ``scores`` (N,) float64.

    Raises:
        InferenceInputError: Non-numeric, non-finite, zero or negative
            size, or wholly outside the image; names the box index.
    """
    if bbox_format not in BBOX_FORMATS:
        raise ValueError(f'bbox_format must be one of {BBOX_FORMATS}, got '
                         f'{bbox_format!r}')
    height, width = int(image_shape[0]), int(image_shape[1])
    if bboxes is None:
        return (np.array([[0.0, 0.0, float(width), float(height)]]),
                np.ones(1))
    if isinstance(bboxes, Tensor):
        bboxes = bboxes.detach().cpu().numpy()
    try:
        arr = np.array(bboxes, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise InferenceInputError(
            f'{where}: boxes must be a rectangular list of numbers, (N, 4) '
            f'or (N, 5) ({bbox_format}[, score]) px: {err}') from None
    if arr.ndim == 1 and arr.size in (4, 5):
        arr = arr[None]
    if arr.size == 0:
        return np.zeros((0, 4)), np.zeros(0)
    if arr.ndim != 2 or arr.shape[1] not in (4, 5):
        raise InferenceInputError(
            f'{where}: boxes must have shape (N, 4) or (N, 5) '
            f'({bbox_format}[, score]) px, got {arr.shape}')
    scores = arr[:, 4].copy() if arr.shape[1] == 5 else np.ones(len(arr))
    xyxy = arr[:, :4].copy()
    if bbox_format == 'xywh':
        xyxy[:, 2:] += xyxy[:, :2]
    for i, box in enumerate(xyxy):
        text = (f'{where}: box {i} {arr[i, :4].tolist()} ({bbox_format}, '
                f'px)')
        if not np.isfinite(arr[i]).all():
            raise InferenceInputError(f'{text}: values must be finite')
        if not (box[2] > box[0] and box[3] > box[1]):
            raise InferenceInputError(f'{text}: width and height must be '
                                      '> 0')
        if box[0] >= width or box[1] >= height or box[2] <= 0 or \
                box[3] <= 0:
            raise InferenceInputError(
                f'{text}: lies outside the image ({width} x {height} px)')
    return xyxy, scores


def make_data_info(img: np.ndarray, img_path: Optional[str],
                   bbox_xyxy: np.ndarray, num_keypoints: int,
                   scale_factor: float, sample_idx: int = 0) -> dict:
    """A ``data_info`` of the image-sample contract with empty ground truth.

    The crop is the square of side ``max(w, h) * scale_factor`` px centred
    on the box (``MPTHumanDataDataset``'s ``bbox_center`` / ``bbox_scale``).

    Args:
        img (np.ndarray): (H, W, 3) uint8 BGR (shared, not copied).
        img_path (str, optional): Its file, for the metainfo.
        bbox_xyxy (np.ndarray): (4,) px.
        num_keypoints (int): ``K`` of the dataset convention (zeros).
        scale_factor (float): The dataset's ``bbox_scale_factor``.
        sample_idx (int): Stored as ``sample_idx``.

    Returns:
        dict: Ready for the test pipeline (``img`` already loaded).
    """
    x1, y1, x2, y2 = (float(v) for v in bbox_xyxy)
    w, h = x2 - x1, y2 - y1
    zeros = np.zeros
    return dict(
        img=img, img_path=img_path, img_shape=img.shape[:2],
        ori_shape=img.shape[:2], sample_idx=sample_idx,
        dataset_name='inference',
        bbox_xywh=np.array([x1, y1, w, h], np.float32),
        bbox_center=np.array([x1 + w / 2, y1 + h / 2], np.float32),
        bbox_scale=np.float32(max(w, h) * scale_factor),
        keypoints2d=zeros((num_keypoints, 2), np.float32),
        keypoints2d_visible=zeros(num_keypoints, np.float32),
        keypoints3d=zeros((num_keypoints, 3), np.float32),
        keypoints3d_visible=zeros(num_keypoints, np.float32),
        smpl_global_orient=zeros(3, np.float32),
        smpl_body_pose=zeros(69, np.float32),
        smpl_betas=zeros(10, np.float32), has_smpl=np.float32(0),
        gender=-1)


# ---------------------------------------------------------------------------
# Cameras
# ---------------------------------------------------------------------------


# ---------------------------------------------------------------------------
# Output fields
# ---------------------------------------------------------------------------


def _stack(samples: Sequence[PoseDataSample], key: str) -> Optional[Tensor]:
    """(B, ...) float32 CPU tensor of ``pred_instances.key``, or None."""
    if not all(key in s.pred_instances for s in samples):
        return None
    return torch.cat([
        torch.as_tensor(np.asarray(v) if not isinstance(v, Tensor) else v)
        .detach().cpu().float()
        for v in (s.pred_instances.get(key) for s in samples)
    ])


def _box_frame(xyxy: Tensor) -> Tuple[Tensor, Tensor]:
    """(B, 4) boxes -> centre (B, 2) and square side ``max(w, h)`` (B,)."""
    wh = xyxy[:, 2:] - xyxy[:, :2]
    return (xyxy[:, :2] + xyxy[:, 2:]) / 2.0, wh.amax(dim=1)


def _to_numpy_instances(sample: PoseDataSample) -> None:
    pred = sample.pred_instances
    out = InstanceData()
    for key in pred.keys():
        value = pred.get(key)
        if isinstance(value, Tensor):
            value = value.detach().cpu().numpy()
        if isinstance(value, np.ndarray) and value.dtype.kind == 'f':
            value = value.astype(np.float32, copy=False)
        out.set_field(value, key)
    sample.pred_instances = out


def _finish(model: nn.Module, samples: List[PoseDataSample],
            verts: Tensor, joints: Optional[Tensor], camera: Tensor,
            camera_image: Tensor, boxes: Tensor, scores: Tensor,
            smpl: Optional[Dict[str, np.ndarray]] = None) -> None:
    """Writes the documented fields into each sample (in place)."""
    keypoints = (None if joints is None else
                 weak_perspective_project(joints, camera_image))
    for i, sample in enumerate(samples):
        pred = sample.pred_instances
        pred.vertices = verts[i:i + 1]
        pred.camera = camera[i:i + 1]
        pred.camera_image = camera_image[i:i + 1]
        pred.bboxes = boxes[i:i + 1]
        pred.bbox_scores = scores[i:i + 1]
        if keypoints is not None:
            pred.keypoints = keypoints[i:i + 1]
            pred.keypoint_scores = torch.ones(1, keypoints.shape[1])
        if smpl is not None:
            for key, value in smpl.items():
                pred.set_field(value[i:i + 1], key)
        if 'gt_instances' in sample:
            del sample.gt_instances
        _to_numpy_instances(sample)


def _finish_image_samples(model: nn.Module,
                          samples: List[PoseDataSample],
                          boxes: np.ndarray, scores: np.ndarray) -> None:
    """Image models: crop camera -> image camera, 2D keypoints."""
    verts = _stack(samples, 'vertices')
    camera = _stack(samples, 'camera')
    if verts is None or camera is None:
        raise RuntimeError(
            f'{type(model).__name__}.predict gave no pred_instances.vertices'
            ' / camera; inference_mesh needs both (the image-sample '
            'contract)')
    camera = camera.reshape(len(samples), -1)[:, :3]
    for sample in samples:
        if float(sample.metainfo.get('rotation', 0.0)) != 0.0:
            raise RuntimeError('the test pipeline rotated a crop; inference '
                               'needs an axis-aligned crop (no '
                               'MPTMeshRandomScaleRotation)')
    center = torch.tensor(np.stack([
        np.asarray(s.metainfo['bbox_center'], np.float64) for s in samples
    ]), dtype=torch.float32)
    side = torch.tensor([
        float(np.asarray(s.metainfo['bbox_scale']).reshape(()))
        for s in samples
    ], dtype=torch.float32)
    camera_image = camera_crop_to_image(camera, center, side)
    reg = _joint_regressor(model, verts.shape[1])
    if reg is not None:
        joints = torch.einsum('jv,bvc->bjc', reg.detach().cpu().float(),
                              verts)
    else:  # PC-HMR's calibrated joints, or a hand's 21 (hand_21)
        joints = _stack(samples, 'joints_h36m')
        if joints is None:
            joints = _stack(samples, 'joints_freihand')
    _finish(model, samples, verts, joints, camera, camera_image,
            torch.as_tensor(boxes, dtype=torch.float32),
            torch.as_tensor(scores, dtype=torch.float32))


def mesh_stream_keypoints(model: nn.Module,
                          samples: Sequence[PoseDataSample]) -> np.ndarray:
    """The mesh stream's H3.6M 2D of finished samples (image px).

    The joints regressed from ``vertices_uncalibrated`` (PC-HMR; else
    ``vertices``) seen by ``camera_image``: the per-frame 2D a video
    lifter's window is made of at inference (no 2D detector).

    Args:
        model (nn.Module): The model (its H3.6M regressor).
        samples: :func:`inference_mesh` outputs.

    Returns:
        np.ndarray: (N, 17, 2) float32 px.
    """
    if not samples:
        return np.zeros((0, 17, 2), np.float32)
    key = ('vertices_uncalibrated' if all(
        'vertices_uncalibrated' in s.pred_instances for s in samples) else
        'vertices')
    verts = _stack(samples, key)
    reg = _joint_regressor(model, verts.shape[1])
    if reg is None:
        raise RuntimeError(f'{type(model).__name__} has no (17, V) '
                           'joint_regressor for the 2D window')
    joints = torch.einsum('jv,bvc->bjc', reg.detach().cpu().float(), verts)
    cam = _stack(samples, 'camera_image')
    return weak_perspective_project(joints, cam).numpy().astype(np.float32)


# ---------------------------------------------------------------------------
# inference_mesh
# ---------------------------------------------------------------------------


def _test_pipeline_cfg(cfg: Config) -> Tuple[list, dict]:
    try:
        dataset = cfg.test_dataloader.dataset
        pipeline = list(dataset.pipeline)
    except (AttributeError, KeyError, TypeError):
        raise KeyError(f'config {cfg.filename}: no test_dataloader.dataset.'
                       'pipeline (LoadImage -> MPTMeshAffine -> '
                       'MPTPackMeshInputs) to crop the people') from None
    types = [str(t.get('type', '')).split('.')[-1] for t in pipeline]
    if 'MPTMeshAffine' not in types and 'MeshAffine' not in types:
        raise KeyError(f'config {cfg.filename}: the test pipeline {types} has'
                       ' no MPTMeshAffine: it does not crop people from '
                       'images (an image model is needed)')
    return pipeline, dataset


def _pipeline_num_keypoints(pipeline: list) -> Optional[int]:
    """``num_keypoints`` of the pipeline's ``MPTPackMeshInputs`` (a hand
    pipeline packs 21), or None when it infers them."""
    for t in pipeline:
        if str(t.get('type', '')).split('.')[-1] in ('MPTPackMeshInputs',
                                                     'PackMeshInputs'):
            num = t.get('num_keypoints')
            return None if num is None else int(num)
    return None


def _window_spec(model: nn.Module, pipeline: list) -> Optional[Tuple[int,
                                                                     int]]:
    """``(T, K)`` when the pipeline packs 2D windows, else None."""
    found = [t for t in pipeline
             if str(t.get('type', '')).split('.')[-1] in _WINDOW_TRANSFORMS]
    if not found:
        return None
    conv = next((t.get('convention') for t in found
                 if t.get('convention')), 'h36m')
    seq_len = int(getattr(model, 'lifter_seq_len', 1))
    return seq_len, get_keypoint_num(conv)


class _Record:
    """One person to crop: its data_info and where it came from."""
    __slots__ = ('info', 'image_index', 'person_id', 'box', 'score')

    def __init__(self, info, image_index, person_id, box, score):
        self.info = info
        self.image_index = image_index
        self.person_id = person_id
        self.box = box
        self.score = score


def _run_records(model: nn.Module, pipeline: Compose,
                 records: List[_Record],
                 windows: Optional[List[np.ndarray]],
                 return_inputs: bool) -> List[PoseDataSample]:
    """Pipeline + ``test_step`` on one batch; finished samples."""
    packed = []
    for k, rec in enumerate(records):
        info = dict(rec.info)
        if windows is not None:
            info['keypoints2d_seq'] = windows[k]
            info['keypoints2d_seq_visible'] = np.ones(
                windows[k].shape[:2], np.float32)
        out = pipeline(info)
        if out is None:
            raise RuntimeError(f'the test pipeline dropped the sample of '
                               f'image {rec.image_index} box '
                               f'{rec.person_id}')
        gt = out['data_samples'].gt_instances
        kept = InstanceData()
        for key in gt.keys():
            if key.startswith('keypoints2d_seq'):
                kept.set_field(gt.get(key), key)
        out['data_samples'].gt_instances = kept
        packed.append(out)
    with torch.no_grad():
        results = model.test_step(pseudo_collate(packed))
    if len(results) != len(records):
        raise RuntimeError(f'{type(model).__name__}.test_step returned '
                           f'{len(results)} samples for {len(records)}')
    for rec, sample, item in zip(records, results, packed):
        sample.set_metainfo(dict(image_index=rec.image_index,
                                 person_id=rec.person_id))
        if return_inputs:
            sample.set_field(item['inputs'], 'input_crop')
    _finish_image_samples(model, results,
                          np.stack([r.box for r in records]),
                          np.array([r.score for r in records]))
    return results


def inference_mesh(model: nn.Module,
                   img: Union[ImageLike, Sequence[ImageLike]],
                   bboxes: Any = None,
                   bbox_format: str = 'xyxy',
                   batch_size: int = 16,
                   keypoints2d_seq: Any = None,
                   return_inputs: bool = False
                   ) -> Union[List[PoseDataSample],
                              List[List[PoseDataSample]]]:
    """Meshes of the people in an image (or a list of images).

    Args:
        model (nn.Module): An image model from :func:`init_model`.
        img: Path or ``(H, W, 3)`` uint8 BGR array; or a list of them.
        bboxes: Per image ``(N, 4)`` / ``(N, 5)`` boxes in ``bbox_format``
            px (score last); None = the whole image. For a list of images,
            a list (one entry, possibly None, per image).
        bbox_format (str): ``'xyxy'`` or ``'xywh'``.
        batch_size (int): People per ``test_step`` on the model's device.
        keypoints2d_seq: Video lifters only (a test pipeline with
            ``MPTPackMeshSequenceInputs``): per image ``(N, T, K, 2)`` 2D
            windows (original px, centre = this frame) of each box, as
            :class:`~mpt_plugin.apis.MeshInferencer` builds for videos.
            None: the model first runs with empty windows, then each
            person's window is its own mesh-stream 2D
            (:func:`mesh_stream_keypoints`) replicated over ``T`` frames (a
            static sequence).
        return_inputs (bool): Keep each packed crop as the sample field
            ``input_crop`` ((3, S, S) uint8 BGR tensor).

    Returns:
        list[PoseDataSample] for one image (one per box, in box order), or
        a list of such lists for a list of images; fields in the module
        docstring.

    Raises:
        FileNotFoundError, ImageReadError: An image cannot be read.
        InferenceInputError: A bad box (names the image and box index).
        TypeError: The model reads keypoints (use
            :func:`inference_keypoints`) or MoCap joints.
    """
    kind = model_input_kind(model)
    if kind != 'image':
        raise TypeError(f'{type(model).__name__} reads 2D keypoints, not '
                        'images: use inference_keypoints')
    if int(batch_size) < 1:
        raise ValueError(f'batch_size must be >= 1, got {batch_size}')
    single = not isinstance(img, (list, tuple))
    images = [img] if single else list(img)
    if single:
        boxes_list, seq_list = [bboxes], [keypoints2d_seq]
    else:
        boxes_list = ([None] * len(images) if bboxes is None else
                      list(bboxes))
        seq_list = ([None] * len(images) if keypoints2d_seq is None else
                    list(keypoints2d_seq))
        if len(boxes_list) != len(images) or len(seq_list) != len(images):
            raise InferenceInputError(
                f'{len(images)} images but {len(boxes_list)} box entries and '
                f'{len(seq_list)} window entries: give one (or None) per '
                'image')
    cfg = _model_cfg(model)
    pipeline_cfg, dataset_cfg = _test_pipeline_cfg(cfg)
    pipeline = Compose(pipeline_cfg)
    num_kps = _pipeline_num_keypoints(pipeline_cfg) or get_keypoint_num(
        dataset_cfg.get('convention', 'h36m'))
    scale_factor = float(dataset_cfg.get('bbox_scale_factor', 1.0))
    window = _window_spec(model, pipeline_cfg)

    outputs: List[List[PoseDataSample]] = [[] for _ in images]
    pending: List[_Record] = []
    pending_windows: List[Optional[np.ndarray]] = []

    def flush():
        if not pending:
            return
        if window is None:
            done = _run_records(model, pipeline, pending, None,
                                return_inputs)
        elif all(w is not None for w in pending_windows):
            done = _run_records(model, pipeline, pending, pending_windows,
                                return_inputs)
        else:  # static windows from a first pass with empty ones
            seq_len, num = window
            empty = [np.zeros((seq_len, num, 2), np.float32)] * len(pending)
            first = _run_records(model, pipeline, pending, empty, False)
            kp2d = mesh_stream_keypoints(model, first)
            if kp2d.shape[1] != num:
                raise RuntimeError(f'the test pipeline packs {num}-joint '
                                   'windows, the model regresses '
                                   f'{kp2d.shape[1]} joints')
            static = [np.repeat(k[None], seq_len, 0) for k in kp2d]
            given = [w if w is not None else s
                     for w, s in zip(pending_windows, static)]
            done = _run_records(model, pipeline, pending, given,
                                return_inputs)
        for rec, sample in zip(pending, done):
            outputs[rec.image_index].append(sample)
        pending.clear()
        pending_windows.clear()

    for index, (image, boxes, seq) in enumerate(
            zip(images, boxes_list, seq_list)):
        name = (os.fspath(image) if isinstance(image, (str, os.PathLike))
                else f'image {index}')
        arr, path = load_image(image, name)
        xyxy, scores = check_bboxes(boxes, arr.shape[:2], bbox_format, name)
        if seq is not None:
            if window is None:
                raise InferenceInputError(
                    f'{name}: keypoints2d_seq given but the test pipeline '
                    'packs no 2D window (not a video lifter)')
            seq = np.asarray(seq, np.float32)
            expected = (len(xyxy), window[0], window[1], 2)
            if seq.shape != expected:
                raise InferenceInputError(
                    f'{name}: keypoints2d_seq must have shape (N boxes, T, '
                    f'K, 2) = {expected}, got {seq.shape}')
        for j, (box, score) in enumerate(zip(xyxy, scores)):
            info = make_data_info(arr, path, box, num_kps, scale_factor,
                                  sample_idx=index)
            pending.append(_Record(info, index, j, box, float(score)))
            pending_windows.append(None if seq is None else seq[j])
            if len(pending) >= batch_size:
                flush()
    flush()
    return outputs[0] if single else outputs


# ---------------------------------------------------------------------------
# inference_keypoints
# ---------------------------------------------------------------------------


def _keypoint_model_parts(model: nn.Module) -> Tuple[str, float]:
    """The regressor's input convention and the normalisation threshold."""
    if isinstance(model, Key2MeshEstimator):
        regressor = model.regressor
    else:
        regressor = model.mesh_stream.regressor
        if getattr(model, 'lifter_input_frame', 'crop') != 'crop':
            raise TypeError(
                f'{type(model).__name__} with lifter_input_frame='
                f'{model.lifter_input_frame!r} needs image samples; keypoint '
                "inference needs lifter_input_frame='crop' (the Key2Mesh "
                'unit box as the lifter\'s image)')
    threshold = float(getattr(model.data_preprocessor, 'conf_threshold',
                              0.1))
    return str(regressor.input_convention), threshold


def _detections_from_samples(samples: Sequence[PoseDataSample]) -> dict:
    kps, scores, boxes, sources, ids = [], [], [], [], []
    for i, sample in enumerate(samples):
        pred = sample.get('pred_instances')
        if pred is None or 'keypoints' not in pred:
            raise InferenceInputError(
                f'PoseDataSample {i}: no pred_instances.keypoints (M, K, 2)')
        kp = np.asarray(_numpy(pred.keypoints), np.float64)
        if kp.ndim == 2:
            kp = kp[None]
        sc = (np.asarray(_numpy(pred.keypoint_scores), np.float64)
              if 'keypoint_scores' in pred else np.ones(kp.shape[:2]))
        sc = sc.reshape(kp.shape[0], -1) if sc.size else sc
        bb = (np.asarray(_numpy(pred.bboxes), np.float64).reshape(-1, 4)
              if 'bboxes' in pred else np.full((len(kp), 4), np.nan))
        if sc.shape != kp.shape[:2] or len(bb) != len(kp):
            raise InferenceInputError(
                f'PoseDataSample {i}: keypoints {kp.shape}, keypoint_scores '
                f'{sc.shape} and bboxes {bb.shape} do not agree (M, K, 2), '
                '(M, K), (M, 4)')
        kps.append(kp)
        scores.append(sc)
        boxes.append(bb)
        path = sample.metainfo.get('img_path')
        sources += [path if path else f'sample {i}'] * len(kp)
        ids += list(range(len(kp)))
    if not kps:
        raise InferenceInputError('no PoseDataSample given')
    return dict(keypoints=np.concatenate(kps), scores=np.concatenate(scores),
                bboxes=np.concatenate(boxes), sources=sources,
                instance_ids=ids, frame_ids=None)


def _numpy(value: Any) -> np.ndarray:
    if isinstance(value, Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _detections_from_json(path: str, convention: str, target: str,
                          threshold: float) -> dict:
    """An MMPose predictions JSON (every layout of
    :class:`Key2MeshKeypointsDataset`), converted to ``target``."""
    if not osp.exists(path):
        raise FileNotFoundError(f'detection file not found: {path}')
    dataset = Key2MeshKeypointsDataset(
        ann_file=path, data_format='mmpose_json',
        keypoint_convention=convention, target_convention=target,
        score_threshold=threshold, min_visible_joints=0,
        conf_threshold=threshold, instance_selection='all', verbose=False,
        on_bad_sample='raise')
    stats = dataset.filter_stats
    if stats['kept'] < stats['total']:
        dropped = stats['total'] - stats['kept']
        print_log(f'inference_keypoints: {path}: {dropped} of '
                  f'{stats["total"]} detections have no joint and are '
                  f'skipped ({stats})', logger='current')
    items = [dataset[i]['data_samples'] for i in range(len(dataset))]
    num_k = get_keypoint_num(target)
    kps = np.stack([np.asarray(_numpy(d['keypoints2d_px']), np.float64)
                    for d in items]) if items else np.zeros((0, num_k, 2))
    scores = np.stack([np.asarray(_numpy(d['keypoint_scores']), np.float64)
                       for d in items]) if items else np.zeros((0, num_k))
    boxes = np.stack([
        np.asarray(_numpy(d['bbox_xyxy']), np.float64)
        if bool(d['has_bbox']) else np.full(4, np.nan) for d in items
    ]) if items else np.zeros((0, 4))
    groups = [int(d['source_index']) for d in items]
    return dict(keypoints=kps, scores=scores, bboxes=boxes,
                sources=[dataset.sources[g] for g in groups],
                instance_ids=[int(d['instance_index']) for d in items],
                frame_ids=groups, converted=True)


def _to_model_convention(kps: Tensor, scores: Tensor, src: str, dst: str,
                         threshold: float) -> Tuple[Tensor, Tensor]:
    """(N, K_src, 2) px + (N, K_src) -> the regressor's convention."""
    if src == dst:
        return kps, scores
    if src == 'coco' and dst == 'openpose_coco18':
        joined = torch.cat([kps, scores[..., None]], dim=-1)
        out, mask = coco17_to_openpose18(joined, scores >= threshold)
        return out[..., :2], torch.where(mask, out[..., 2],
                                         torch.zeros_like(out[..., 2]))
    joined = torch.cat([kps, scores[..., None]], dim=-1)
    out, mask = convert_keypoints(joined, src, dst, approximate=True)
    return out[..., :2], out[..., 2] * mask.to(out)


def inference_keypoints(model: nn.Module,
                        keypoints: Any,
                        scores: Any = None,
                        convention: str = 'coco',
                        image_size: Optional[Tuple[int, int]] = None,
                        bboxes: Any = None,
                        batch_size: int = 256) -> List[PoseDataSample]:
    """Meshes of 2D detections with a keypoint model.

    The detections are converted to the regressor's input convention
    (COCO-17 -> OpenPose-18 with :func:`coco17_to_openpose18`, others by
    joint name), normalised as ``Key2MeshDataPreprocessor``'s keypoint path
    does (:func:`normalize_keypoints_2d`, the preprocessor's
    ``conf_threshold``; called here so that models whose preprocessor only
    synthesises pairs, e.g. the PC-HMR demo's, work too) and predicted in
    batches of ``batch_size`` on the model's device.

    Args:
        model (nn.Module): A keypoint model from :func:`init_model`
            (``Key2MeshEstimator``, ``PCHMREstimator`` with a
            ``PCHMRKey2MeshStream`` and ``lifter_input_frame='crop'``).
        keypoints: One of

            - ``(N, K, 2)`` px or ``(N, K, 3)`` px + score array / tensor
              (one detection per row);
            - a list of MMPose ``PoseDataSample`` (``pred_instances``:
              ``keypoints`` (M, K, 2), ``keypoint_scores`` (M, K),
              optional ``bboxes`` (M, 4) xyxy): one mesh per instance;
            - a path to an MMPose predictions JSON (``MMPoseInferencer``'s
              ``pred_out_dir`` files, image or video; every layout of
              :class:`~mpt_plugin.datasets.Key2MeshKeypointsDataset`), or a
              folder of them: one mesh per detection (detections without
              any joint are skipped with a log line).
        scores: ``(N, K)`` confidences for a 2-channel array (default: the
            third channel, else ones).
        convention (str): Joint convention of the detections (default
            MMPose's ``'coco'``); ``K`` must match it.
        image_size (tuple, optional): ``(width, height)`` of the image the
            detections are in: a detection whose confident joints all lie
            outside it is refused (wrong coordinates); stored as
            ``ori_shape``.
        bboxes: ``(N, 4)`` xyxy px person boxes of an array input (default:
            the extent of the confident joints).
        batch_size (int): Detections per forward pass.

    Returns:
        list[PoseDataSample]: One per detection, in input order (fields in
        the module docstring; the crop frame of ``camera`` is the square
        around ``bboxes``). Metainfo: ``source`` (image / frame name),
        ``instance_id``, ``frame_id`` (JSON: the image / frame group).

    Raises:
        InferenceInputError: Wrong shape or joint count for ``convention``
            (names the input), non-finite values, detections off the image.
        Key2MeshKeypointsFormatError: A JSON file breaks every accepted
            layout (names the file, image, instance and key).
        TypeError: An image model (use :func:`inference_mesh`).
    """
    if model_input_kind(model) != 'keypoints':
        raise TypeError(f'{type(model).__name__} reads images, not 2D '
                        'keypoints: use inference_mesh')
    if int(batch_size) < 1:
        raise ValueError(f'batch_size must be >= 1, got {batch_size}')
    target, threshold = _keypoint_model_parts(model)
    num_k = get_keypoint_num(convention)  # KeyError for unknown names
    converted = False
    if isinstance(keypoints, (str, os.PathLike)):
        det = _detections_from_json(os.fspath(keypoints), convention, target,
                                    threshold)
        converted = True
        where = os.fspath(keypoints)
    elif isinstance(keypoints, (list, tuple)) and keypoints and all(
            isinstance(s, PoseDataSample) for s in keypoints):
        det = _detections_from_samples(keypoints)
        where = 'PoseDataSamples'
    else:
        kp = np.asarray(_numpy(keypoints), np.float64)
        where = 'keypoints'
        if kp.ndim == 2:
            kp = kp[None]
        if kp.ndim != 3 or kp.shape[2] not in (2, 3):
            raise InferenceInputError(
                f'keypoints must have shape (N, K, 2) or (N, K, 3) px, got '
                f'{kp.shape}')
        if scores is not None:
            sc = np.asarray(_numpy(scores), np.float64).reshape(
                kp.shape[0], -1)
        elif kp.shape[2] == 3:
            sc = kp[..., 2]
        else:
            sc = np.ones(kp.shape[:2])
        bb = (np.full((len(kp), 4), np.nan) if bboxes is None else
              np.asarray(_numpy(bboxes), np.float64).reshape(-1, 4))
        if sc.shape != kp.shape[:2] or len(bb) != len(kp):
            raise InferenceInputError(
                f'keypoints {kp.shape}, scores {sc.shape} and bboxes '
                f'{bb.shape} do not agree: (N, K, 2|3), (N, K), (N, 4)')
        det = dict(keypoints=kp[..., :2], scores=sc, bboxes=bb,
                   sources=['keypoints'] * len(kp),
                   instance_ids=list(range(len(kp))), frame_ids=None)
    kps, scs = det['keypoints'], det['scores']
    if not converted and kps.shape[1] != num_k:
        first = ', '.join(get_keypoint_names(convention)[:4])
        raise InferenceInputError(
            f'{where}: {kps.shape[1]} joints per detection, but convention '
            f'{convention!r} has {num_k} ({first}, ...); pass the '
            'convention of the detector')
    if len(kps) == 0:
        return []
    mask = scs >= threshold
    bad = ~np.isfinite(kps).all(-1) & mask | ~np.isfinite(scs)
    if bad.any():
        i, k = np.argwhere(bad)[0]
        raise InferenceInputError(
            f'{where}: detection {i} ({det["sources"][i]}) joint {k} has a '
            'non-finite coordinate or score')
    if image_size is not None:
        width, height = (float(v) for v in image_size)
        inside = ((kps[..., 0] >= -0.5) & (kps[..., 0] <= width - 0.5) &
                  (kps[..., 1] >= -0.5) & (kps[..., 1] <= height - 0.5))
        off = mask.any(1) & ~(inside & mask).any(1)
        if off.any():
            i = int(np.flatnonzero(off)[0])
            raise InferenceInputError(
                f'{where}: detection {i} ({det["sources"][i]}): every '
                f'confident joint lies outside the {width:g} x {height:g} '
                'image (are they pixels of this image?)')
    kps_t = torch.as_tensor(np.nan_to_num(kps), dtype=torch.float32)
    scs_t = torch.as_tensor(scs, dtype=torch.float32)
    if not converted:
        kps_t, scs_t = _to_model_convention(kps_t, scs_t, convention, target,
                                            threshold)
    boxes = _detection_boxes(det['bboxes'], kps_t, scs_t >= threshold)
    device = _model_device(model)
    results: List[PoseDataSample] = []
    for start in range(0, len(kps_t), int(batch_size)):
        stop = min(start + int(batch_size), len(kps_t))
        results += _run_keypoint_batch(
            model, kps_t[start:stop], scs_t[start:stop], boxes[start:stop],
            target, threshold, device)
    for i, sample in enumerate(results):
        meta = dict(source=det['sources'][i],
                    instance_id=int(det['instance_ids'][i]))
        if det.get('frame_ids') is not None:
            meta['frame_id'] = int(det['frame_ids'][i])
        if image_size is not None:
            meta['ori_shape'] = (int(image_size[1]), int(image_size[0]))
        sample.set_metainfo(meta)
    return results


def _detection_boxes(given: np.ndarray, kps: Tensor,
                     mask: Tensor) -> Tensor:
    """(N, 4) xyxy: the given box, else the confident joints' extent."""
    big = torch.finfo(kps.dtype).max
    m = mask | ~mask.any(dim=1, keepdim=True)  # none confident: all joints
    lo = kps.masked_fill(~m[..., None], big).amin(dim=1)
    hi = kps.masked_fill(~m[..., None], -big).amax(dim=1)
    hi = torch.maximum(hi, lo + 1.0)  # at least 1 px
    extent = torch.cat([lo, hi], dim=1)
    given_t = torch.as_tensor(given, dtype=kps.dtype)
    ok = torch.isfinite(given_t).all(dim=1) & \
        (given_t[:, 2] > given_t[:, 0]) & (given_t[:, 3] > given_t[:, 1])
    return torch.where(ok[:, None], given_t, extent)


def _run_keypoint_batch(model: nn.Module, kps: Tensor, scores: Tensor,
                        boxes: Tensor, convention: str, threshold: float,
                        device: torch.device) -> List[PoseDataSample]:
    """Normalise, predict and finish one batch of detections."""
    kp_norm, mask = normalize_keypoints_2d(kps, scores, threshold)
    with torch.no_grad():
        samples = model(kp_norm.to(device), dict(keypoints_mask=mask.to(
            device)), mode='predict')
    verts = _stack(samples, 'vertices')
    if getattr(model, 'output_frame', 'camera') == 'smpl':
        verts = smpl_to_camera_axes(verts)
    reg = _joint_regressor(model, verts.shape[1])
    if reg is None:
        raise RuntimeError(f'{type(model).__name__} has no (17, V) '
                           'joint_regressor')
    joints = torch.einsum('jv,bvc->bjc', reg.detach().cpu().float(), verts)
    pelvis = joints[:, :1]
    verts, joints = verts - pelvis, joints - pelvis
    dst_idx, src_idx = get_mapping('h36m', convention, approximate=True)
    camera_image = fit_weak_perspective_camera(
        joints[:, src_idx], kps[:, dst_idx], mask[:, dst_idx].float(),
        min_scale=_EPS)
    center, side = _box_frame(boxes)
    camera = camera_image_to_crop(camera_image, center, side)
    for i, sample in enumerate(samples):  # in the frame of ``vertices``
        sample.pred_instances.joints_h36m = joints[i:i + 1]
    smpl = None
    pose = _stack(samples, 'pose_aa')
    betas = _stack(samples, 'betas')
    if isinstance(model, Key2MeshEstimator) and pose is not None and \
            betas is not None:
        pose = pose.double().numpy()
        if getattr(model, 'output_frame', 'camera') == 'smpl':
            pose = rotate_smpl_root(pose, SMPL_TO_CAMERA_ROTATION)
        smpl = dict(smpl_global_orient=pose[:, :3].astype(np.float32),
                    smpl_body_pose=pose[:, 3:72].astype(np.float32),
                    smpl_betas=betas.numpy().astype(np.float32))
    for sample in samples:
        for key in ('pose_aa', 'betas'):
            if key in sample.pred_instances:
                sample.pred_instances.pop(key)
    _finish(model, samples, verts, joints, camera, camera_image, boxes,
            torch.ones(len(samples)), smpl)
    return samples


# ---------------------------------------------------------------------------
# Faces, mesh files, overlays
# ---------------------------------------------------------------------------


def find_faces(model: nn.Module, cfg: Optional[Config] = None,
               body_model_path: Optional[str] = None) -> np.ndarray:
    """Faces (F, 3) int64 of the predicted meshes.

    From the first submodule with a ``faces`` (F, 3) array (the SMPL
    layer), else from ``model.body_model.model_path`` of ``cfg`` (default
    ``model.cfg``), else from ``body_model_path``.
    """
    for module in model.modules():
        faces = getattr(module, 'faces', None)
        if isinstance(faces, Tensor):
            faces = faces.detach().cpu().numpy()
        if isinstance(faces, np.ndarray) and faces.ndim == 2 and \
                faces.shape[1] == 3:
            return faces.astype(np.int64)
    path = body_model_path
    cfg = cfg if cfg is not None else getattr(model, 'cfg', None)
    if path is None and cfg is not None:
        body_model = cfg.model.get('body_model', None) or {}
        path = body_model.get('model_path', None)
    if path is None:
        raise ValueError('cannot find the mesh faces: the model has no SMPL '
                         'layer and the config no model.body_model.model_path;'
                         ' pass body_model_path (--body-model-path)')
    return load_smpl_faces(path)


def _y_up(vertices: np.ndarray) -> np.ndarray:
    """Camera axes (y down) -> y up for mesh viewers (180 deg about x)."""
    return smpl_to_camera_axes(np.asarray(vertices, np.float64).reshape(-1,
                                                                        3))


def _write_text(path: str, text: str) -> None:
    """``text`` to ``path``, atomically (temporary file, then rename)."""

    def writer(tmp: str) -> None:
        with open(tmp, 'w', encoding='utf-8') as fh:
            fh.write(text)

    write_atomic(path, writer)


def write_obj(path: str, vertices: np.ndarray, faces: np.ndarray) -> None:
    """Wavefront OBJ, written atomically: ``v`` lines (metres, turned 180
    degrees about x into a y-up frame so viewers show the body upright) and
    1-based ``f`` lines.

    Args:
        path (str): Output ``.obj``.
        vertices (np.ndarray): (V, 3) metres, camera axes.
        faces (np.ndarray): (F, 3) 0-based indices.
    """
    verts = _y_up(vertices)
    lines = ['# mpt_plugin: predicted mesh, metres, pelvis-centred, y up']
    lines += [f'v {x:.6f} {y:.6f} {z:.6f}' for x, y, z in verts]
    lines += [f'f {a + 1} {b + 1} {c + 1}' for a, b, c in faces]
    _write_text(path, '\n'.join(lines) + '\n')


def write_ply(path: str, vertices: np.ndarray, faces: np.ndarray) -> None:
    """ASCII PLY (same frame as :func:`write_obj`), written atomically.

    Args:
        path (str): Output ``.ply``.
        vertices (np.ndarray): (V, 3) metres, camera axes.
        faces (np.ndarray): (F, 3) 0-based indices.
    """
    verts = _y_up(vertices)
    faces = np.asarray(faces, np.int64)
    header = ['ply', 'format ascii 1.0',
              'comment mpt_plugin: predicted mesh, metres, pelvis-centred, '
              'y up', f'element vertex {len(verts)}', 'property float x',
              'property float y', 'property float z',
              f'element face {len(faces)}',
              'property list uchar int vertex_indices', 'end_header']
    lines = header + [f'{x:.6f} {y:.6f} {z:.6f}' for x, y, z in verts]
    lines += [f'3 {a} {b} {c}' for a, b, c in faces]
    _write_text(path, '\n'.join(lines) + '\n')


def draw_meshes(image: np.ndarray, samples: Sequence[PoseDataSample],
                faces: np.ndarray, alpha: float = 0.8) -> np.ndarray:
    """The predicted meshes over the whole image.

    Each person's ``camera_image`` ``x_px = s_px (X + t)`` is drawn by
    :func:`~mpt_plugin.visualization.mesh_visualizer.draw_mesh_overlay`
    as the weak-perspective camera of a virtual square crop of side
    ``S = max(H, W)`` at the image origin (``s = 2 s_px / S``,
    ``t - (S - 1) / (2 s_px)``: its crop pixels are the image's pixels).
    People are drawn far to near (increasing ``s_px``).

    Args:
        image (np.ndarray): (H, W, 3) uint8 BGR.
        samples: Finished samples (``vertices``, ``camera_image``).
        faces (np.ndarray): (F, 3).
        alpha (float): Mesh opacity.

    Returns:
        np.ndarray: (H, W, 3) uint8 BGR.
    """
    canvas = np.ascontiguousarray(image[..., ::-1])  # RGB for the colours
    size = float(max(image.shape[:2]))
    order = sorted(range(len(samples)), key=lambda i: float(
        samples[i].pred_instances.camera_image[0, 0]))
    for i in order:
        pred = samples[i].pred_instances
        s_px, tx, ty = (float(v) for v in np.reshape(pred.camera_image, -1))
        if not np.isfinite([s_px, tx, ty]).all() or s_px <= 0:
            continue  # a mirrored or degenerate camera cannot be drawn
        offset = (size - 1.0) / (2.0 * s_px)
        cam = np.array([2.0 * s_px / size, tx - offset, ty - offset])
        canvas = draw_mesh_overlay(canvas, pred.vertices[0], cam, faces,
                                   alpha=alpha, crop_size=size)
    return np.ascontiguousarray(canvas[..., ::-1])


def track_windows(person_ids: np.ndarray, frame_ids: np.ndarray,
                  keypoints: np.ndarray, seq_len: int) -> np.ndarray:
    """The 2D window of every row within its own person track.

    Rows of one ``person_id`` form a track ordered by frame; the window of
    a row takes the rows ``-T // 2 .. T // 2`` positions away in its track,
    clamped to the track's ends (edge replication, as VideoPose3D pads and
    as :func:`~mpt_plugin.datasets.human_data_sequence_dataset.
    sequence_windows`, which computes the rows, does for datasets).

    Args:
        person_ids (np.ndarray): (N,) int track of each row.
        frame_ids (np.ndarray): (N,) int frame of each row (unique within a
            track).
        keypoints (np.ndarray): (N, K, 2) 2D of each row, px.
        seq_len (int): ``T``, odd.

    Returns:
        np.ndarray: (N, T, K, 2) float32, the centre frame at ``T // 2``.
    """
    if len(person_ids) == 0:
        return np.zeros((0, seq_len) + keypoints.shape[1:], np.float32)
    rows, _ = sequence_windows(person_ids, frame_ids, seq_len,
                               source='video')
    return keypoints[rows].astype(np.float32)
