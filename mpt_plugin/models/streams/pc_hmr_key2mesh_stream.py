"""Key2Mesh as the mesh stream of ``PCHMREstimator``.

Mesh-stream interface (what ``PCHMREstimator`` expects from any stream):

- ``forward(inputs, data_samples) -> dict`` with

  - ``vertices`` (B, V, 3) metres, camera-aligned axes (x right, y down,
    z forward), any translation (the estimator centres on the pelvis of the
    H3.6M joints it regresses from the mesh, Eq. 2);
  - ``camera`` (B, 3) weak perspective ``(s, tx, ty)`` in the
    crop-normalised frame, ``x_norm = s (X_xy + t)`` for the *uncentred*
    ``vertices`` (needed by the serial framework);
  - ``params`` (B, P) mesh parameters ``Theta`` (for the neck's shape
    compensation; ``P`` = :attr:`param_dim`);
  - ``keypoints2d_norm`` (B, K, 2) / ``keypoints2d_visible`` (B, K)
    (optional): 2D keypoints seen by the stream, crop-normalised
    ``[-1, 1]``, usable as the parallel framework's pose-stream input.

- ``param_dim`` (int) attribute.
"""
from typing import Dict, Optional

import torch
from mmengine.model import BaseModule
from torch import Tensor

from mpt_plugin.body_models.conventions import coco17_to_openpose18
from mpt_plugin.geometry.cameras import (fit_weak_perspective_camera,
                                          smpl_to_camera_axes)
from mpt_plugin.registry import MODELS
from ..heads.key2mesh_regressor import Key2MeshRegressor  # noqa: F401

__all__ = ['PCHMRKey2MeshStream']



@MODELS.register_module()
class PCHMRKey2MeshStream(BaseModule):
    """Mesh stream: :class:`Key2MeshRegressor` on normalised 2D keypoints.

    Inputs: ``(B, K, 2)`` keypoints normalised by Key2Mesh's
    ``normalize_keypoints_2d`` (the unit box ``[0, 1]`` of the confident
    joints; dropped joints at 0.5), as produced by
    ``Key2MeshPairsPreprocessor``; ``data_samples`` may be its GT dict
    (``keypoints_mask`` (B, K), ``pose_aa`` (B, 72), ``betas`` (B, 10)).

    Outputs (see the module docstring): the regressor's mesh turned into
    camera-aligned axes; ``camera`` fitted in closed form to the input
    keypoints from the regressor's OpenPose-18 3D joints
    (:func:`fit_weak_perspective_camera`, mask-weighted; Key2Mesh has no
    camera of its own); ``params`` = ``betas`` and the 6D rotations
    (``num_betas + 6 * num_joints``); ``keypoints2d_norm = 2 k - 1`` (the
    unit box mapped onto the ``[-1, 1]`` crop, dropped joints at 0).

    Args:
        regressor (dict): ``Key2MeshRegressor`` config; must have a
            ``body_model`` (a mesh is needed).
    """

    def __init__(self, regressor: dict,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        regressor = dict(regressor)
        regressor.setdefault('type', 'Key2MeshRegressor')
        if regressor.get('body_model') is None:
            raise KeyError('PCHMRKey2MeshStream needs regressor.body_model '
                           '(the SMPL layer that makes the mesh)')
        self.regressor = MODELS.build(regressor)
        self.param_dim = (self.regressor.num_betas +
                          6 * self.regressor.num_joints)

    @staticmethod
    def _mask(data_samples, keypoints: Tensor) -> Optional[Tensor]:
        if isinstance(data_samples, dict) and \
                data_samples.get('keypoints_mask') is not None:
            mask = data_samples['keypoints_mask']
            if tuple(mask.shape) != tuple(keypoints.shape[:2]):
                raise ValueError(
                    "data_samples['keypoints_mask'] must have shape "
                    f'{tuple(keypoints.shape[:2])}, got {tuple(mask.shape)}')
            return mask.to(keypoints.device)
        return None

    def forward(self, inputs: Tensor, data_samples=None) -> Dict[str, Tensor]:
        """See the class docstring.

        Args:
            inputs (Tensor): (B, K, 2) normalised keypoints.
            data_samples (dict, optional): GT dict with ``keypoints_mask``.

        Returns:
            dict: ``vertices`` (B, V, 3), ``camera`` (B, 3), ``params``
            (B, P), ``keypoints2d_norm`` (B, K, 2), ``keypoints2d_visible``
            (B, K).
        """
        if not isinstance(inputs, Tensor) or inputs.dim() != 3 or \
                inputs.shape[-1] != 2:
            raise ValueError(
                'PCHMRKey2MeshStream expects (B, K, 2) normalised keypoints, '
                f'got {type(inputs).__name__} '
                f'{tuple(getattr(inputs, "shape", ()))}')
        mask = self._mask(data_samples, inputs)
        out = self.regressor(inputs, mask)
        vertices = smpl_to_camera_axes(out['vertices'])
        vis = (mask.to(inputs.dtype) if mask is not None else
               inputs.new_ones(inputs.shape[:2]))
        kp_norm = 2.0 * inputs - 1.0
        result = dict(
            vertices=vertices,
            params=torch.cat([out['betas'], out['pose_6d'].flatten(1)], 1),
            keypoints2d_norm=kp_norm,
            keypoints2d_visible=vis)
        if 'keypoints3d' in out:
            kp18 = self.regressor.prepare_inputs(inputs, mask)
            vis18 = vis
            if self.regressor.input_convention == 'coco':
                _, mask18 = coco17_to_openpose18(inputs, vis > 0)
                vis18 = mask18.to(inputs.dtype)
            result['camera'] = fit_weak_perspective_camera(
                smpl_to_camera_axes(out['keypoints3d']), 2.0 * kp18 - 1.0, vis18)
        return result
