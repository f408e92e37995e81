"""Pre-training / fine-tuning objective of MPT (paper Sec. 3.1.3, eqs. 2-6).

``L = w_V * L_V + w_J * L_J + w_Jreg * L_J^reg + w_Jproj * L_J^proj``

All four terms are L1 losses:

- ``L_V`` (eq. 2): vertex error, a weighted sum over the three mesh levels
  (coarse 431, mid 1723, full 6890 vertices for SMPL). METRO/Graphormer use
  ``1/3`` per level (``vloss_w_sub2/sub/full = 0.33``), our default.
- ``L_J`` (eq. 3): error of the joint tokens' 3D output.
- ``L_J^reg`` (eq. 4): error of the joints regressed from the full predicted
  mesh with a fixed regressor ``G`` (J, V), e.g. the 14 LSP rows of
  ``J_regressor_h36m_correct.npy`` (rows ``H36M_J17_TO_J14``).
- ``L_J^proj`` (eq. 5): error of the weak-perspective projection of the
  predicted 3D joints vs. GT 2D joints in normalised crop coordinates
  (``[-1, 1]``), weighted by per-joint visibility. The paper writes one term
  for "the predicted 3D joints"; the Graphormer code the paper builds on
  (appendix E) sums the projections of both the joint tokens and the
  mesh-regressed joints, which is our default (``proj_joints='both'``).

Reduction: the paper's ``1/M sum_i ||V_i - V_i_gt||_1`` sums |dx|+|dy|+|dz|
per point and averages over points (``coord_reduction='sum'``, default). This
is 3x (2x for 2D) ``torch.nn.L1Loss``'s element mean that METRO uses;
``coord_reduction='mean'`` reproduces the latter. Averages run over the
*valid* samples times the number of points; per-point weights (visibility /
confidence) multiply the point errors but do not change the denominator (as
METRO's ``(conf * err).mean()``).

Hands (MANO; the released hand code the MPT paper builds on, see
``shared/reference/hand_spec.md``): two mesh levels (coarse 195, full 778)
weighted 0.5 / 0.5 (``vertex_level_weights=(0.5, 0.5)``), squared-error
joint terms (``joints_criterion='mse'``, ``nn.MSELoss``'s element mean:
``coord_reduction='mean'``) centred on the wrist
(``joints_root_indices=(0,)``), every weight 1.0.

Weights: the paper sums the four terms with weight 1 (our defaults). METRO /
Graphormer use ``1000 * L_3D + 100 * L_V + 100 * L_2D`` with MSE joint losses
(``L_3D`` = tokens + regressed, ``L_2D`` = both projections), i.e. the
alternative ``vertices_weight=100, joints_weight=1000,
joints_reg_weight=1000, joints_proj_weight=100`` (with L1 here instead of MSE).

Per-sample validity flags ``has_mesh``, ``has_3d``, ``has_2d`` (B,) select the
samples a term is computed on, so mixed 2D/3D batches work; a term whose batch
has no valid sample is exactly zero (finite, still attached to the graph).
Invalid samples may hold any values in the GT (even NaN).
"""
import os
from typing import Dict, Optional, Sequence, Union

import numpy as np
import torch
from torch import Tensor, nn

from mpt_plugin.geometry.cameras import weak_perspective_project
from mpt_plugin.registry import MODELS
from ..utils.masked_l1 import masked_l1

ArrayLike = Union[np.ndarray, Tensor, Sequence]

#: Prediction (= GT) keys of the mesh levels, coarse to full, by the number
#: of levels (the length of ``vertex_level_weights``).
VERTEX_LEVELS = {
    3: ('vertices_coarse', 'vertices_mid', 'vertices'),
    2: ('vertices_coarse', 'vertices'),
}

#: ``joints_criterion`` values: the error of the 3D and 2D joint terms.
JOINT_CRITERIA = ('l1', 'mse')


