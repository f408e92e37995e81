"""SMPL body model on top of ``smplx.SMPL``, loaded without unpickling.

Dimensions: ``B`` batch, ``V`` vertices (6890 for SMPL), ``S`` shape
coefficients, ``J`` joints. Lengths are in metres; rotations are axis-angle
(radians) or 3x3 rotation matrices.
"""
import contextlib
import io
import os
import os.path as osp
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np
import torch
from mmengine.logging import print_log
from smplx import SMPL
from smplx.lbs import batch_rodrigues
from smplx.utils import Struct

from mpt_plugin.registry import MODELS
from .io import load_body_model_file, load_joint_regressor

PathLike = Union[str, os.PathLike]

#: Number of vertices of the SMPL mesh topology; the 21 smplx landmark
#: joints (vertex ids from ``smplx/vertex_ids.py``) only exist on it.
SMPL_NUM_VERTICES = 6890

#: Accepted genders and the file-name stem of each in a model directory.
GENDER_FILE_STEMS = {
    'neutral': 'SMPL_NEUTRAL',
    'male': 'SMPL_MALE',
    'female': 'SMPL_FEMALE',
}


def kinematic_levels(parents: List[int]) -> Optional[List[Tuple[int, int]]]:
    """Cuts a kinematic tree into contiguous ranges of equal depth.

    Args:
        parents (list[int]): ``J`` parent indices, ``-1`` (or any negative
            value) for the root, which must be joint 0.

    Returns:
        list[tuple[int, int]] | None: ``[(start, end), ...]`` half-open
        joint ranges of depth 1, 2, ... in order, whose parents all lie in
        earlier ranges; ``None`` when the joints are not listed breadth
        first (then no such cut exists). SMPL gives
        ``[(1, 4), (4, 7), (7, 10), (10, 15), (15, 18), (18, 20), (20, 22),
        (22, 24)]``.
    """
    if not parents or parents[0] >= 0:
        return None
    depth = [0]
    for joint, parent in enumerate(parents[1:], start=1):
        if not 0 <= parent < joint:
            return None
        depth.append(depth[parent] + 1)
    if any(b < a for a, b in zip(depth, depth[1:])):
        return None
    levels, start = [], 1
    for joint in range(2, len(parents) + 1):
        if joint == len(parents) or depth[joint] != depth[start]:
            levels.append((start, joint))
            start = joint
    return levels


def resolve_smpl_model_file(model_path: PathLike, gender: str) -> str:
    """Finds the SMPL file for ``gender``.

    Args:
        model_path (str | os.PathLike): A ``.npz``/``.pkl`` file, or a
            directory holding ``SMPL_{NEUTRAL,MALE,FEMALE}.{npz,pkl}``
            (``.npz`` preferred when both exist).
        gender (str): ``'neutral'``, ``'male'`` or ``'female'``.

    Returns:
        str: Path of the model file.

    Raises:
        ValueError: Unknown gender.
        FileNotFoundError: No matching file.
    """
    if gender not in GENDER_FILE_STEMS:
        raise ValueError(f'unknown SMPL gender {gender!r}; expected one of '
                         f'{sorted(GENDER_FILE_STEMS)}')
    return find_model_file(model_path, GENDER_FILE_STEMS[gender],
                           f'{gender} SMPL', 'SMPL')


def find_model_file(model_path: PathLike, stem: str, what: str,
                    kind: str) -> str:
    """``model_path`` itself when it is a file, else ``{stem}.npz`` (or
    ``.pkl``) in that folder; FileNotFoundError naming ``what`` / ``kind``
    (e.g. ``'neutral SMPL'`` / ``'SMPL'``) and the names looked for."""
    model_path = os.fspath(model_path)
    if osp.isdir(model_path):
        candidates = [
            osp.join(model_path, f'{stem}.{ext}') for ext in ('npz', 'pkl')
        ]
        for candidate in candidates:
            if osp.isfile(candidate):
                return candidate
        raise FileNotFoundError(
            f'no {what} model in {model_path}: looked for '
            f'{[osp.basename(c) for c in candidates]}')
    if not osp.isfile(model_path):
        raise FileNotFoundError(f'{kind} model path not found: {model_path}')
    return model_path


