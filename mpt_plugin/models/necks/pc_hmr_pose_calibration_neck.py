"""PC-HMR pose calibration module (Luan et al., AAAI 2021, Sec. 3.3).

Deforms a regressed mesh so that its skeleton follows a target 3D pose:
for every bone ``i`` (parent ``p`` -> child ``c`` of a kinematic tree) a
rotation ``Psi_i`` (Eq. 6-7), a translation ``T_i`` on the parent joint
(Eq. 8) and a non-rigid stretch ``Delta_i`` on the child joint (Eq. 9-10)
are computed from the source joints ``J^hmr`` and the target joints
``J^target``. Every bone proposes a new position for every vertex
(Eq. 12, learnable per-vertex stretch weights ``W``), and the proposals are
blended with learnable per-vertex bone weights ``A`` (Eq. 13). Optionally
(off by default) the paper's shape compensation adds skinned SMPL pose
blend shapes predicted from the bone rotations (``shape_compensation``).

Shapes: ``B`` batch, ``V`` vertices, ``J`` joints, ``N = J - #roots`` bones
(one bone per non-root joint, ordered by child joint index). Positions are
in metres.
"""
from typing import Dict, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor, nn

from mpt_plugin.geometry.rotations import rotation_between_vectors
from mpt_plugin.models.utils.pose_blend_compensation import \
    PoseBlendShapeCompensation
from mpt_plugin.registry import MODELS

ArrayLike = Union[np.ndarray, Tensor, Sequence]

_ROOT_SENTINELS = (-1, 2**32 - 1)  # -1 or the official kintree uint32 root
_BLEND_MODES = ('normalize', 'softmax', 'none')


def _as_tensor(value: ArrayLike, name: str, shape: tuple) -> Tensor:
    """Convert to a float32 CPU tensor and check its shape / finiteness."""
    tensor = torch.as_tensor(np.asarray(value, dtype=np.float64)
                             if not isinstance(value, Tensor) else value)
    tensor = tensor.detach().to(torch.float32).cpu()
    if tuple(tensor.shape) != shape:
        raise ValueError(f'{name} must have shape {shape}, got '
                         f'{tuple(tensor.shape)}')
    if not torch.isfinite(tensor).all():
        raise ValueError(f'{name} contains NaN or Inf values')
    return tensor


