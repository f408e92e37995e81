"""PC-HMR's training losses (Luan et al., AAAI 2021, Sec. 3.4)."""
from typing import Dict, Optional

import torch
from torch import Tensor, nn

from mpt_plugin.registry import MODELS
from ..utils.masked_l1 import masked_l1

__all__ = ['PCHMRLoss']


@MODELS.register_module()
class PCHMRLoss(nn.Module):
    """Weighted PC-HMR losses on the calibrated mesh and the lifted pose.

    - ``loss_vertices``: L1 between the calibrated mesh ``M^target`` and the
      GT mesh, mean over the coordinates of samples with a mesh;
    - ``loss_joints``: L1 between ``U M^target`` (17 H3.6M joints) and the
      GT joints, mean over the coordinates of labelled joints;
    - ``loss_pose``: the pose lifter's own loss (its head's ``loss_module``
      on the codec-encoded label, as MMPose trains it), weighted here;
    - ``mpjpe_lifter`` (mm, logged, no gradient): the lifter's MPJPE on the
      labelled joints.

    Both sides pelvis-centred, metres. A term with no labelled entry is 0
    (with a graph).

    Args:
        vertices (float): Weight of ``loss_vertices``. Defaults to 1.
        joints (float): Weight of ``loss_joints``. Defaults to 1.
        pose (float): Weight of ``loss_pose``. Defaults to 1.
    """

    def __init__(self, vertices: float = 1.0, joints: float = 1.0,
                 pose: float = 1.0) -> None:
        super().__init__()
        self.weights = dict(vertices=float(vertices), joints=float(joints),
                            pose=float(pose))

    def forward(self, pred: Dict[str, Tensor], gt: Dict[str, Optional[Tensor]],
                lifter_loss: Tensor) -> Dict[str, Tensor]:
        """The weighted losses.

        Args:
            pred (dict): ``vertices`` (B, V, 3) calibrated mesh,
                ``joints_h36m`` (B, 17, 3) its regressed joints,
                ``joints_target`` (B, 17, 3) the lifter's joints.
            gt (dict): ``vertices`` (B, V, 3) or None, ``vertices_weight``
                (B,), ``joints`` (B, 17, 3), ``joints_weight`` (B, 17).
            lifter_loss (Tensor): scalar, the lifter head's loss.

        Returns:
            dict: ``loss_vertices``, ``loss_joints``, ``loss_pose``,
            ``mpjpe_lifter``.
        """
        w = self.weights
        verts = pred['vertices']
        if gt['vertices'] is not None:
            loss_vertices = masked_l1(verts, gt['vertices'].to(verts),
                                      gt['vertices_weight'], 'weights')
        else:
            loss_vertices = verts.sum() * 0.0
        joints = pred['joints_h36m']
        loss_joints = masked_l1(joints, gt['joints'].to(joints),
                                gt['joints_weight'], 'weights')
        with torch.no_grad():
            err = (pred['joints_target'] - gt['joints']).norm(dim=-1)
            wj = gt['joints_weight']
            mpjpe = 1000.0 * (err * wj).sum() / wj.sum().clamp_min(1.0)
        return dict(loss_vertices=w['vertices'] * loss_vertices,
                    loss_joints=w['joints'] * loss_joints,
                    loss_pose=w['pose'] * lifter_loss,
                    mpjpe_lifter=mpjpe)

    def extra_repr(self) -> str:
        return ', '.join(f'{k}={v}' for k, v in self.weights.items())