@MODELS.register_module()
class MPTSMPL(SMPL):
    """SMPL layer built from a safely loaded model file.

    The file is read with :func:`~mpt_plugin.body_models.io.
    load_body_model_file` and handed to smplx as ``data_struct``, so smplx
    never unpickles anything. Unlike ``smplx.SMPL`` the module has, by
    default, no free parameters (``create_betas`` etc. default to False) and
    its buffers (template, blend shapes, regressors) are non-persistent: the
    body model is defined by ``model_path``, never by a checkpoint.

    Joints: on the SMPL topology (``V == 6890``) ``joints`` holds the
    ``'smpl_45'`` convention (24 kinematic joints + 21 vertex landmarks of
    smplx); on any other mesh the landmark vertex ids are meaningless, so
    ``joints`` holds only the 24 (``J``) kinematic joints (``'smpl_24'``).
    :attr:`joint_convention` says which.

    Args:
        model_path (str | os.PathLike): Model file, or a directory holding
            ``SMPL_{NEUTRAL,MALE,FEMALE}.{npz,pkl}``.
        gender (str): ``'neutral'``, ``'male'`` or ``'female'``. Defaults to
            ``'neutral'``.
        num_betas (int): Shape coefficients used (at most the file's
            ``S``). Defaults to 10.
        joints_regressor (str | os.PathLike, optional): ``.npy`` ``(J', V)``
            regressor (e.g. the 17-joint ``J_regressor_h36m.npy``) whose
            joints are returned as ``joints_regressed``. Defaults to None.
        check_finite (bool): Check that inputs are finite (one device sync
            per forward). Defaults to True.
        fast_inference (bool): Without autograd (``torch.no_grad`` /
            ``torch.inference_mode``) pose the mesh with :meth:`fast_lbs`
            instead of ``smplx.lbs`` (same result up to float rounding,
            about 1e-6 m in float32). With autograd enabled the smplx path
            is always used. Defaults to True.
        **kwargs: Passed to ``smplx.SMPL`` (``dtype``, ``batch_size``,
            ``create_transl``, ``vertex_ids``, ...).
    """

    #: Samples skinned at once by :meth:`fast_lbs` (bounds the (chunk, V,
    #: 12) blended transforms to about 5 MB for SMPL).
    SKIN_CHUNK = 16

    def __init__(self,
                 model_path: PathLike,
                 gender: str = 'neutral',
                 num_betas: int = 10,
                 joints_regressor: Optional[PathLike] = None,
                 check_finite: bool = True,
                 fast_inference: bool = True,
                 **kwargs: Any) -> None:
        if 'data_struct' in kwargs:
            raise TypeError('MPTSMPL loads model_path itself; do not pass '
                            'data_struct')
        if kwargs.get('age', 'adult') != 'adult':
            raise ValueError('MPTSMPL supports only age="adult" (the SMIL '
                             f'kid template is not handled), got '
                             f'{kwargs["age"]!r}')
        model_file = resolve_smpl_model_file(model_path, gender)
        data = load_body_model_file(model_file)
        num_model_joints = data['J_regressor'].shape[0]
        if num_model_joints != self.NUM_BODY_JOINTS + 1:
            raise ValueError(
                f'{model_file}: MPTSMPL needs an SMPL model with '
                f'{self.NUM_BODY_JOINTS + 1} joints, the file has '
                f'{num_model_joints} (SMPL-H/SMPL-X files are not SMPL)')
        if int(num_betas) < 1:
            raise ValueError(f'num_betas must be >= 1, got {num_betas}')
        num_shape = data['shapedirs'].shape[-1]
        if num_betas > num_shape:
            print_log(
                f'{model_file} has {num_shape} shape components; using '
                f'num_betas={num_shape} instead of {num_betas}',
                logger='current')
        num_betas = min(int(num_betas), num_shape)
        for key in ('create_betas', 'create_global_orient',
                    'create_body_pose', 'create_transl'):
            kwargs.setdefault(key, False)

        # smplx prints a misleading warning for files with < 300 shape
        # components and clamps num_betas to 10 there; the shape space is
        # set explicitly below instead.
        with contextlib.redirect_stdout(io.StringIO()):
            super().__init__(
                model_path=model_file,
                data_struct=Struct(**data),
                num_betas=num_betas,
                gender=gender,
                **kwargs)
        self.model_file = model_file
        self.check_finite = check_finite
        self.fast_inference = bool(fast_inference)
        # smplx rounds every array through float32 before casting to
        # ``dtype``; reload them at full precision (same layouts as smplx).
        dtype = self.v_template.dtype
        if 'v_template' not in kwargs:
            self.v_template = torch.as_tensor(data['v_template'], dtype=dtype)
        self.shapedirs = torch.as_tensor(
            data['shapedirs'][:, :, :num_betas], dtype=dtype)
        posedirs = data['posedirs']
        # (P, 3V) C-contiguous: a transposed view makes the pose-blend
        # matmul 2-3x slower on CPU.
        self.posedirs = torch.as_tensor(
            np.ascontiguousarray(posedirs.reshape(-1, posedirs.shape[-1]).T),
            dtype=dtype)
        self.J_regressor = torch.as_tensor(data['J_regressor'], dtype=dtype)
        self.lbs_weights = torch.as_tensor(data['weights'], dtype=dtype)
        self._num_betas = num_betas
        if isinstance(getattr(self, 'betas', None), torch.nn.Parameter) and \
                self.betas.shape[-1] != num_betas:
            self.betas = torch.nn.Parameter(
                self.betas.new_zeros(self.betas.shape[0], num_betas))

        num_verts = self.v_template.shape[0]
        if num_verts != SMPL_NUM_VERTICES:
            # Landmark vertex ids only make sense on the SMPL topology.
            self.vertex_joint_selector.extra_joints_idxs = torch.zeros(
                0, dtype=torch.long)
        self.joint_convention = ('smpl_45' if num_verts == SMPL_NUM_VERTICES
                                 else 'smpl_24')

        self.joints_regressor_path = joints_regressor
        if joints_regressor is not None:
            j_reg = load_joint_regressor(
                joints_regressor, num_vertices=num_verts)
            self.register_buffer(
                'joints_regressor', torch.as_tensor(j_reg, dtype=dtype))
        else:
            self.register_buffer('joints_regressor', None)
        self._make_buffers_non_persistent()
        self._init_fast_lbs()

    def _init_fast_lbs(self) -> None:
        """Precomputes the constants of :meth:`fast_lbs`.

        - ``fast_shapedirs`` ``(S, 3V)``: the shape blend shapes as one
          matrix, so ``v_shaped = v_template + betas @ fast_shapedirs``;
        - ``fast_joint_template`` ``(1, 3J)`` and ``fast_joint_shapedirs``
          ``(S, 3J)`` metres: the joint regressor applied to the template
          and to the blend shapes (float64, then cast), so the rest joints
          are a ``(B, S) @ (S, 3J)`` product instead of a ``(J, V)``
          regression of the shaped mesh;
        - :attr:`fast_levels`: the kinematic tree cut into depth levels,
          each a contiguous range of joints (SMPL lists its joints breadth
          first), so the chain of transforms takes one batched matmul per
          level (8 for SMPL) instead of one per joint (23). ``None`` when
          the tree is not ordered that way: :meth:`fast_lbs` is then never
          used.
        """
        dtype = self.v_template.dtype
        num_verts, num_betas = self.v_template.shape[0], self.num_betas
        shapedirs = self.shapedirs.detach().to(torch.float64)  # (V, 3, S)
        regressor = self.J_regressor.detach().to(torch.float64)  # (J, V)
        template = self.v_template.detach().to(torch.float64)  # (V, 3)
        flat_shapedirs = shapedirs.reshape(num_verts * 3, num_betas).T
        joint_template = (regressor @ template).reshape(1, -1)
        joint_shapedirs = torch.einsum('jv,vcs->sjc', regressor,
                                       shapedirs).reshape(num_betas, -1)
        for name, value in (('fast_shapedirs', flat_shapedirs),
                            ('fast_joint_template', joint_template),
                            ('fast_joint_shapedirs', joint_shapedirs)):
            self.register_buffer(name, value.to(dtype).contiguous(),
                                 persistent=False)
        self.fast_levels = kinematic_levels(self.parents.tolist())

    def _use_fast_lbs(self, kwargs: dict) -> bool:
        """Whether :meth:`forward` may use :meth:`fast_lbs`."""
        return (self.fast_inference and self.fast_levels is not None
                and not torch.is_grad_enabled() and not kwargs
                and self.joint_mapper is None)

    def fast_lbs(self, betas: torch.Tensor,
                 rot_mats: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Linear blend skinning for inference (no autograd).

        Computes what ``smplx.lbs(..., pose2rot=False)`` does with fewer,
        larger operations: two ``addmm`` for the shape and pose blend
        shapes (the pose-blend matrix is C-contiguous ``(207, 3V)``), the
        rest joints from precomputed regressed blend shapes, the transform
        chain one kinematic level at a time, and the skinning as
        ``(V, J) @ (b, J, 12)`` products over chunks of
        :attr:`SKIN_CHUNK` samples followed by three multiply-adds instead
        of ``B V`` tiny 4x4 matmuls. Matches ``smplx.lbs`` up to float
        rounding (about 1e-6 m in float32). :meth:`forward` uses it when
        autograd is off and ``fast_inference`` is True.

        Args:
            betas (torch.Tensor): ``(B, S)`` shape coefficients with
                ``S == num_betas``.
            rot_mats (torch.Tensor): ``(B, J, 3, 3)`` joint rotations
                (global orient first, then the 23 body joints).

        Returns:
            tuple[torch.Tensor, torch.Tensor]: ``vertices`` ``(B, V, 3)``
            and the posed kinematic ``joints`` ``(B, J, 3)``, metres,
            untranslated (the root joint stays at its shaped rest
            position).

        Raises:
            RuntimeError: The kinematic tree is not level-ordered (see
                :meth:`_init_fast_lbs`).
        """
        if self.fast_levels is None:
            raise RuntimeError('fast_lbs needs a breadth-first ordered '
                               'kinematic tree')
        batch, num_joints = rot_mats.shape[:2]
        num_verts = self.v_template.shape[0]
        parents = self.parents
        # Shape and pose blend shapes: (B, 3V), one addmm each.
        v_shaped = torch.addmm(self.v_template.reshape(1, -1), betas,
                               self.fast_shapedirs)
        joints = torch.addmm(self.fast_joint_template, betas,
                             self.fast_joint_shapedirs).view(
                                 batch, num_joints, 3)
        ident = torch.eye(3, dtype=rot_mats.dtype, device=rot_mats.device)
        pose_feature = (rot_mats[:, 1:] - ident).reshape(batch, -1)
        v_posed = torch.addmm(v_shaped, pose_feature,
                              self.posedirs).view(batch, num_verts, 3)

        # Local rigid transforms [R | t] (B, J, 4, 4), t relative to the
        # parent joint, then the global chain, one level at a time.
        local = rot_mats.new_zeros(batch, num_joints, 4, 4)
        local[:, :, :3, :3] = rot_mats
        local[:, 0, :3, 3] = joints[:, 0]
        local[:, 1:, :3, 3] = joints[:, 1:] - joints[:, parents[1:]]
        local[:, :, 3, 3] = 1.0
        chain = torch.empty_like(local)
        chain[:, 0] = local[:, 0]
        for start, end in self.fast_levels:
            chain[:, start:end] = torch.matmul(chain[:, parents[start:end]],
                                               local[:, start:end])
        posed_joints = chain[:, :, :3, 3].clone()  # (B, J, 3)
        # Transforms relative to the rest pose: t' = t - R j_rest.
        rel = chain[:, :, :3, :]  # (B, J, 3, 4) view
        rel[..., 3] -= torch.matmul(rel[..., :3], joints[..., None])[..., 0]
        rel = rel.reshape(batch, num_joints, 12)
        # Skinning in chunks of samples, so the per-vertex blended
        # transforms (chunk, V, 3, 4) stay in the CPU cache: R v + t as
        # three multiply-adds (no (V, 3, 3) temporaries, no tiny matmuls).
        vertices = v_posed.new_empty(batch, num_verts, 3)
        for start in range(0, batch, self.SKIN_CHUNK):
            end = min(start + self.SKIN_CHUNK, batch)
            blended = torch.matmul(self.lbs_weights, rel[start:end]).view(
                end - start, num_verts, 3, 4)
            out = vertices[start:end]
            out.copy_(blended[..., 3])
            for k in range(3):
                out.addcmul_(blended[..., k], v_posed[start:end, :, k:k + 1])
        return vertices, posed_joints

    def _make_buffers_non_persistent(self) -> None:
        for module in self.modules():
            for name in list(module._buffers):
                buf = module._buffers.pop(name)
                module.register_buffer(name, buf, persistent=False)

    @property
    def num_vertices(self) -> int:
        """Number of mesh vertices ``V``."""
        return int(self.v_template.shape[0])

    @property
    def num_joints(self) -> int:
        """Number of joints in the ``joints`` output (45 or 24)."""
        return int(self.J_regressor.shape[0] +
                   self.vertex_joint_selector.extra_joints_idxs.numel())

    def _prepare(self, name: str, value: Any, trailing: tuple,
                 alt_trailing: Optional[tuple] = None) -> torch.Tensor:
        """Checks type/shape and casts to the model dtype (finiteness is
        checked for all inputs at once by :meth:`_check_finite`)."""
        if not torch.is_tensor(value):
            if isinstance(value, np.ndarray):
                value = torch.from_numpy(value)
            else:
                raise TypeError(f'{name} must be a torch.Tensor, got '
                                f'{type(value).__name__}')
        shape = tuple(value.shape[1:])
        if value.ndim < 1 or (shape != trailing and shape != alt_trailing):
            want = f'(B, {", ".join(map(str, trailing))})'
            if alt_trailing is not None:
                want += f' or (B, {", ".join(map(str, alt_trailing))})'
            raise ValueError(f'{name} expected shape {want}, got '
                             f'{tuple(value.shape)}')
        return value.to(dtype=self.v_template.dtype)

    def _prepare_betas(self, betas: Any) -> Optional[torch.Tensor]:
        """(B, S) shape coefficients, S <= ``num_betas``, zero-padded to
        (B, num_betas) in the model's dtype and device; None stays None."""
        if betas is None:
            return None
        if not torch.is_tensor(betas) and not isinstance(betas, np.ndarray):
            raise TypeError('betas must be a torch.Tensor, got '
                            f'{type(betas).__name__}')
        if betas.ndim != 2 or betas.shape[1] > self.num_betas:
            raise ValueError(f'betas expected shape (B, S) with S <= '
                             f'{self.num_betas}, got {tuple(betas.shape)}')
        betas = self._prepare('betas', betas, (betas.shape[1], ))
        if betas.shape[1] < self.num_betas:
            betas = torch.nn.functional.pad(
                betas, (0, self.num_betas - betas.shape[1]))
        return betas

    def _batch_size(self, given: Dict[str, Optional[torch.Tensor]]) -> int:
        """The batch size the given inputs agree on (the layer's own when
        none is given), after checking they are finite."""
        sizes = {k: int(v.shape[0]) for k, v in given.items() if v is not None}
        if len(set(sizes.values())) > 1:
            raise ValueError(f'inputs disagree on the batch size: {sizes}')
        self._check_finite(given)
        return next(iter(sizes.values())) if sizes else self.batch_size

    def _check_finite(self, given: Dict[str, Optional[torch.Tensor]]) -> None:
        """Raises ValueError naming the first input with NaN/inf.

        One device sync for all inputs: the sum of the inputs' sums is
        finite iff every element is (a sum only overflows on finite values
        near the dtype's maximum); only when it is not are the inputs
        checked one by one, so such huge finite inputs are still accepted.
        """
        values = [(k, v) for k, v in given.items() if v is not None]
        if not self.check_finite or not values:
            return
        total = values[0][1].sum()
        for _, value in values[1:]:
            total = total + value.sum()
        if bool(torch.isfinite(total)):
            return
        for name, value in values:
            if not bool(torch.isfinite(value).all()):
                raise ValueError(
                    f'{name} contains non-finite values (NaN/inf)')

    def _default(self, name: str, batch_size: int, pose2rot: bool,
                 num_rot: int, device: torch.device) -> torch.Tensor:
        """Value used when an input is omitted: the module's parameter if
        it has one (``create_*=True``), else zeros / identity rotations."""
        dtype = self.v_template.dtype
        param = getattr(self, name, None)
        if isinstance(param, torch.Tensor):
            if param.shape[0] not in (1, batch_size):
                raise ValueError(
                    f'module parameter {name} has batch {param.shape[0]}, '
                    f'inputs have batch {batch_size}')
            value = param.expand(batch_size, *param.shape[1:])
            if num_rot and not pose2rot:
                value = batch_rodrigues(value.reshape(-1, 3)).view(
                    batch_size, num_rot, 3, 3)
            return value
        if name == 'betas':
            return torch.zeros(
                batch_size, self.num_betas, dtype=dtype, device=device)
        if name == 'transl':
            return torch.zeros(batch_size, 3, dtype=dtype, device=device)
        if pose2rot:
            return torch.zeros(
                batch_size, num_rot * 3, dtype=dtype, device=device)
        eye = torch.eye(3, dtype=dtype, device=device)
        return eye.expand(batch_size, num_rot, 3, 3)

    def forward(self,
                betas: Optional[torch.Tensor] = None,
                body_pose: Optional[torch.Tensor] = None,
                global_orient: Optional[torch.Tensor] = None,
                transl: Optional[torch.Tensor] = None,
                pose2rot: bool = True,
                **kwargs: Any) -> Dict[str, torch.Tensor]:
        """Poses the mesh.

        Args:
            betas (torch.Tensor, optional): ``(B, S')`` with
                ``S' <= num_betas``; missing columns are zero.
            body_pose (torch.Tensor, optional): With ``pose2rot=True``
                axis-angle ``(B, 69)`` or ``(B, 23, 3)``; with
                ``pose2rot=False`` rotation matrices ``(B, 23, 3, 3)``.
            global_orient (torch.Tensor, optional): ``(B, 3)`` /
                ``(B, 1, 3)`` axis-angle, or ``(B, 1, 3, 3)`` / ``(B, 3, 3)``
                rotation matrices with ``pose2rot=False``.
            transl (torch.Tensor, optional): ``(B, 3)`` metres.
            pose2rot (bool): Whether poses are axis-angle. Defaults to True.
            **kwargs: Passed to ``smplx.SMPL.forward``.

        Omitted inputs are zero (identity rotations), or the module's
        parameters when built with ``create_*=True``. All given inputs must
        share the batch size ``B`` (``B = batch_size`` when none is given).

        Returns:
            dict[str, torch.Tensor]:

            - ``vertices``: ``(B, V, 3)`` metres.
            - ``joints``: ``(B, 45, 3)`` (``'smpl_45'``) on the SMPL mesh,
              ``(B, 24, 3)`` (``'smpl_24'``) otherwise, metres.
            - ``joints_regressed``: ``(B, J', 3)`` metres, only when
              ``joints_regressor`` was given.
        """
        num_body = self.NUM_BODY_JOINTS
        if pose2rot:
            body_pose = None if body_pose is None else self._prepare(
                'body_pose', body_pose, (num_body * 3, ), (num_body, 3))
            global_orient = None if global_orient is None else self._prepare(
                'global_orient', global_orient, (3, ), (1, 3))
        else:
            body_pose = None if body_pose is None else self._prepare(
                'body_pose (pose2rot=False)', body_pose, (num_body, 3, 3))
            global_orient = None if global_orient is None else self._prepare(
                'global_orient (pose2rot=False)', global_orient, (1, 3, 3),
                (3, 3))
        transl = None if transl is None else self._prepare(
            'transl', transl, (3, ))
        betas = self._prepare_betas(betas)

        given = {
            'betas': betas,
            'body_pose': body_pose,
            'global_orient': global_orient,
            'transl': transl
        }
        batch_size = self._batch_size(given)
        device = self.v_template.device

        if betas is None:
            betas = self._default('betas', batch_size, pose2rot, 0, device)
        if body_pose is None:
            body_pose = self._default('body_pose', batch_size, pose2rot,
                                      num_body, device)
        if global_orient is None:
            global_orient = self._default('global_orient', batch_size,
                                          pose2rot, 1, device)
        apply_transl = transl is not None or isinstance(
            getattr(self, 'transl', None), torch.Tensor)
        if transl is None:
            transl = self._default('transl', batch_size, pose2rot, 0, device)
        if self._use_fast_lbs(kwargs):
            if pose2rot:
                rot_mats = batch_rodrigues(
                    torch.cat([
                        global_orient.reshape(batch_size, 3),
                        body_pose.reshape(batch_size, num_body * 3)
                    ], dim=1).view(-1, 3)).view(batch_size, -1, 3, 3)
            else:
                rot_mats = torch.cat([
                    global_orient.reshape(batch_size, 1, 3, 3),
                    body_pose.reshape(batch_size, num_body, 3, 3)
                ], dim=1)
            vertices, joints = self.fast_lbs(
                betas.expand(batch_size, -1), rot_mats)
            joints = self.vertex_joint_selector(vertices, joints)
            if apply_transl:  # adding the zero default would change nothing
                vertices = vertices + transl[:, None]
                joints = joints + transl[:, None]
            return self._result(vertices, joints)
        if pose2rot:
            body_pose = body_pose.reshape(batch_size, num_body * 3)
            global_orient = global_orient.reshape(batch_size, 3)
        else:
            body_pose = body_pose.reshape(batch_size, num_body, 3, 3)
            global_orient = global_orient.reshape(batch_size, 1, 3, 3)

        output = super().forward(
            betas=betas,
            body_pose=body_pose,
            global_orient=global_orient,
            transl=transl,
            pose2rot=pose2rot,
            **kwargs)
        return self._result(output.vertices, output.joints)

    def _result(self, vertices: torch.Tensor,
                joints: torch.Tensor) -> Dict[str, torch.Tensor]:
        result = {'vertices': vertices, 'joints': joints}
        if self.joints_regressor is not None:
            result['joints_regressed'] = torch.einsum(
                'jv,bvc->bjc', self.joints_regressor, vertices)
        return result

    def extra_repr(self) -> str:
        msg = [
            super().extra_repr(), f'Model file: {self.model_file}',
            f'Joint convention: {self.joint_convention}'
        ]
        if self.joints_regressor is not None:
            msg.append('Extra joints regressor: '
                       f'{self.joints_regressor_path} '
                       f'{tuple(self.joints_regressor.shape)}')
        return '\n'.join(msg)
