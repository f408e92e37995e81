"""Key2Mesh pre-training loss (LGD-style, inferred: no training code).

``L = w_pose * L1(theta_aa) + w_betas * L1(beta)
      + w_2d * wL1(normalize(cam(J3D_pred)), j2d_gt)
      + w_3d * wL1(J3D_pred, J3D_gt)``

with defaults ``1.0, 1.0, 0.3, 0.3``. ``theta_aa`` is the (B, 72)
axis-angle pose, ``J3D`` the (B, 18, 3) OpenPose-18 joints in metres
(untranslated SMPL, so root-relative by construction), ``cam`` Key2Mesh's
fixed camera and ``normalize`` :func:`normalize_keypoints_2d` applied with
the GT keypoint mask (so the prediction is normalised with the same set of
joints as the target).

``L1`` is the element mean (``torch.nn.L1Loss``) over the valid samples.
``wL1`` weights the per-coordinate error ``|d|`` by per-joint weights
``w_k`` (LGD/Key2Mesh: 1 default, 2 shoulders/hips, 4 elbows/knees, 8
wrists/ankles, OpenPose-18 order; the released code keeps them as a
(1, 18, C) tensor broadcast over the batch and the coordinates) times a
per-joint mask ``m`` (the 2D keypoint visibility; 1 for the 3D term). Its
``reduction``:

- ``'mean'`` (default): ``sum(w m |d|) / (N K C)``, the mean over **all**
  elements of the valid samples, ``N`` valid samples, ``K`` joints, ``C``
  coordinates. This is LGD's ``weighted_L1_loss``
  (``(w * |d|).mean()``), which Key2Mesh builds on. A masked joint adds
  nothing to the sum but **stays in the denominator**, as in LGD, where
  ``normalize_p2d`` sets invisible joints to 0.5 in both the prediction
  and the target (so their ``|d|`` is 0) and the mean still runs over all
  18 joints. The weights therefore set the term's scale: with all joints
  visible it is ``sum(w) / K`` (62 / 18, about 3.4) times a plain L1.
  **Inferred**: Key2Mesh's release has no training loop, so that it kept
  LGD's reduction is our reading (its (1, 18, 3) joint-weight tensor and
  ``L1Loss`` are LGD's).
- ``'weight_normalized'``: ``sum(w m |d|) / (C sum(w m))``, a weighted
  average: the weights only re-balance the visible joints of the batch,
  the term keeps the scale of a plain L1 whatever the weights and the
  number of masked joints (the normalisation of earlier versions of this
  module).

Per-sample flags ``has_smpl``, ``has_3d``, ``has_2d`` (B,) select samples:
a flagged-out sample leaves both the sum and ``N`` (LGD has no such flag;
the batch is reduced as if the sample were not in it). A term with no
valid sample is exactly zero (finite, attached to the graph). Invalid
samples and masked joints may hold any GT values, even NaN.
"""
from typing import Dict, Optional, Sequence

import torch
from torch import Tensor, nn

from mpt_plugin.geometry.cameras import project_fixed_camera
from mpt_plugin.geometry.keypoints import normalize_keypoints_2d
from mpt_plugin.registry import MODELS
from ..utils.masked_l1 import masked_l1

#: LGD / Key2Mesh joint weights in OpenPose-18 order (shoulders/hips 2,
#: elbows/knees 4, wrists/ankles 8, others 1).
OPENPOSE18_JOINT_WEIGHTS = (1., 1., 2., 4., 8., 2., 4., 8., 2., 4., 8., 2., 4.,
                            8., 1., 1., 1., 1.)


#: ``reduction`` values of :class:`Key2MeshLoss` (see the module doc).
KEY2MESH_REDUCTIONS = ('mean', 'weight_normalized')


def _masked_weighted_l1(pred: Tensor,
                        target: Tensor,
                        weight: Tensor,
                        sample_valid: Tensor,
                        zero: Tensor,
                        reduction: str = 'mean') -> Tensor:
    """Joint-weighted L1 of (B, N, C) points, reduced by ``reduction``.

    ``'mean'``: ``sum(w |d|) / (B_valid N C)``, LGD's ``weighted_L1_loss``
    over the valid samples (masked points stay in the denominator).
    ``'weight_normalized'``: ``sum(w |d|) / (C sum(w))``.

    Args:
        pred (Tensor): (B, N, C).
        target (Tensor): (B, N, C); entries with zero weight may be NaN.
        weight (Tensor): (B, N) non-negative weights: joint weight times
            point mask, 0 for invalid samples (0 = ignore).
        sample_valid (Tensor): (B,) bool, the samples that count
            (``B_valid`` of ``'mean'``).
        zero (Tensor): Graph-attached zero returned when no point has a
            positive weight.
        reduction (str): One of :data:`KEY2MESH_REDUCTIONS`.

    Returns:
        Tensor: Scalar loss.
    """
    if not bool((weight > 0).any()):
        return zero
    return masked_l1(pred, target, weight,
                     'samples' if reduction == 'mean' else 'weights',
                     sample_valid=sample_valid)