@MODELS.register_module()
class MPTMeshLoss(nn.Module):
    """L1 mesh / joint / regressed-joint / re-projection losses of MPT.

    Predictions (dict, as returned by ``MPTMeshTransformerHead.forward``):
        - ``joints`` (B, J, 3) metres, joint-token output.
        - ``vertices_coarse`` (B, V0, 3), ``vertices_mid`` (B, V1, 3)
          (three levels only), ``vertices`` (B, V2, 3) metres, root-centred
          (pelvis; wrist for hands).
        - ``camera`` (B, 3) weak-perspective ``(s, tx, ty)``.

    Ground truth (dict of tensors; a key is needed only when its term has a
    non-zero weight and at least one sample is flagged valid):
        - ``vertices``, ``vertices_mid`` (three levels), ``vertices_coarse``:
          (B, V*, 3)
          metres, same frame and centring as the predictions (the coarse
          levels come from the full GT mesh through the mesh sampler's D
          matrices). ``has_mesh`` (B,) optional, default all valid.
        - ``joints_3d`` (B, J, 3) metres; ``joints_3d_weights`` (B, J)
          optional (default 1); ``has_3d`` (B,) optional.
        - ``joints_2d_norm`` (B, J, 2) normalised crop coordinates in
          ``[-1, 1]``; ``joints_2d_weights`` (B, J) optional visibility
          (default 1); ``has_2d`` (B,) optional.

    Args:
        vertices_weight (float): weight of ``L_V``. Defaults to 1.
        joints_weight (float): weight of ``L_J``. Defaults to 1.
        joints_reg_weight (float): weight of ``L_J^reg``. Defaults to 1.
        joints_proj_weight (float): weight of ``L_J^proj``. Defaults to 1.
        vertex_level_weights (Sequence[float]): weights of the (coarse, mid,
            full) vertex errors inside ``L_V``, or of the (coarse, full)
            levels of a two-level mesh (hands: ``(0.5, 0.5)``). Defaults to
            METRO's ``(1/3, 1/3, 1/3)``.
        proj_joints (str): which predicted 3D joints are projected for
            ``L_J^proj``: ``'tokens'``, ``'regressed'`` or ``'both'``
            (sum of the two). Defaults to ``'both'``.
        joints_root_indices (Sequence[int], optional): if given, predicted
            and GT 3D joints are re-centred on the mean of these joints before
            ``L_J`` / ``L_J^reg`` (METRO: ``(2, 3)``, the LSP hips). Defaults
            to None (no re-centring, as in the paper's equations).
        coord_reduction (str): ``'sum'`` (paper, per-point L1 norm) or
            ``'mean'`` (``nn.L1Loss`` element mean) over coordinates.
        joints_criterion (str): ``'l1'`` (default) or ``'mse'`` (squared
            errors, the released hand code) for ``L_J``, ``L_J^reg`` and
            ``L_J^proj``; vertices are always L1.
        joint_regressor (str | array | Tensor, optional): the regressor ``G``
            as a (J', V2) array/tensor or a path to a plain ``.npy`` file.
            Can also be set later with :meth:`set_joint_regressor`.
        joint_regressor_rows (Sequence[int], optional): rows of
            ``joint_regressor`` to keep (e.g. ``H36M_J17_TO_J14 =
            [3, 2, 1, 4, 5, 6, 16, 15, 14, 11, 12, 13, 8, 10]``).
    """

    def __init__(self,
                 vertices_weight: float = 1.0,
                 joints_weight: float = 1.0,
                 joints_reg_weight: float = 1.0,
                 joints_proj_weight: float = 1.0,
                 vertex_level_weights: Sequence[float] = (1 / 3, 1 / 3,
                                                          1 / 3),
                 proj_joints: str = 'both',
                 joints_root_indices: Optional[Sequence[int]] = None,
                 coord_reduction: str = 'sum',
                 joints_criterion: str = 'l1',
                 joint_regressor: Optional[Union[str, ArrayLike]] = None,
                 joint_regressor_rows: Optional[Sequence[int]] = None):
        super().__init__()
        self.vertices_weight = float(vertices_weight)
        self.joints_weight = float(joints_weight)
        self.joints_reg_weight = float(joints_reg_weight)
        self.joints_proj_weight = float(joints_proj_weight)
        if len(vertex_level_weights) not in VERTEX_LEVELS:
            raise ValueError('vertex_level_weights must have 3 values '
                             '(coarse, mid, full) or 2 (coarse, full), got '
                             f'{vertex_level_weights}')
        self.vertex_level_weights = tuple(float(w)
                                          for w in vertex_level_weights)
        self.vertex_levels = VERTEX_LEVELS[len(self.vertex_level_weights)]
        if joints_criterion not in JOINT_CRITERIA:
            raise ValueError(f'joints_criterion must be one of '
                             f'{JOINT_CRITERIA}, got {joints_criterion!r}')
        self.joints_criterion = joints_criterion
        if proj_joints not in ('tokens', 'regressed', 'both'):
            raise ValueError("proj_joints must be 'tokens', 'regressed' or "
                             f"'both', got {proj_joints!r}")
        self.proj_joints = proj_joints
        if coord_reduction not in ('sum', 'mean'):
            raise ValueError("coord_reduction must be 'sum' or 'mean', got "
                             f'{coord_reduction!r}')
        self.coord_reduction = coord_reduction
        self.joints_root_indices = (None if joints_root_indices is None else
                                    [int(i) for i in joints_root_indices])
        # Not persistent: the regressor is a fixed asset given by the config,
        # so checkpoints stay independent of it.
        self.register_buffer('joint_regressor', None, persistent=False)
        if joint_regressor is not None:
            self.set_joint_regressor(joint_regressor, joint_regressor_rows)

    # ------------------------------------------------------------------ setup
    @property
    def needs_regressor(self) -> bool:
        """bool: whether the configured terms use the joint regressor."""
        return self.joints_reg_weight != 0 or (
            self.joints_proj_weight != 0 and self.proj_joints != 'tokens')

    def set_joint_regressor(self,
                            regressor: Union[str, ArrayLike],
                            rows: Optional[Sequence[int]] = None) -> None:
        """Set the joint regressor ``G``.

        Args:
            regressor (str | array | Tensor): (J', V) matrix, or the path to a
                plain (non-pickled) ``.npy`` file holding it.
            rows (Sequence[int], optional): rows to keep, giving (J, V).
        """
        source = 'joint_regressor'
        if isinstance(regressor, (str, os.PathLike)):
            source = os.fspath(regressor)
            if not os.path.isfile(source):
                raise FileNotFoundError(
                    f'joint regressor file not found: {source}')
            if not source.endswith('.npy'):
                raise ValueError(f'joint regressor file {source} must be a '
                                 '.npy array of shape (J, V)')
            regressor = np.load(source, allow_pickle=False)
        if hasattr(regressor, 'toarray'):  # scipy sparse
            regressor = regressor.toarray()
        mat = torch.as_tensor(np.asarray(regressor) if not isinstance(
            regressor, Tensor) else regressor).detach().float().clone()
        if mat.dim() != 2:
            raise ValueError(f'joint regressor from {source} must be 2D '
                             f'(J, V), got shape {tuple(mat.shape)}')
        if rows is not None:
            rows = [int(r) for r in rows]
            if min(rows) < -mat.shape[0] or max(rows) >= mat.shape[0]:
                raise ValueError(f'joint_regressor_rows {rows} out of range '
                                 f'for {mat.shape[0]} rows in {source}')
            mat = mat[rows]
        if not torch.isfinite(mat).all():
            raise ValueError(f'joint regressor from {source} has non-finite '
                             'values')
        device = (self.joint_regressor.device
                  if self.joint_regressor is not None else None)
        self.joint_regressor = mat if device is None else mat.to(device)

    # ---------------------------------------------------------------- helpers
    @staticmethod
    def _sample_mask(gt: Dict[str, Tensor], key: str, batch_size: int,
                     device: torch.device) -> Tensor:
        """(B,) bool validity flags ``gt[key]`` (all True when absent)."""
        if key not in gt or gt[key] is None:
            return torch.ones(batch_size, dtype=torch.bool, device=device)
        flag = torch.as_tensor(gt[key], device=device)
        if flag.numel() != batch_size:
            raise ValueError(f'GT {key!r} must have shape (B,) with B='
                             f'{batch_size}, got {tuple(flag.shape)}')
        return flag.reshape(batch_size) > 0

    @staticmethod
    def _get_gt(gt: Dict[str, Tensor], key: str, like: Tensor) -> Tensor:
        if key not in gt or gt[key] is None:
            raise KeyError(f'GT dict lacks {key!r} (expected shape '
                           f'{tuple(like.shape)}); pass it, set the '
                           "sample flag ('has_*') to 0, or set the loss "
                           'weight to 0')
        value = torch.as_tensor(gt[key]).to(like.device, like.dtype)
        if value.shape != like.shape:
            raise ValueError(f'GT {key!r} has shape {tuple(value.shape)}, '
                             f'expected {tuple(like.shape)}')
        return value

    @staticmethod
    def _point_weights(gt: Dict[str, Tensor], key: str,
                       like: Tensor) -> Optional[Tensor]:
        if key not in gt or gt[key] is None:
            return None
        w = torch.as_tensor(gt[key]).to(like.device, like.dtype)
        if w.shape != like.shape[:2]:
            raise ValueError(f'GT {key!r} has shape {tuple(w.shape)}, '
                             f'expected {tuple(like.shape[:2])}')
        return w

    def _masked_l1(self, pred: Tensor, gt: Tensor, valid: Tensor,
                   weights: Optional[Tensor], squared: bool = False) -> Tensor:
        """Mean L1 (squared error with ``squared``) over valid samples
        and points.

        Args:
            pred (Tensor): (B, N, C) prediction.
            gt (Tensor): (B, N, C) target (invalid samples may be NaN).
            valid (Tensor): (B,) bool sample mask.
            weights (Tensor, optional): (B, N) per-point weights.

        Returns:
            Tensor: scalar ``sum(w * |pred - gt|) / (num_valid * N)``
            (:func:`masked_l1`, ``normalize='samples'``).
        """
        w = valid[:, None].to(pred.dtype).expand(pred.shape[:2])
        if weights is not None:
            w = w * weights
        return masked_l1(pred, gt, w, 'samples', sample_valid=valid,
                         coord_reduction=self.coord_reduction,
                         squared=squared)

    def _joint_error(self, pred: Tensor, gt: Tensor, valid: Tensor,
                     weights: Optional[Tensor]) -> Tensor:
        """A joint term with ``joints_criterion``."""
        return self._masked_l1(pred, gt, valid, weights,
                               squared=self.joints_criterion == 'mse')

    def _center(self, joints: Tensor) -> Tensor:
        if self.joints_root_indices is None:
            return joints
        root = joints[:, self.joints_root_indices].mean(dim=1, keepdim=True)
        return joints - root

    def regress_joints(self, vertices: Tensor) -> Tensor:
        """Regress joints from a full mesh with ``G``.

        Args:
            vertices (Tensor): (B, V, 3) full-resolution mesh, metres.

        Returns:
            Tensor: (B, J, 3) joints, metres.
        """
        if self.joint_regressor is None:
            raise ValueError(
                'MPTMeshLoss needs a joint regressor for L_J^reg / the '
                "'regressed' projection; pass joint_regressor=(J, V) or a "
                '.npy path, call set_joint_regressor(), or set '
                "joints_reg_weight=0 and proj_joints='tokens'")
        reg = self.joint_regressor.to(vertices.device, vertices.dtype)
        if reg.shape[1] != vertices.shape[1]:
            raise ValueError(f'joint regressor has {reg.shape[1]} columns '
                             f'but the mesh has {vertices.shape[1]} '
                             'vertices')
        return torch.einsum('jv,bvc->bjc', reg, vertices)

    # ---------------------------------------------------------------- forward
    def forward(self, pred: Dict[str, Tensor],
                gt: Dict[str, Tensor]) -> Dict[str, Tensor]:
        """Compute the weighted losses.

        Args:
            pred (dict): predictions, see the class docstring.
            gt (dict): ground truth, see the class docstring.

        Returns:
            dict: ``loss_vertices``, ``loss_joints``, ``loss_joints_reg``,
            ``loss_joints_proj`` (weighted scalars).
        """
        for key in ('joints', 'vertices', 'camera'):
            if key not in pred:
                raise KeyError(f'prediction dict lacks {key!r}')
        joints = pred['joints']
        bsz, device = joints.shape[0], joints.device
        zero = joints.sum() * 0.0  # attached to the graph, stays finite
        losses = {}

        # L_V: the mesh levels (3 for SMPL, 2 for MANO).
        loss_v = zero
        if self.vertices_weight != 0:
            has_mesh = self._sample_mask(gt, 'has_mesh', bsz, device)
            if has_mesh.any():
                for key, w in zip(self.vertex_levels,
                                  self.vertex_level_weights):
                    if w == 0:
                        continue
                    if key not in pred:
                        raise KeyError(f'prediction dict lacks {key!r}')
                    p = pred[key]
                    loss_v = loss_v + w * self._masked_l1(
                        p, self._get_gt(gt, key, p), has_mesh, None)
        losses['loss_vertices'] = self.vertices_weight * loss_v

        regressed = None
        if self.needs_regressor:
            regressed = self.regress_joints(pred['vertices'])
            if regressed.shape != joints.shape:
                raise ValueError(
                    f'joint regressor gives {regressed.shape[1]} joints but '
                    f'the joint tokens are {joints.shape[1]}; select rows '
                    'with joint_regressor_rows')

        # L_J and L_J^reg: 3D joints.
        has_3d = self._sample_mask(gt, 'has_3d', bsz, device)
        use_3d = has_3d.any() and (self.joints_weight != 0
                                   or self.joints_reg_weight != 0)
        loss_j, loss_jreg = zero, zero
        if use_3d:
            gt_j3d = self._center(self._get_gt(gt, 'joints_3d', joints))
            w3d = self._point_weights(gt, 'joints_3d_weights', joints)
            if self.joints_weight != 0:
                loss_j = self._joint_error(
                    self._center(joints), gt_j3d, has_3d, w3d)
            if self.joints_reg_weight != 0:
                loss_jreg = self._joint_error(
                    self._center(regressed), gt_j3d, has_3d, w3d)
        losses['loss_joints'] = self.joints_weight * loss_j
        losses['loss_joints_reg'] = self.joints_reg_weight * loss_jreg

        # L_J^proj: weak-perspective re-projection.
        loss_p = zero
        if self.joints_proj_weight != 0:
            has_2d = self._sample_mask(gt, 'has_2d', bsz, device)
            if has_2d.any():
                cam = pred['camera']
                sources = []
                if self.proj_joints in ('tokens', 'both'):
                    sources.append(joints)
                if self.proj_joints in ('regressed', 'both'):
                    sources.append(regressed)
                like = joints[..., :2]
                gt_2d = self._get_gt(gt, 'joints_2d_norm', like)
                w2d = self._point_weights(gt, 'joints_2d_weights', like)
                for j3d in sources:
                    proj = weak_perspective_project(j3d, cam)
                    loss_p = loss_p + self._joint_error(proj, gt_2d, has_2d,
                                                        w2d)
        losses['loss_joints_proj'] = self.joints_proj_weight * loss_p
        return losses
