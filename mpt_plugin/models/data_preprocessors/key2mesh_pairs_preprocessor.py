"""Key2Mesh synthetic (2D keypoints, SMPL) pairs, made on the device.

The loader (:class:`mpt_plugin.datasets.Key2MeshAMASSPairsDataset`) carries
only the randomly rotated SMPL parameters (82 floats per sample). This
preprocessor poses the body model once per batch on the training device
and synthesises Key2Mesh's inputs (paper sec. 3.2, released code):

1. OpenPose-18 joints ``keypoints3d`` (B, 18, 3) in metres from the
   ``smpl_45`` joints of the untranslated SMPL body (``SMPL45_TO_OPENPOSE18``,
   the mapping :class:`Key2MeshRegressor` uses for its predictions);
2. fixed camera ``u = f X / (d - Z)``, ``v = -f Y / (d - Z)`` (f = 256 px,
   d = 6 m) -> ``keypoints2d_px`` (B, 18, 2) pixels;
3. training only: integer-pixel jitter ``round(jitter_std * N(0, I2))`` and
   occlusion, confidence ``~ Bernoulli(1 - occlusion_prob)`` per joint;
4. :func:`normalize_keypoints_2d` with threshold 0.1: occluded joints
   become 0.5.
"""
from typing import Any, Dict, Tuple, Union

import torch
from mmengine.model import BaseDataPreprocessor
from torch import Tensor

from mpt_plugin.body_models import MPTSMPL  # noqa: F401 (registers it)
from mpt_plugin.body_models.conventions import SMPL45_TO_OPENPOSE18
from mpt_plugin.geometry.cameras import smpl_to_camera_axes
from mpt_plugin.geometry.keypoints import (normalize_keypoints_2d,
                                           synthesize_keypoints_2d)
from mpt_plugin.registry import MODELS
from ..utils.batch_fields import stack_fields

__all__ = ['Key2MeshPairsPreprocessor']

_TARGETS_2D = ('clean', 'noisy')