@MODELS.register_module()
class Key2MeshLoss(nn.Module):
    """Pose / shape / re-projection / 3D joint losses of Key2Mesh.

    Predictions (dict, as returned by ``Key2MeshRegressor.forward``):
        - ``pose_aa`` (B, 72) axis-angle, radians.
        - ``betas`` (B, 10).
        - ``keypoints3d`` (B, 18, 3) OpenPose-18 joints, metres (needed
          when the 2D or 3D weight is non-zero).

    Ground truth (dict of tensors; a key is needed only when its term has a
    non-zero weight):
        - ``pose_aa`` (B, 72), ``betas`` (B, 10); ``has_smpl`` (B,)
          optional, default all valid.
        - ``keypoints3d`` (B, 18, 3) metres; ``has_3d`` (B,) optional.
        - ``keypoints2d_norm`` (B, 18, 2) normalised keypoints (output of
          ``normalize_keypoints_2d``); ``keypoints2d_mask`` (B, 18) the
          mask returned with them (default all valid); ``has_2d`` (B,)
          optional.

    Args:
        pose_weight (float): Weight of the pose L1. Defaults to 1.0.
        betas_weight (float): Weight of the betas L1. Defaults to 1.0.
        keypoints2d_weight (float): Weight of the re-projection loss.
            Defaults to 0.3.
        keypoints3d_weight (float): Weight of the 3D joint loss. Defaults
            to 0.3.
        joint_weights (Sequence[float], optional): (18,) per-joint weights.
            Defaults to :data:`OPENPOSE18_JOINT_WEIGHTS`.
        focal (float): Fixed-camera focal length (px). Defaults to 256.
        distance (float): Fixed-camera distance (m). Defaults to 6.
        reduction (str): Reduction of the joint-weighted 2D and 3D terms:
            ``'mean'`` (LGD's mean of ``w |d|`` over all elements,
            inferred for Key2Mesh) or ``'weight_normalized'`` (divided by
            ``C sum(w m)``); see the module doc. The pose and shape L1 are
            element means either way. Defaults to ``'mean'``.
    """

    def __init__(self,
                 pose_weight: float = 1.0,
                 betas_weight: float = 1.0,
                 keypoints2d_weight: float = 0.3,
                 keypoints3d_weight: float = 0.3,
                 joint_weights: Optional[Sequence[float]] = None,
                 focal: float = 256.0,
                 distance: float = 6.0,
                 reduction: str = 'mean') -> None:
        super().__init__()
        if reduction not in KEY2MESH_REDUCTIONS:
            raise ValueError(f'Key2MeshLoss: reduction must be one of '
                             f'{KEY2MESH_REDUCTIONS}, got {reduction!r}')
        self.reduction = reduction
        self.pose_weight = float(pose_weight)
        self.betas_weight = float(betas_weight)
        self.keypoints2d_weight = float(keypoints2d_weight)
        self.keypoints3d_weight = float(keypoints3d_weight)
        if joint_weights is None:
            joint_weights = OPENPOSE18_JOINT_WEIGHTS
        joint_weights = torch.as_tensor(joint_weights, dtype=torch.float32)
        if joint_weights.ndim != 1 or (joint_weights < 0).any():
            raise ValueError('joint_weights must be a 1-D non-negative '
                             f'sequence, got {joint_weights.tolist()}')
        self.register_buffer('joint_weights', joint_weights, persistent=False)
        self.focal = float(focal)
        self.distance = float(distance)

    @staticmethod
    def _get(data: Dict[str, Tensor], key: str, where: str) -> Tensor:
        if key not in data:
            raise KeyError(f'{where} dict lacks {key!r}')
        return data[key]

    @staticmethod
    def _sample_mask(gt: Dict[str, Tensor], key: str, bsz: int,
                     device: torch.device) -> Tensor:
        if key not in gt or gt[key] is None:
            return torch.ones(bsz, dtype=torch.bool, device=device)
        mask = torch.as_tensor(gt[key], device=device).reshape(-1).bool()
        if mask.numel() != bsz:
            raise ValueError(f'gt[{key!r}] must have shape ({bsz},), got '
                             f'{tuple(gt[key].shape)}')
        return mask

    def _joint_weights(self, num: int, ref: Tensor) -> Tensor:
        if self.joint_weights.numel() != num:
            raise ValueError(
                f'joint_weights has {self.joint_weights.numel()} entries, '
                f'keypoints have {num} joints')
        return self.joint_weights.to(ref)

    def _l1(self, pred: Tensor, target: Tensor, valid: Tensor, zero: Tensor,
            name: str) -> Tensor:
        if tuple(pred.shape) != tuple(target.shape):
            raise ValueError(f'{name}: pred {tuple(pred.shape)} and gt '
                             f'{tuple(target.shape)} differ')
        flat_p = pred.reshape(pred.shape[0], 1, -1)
        flat_t = target.reshape(target.shape[0], 1, -1).to(pred)
        # one point of D coordinates per sample: both reductions give the
        # element mean over the valid samples
        return _masked_weighted_l1(flat_p, flat_t, valid[:, None].to(pred),
                                   valid, zero, 'mean')

    def forward(self, pred: Dict[str, Tensor],
                gt: Dict[str, Tensor]) -> Dict[str, Tensor]:
        """Computes the weighted losses.

        Args:
            pred (dict): Predictions, see the class docstring.
            gt (dict): Ground truth, see the class docstring.

        Returns:
            dict[str, Tensor]: ``loss_pose``, ``loss_betas``,
            ``loss_keypoints2d``, ``loss_keypoints3d`` (weighted scalars;
            a term with weight 0 is a graph-attached zero).
        """
        pose = self._get(pred, 'pose_aa', 'prediction')
        bsz, device = pose.shape[0], pose.device
        zero = pose.sum() * 0.0
        losses = dict(loss_pose=zero,
                      loss_betas=zero,
                      loss_keypoints2d=zero,
                      loss_keypoints3d=zero)

        if self.pose_weight or self.betas_weight:
            has_smpl = self._sample_mask(gt, 'has_smpl', bsz, device)
            if self.pose_weight:
                losses['loss_pose'] = self.pose_weight * self._l1(
                    pose, self._get(gt, 'pose_aa', 'gt'), has_smpl, zero,
                    'pose_aa')
            if self.betas_weight:
                betas = self._get(pred, 'betas', 'prediction')
                losses['loss_betas'] = self.betas_weight * self._l1(
                    betas, self._get(gt, 'betas', 'gt'), has_smpl, zero,
                    'betas')

        if self.keypoints3d_weight:
            kp3d = self._get(pred, 'keypoints3d', 'prediction')
            gt3d = self._get(gt, 'keypoints3d', 'gt').to(kp3d)
            if gt3d.shape != kp3d.shape:
                raise ValueError(f'keypoints3d: pred {tuple(kp3d.shape)} and'
                                 f' gt {tuple(gt3d.shape)} differ')
            has_3d = self._sample_mask(gt, 'has_3d', bsz, device)
            weight = self._joint_weights(kp3d.shape[1], kp3d)[None] * \
                has_3d[:, None].to(kp3d)
            losses['loss_keypoints3d'] = self.keypoints3d_weight * \
                _masked_weighted_l1(kp3d, gt3d, weight, has_3d, zero,
                                    self.reduction)

        if self.keypoints2d_weight:
            kp3d = self._get(pred, 'keypoints3d', 'prediction')
            gt2d = self._get(gt, 'keypoints2d_norm', 'gt').to(kp3d)
            if gt2d.shape != (*kp3d.shape[:2], 2):
                raise ValueError(
                    'keypoints2d_norm: expected gt shape '
                    f'{(*kp3d.shape[:2], 2)}, got {tuple(gt2d.shape)}')
            mask = gt.get('keypoints2d_mask')
            if mask is None:
                mask = torch.ones(gt2d.shape[:2],
                                  dtype=torch.bool,
                                  device=device)
            mask = torch.as_tensor(mask, device=device).bool()
            proj = project_fixed_camera(kp3d, self.focal, self.distance)
            proj_norm, _ = normalize_keypoints_2d(proj,
                                                  mask.to(proj),
                                                  threshold=0.5)
            has_2d = self._sample_mask(gt, 'has_2d', bsz, device)
            weight = self._joint_weights(kp3d.shape[1], kp3d)[None] * \
                (mask & has_2d[:, None]).to(kp3d)
            losses['loss_keypoints2d'] = self.keypoints2d_weight * \
                _masked_weighted_l1(proj_norm, gt2d, weight, has_2d, zero,
                                    self.reduction)
        return losses
