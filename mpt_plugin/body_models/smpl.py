"""SMPL body model on top of ``smplx.SMPL``, loaded without unpickling.

Dimensions: ``B`` batch, ``V`` vertices (6890 for SMPL), ``S`` shape
coefficients, ``J`` joints. Lengths are in metres; rotations are axis-angle
(radians) or 3x3 rotation matrices.
"""
import contextlib
import io
import os
import os.path as osp
from typing import Any, Dict, Optional, Union

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
    model_path = os.fspath(model_path)
    if osp.isdir(model_path):
        stem = GENDER_FILE_STEMS[gender]
        candidates = [
            osp.join(model_path, f'{stem}.{ext}') for ext in ('npz', 'pkl')
        ]
        for candidate in candidates:
            if osp.isfile(candidate):
                return candidate
        raise FileNotFoundError(
            f'no {gender} SMPL model in {model_path}: looked for '
            f'{[osp.basename(c) for c in candidates]}')
    if not osp.isfile(model_path):
        raise FileNotFoundError(f'SMPL model path not found: {model_path}')
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
        **kwargs: Passed to ``smplx.SMPL`` (``dtype``, ``batch_size``,
            ``create_transl``, ``vertex_ids``, ...).
    """

    def __init__(self,
                 model_path: PathLike,
                 gender: str = 'neutral',
                 num_betas: int = 10,
                 joints_regressor: Optional[PathLike] = None,
                 check_finite: bool = True,
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
        # smplx rounds every array through float32 before casting to
        # ``dtype``; reload them at full precision (same layouts as smplx).
        dtype = self.v_template.dtype
        if 'v_template' not in kwargs:
            self.v_template = torch.as_tensor(data['v_template'], dtype=dtype)
        self.shapedirs = torch.as_tensor(
            data['shapedirs'][:, :, :num_betas], dtype=dtype)
        posedirs = data['posedirs']
        self.posedirs = torch.as_tensor(
            posedirs.reshape(-1, posedirs.shape[-1]).T, dtype=dtype)
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
        """Checks type/shape/finiteness and casts to the model dtype."""
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
        value = value.to(dtype=self.v_template.dtype)
        if self.check_finite and not torch.isfinite(value).all():
            raise ValueError(f'{name} contains non-finite values (NaN/inf)')
        return value

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
        if betas is not None:
            if not torch.is_tensor(betas) and not isinstance(
                    betas, np.ndarray):
                raise TypeError('betas must be a torch.Tensor, got '
                                f'{type(betas).__name__}')
            if betas.ndim != 2 or betas.shape[1] > self.num_betas:
                raise ValueError(
                    f'betas expected shape (B, S) with S <= '
                    f'{self.num_betas}, got {tuple(betas.shape)}')
            betas = self._prepare('betas', betas, (betas.shape[1], ))
            if betas.shape[1] < self.num_betas:
                betas = torch.nn.functional.pad(
                    betas, (0, self.num_betas - betas.shape[1]))

        given = {
            'betas': betas,
            'body_pose': body_pose,
            'global_orient': global_orient,
            'transl': transl
        }
        sizes = {k: int(v.shape[0]) for k, v in given.items() if v is not None}
        if len(set(sizes.values())) > 1:
            raise ValueError(f'inputs disagree on the batch size: {sizes}')
        batch_size = next(iter(sizes.values())) if sizes else self.batch_size
        device = self.v_template.device

        if betas is None:
            betas = self._default('betas', batch_size, pose2rot, 0, device)
        if body_pose is None:
            body_pose = self._default('body_pose', batch_size, pose2rot,
                                      num_body, device)
        if global_orient is None:
            global_orient = self._default('global_orient', batch_size,
                                          pose2rot, 1, device)
        if transl is None:
            transl = self._default('transl', batch_size, pose2rot, 0, device)
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
        result = {'vertices': output.vertices, 'joints': output.joints}
        if self.joints_regressor is not None:
            result['joints_regressed'] = torch.einsum(
                'jv,bvc->bjc', self.joints_regressor, output.vertices)
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