@MODELS.register_module()
class PCHMRPoseCalibrationNeck(BaseModule):
    """Non-rigid pose calibration of a mesh towards a target 3D pose.

    Per bone ``i`` with source joints ``(p, c)`` = ``joints[:, parent]``,
    ``joints[:, child]`` and target joints ``(p', c')``:

    * Eq. 6-7: ``Psi_i`` = minimal rotation taking ``b = p - c`` to
      ``b' = p' - c'`` (``rotation_between_vectors``; stable for parallel
      and opposite bones, opposite -> half-turn about a deterministic
      perpendicular axis).
    * Eq. 8: ``T_i = p' - Psi_i p``.
    * Eq. 9-10: ``Delta_i = c' - (Psi_i c + T_i)`` (zero iff bone lengths
      agree; forced to zero when ``rigid_only=True``, the paper's
      "w/o Non-Rigid" ablation).
    * Eq. 12: ``V_{j,i} = Psi_i v_j + T_i + W_{j,i} Delta_i``.
    * Eq. 13: ``V_j = sum_i A_{j,i} V_{j,i}``, evaluated in the equivalent
      factored form ``(sum_i A_ji Psi_i) v_j + sum_i A_ji T_i +
      sum_i A_ji W_ji Delta_i`` (no (B, V, N, 3) proposal tensor).

    Blend weights ``A`` (``blend_mode``): the paper only calls ``A`` "a
    learnable weight matrix". ``'normalize'`` (default) uses
    ``clamp(A, 0) / sum_i clamp(A, 0)``: rows are non-negative and sum to 1,
    so an identity target pose reproduces the mesh exactly and translating
    the target translates the mesh; zero weights stay exactly zero (a bone
    does not move vertices it does not influence) while still receiving
    gradients (``clamp_min`` passes gradients at the boundary 0).
    ``'softmax'`` stores logits ``log(max(A0, 1e-8))`` and uses a row
    softmax (same guarantees, but near one-hot rows are saturated and learn
    slowly). ``'none'`` uses the raw matrix, literally as in Eq. 13.

    Initialisation of ``A`` from ``skinning_weights`` (V, J): SMPL's
    weight on joint ``j`` means "moves with the rotation of joint ``j``",
    i.e. with the bone(s) that START at ``j``. So a vertex's weight on
    ``j`` goes to the bone whose parent is ``j``; if ``j`` has several child
    bones (pelvis, spine3) it goes to the child bone nearest to the vertex in
    the rest pose (split evenly without rest geometry); if ``j`` is a leaf
    (head, hands, feet) it goes to the bone ending at ``j``. Without skinning
    weights each vertex is assigned to its nearest rest bone, or uniformly
    to all bones without rest geometry.

    Initialisation of ``W`` from ``rest_vertices`` / ``rest_joints``: the
    vertex's projection parameter along each bone, ``t = clamp((v - p).(c -
    p) / |c - p|^2, 0, 1)`` (0 at the parent, 1 at the child), as suggested
    by the paper's Fig. 6. Without rest geometry ``W`` starts at 0 (rigid
    behaviour until trained).

    Degenerate bones: where the source or the target bone is shorter than
    ``eps`` the rotation is the identity and ``Delta = 0`` (no stretch), so
    the bone's proposal is the source vertex translated by ``p' - p``.

    Shape compensation (optional, off by default; paper Sec. 4.2 (VI),
    part of the paper's default model, 61.1 vs 61.2 mm MPVE in Table 3):
    ``shape_compensation=dict(...)`` adds
    :class:`~mpt_plugin.models.utils.pose_blend_compensation.
    PoseBlendShapeCompensation` after Eq. 13: a two-layer MLP maps the bone
    rotations ``Psi`` (and optional mesh parameters ``Theta``,
    ``mesh_params`` in :meth:`forward`) to SMPL joint rotations whose
    skinned pose blend shapes are added to the calibrated mesh. By default
    the offset is the change relative to the same MLP without calibration
    (``Psi = I``), so an identity target still reproduces the mesh exactly;
    see that module for what the paper leaves open and how it is read here.

    Not implemented: the paper's "extra self-rotation" (an MLP twist about
    the bone; not in the paper's default model, 61.0 vs 61.1 mm).

    Args:
        parents (Sequence[int]): (J,) parent index of every joint, ``-1``
            (or ``2**32 - 1``, the official kintree value) for roots.
        num_vertices (int): Number of mesh vertices ``V``.
        skinning_weights (ArrayLike, optional): (V, J) non-negative linear
            blend skinning weights used to initialise ``A``.
        rest_vertices (ArrayLike, optional): (V, 3) rest-pose vertices in
            metres, used to initialise ``W`` (and to map skinning weights of
            multi-child joints). Must be given together with
            ``rest_joints``.
        rest_joints (ArrayLike, optional): (J, 3) rest-pose joints, metres.
        rigid_only (bool): Drop the non-rigid term ``W Delta`` (ablation).
            Defaults to False.
        blend_mode (str): ``'softmax'``, ``'normalize'`` or ``'none'``.
            Defaults to ``'normalize'``.
        eps (float): Bone length (metres) below which a bone counts as
            degenerate. Defaults to 1e-6.
        shape_compensation (dict, optional): Enables shape compensation.
            Keys: either ``model_path`` (SMPL file or directory, plus
            optional ``gender``) or the arrays ``posedirs`` (V, 3, 9 (J-1)),
            ``lbs_weights`` (V, J) and ``parents`` (J,) of the body model;
            optional ``param_dim`` (size of ``mesh_params``, default 0),
            ``hidden_dim`` (default 256) and ``subtract_reference``
            (default True). The body model must have ``num_vertices``
            vertices. Defaults to None (off).
        init_cfg (dict, optional): MMEngine init config. Defaults to None.
    """

    def __init__(self,
                 parents: Sequence[int],
                 num_vertices: int,
                 skinning_weights: Optional[ArrayLike] = None,
                 rest_vertices: Optional[ArrayLike] = None,
                 rest_joints: Optional[ArrayLike] = None,
                 rigid_only: bool = False,
                 blend_mode: str = 'normalize',
                 eps: float = 1e-6,
                 shape_compensation: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        parents = [int(p) for p in np.asarray(parents).reshape(-1)]
        num_joints = len(parents)
        bone_child, bone_parent = [], []
        for joint, parent in enumerate(parents):
            if parent in _ROOT_SENTINELS:
                continue
            if not 0 <= parent < num_joints or parent == joint:
                raise ValueError(
                    f'parents[{joint}] = {parent} is not a valid parent '
                    f'index (expected -1 for a root or 0..{num_joints - 1}, '
                    'not the joint itself)')
            bone_child.append(joint)
            bone_parent.append(parent)
        if not bone_child:
            raise ValueError('parents must define at least one bone, got '
                             f'{parents}')
        if int(num_vertices) <= 0:
            raise ValueError(
                f'num_vertices must be positive, got {num_vertices}')
        if blend_mode not in _BLEND_MODES:
            raise ValueError(f'blend_mode must be one of {_BLEND_MODES}, got '
                             f'{blend_mode!r}')
        if (rest_vertices is None) != (rest_joints is None):
            raise ValueError('rest_vertices and rest_joints must be given '
                             'together')

        self.num_joints = num_joints
        self.num_vertices = int(num_vertices)
        self.num_bones = len(bone_child)
        self.rigid_only = bool(rigid_only)
        self.blend_mode = blend_mode
        self.eps = float(eps)
        self.parents = parents
        self.register_buffer(
            'bone_parent', torch.tensor(bone_parent, dtype=torch.long),
            persistent=False)
        self.register_buffer(
            'bone_child', torch.tensor(bone_child, dtype=torch.long),
            persistent=False)

        nv, nj, nb = self.num_vertices, num_joints, self.num_bones
        t_init = torch.zeros(nv, nb)
        dist = None
        if rest_vertices is not None:
            verts = _as_tensor(rest_vertices, 'rest_vertices', (nv, 3))
            joints = _as_tensor(rest_joints, 'rest_joints', (nj, 3))
            t_init, dist = self._project_on_bones(verts, joints)
        blend_init = self._init_blend(skinning_weights, dist)

        self.W = nn.Parameter(t_init)
        if blend_mode == 'softmax':
            self.A = nn.Parameter(torch.log(blend_init.clamp_min(1e-8)))
        else:
            self.A = nn.Parameter(blend_init)
        self.shape_compensation = self._build_shape_compensation(
            shape_compensation)

    # ------------------------------------------------------------------
    # initialisation helpers
    # ------------------------------------------------------------------
    def _build_shape_compensation(
            self, cfg: Optional[dict]) -> Optional[PoseBlendShapeCompensation]:
        """The optional shape compensation module (None when off)."""
        if cfg is None:
            return None
        if not isinstance(cfg, dict):
            raise ValueError('shape_compensation must be a dict or None, got '
                             f'{type(cfg).__name__}')
        cfg = dict(cfg)
        options = {
            k: cfg.pop(k)
            for k in ('param_dim', 'hidden_dim', 'subtract_reference')
            if k in cfg
        }
        if 'model_path' in cfg:
            module = PoseBlendShapeCompensation.from_body_model(
                cfg.pop('model_path'), self.num_bones,
                gender=cfg.pop('gender', 'neutral'), **options)
        else:
            missing = [k for k in ('posedirs', 'lbs_weights', 'parents')
                       if k not in cfg]
            if missing:
                raise KeyError(
                    'shape_compensation needs model_path or posedirs, '
                    f'lbs_weights and parents; missing {missing}')
            module = PoseBlendShapeCompensation(
                cfg.pop('posedirs'), cfg.pop('lbs_weights'),
                cfg.pop('parents'), self.num_bones, **options)
        if cfg:
            raise KeyError('unknown shape_compensation keys '
                           f'{sorted(cfg)}')
        if module.num_vertices != self.num_vertices:
            raise ValueError(
                f'shape_compensation body model has {module.num_vertices} '
                f'vertices, the neck {self.num_vertices}')
        return module

    def _project_on_bones(self, verts: Tensor, joints: Tensor) -> tuple:
        """(V, N) clamped projection parameters and point-segment distances.
        """
        start = joints[self.bone_parent]  # (N, 3)
        end = joints[self.bone_child]  # (N, 3)
        seg = end - start
        len2 = (seg * seg).sum(-1).clamp_min(self.eps**2)  # (N,)
        rel = verts[:, None, :] - start[None]  # (V, N, 3)
        t = ((rel * seg[None]).sum(-1) / len2).clamp(0.0, 1.0)  # (V, N)
        closest = start[None] + t[..., None] * seg[None]
        dist = (verts[:, None, :] - closest).norm(dim=-1)  # (V, N)
        return t, dist

    def _init_blend(self, skinning_weights: Optional[ArrayLike],
                    dist: Optional[Tensor]) -> Tensor:
        """(V, N) initial blend weights, rows non-negative and summing to 1.
        """
        nv, nj, nb = self.num_vertices, self.num_joints, self.num_bones
        if skinning_weights is None:
            if dist is None:
                return torch.full((nv, nb), 1.0 / nb)
            return F.one_hot(dist.argmin(-1), nb).float()

        skin = _as_tensor(skinning_weights, 'skinning_weights', (nv, nj))
        if (skin < 0).any():
            raise ValueError('skinning_weights must be non-negative')
        # Candidate bones of every joint (J, N): bones starting at the
        # joint; for leaves, the bone ending at it; else all bones.
        cand = self.bone_parent[None, :] == torch.arange(nj)[:, None]
        ending = self.bone_child[None, :] == torch.arange(nj)[:, None]
        no_child = ~cand.any(-1, keepdim=True)
        cand = torch.where(no_child, ending, cand)
        isolated = ~cand.any(-1, keepdim=True)
        cand = cand | isolated
        if dist is None:
            joint_to_bone = cand.float() / cand.float().sum(-1, keepdim=True)
            blend = skin @ joint_to_bone  # (V, N)
        else:
            masked = torch.where(cand[None], dist[:, None, :],
                                 torch.full_like(dist[:, None, :], np.inf))
            choice = F.one_hot(masked.argmin(-1), nb).float()  # (V, J, N)
            blend = torch.einsum('vj,vjn->vn', skin, choice)
        row_sum = blend.sum(-1, keepdim=True)
        if (row_sum <= 0).any():
            bad = int((row_sum[:, 0] <= 0).nonzero()[0, 0])
            raise ValueError('skinning_weights must have a positive sum in '
                             f'every row; row {bad} sums to 0')
        return blend / row_sum

    # ------------------------------------------------------------------
    # forward
    # ------------------------------------------------------------------
    def blend_weights(self) -> Tensor:
        """Effective blend matrix ``A`` (V, N) used in Eq. 13."""
        if self.blend_mode == 'softmax':
            return self.A.softmax(dim=-1)
        if self.blend_mode == 'normalize':
            pos = self.A.clamp_min(0.0)
            return pos / pos.sum(-1, keepdim=True).clamp_min(1e-12)
        return self.A

    def _check_points(self, value: Tensor, name: str, num: int) -> None:
        if not isinstance(value, Tensor):
            raise ValueError(f'{name} must be a torch.Tensor, got '
                             f'{type(value).__name__}')
        if value.dim() != 3 or value.shape[1] != num or value.shape[2] != 3:
            raise ValueError(f'{name} must have shape (B, {num}, 3), got '
                             f'{tuple(value.shape)}')
        if not torch.isfinite(value).all():
            raise ValueError(f'{name} contains NaN or Inf values')

    def bone_transforms(self, joints: Tensor,
                        target_joints: Tensor) -> Dict[str, Tensor]:
        """Per-bone rigid + non-rigid transform, Eq. 6-10.

        Args:
            joints (Tensor): (B, J, 3) source joints ``J^hmr``, metres.
            target_joints (Tensor): (B, J, 3) target joints, metres.

        Returns:
            dict: ``rotation`` (B, N, 3, 3) ``Psi``, ``translation``
            (B, N, 3) ``T``, ``delta`` (B, N, 3) ``Delta`` (zero for
            degenerate bones and with ``rigid_only``), ``valid`` (B, N) bool,
            False for degenerate bones.
        """
        src_p = joints[:, self.bone_parent]  # (B, N, 3)
        src_c = joints[:, self.bone_child]
        tgt_p = target_joints[:, self.bone_parent]
        tgt_c = target_joints[:, self.bone_child]
        # Eq. 6-7 (b = J_p - J_c, as in the paper).
        rot, valid = rotation_between_vectors(src_p - src_c, tgt_p - tgt_c,
                                              eps=self.eps)
        # Eq. 8.
        trans = tgt_p - torch.einsum('bnij,bnj->bni', rot, src_p)
        # Eq. 9-10.
        child_hat = torch.einsum('bnij,bnj->bni', rot, src_c) + trans
        delta = tgt_c - child_hat
        if self.rigid_only:
            delta = torch.zeros_like(delta)
        else:
            delta = torch.where(valid[..., None], delta,
                                torch.zeros_like(delta))
        return dict(
            rotation=rot, translation=trans, delta=delta, valid=valid)

    def forward(self,
                vertices: Tensor,
                joints: Tensor,
                target_joints: Tensor,
                mesh_params: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """Calibrate ``vertices`` from the pose ``joints`` to
        ``target_joints``.

        Args:
            vertices (Tensor): (B, V, 3) regressed mesh ``M^hmr``, metres.
            joints (Tensor): (B, J, 3) joints of that mesh ``J^hmr``
                (e.g. regressed from it), metres.
            target_joints (Tensor): (B, J, 3) target pose ``J^target``,
                metres, same joint order as ``joints``.
            mesh_params (Tensor, optional): (B, P) mesh parameters
                ``Theta`` for the shape compensation (ignored when it is
                off; required when it was built with ``param_dim > 0``).

        Returns:
            dict:
            - vertices (Tensor): (B, V, 3) calibrated mesh ``M^target``
              (including the shape compensation when enabled).
            - joints (Tensor): (B, J, 3) calibrated joints, i.e.
              ``target_joints`` (returned as is, gradients flow).
            - shape_offsets (Tensor): (B, V, 3) the compensation offsets
              (only with shape compensation).
        """
        self._check_points(vertices, 'vertices', self.num_vertices)
        self._check_points(joints, 'joints', self.num_joints)
        self._check_points(target_joints, 'target_joints', self.num_joints)
        if not vertices.shape[0] == joints.shape[0] == target_joints.shape[0]:
            raise ValueError(
                'vertices, joints and target_joints must share the batch '
                f'size, got {vertices.shape[0]}, {joints.shape[0]} and '
                f'{target_joints.shape[0]}')
        dtype = vertices.dtype
        joints = joints.to(dtype)
        target_joints = target_joints.to(dtype)

        tf = self.bone_transforms(joints, target_joints)
        blend = self.blend_weights().to(dtype)  # (V, N) = A
        # Eq. 12-13 factored: sum_i A_ji (Psi_i v_j + T_i + W_ji Delta_i).
        rot_blend = torch.einsum('vn,bnij->bvij', blend, tf['rotation'])
        out = torch.einsum('bvij,bvj->bvi', rot_blend, vertices)
        out = out + torch.einsum('vn,bni->bvi', blend, tf['translation'])
        if not self.rigid_only:
            stretch = blend * self.W.to(dtype)  # (V, N) = A * W
            out = out + torch.einsum('vn,bni->bvi', stretch, tf['delta'])
        if self.shape_compensation is None:
            return dict(vertices=out, joints=target_joints)
        comp = self.shape_compensation(tf['rotation'], mesh_params)
        offsets = comp['offsets'].to(dtype)
        return dict(
            vertices=out + offsets, joints=target_joints,
            shape_offsets=offsets)
