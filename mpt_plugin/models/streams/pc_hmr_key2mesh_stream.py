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

- ``gather_gt(inputs, data_samples) -> dict | None``: stream-specific
  ground truth (``vertices`` (B, V, 3) camera-aligned metres, optionally
  ``joints_h36m``) when the batch format is the stream's own (MoCap /
  AMASS pairs); None for the image-sample format (the estimator reads
  ``PoseDataSample.gt_instances`` itself).
- ``param_dim`` (int) attribute.
"""
from typing import Dict, Optional

import torch
from mmengine.model import BaseModule
from torch import Tensor

from mpt_plugin.body_models.conventions import coco17_to_openpose18
from mpt_plugin.geometry.cameras import fit_weak_perspective_camera
from mpt_plugin.registry import MODELS
from ..heads.key2mesh_regressor import Key2MeshRegressor  # noqa: F401

__all__ = ['PCHMRKey2MeshStream']

#: SMPL frame (y up, body facing the Key2Mesh camera on +z) -> camera-aligned
#: axes (x right, y down, z away from the camera): 180 degrees about x.
_FLIP_YZ = (1.0, -1.0, -1.0)


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
        self.register_buffer('flip', torch.tensor(_FLIP_YZ),
                             persistent=False)

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
        flip = self.flip.to(out['vertices'].dtype)
        vertices = out['vertices'] * flip
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
                out['keypoints3d'] * flip, 2.0 * kp18 - 1.0, vis18)
        return result

    @torch.no_grad()
    def gather_gt(self, inputs, data_samples) -> Optional[Dict[str, Tensor]]:
        """GT mesh from SMPL labels, in camera-aligned metres.

        Two label sources:

        - AMASS training pairs (``pose_aa``, ``betas`` at the top level of
          the collated ``data_samples``): the root is in SMPL's y-up frame
          like the regressor's output, so the mesh is flipped into camera
          axes the same way;
        - evaluation labels of :class:`Key2MeshKeypointsDataset`
          (``data_samples['eval_gt']``, from HumanData ``smpl``): the global
          orientation is already in the camera frame (mmhuman3d's 3DPW
          convention), so the mesh is used as posed. The neutral body model
          is used, as Key2Mesh evaluates.

        Returns:
            dict | None: ``vertices`` (B, V, 3), or None when there is no
            SMPL label.
        """
        if not isinstance(data_samples, dict):
            return None
        labels, camera_frame = data_samples, False
        if isinstance(data_samples.get('eval_gt'), dict):
            labels, camera_frame = data_samples['eval_gt'], True
        if 'pose_aa' not in labels or 'betas' not in labels:
            return None
        device, dtype = self.flip.device, self.flip.dtype
        pose = torch.as_tensor(labels['pose_aa']).to(device, dtype)
        betas = torch.as_tensor(labels['betas']).to(device, dtype)
        has_smpl = labels.get('has_smpl')
        if has_smpl is not None and not bool(
                (torch.as_tensor(has_smpl) > 0).all()):
            raise ValueError('PCHMRKey2MeshStream: some evaluation samples '
                             'have no SMPL label (eval_gt.has_smpl == 0)')
        out = self.regressor.body_model(
            betas=betas, global_orient=pose[:, :3], body_pose=pose[:, 3:])
        verts = out['vertices']
        return dict(vertices=verts if camera_frame else verts * self.flip)