@MODELS.register_module()
class Key2MeshPairsPreprocessor(BaseDataPreprocessor):
    """Body model + fixed camera + noise: Key2Mesh's synthetic pairs.

    Input (``data`` from the dataloader, default or pseudo collate):

    - ``data['inputs']``: dict with ``pose_aa`` (B, 72) axis-angle radians
      (y up) and ``betas`` (B, 10), each a stacked tensor or a list of B
      per-sample tensors; a list of B such dicts is accepted too.
    - ``data['data_samples']`` (optional): dict of per-sample metadata
      (tensors or lists of tensors), passed on, stacked when possible.

    Output: ``dict(inputs=keypoints_norm, data_samples=gt)`` where

    - ``inputs``: (B, 18, 2) float32 normalised OpenPose-18 keypoints
      (jittered and occluded when training), occluded joints = 0.5;
    - ``gt`` (a dict usable directly as :class:`Key2MeshLoss`'s ``gt``),
      with the loader's metadata plus:

      - ``keypoints_mask`` (B, 18) bool: the joints kept (not occluded);
      - ``pose_aa`` (B, 72) float32, radians; ``betas`` (B, 10) float32;
      - ``keypoints3d`` (B, 18, 3) float32 metres: the body model's
        OpenPose-18 joints for these parameters, untranslated (root
        relative by construction: the pelvis sits at the rest pelvis
        ``J0``, as in :class:`Key2MeshRegressor`'s predictions);
      - ``keypoints2d_px`` (B, 18, 2) float32 pixels (principal point 0,
        x right, y down), after jitter;
      - ``keypoints2d_norm`` (B, 18, 2) the 2D target, normalised with
        ``keypoints_mask`` (the clean projection with
        ``target_2d='clean'``, else the jittered ``inputs``);
      - ``keypoints2d_mask`` (B, 18) bool, same as ``keypoints_mask``;
      - the mesh targets (:mod:`mpt_plugin.models.utils.mesh_targets`):
        ``vertices`` (B, V, 3) float32 metres, the untranslated body
        (``transl = 0``, mmhuman3d's PVE frame) turned into camera axes
        (:func:`smpl_to_camera_axes`), and ``has_mesh`` (B,) True.

    Args:
        body_model (dict | nn.Module): Config (``type`` defaults to
            ``'MPTSMPL'``; neutral gender like Key2Mesh) or module. Must
            return the ``smpl_45`` joints (SMPL topology, 6890 vertices).
        focal (float): Camera focal length, px. Defaults to 256.
        distance (float): Camera distance, metres. Defaults to 6.
        jitter_std (float): Std of the jitter before rounding, px; 0
            disables it. Defaults to 1.0.
        occlusion_prob (float): Per-joint drop probability; 0 disables it.
            Defaults to 0.2.
        conf_threshold (float): Threshold of
            :func:`normalize_keypoints_2d`. Defaults to 0.1.
        target_2d (str): ``'clean'`` (2D target without jitter, normalised
            with the same mask) or ``'noisy'`` (the network input itself).
            Key2Mesh's choice is not documented; ``'clean'`` by default.
        non_blocking (bool): Non-blocking host-to-device copies. Defaults
            to False.

    Jitter and occlusion are applied only with ``training=True`` (random
    from torch's generator on the device); evaluation is deterministic.
    """

    def __init__(self,
                 body_model: Union[dict, torch.nn.Module],
                 focal: float = 256.0,
                 distance: float = 6.0,
                 jitter_std: float = 1.0,
                 occlusion_prob: float = 0.2,
                 conf_threshold: float = 0.1,
                 target_2d: str = 'clean',
                 non_blocking: bool = False) -> None:
        super().__init__(non_blocking=non_blocking)
        if not 0.0 <= occlusion_prob <= 1.0:
            raise ValueError(f'occlusion_prob must be in [0, 1], got '
                             f'{occlusion_prob}')
        if not jitter_std >= 0.0:
            raise ValueError(f'jitter_std must be >= 0, got {jitter_std}')
        if target_2d not in _TARGETS_2D:
            raise ValueError(f'target_2d must be one of {_TARGETS_2D}, got '
                             f'{target_2d!r}')
        if isinstance(body_model, dict):
            body_model = dict(body_model)
            body_model.setdefault('type', 'MPTSMPL')
            body_model = MODELS.build(body_model)
        convention = getattr(body_model, 'joint_convention', None)
        if convention != 'smpl_45':
            raise ValueError(
                'Key2MeshPairsPreprocessor needs a body model returning the '
                "'smpl_45' joints (SMPL topology, 6890 vertices), got "
                f'joint_convention={convention!r}')
        for param in body_model.parameters():
            param.requires_grad_(False)
        self.body_model = body_model.eval()
        self.register_buffer(
            'openpose18_index',
            torch.as_tensor(SMPL45_TO_OPENPOSE18, dtype=torch.long),
            persistent=False)
        self.focal = float(focal)
        self.distance = float(distance)
        self.jitter_std = float(jitter_std)
        self.occlusion_prob = float(occlusion_prob)
        self.conf_threshold = float(conf_threshold)
        self.target_2d = target_2d

    def train(self, mode: bool = True) -> 'Key2MeshPairsPreprocessor':
        """Keeps the (frozen) body model in eval mode."""
        super().train(mode)
        self.body_model.eval()
        return self

    @staticmethod
    def _collect_params(inputs: Any) -> Tuple[Tensor, Tensor]:
        """(B, 72) pose and (B, 10) betas from the loader's ``inputs``."""
        params = stack_fields(inputs, dict(pose_aa=(72, ), betas=(10, )))
        return params['pose_aa'], params['betas']

    def _collect_samples(self, data_samples: Any) -> Dict[str, Any]:
        if data_samples is None:
            return {}
        if not isinstance(data_samples, dict):
            raise TypeError("data['data_samples'] must be a dict (or None), "
                            f'got {type(data_samples).__name__}')
        out = {}
        for key, value in data_samples.items():
            if isinstance(value, (list, tuple)) and value and all(
                    isinstance(v, Tensor) for v in value):
                try:
                    value = torch.stack(list(value))
                except RuntimeError:
                    pass  # ragged: keep the list
            out[key] = self.cast_data(value)
        return out

    @torch.no_grad()
    def forward(self, data: dict, training: bool = False) -> dict:
        """Synthesises normalised keypoints and the ground truth.

        Args:
            data (dict): Loader output, see the class docstring.
            training (bool): Apply jitter and occlusion. Defaults to False.

        Returns:
            dict: ``dict(inputs=(B, 18, 2) keypoints_norm,
            data_samples=gt dict)``, see the class docstring.
        """
        if not isinstance(data, dict) or 'inputs' not in data:
            raise KeyError("Key2MeshPairsPreprocessor expects a dict with key"
                           " 'inputs' (dict of 'pose_aa' (B, 72) and 'betas' "
                           '(B, 10)), got ' +
                           (f'keys {sorted(data)}' if isinstance(data, dict)
                            else type(data).__name__))
        pose, betas = self._collect_params(data['inputs'])
        device = self.openpose18_index.device
        pose = pose.to(device, torch.float32, non_blocking=self._non_blocking)
        betas = betas.to(device, torch.float32,
                         non_blocking=self._non_blocking)
        gt = self._collect_samples(data.get('data_samples'))

        out = self.body_model(betas=betas, global_orient=pose[:, :3],
                              body_pose=pose[:, 3:])
        kp3d = out['joints'].index_select(1, self.openpose18_index)
        normal = uniform = None
        if training and self.jitter_std > 0:
            normal = torch.randn(kp3d.shape[:2] + (2, ), dtype=kp3d.dtype,
                                 device=device)
        if training and self.occlusion_prob > 0:
            uniform = torch.rand(kp3d.shape[:2], device=device)
        clean_px, kp_px, conf = synthesize_keypoints_2d(
            kp3d, self.focal, self.distance, normal, uniform,
            self.jitter_std, True, self.occlusion_prob)
        kp_norm, mask = normalize_keypoints_2d(kp_px, conf,
                                               self.conf_threshold)
        if self.target_2d == 'clean':
            target, _ = normalize_keypoints_2d(clean_px, conf,
                                               self.conf_threshold)
        else:
            target = kp_norm
        gt.update(keypoints_mask=mask,
                  pose_aa=pose,
                  betas=betas,
                  keypoints3d=kp3d,
                  keypoints2d_px=kp_px,
                  keypoints2d_norm=target,
                  keypoints2d_mask=mask,
                  vertices=smpl_to_camera_axes(out['vertices']),
                  has_mesh=torch.ones(pose.shape[0], dtype=torch.bool,
                                      device=device))
        return dict(inputs=kp_norm, data_samples=gt)
