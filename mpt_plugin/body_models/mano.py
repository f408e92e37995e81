"""MANO hand model on top of ``smplx.MANO``, loaded without unpickling.

Dimensions: ``B`` batch, ``V = 778`` vertices, ``S <= 10`` shape
coefficients, ``P`` PCA hand-pose coefficients (``num_pca_comps``). MANO's
16 kinematic joints are the wrist and three joints per finger (``mano_16``
order: index, middle, pinky, ring, thumb); its hand pose is 15 axis-angle
rotations (45 numbers, radians) relative to the mean hand ``hands_mean``
unless ``flat_hand_mean=True``. Lengths are in metres.

Why ``smplx.MANO``: its constructor takes the model as a ``data_struct``
(plain arrays), so the file is read by our restricted loader
(:func:`~mpt_plugin.body_models.io.load_body_model_file` with
``model_type='mano'``) and smplx never unpickles anything; the posing is
smplx's ``lbs``. Only the inputs (PCA or full pose, rotation matrices, the
mean hand), the fingertip joints and the checks are ours.
"""
import contextlib
import io
import os
import os.path as osp
from typing import Any, Dict, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.logging import print_log
from smplx import MANO
from smplx.lbs import lbs
from smplx.utils import Struct
from torch import Tensor

from mpt_plugin.geometry.rotations import axis_angle_to_matrix
from mpt_plugin.registry import MODELS
from .conventions import MANO21_TO_HAND21
from .io import load_body_model_file
from .smpl import MPTSMPL, find_model_file

PathLike = Union[str, os.PathLike]

#: Number of vertices of the MANO mesh.
MANO_NUM_VERTICES = 778

#: Fingertip vertex ids (thumb, index, middle, ring, pinky) by source.
#: ``'freihand'`` (FreiHAND's ``utils/mano_utils.py``, also mmhuman3d's)
#: defines the joints of the FreiHAND benchmark; ``'smplx'`` is smplx's
#: ``VERTEX_IDS['mano']``; ``'manopth'`` is manopth's ``manolayer.py``.
FINGERTIP_VERTEX_IDS: Dict[str, Tuple[int, ...]] = {
    'freihand': (744, 320, 443, 555, 672),
    'smplx': (744, 320, 443, 554, 671),
    'manopth': (745, 317, 444, 556, 673),
}

#: File-name stem of each hand in a model directory.
HAND_FILE_STEMS = {True: 'MANO_RIGHT', False: 'MANO_LEFT'}

#: Sources of the 16 joints of the outputs (see ``MPTMANO``).
JOINT_SOURCES = ('kinematic', 'mesh')


def resolve_mano_model_file(model_path: PathLike, is_rhand: bool) -> str:
    """Finds the MANO file of one hand.

    Args:
        model_path (str | os.PathLike): A ``.npz``/``.pkl`` file, or a
            directory holding ``MANO_RIGHT.{npz,pkl}`` /
            ``MANO_LEFT.{npz,pkl}`` (``.npz`` preferred when both exist).
        is_rhand (bool): The right hand (True) or the left one.

    Returns:
        str: Path of the model file.

    Raises:
        FileNotFoundError: No matching file.
        ValueError: A file named for the other hand (``MANO_LEFT...`` with
            ``is_rhand=True`` or ``MANO_RIGHT...`` with ``is_rhand=False``).
    """
    side = 'right' if is_rhand else 'left'
    if osp.isdir(model_path):
        return find_model_file(model_path, HAND_FILE_STEMS[bool(is_rhand)],
                               f'{side} MANO', 'MANO')
    model_path = find_model_file(model_path, '', 'MANO', 'MANO')
    name = osp.basename(model_path).upper()
    other = 'LEFT' if is_rhand else 'RIGHT'
    if other in name and side.upper() not in name:
        raise ValueError(
            f'{model_path} looks like the {other.lower()} hand\'s model, but '
            f'is_rhand={bool(is_rhand)} asks for the {side} hand')
    return model_path


