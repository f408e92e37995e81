"""Hand image samples (FreiHAND) -> mesh targets (the :mod:`.mesh_targets`
contract).

:class:`HandImageTargetBuilder` turns the per-sample GT that
``MPTPackMeshInputs`` packs for a hand dataset (``gt_instances``: 21
``hand_21`` 3D joints in the camera frame, their 2D positions in the crop,
visibilities, and the GT MANO mesh ``vertices`` (778, 3) with ``has_mesh``)
into the batched targets of the hand estimators:

- ``joints_3d`` (B, 21, 3): the 3D joints centred on the wrist (joint 0)
  where the wrist is visible (weights = visibility); otherwise, where the
  sample has a GT mesh, the joints regressed from it (MANO's
  ``J_regressor`` + fingertip vertices, weights 1); else weight 0;
- ``vertices`` (B, 778, 3): the GT mesh centred on the same wrist (the
  regressed one without a visible wrist); zeros where there is none
  (``has_mesh`` 0);
- ``joints_2d_norm`` (B, 21, 2): the 2D joints in ``[-1, 1]`` of the crop
  (:func:`crop_to_norm`), weighted by their visibility.

FreiHAND's GT is the mesh and its joints themselves (no parameters are
posed): the released hand code trains on ``training_verts`` /
``training_xyz`` the same way. Units: metres, camera axes (x right, y down,
z forward; rotated with the crop by ``MPTMeshAffine``), wrist-centred.
Runs without gradients, float32, autocast disabled.
"""
from typing import Dict, Sequence

import torch
from torch import Tensor, nn

from mpt_plugin.body_models import MPTMANO
from mpt_plugin.geometry.crop import crop_to_norm
from .image_targets import stack_image_gt

__all__ = ['HandImageTargetBuilder', 'HAND_IMAGE_GT_FIELDS']

#: Per-sample GT fields of a hand sample after ``MPTPackMeshInputs`` and
#: their trailing shapes (``gt_instances``, each ``(1, *shape)``).
HAND_IMAGE_GT_FIELDS = {
    'keypoints2d': (21, 2),
    'keypoints2d_visible': (21, ),
    'keypoints3d': (21, 3),
    'keypoints3d_visible': (21, ),
    'vertices': (778, 3),
    'has_mesh': (),
}


class HandImageTargetBuilder(nn.Module):
    """GT hand meshes + keypoints of image samples -> mesh targets.

    Args:
        hand_model (dict): ``MPTMANO`` arguments (``model_path``,
            ``is_rhand``, ``fingertip_ids``): only its (21, 778) mesh joint
            regressor is used (joints of samples without a visible wrist).
    """

    def __init__(self, hand_model: dict) -> None:
        super().__init__()
        args = {k: v for k, v in dict(hand_model).items()
                if k not in ('type', 'joints_from', 'use_pca')}
        regressor = MPTMANO(**args).mesh_joint_regressor().float()
        self.register_buffer('joint_regressor', regressor, persistent=False)

    @torch.no_grad()
    def forward(self, data_samples: Sequence,
                crop_size: int) -> Dict[str, Tensor]:
        """The targets of a batch of packed hand samples.

        Args:
            data_samples: B ``PoseDataSample`` with the GT fields of
                :data:`HAND_IMAGE_GT_FIELDS` in ``gt_instances``.
            crop_size (int): Side S of the input crops, pixels (the frame of
                ``keypoints2d``).

        Returns:
            dict: ``vertices``, ``has_mesh``, ``joints_3d``,
            ``joints_3d_weights``, ``has_3d``, ``joints_2d_norm``,
            ``joints_2d_weights``, ``has_2d`` (see the module doc).
        """
        device = self.joint_regressor.device
        with torch.autocast(device.type, enabled=False):
            gt = stack_image_gt(data_samples, device,
                                fields=HAND_IMAGE_GT_FIELDS,
                                convention='21 hand_21 joints, a 778-vertex '
                                'MANO mesh')
            has_mesh = gt['has_mesh'] > 0
            verts = torch.where(has_mesh[:, None, None],
                                torch.nan_to_num(gt['vertices']), 0.)
            mesh_joints = torch.einsum('jv,bvc->bjc', self.joint_regressor,
                                       verts)
            kp3d, vis3d = gt['keypoints3d'], gt['keypoints3d_visible']
            use_kp3d = vis3d[:, 0] > 0  # the wrist is needed to centre
            wrist = torch.where(use_kp3d[:, None], kp3d[:, 0],
                                mesh_joints[:, 0])
            joints = torch.where(use_kp3d[:, None, None], kp3d,
                                 mesh_joints) - wrist[:, None]
            weights = torch.where(use_kp3d[:, None], vis3d,
                                  has_mesh[:, None].float().expand_as(vis3d))
            vis2d = gt['keypoints2d_visible']
            return dict(
                vertices=torch.where(has_mesh[:, None, None],
                                     verts - wrist[:, None], 0.),
                has_mesh=has_mesh,
                joints_3d=joints,
                joints_3d_weights=weights,
                has_3d=(weights > 0).any(dim=1),
                joints_2d_norm=crop_to_norm(gt['keypoints2d'], crop_size),
                joints_2d_weights=vis2d,
                has_2d=(vis2d > 0).any(dim=1))