def resolve_fingertip_ids(fingertip_ids: Union[str, Sequence[int]],
                          num_vertices: int) -> Tuple[int, ...]:
    """Fingertip vertex ids (thumb, index, middle, ring, pinky).

    Args:
        fingertip_ids (str | Sequence[int]): A key of
            :data:`FINGERTIP_VERTEX_IDS` or five vertex ids.
        num_vertices (int): ``V``; every id must lie in ``[0, V)``.

    Returns:
        tuple[int, ...]: Five vertex ids.

    Raises:
        ValueError: Unknown name, not five ids, or an id out of range.
    """
    if isinstance(fingertip_ids, str):
        if fingertip_ids not in FINGERTIP_VERTEX_IDS:
            raise ValueError(
                f'unknown fingertip_ids {fingertip_ids!r}; expected one of '
                f'{sorted(FINGERTIP_VERTEX_IDS)} or five vertex ids')
        ids = FINGERTIP_VERTEX_IDS[fingertip_ids]
    else:
        ids = tuple(fingertip_ids)
        if len(ids) != 5 or not all(
                isinstance(i, (int, np.integer)) and not isinstance(i, bool)
                for i in ids):
            raise ValueError('fingertip_ids must be five vertex ids (thumb, '
                             f'index, middle, ring, pinky), got {ids!r}')
    ids = tuple(int(i) for i in ids)
    bad = [i for i in ids if not 0 <= i < num_vertices]
    if bad:
        raise ValueError(f'fingertip vertex ids {bad} are outside [0, '
                         f'{num_vertices})')
    return ids


@MODELS.register_module()
class MPTMANO(MANO):
    """MANO hand layer (right or left) built from a safely loaded file.

    The official ``MANO_RIGHT.pkl`` / ``MANO_LEFT.pkl`` (chumpy pickles, a
    chumpy ``Select`` as ``shapedirs``) or ``.npz`` conversions are read
    with :func:`~mpt_plugin.body_models.io.load_body_model_file`
    (``model_type='mano'``: exact MANO shapes, errors naming the file, key
    and expected shape) and handed to ``smplx.MANO`` as ``data_struct``. As
    in :class:`~mpt_plugin.body_models.MPTSMPL`, the module has by default
    no free parameters (``create_*`` default to False) and its buffers are
    non-persistent: the hand model is defined by ``model_path``, never by a
    checkpoint. Arrays are kept at full precision in ``dtype``.

    Joints: ``joints`` ``(B, 21, 3)`` in the ``hand_21`` order of FreiHAND
    and MMPose (wrist, then thumb, index, middle, ring, pinky from base to
    tip): MANO's 16 joints plus the five fingertip vertices
    ``fingertip_ids``. The 16 joints are the posed kinematic joints (the
    forward kinematics of the joints regressed from the shaped rest mesh,
    as smplx and manopth give them) with ``joints_from='kinematic'``, or
    the ``J_regressor`` applied to the posed mesh (FreiHAND's ground-truth
    definition, about 3 mm away) with ``joints_from='mesh'``.

    Left hand: the official ``MANO_LEFT.pkl`` stores the right hand's
    ``shapedirs`` unmirrored; ``fix_left_shapedirs=True`` (the default)
    negates their x component (``shapedirs[:, 0, :] *= -1``, smplx issue
    #48), so that shape changes mirror those of the right hand. Pass False
    for a left file that is already fixed.

    Args:
        model_path (str | os.PathLike): Model file, or a directory holding
            ``MANO_RIGHT.{npz,pkl}`` / ``MANO_LEFT.{npz,pkl}``.
        is_rhand (bool): Right hand (True) or left hand. Defaults to True.
        use_pca (bool): ``hand_pose`` holds ``num_pca_comps`` coefficients of
            the PCA basis ``hands_components`` instead of 45 axis-angle
            numbers. Unlike smplx, 45 components keep meaning PCA
            coefficients. Defaults to False.
        num_pca_comps (int): ``P`` in ``[1, 45]``, used with ``use_pca``.
            Defaults to 6.
        flat_hand_mean (bool): Pose 0 is the flat hand (True) or MANO's mean
            hand ``hands_mean`` (False, as in smplx and FreiHAND's
            annotations). Defaults to False.
        num_betas (int): Shape coefficients used (at most the file's 10).
            Defaults to 10.
        fingertip_ids (str | Sequence[int]): Key of
            :data:`FINGERTIP_VERTEX_IDS` or five vertex ids (thumb, index,
            middle, ring, pinky). Defaults to ``'freihand'``.
        fix_left_shapedirs (bool): Apply the left-hand shapedirs fix (left
            hand only). Defaults to True.
        joints_from (str): ``'kinematic'`` or ``'mesh'``, see above.
            Defaults to ``'kinematic'``.
        check_finite (bool): Check that inputs are finite (one device sync
            per forward). Defaults to True.
        **kwargs: Passed to ``smplx.MANO`` (``dtype``, ``batch_size``,
            ``create_*``, ...).
    """

    def __init__(self,
                 model_path: PathLike,
                 is_rhand: bool = True,
                 use_pca: bool = False,
                 num_pca_comps: int = 6,
                 flat_hand_mean: bool = False,
                 num_betas: int = 10,
                 fingertip_ids: Union[str, Sequence[int]] = 'freihand',
                 fix_left_shapedirs: bool = True,
                 joints_from: str = 'kinematic',
                 check_finite: bool = True,
                 **kwargs: Any) -> None:
        if 'data_struct' in kwargs:
            raise TypeError('MPTMANO loads model_path itself; do not pass '
                            'data_struct')
        if joints_from not in JOINT_SOURCES:
            raise ValueError(f'joints_from must be one of {JOINT_SOURCES}, '
                             f'got {joints_from!r}')
        is_rhand = bool(is_rhand)
        model_file = resolve_mano_model_file(model_path, is_rhand)
        data = load_body_model_file(model_file, model_type='mano')
        num_comps = data['hands_components'].shape[0]
        if use_pca and not 1 <= int(num_pca_comps) <= num_comps:
            raise ValueError(f'num_pca_comps must be in [1, {num_comps}], '
                             f'got {num_pca_comps}')
        num_pca_comps = int(num_pca_comps)
        if int(num_betas) < 1:
            raise ValueError(f'num_betas must be >= 1, got {num_betas}')
        num_shape = data['shapedirs'].shape[-1]
        if num_betas > num_shape:
            print_log(
                f'{model_file} has {num_shape} shape components; using '
                f'num_betas={num_shape} instead of {num_betas}',
                logger='current')
        num_betas = min(int(num_betas), num_shape)
        tips = resolve_fingertip_ids(fingertip_ids, MANO_NUM_VERTICES)
        if not is_rhand and fix_left_shapedirs:
            shapedirs = data['shapedirs'].copy()
            shapedirs[:, 0, :] *= -1
            data['shapedirs'] = shapedirs
        for key in ('create_betas', 'create_global_orient',
                    'create_body_pose', 'create_transl', 'create_hand_pose'):
            kwargs.setdefault(key, False)

        # smplx prints a misleading warning for files with < 300 shape
        # components; the shape space is set explicitly below instead.
        with contextlib.redirect_stdout(io.StringIO()):
            super().__init__(
                model_path=model_file,
                is_rhand=is_rhand,
                data_struct=Struct(**data),
                use_pca=bool(use_pca),
                num_pca_comps=num_pca_comps,
                flat_hand_mean=bool(flat_hand_mean),
                num_betas=num_betas,
                **kwargs)
        # smplx turns PCA off for 45 components (its hand_pose then holds
        # axis-angle); here use_pca keeps its meaning.
        self.use_pca = bool(use_pca)
        self.model_file = model_file
        self.check_finite = check_finite
        self.fix_left_shapedirs = bool(fix_left_shapedirs) and not is_rhand
        self.joints_from = joints_from
        self.fingertip_ids = tips
        self.joint_convention = 'hand_21' if is_rhand else 'hand_21_left'

        # smplx rounds every array through float32 before casting to
        # ``dtype``; reload them at full precision (same layouts as smplx).
        dtype = self.v_template.dtype
        if 'v_template' not in kwargs:
            self.v_template = torch.as_tensor(data['v_template'], dtype=dtype)
        self.shapedirs = torch.as_tensor(
            data['shapedirs'][:, :, :num_betas], dtype=dtype)
        posedirs = data['posedirs']
        self.posedirs = torch.as_tensor(
            np.ascontiguousarray(posedirs.reshape(-1, posedirs.shape[-1]).T),
            dtype=dtype)
        self.J_regressor = torch.as_tensor(data['J_regressor'], dtype=dtype)
        self.lbs_weights = torch.as_tensor(data['weights'], dtype=dtype)
        hand_mean = (np.zeros_like(data['hands_mean'])
                     if flat_hand_mean else data['hands_mean'])
        self.hand_mean = torch.as_tensor(hand_mean, dtype=dtype)
        self.pose_mean = torch.cat([self.hand_mean.new_zeros(3),
                                    self.hand_mean])
        components = torch.as_tensor(
            data['hands_components'][:num_pca_comps], dtype=dtype)
        if self.use_pca:
            if 'hand_components' in self._buffers:
                self.hand_components = components
            else:
                self.register_buffer('hand_components', components)
        self._num_betas = num_betas
        if isinstance(getattr(self, 'betas', None), torch.nn.Parameter) and \
                self.betas.shape[-1] != num_betas:
            self.betas = torch.nn.Parameter(
                self.betas.new_zeros(self.betas.shape[0], num_betas))
        self.vertex_joint_selector.extra_joints_idxs = torch.tensor(
            tips, dtype=torch.long)
        self.register_buffer('fingertip_index', torch.tensor(
            tips, dtype=torch.long))
        self.register_buffer('hand21_index', torch.tensor(
            MANO21_TO_HAND21, dtype=torch.long))
        self._make_buffers_non_persistent()

    # Same input checks and buffer handling as MPTSMPL (one implementation).
    _prepare = MPTSMPL._prepare
    _check_finite = MPTSMPL._check_finite
    _prepare_betas = MPTSMPL._prepare_betas
    _batch_size = MPTSMPL._batch_size
    _make_buffers_non_persistent = MPTSMPL._make_buffers_non_persistent

    @property
    def num_vertices(self) -> int:
        """Number of mesh vertices ``V`` (778)."""
        return int(self.v_template.shape[0])

    @property
    def num_joints(self) -> int:
        """Number of joints in the ``joints`` output (21)."""
        return len(MANO21_TO_HAND21)

    @property
    def hand_pose_dim(self) -> int:
        """Numbers per sample of an axis-angle/PCA ``hand_pose``: ``P``
        with ``use_pca``, else 45."""
        return (self.hand_components.shape[0]
                if self.use_pca else 3 * self.NUM_HAND_JOINTS)

    def mesh_joint_regressor(self) -> Tensor:
        """The ``(21, 778)`` matrix that gives the 21 ``hand_21`` joints of
        any mesh of this topology (a prediction, too): MANO's
        ``J_regressor`` rows (FreiHAND's ground-truth joints,
        ``joints_from='mesh'``) and one-hot rows of the fingertip vertices,
        reordered to ``hand_21``. ``regressor @ vertices`` equals this layer's
        ``joints`` with ``joints_from='mesh'``."""
        tips = torch.zeros(len(self.fingertip_ids), self.num_vertices,
                           dtype=self.J_regressor.dtype,
                           device=self.J_regressor.device)
        tips[torch.arange(len(self.fingertip_ids)), self.fingertip_index] = 1
        return torch.cat([self.J_regressor, tips]).index_select(
            0, self.hand21_index)

    def hand_pose_to_axis_angle(self, hand_pose: Tensor) -> Tensor:
        """The full hand pose of an axis-angle or PCA ``hand_pose``.

        Args:
            hand_pose (Tensor): ``(B, P)`` PCA coefficients with
                ``use_pca``, else ``(B, 45)`` axis-angle.

        Returns:
            Tensor: ``(B, 45)`` axis-angle rotations of the 15 finger joints
            (radians, ``mano_16`` order without the wrist), the mean hand
            added: ``hand_mean + hand_pose @ hand_components`` (PCA) or
            ``hand_mean + hand_pose``. ``hand_mean`` is zero with
            ``flat_hand_mean``.
        """
        if self.use_pca:
            hand_pose = hand_pose @ self.hand_components
        return hand_pose + self.hand_mean

    def _param_or_none(self, name: str, batch_size: int) -> Optional[Tensor]:
        """The module's parameter ``name`` (``create_*=True``) expanded to
        the batch, or None."""
        param = getattr(self, name, None)
        if not isinstance(param, torch.Tensor):
            return None
        if param.shape[0] not in (1, batch_size):
            raise ValueError(
                f'module parameter {name} has batch {param.shape[0]}, '
                f'inputs have batch {batch_size}')
        return param.expand(batch_size, *param.shape[1:])

    def forward(self,
                betas: Optional[Tensor] = None,
                global_orient: Optional[Tensor] = None,
                hand_pose: Optional[Tensor] = None,
                transl: Optional[Tensor] = None,
                pose2rot: bool = True) -> Dict[str, Tensor]:
        """Poses the hand.

        Args:
            betas (Tensor, optional): ``(B, S')`` with ``S' <= num_betas``;
                missing columns are zero.
            global_orient (Tensor, optional): Wrist rotation: ``(B, 3)`` /
                ``(B, 1, 3)`` axis-angle, or with ``pose2rot=False``
                ``(B, 1, 3, 3)`` / ``(B, 3, 3)`` rotation matrices.
            hand_pose (Tensor, optional): With ``pose2rot=True``: ``(B, P)``
                PCA coefficients (``use_pca``) or ``(B, 45)`` / ``(B, 15,
                3)`` axis-angle, relative to the mean hand (see
                :meth:`hand_pose_to_axis_angle`). With ``pose2rot=False``:
                ``(B, 15, 3, 3)`` rotation matrices of the 15 finger joints,
                used as they are (no PCA, no mean hand).
            transl (Tensor, optional): ``(B, 3)`` metres.
            pose2rot (bool): Whether poses are axis-angle / PCA. Defaults
                to True.

        Omitted inputs are zero (so an omitted ``hand_pose`` is the mean
        hand, or the flat hand with ``flat_hand_mean``), or the module's
        parameters when built with ``create_*=True`` (those are always
        axis-angle / PCA). All given inputs must share the batch size ``B``
        (``B = batch_size`` when none is given).

        Returns:
            dict[str, Tensor]:

            - ``vertices``: ``(B, 778, 3)`` metres.
            - ``joints``: ``(B, 21, 3)`` metres, ``hand_21`` order (16
              joints + 5 fingertip vertices).
            - ``joints_mano``: ``(B, 16, 3)`` metres, ``mano_16`` order.
        """
        num_hand = self.NUM_HAND_JOINTS
        if pose2rot:
            global_orient = None if global_orient is None else self._prepare(
                'global_orient', global_orient, (3, ), (1, 3))
            if hand_pose is not None:
                hand_pose = (self._prepare('hand_pose (PCA)', hand_pose,
                                           (self.hand_pose_dim, ))
                             if self.use_pca else self._prepare(
                                 'hand_pose', hand_pose, (num_hand * 3, ),
                                 (num_hand, 3)))
        else:
            global_orient = None if global_orient is None else self._prepare(
                'global_orient (pose2rot=False)', global_orient, (1, 3, 3),
                (3, 3))
            hand_pose = None if hand_pose is None else self._prepare(
                'hand_pose (pose2rot=False)', hand_pose, (num_hand, 3, 3))
        transl = None if transl is None else self._prepare(
            'transl', transl, (3, ))
        betas = self._prepare_betas(betas)
        given = {
            'betas': betas,
            'global_orient': global_orient,
            'hand_pose': hand_pose,
            'transl': transl
        }
        batch = self._batch_size(given)
        dtype, device = self.v_template.dtype, self.v_template.device

        if betas is None:
            betas = self._param_or_none('betas', batch)
            if betas is None:
                betas = torch.zeros(
                    batch, self.num_betas, dtype=dtype, device=device)
        # Wrist rotation (B, 1, 3, 3).
        if global_orient is None:
            global_orient = self._param_or_none('global_orient', batch)
            if global_orient is None:
                global_orient = torch.zeros(
                    batch, 3, dtype=dtype, device=device)
            global_rot = axis_angle_to_matrix(global_orient.reshape(
                batch, 1, 3))
        elif pose2rot:
            global_rot = axis_angle_to_matrix(global_orient.reshape(
                batch, 1, 3))
        else:
            global_rot = global_orient.reshape(batch, 1, 3, 3)
        # Finger rotations (B, 15, 3, 3).
        if hand_pose is not None and not pose2rot:
            hand_rot = hand_pose
        else:
            if hand_pose is None:
                hand_pose = self._param_or_none('hand_pose', batch)
            if hand_pose is None:
                hand_pose = torch.zeros(
                    batch, self.hand_pose_dim, dtype=dtype, device=device)
            hand_aa = self.hand_pose_to_axis_angle(
                hand_pose.reshape(batch, -1))
            hand_rot = axis_angle_to_matrix(hand_aa.reshape(
                batch, num_hand, 3))
        rot_mats = torch.cat([global_rot, hand_rot], dim=1).contiguous()

        vertices, joints = lbs(betas.expand(batch, -1), rot_mats,
                               self.v_template, self.shapedirs, self.posedirs,
                               self.J_regressor, self.parents,
                               self.lbs_weights, pose2rot=False)
        if self.joints_from == 'mesh':
            joints = torch.einsum('jv,bvc->bjc', self.J_regressor, vertices)
        apply_transl = transl is not None
        if transl is None:
            transl = self._param_or_none('transl', batch)
            apply_transl = transl is not None
        if apply_transl:
            vertices = vertices + transl[:, None]
            joints = joints + transl[:, None]
        tips = vertices.index_select(1, self.fingertip_index)
        hand21 = torch.cat([joints, tips], dim=1).index_select(
            1, self.hand21_index)
        return {'vertices': vertices, 'joints': hand21, 'joints_mano': joints}

    def extra_repr(self) -> str:
        msg = [
            super().extra_repr(), f'Model file: {self.model_file}',
            f'Hand: {"right" if self.is_rhand else "left"}'
            + (' (shapedirs x negated)' if self.fix_left_shapedirs else ''),
            f'Joint convention: {self.joint_convention} (16 joints from '
            f'{self.joints_from}, fingertip vertices {self.fingertip_ids})'
        ]
        return '\n'.join(msg)
