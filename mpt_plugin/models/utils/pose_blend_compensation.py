"""Shape compensation of PC-HMR (Luan et al., AAAI 2021, Sec. 4.2 (VI)).

The paper describes it in two sentences: "we use a two-layer MLP to
estimate 3D rotation of keypoints in the calibrated mesh, with input of mesh
parameters Theta in HMR and Psi in our pose calibration module. Then we
feed the estimated 3D rotation into pose blend shape function of SMPL as
post-processing compensation". Table 3 lists it as part of the default
model (61.1 mm MPVE, 61.2 mm without it).

Our reading (the parts the paper leaves open are marked *inferred*):

1. Input: the calibration rotations ``Psi`` (B, N, 3, 3) of the neck's N
   bones, as ``Psi - I`` flattened (zero for an identity calibration), and
   optional mesh parameters ``Theta`` (B, P) of the mesh stream (SMPL betas
   and rotations for a parametric regressor; whatever the stream exposes
   for a non-parametric one, e.g. the weak-perspective camera).
2. Two-layer MLP ``Linear(9N + P, H) -> ReLU -> Linear(H, 3J)``: axis-angle
   rotations ``theta_hat`` (B, J, 3) of the J SMPL joints (root first)
   -> rotation matrices ``R`` by Rodrigues.
3. SMPL pose blend shapes ``B_P(R) = sum_{k >= 1} (R_k - I) P_k`` with the
   body model's ``posedirs`` (rest frame, metres).
4. *inferred*: SMPL adds ``B_P`` in the rest frame before linear blend
   skinning, so the posed-mesh effect of an offset ``d_v`` is
   ``G_v d_v`` with ``G_v = sum_k w_vk G_k`` (skinning weights ``w``,
   global rotations ``G_k`` = products of ``R`` along the kinematic tree;
   the translations of the skinning transforms cancel for an offset). The
   compensation is therefore ``G_v(R) B_P(R)_v``, added to the calibrated
   mesh.
5. *inferred*: the HMR mesh already carries the pose blend shapes of its
   own pose, so adding ``B_P`` of the calibrated pose would count them
   twice. With ``subtract_reference=True`` (default) the module outputs
   the *change* ``f(Theta, Psi) - f(Theta, I)``: the same MLP evaluated
   without calibration (``Psi = I``) plays the role of the HMR mesh's own
   pose. This keeps an identity calibration an exact identity (whatever the
   weights), like the neck itself. ``subtract_reference=False`` adds
   ``f(Theta, Psi)`` literally.

The last MLP layer starts at zero, so the compensation is exactly zero at
initialisation (a pretrained pipeline is not disturbed) and is learnt in
the end-to-end fine-tuning; its gradient is non-zero from the first step.

Shapes: ``B`` batch, ``V`` vertices, ``J`` body-model joints (24 for
SMPL), ``N`` neck bones, ``P`` mesh parameters. Metres.
"""
from typing import Dict, Optional, Sequence, Union

import numpy as np
import torch
from torch import Tensor, nn

from mpt_plugin.body_models.io import load_body_model_file
from mpt_plugin.body_models.smpl import resolve_smpl_model_file
from mpt_plugin.geometry.rotations import axis_angle_to_matrix

__all__ = ['PoseBlendShapeCompensation']

ArrayLike = Union[np.ndarray, Tensor, Sequence]
_ROOT_SENTINELS = (-1, 2**32 - 1)


class PoseBlendShapeCompensation(nn.Module):
    """MLP -> joint rotations -> skinned SMPL pose blend shapes.

    Args:
        posedirs (ArrayLike): (V, 3, 9 (J - 1)) pose blend shapes (SMPL
            file layout).
        lbs_weights (ArrayLike): (V, J) skinning weights.
        parents (Sequence[int]): (J,) parent of every body-model joint,
            ``-1`` (or ``2**32 - 1``) for the root; parents must precede
            their children.
        num_bones (int): Number ``N`` of calibration rotations ``Psi``.
        param_dim (int): Size ``P`` of the mesh parameters ``Theta``
            (0: none). Defaults to 0.
        hidden_dim (int): Width ``H`` of the MLP. Defaults to 256.
        subtract_reference (bool): Output ``f(Theta, Psi) - f(Theta, I)``
            (see the module docstring). Defaults to True.
    """

    def __init__(self,
                 posedirs: ArrayLike,
                 lbs_weights: ArrayLike,
                 parents: Sequence[int],
                 num_bones: int,
                 param_dim: int = 0,
                 hidden_dim: int = 256,
                 subtract_reference: bool = True) -> None:
        super().__init__()
        weights = torch.as_tensor(np.asarray(lbs_weights, dtype=np.float32))
        if weights.dim() != 2:
            raise ValueError('lbs_weights must have shape (V, J), got '
                             f'{tuple(weights.shape)}')
        num_verts, num_joints = weights.shape
        dirs = torch.as_tensor(np.asarray(posedirs, dtype=np.float32))
        expected = (num_verts, 3, 9 * (num_joints - 1))
        if tuple(dirs.shape) != expected:
            raise ValueError(f'posedirs must have shape {expected} (V, 3, '
                             f'9 (J - 1)), got {tuple(dirs.shape)}')
        parents = [int(p) for p in np.asarray(parents).reshape(-1)]
        if len(parents) != num_joints:
            raise ValueError(f'parents must have {num_joints} entries (one '
                             f'per skinning joint), got {len(parents)}')
        for joint, parent in enumerate(parents):
            if parent in _ROOT_SENTINELS:
                if joint != 0:
                    raise ValueError('only joint 0 may be the root, got '
                                     f'parents[{joint}] = {parent}')
            elif not 0 <= parent < joint:
                raise ValueError(
                    f'parents[{joint}] = {parent}: parents must precede '
                    'their children (SMPL order)')
        if parents[0] not in _ROOT_SENTINELS:
            raise ValueError(f'joint 0 must be the root, got parent '
                             f'{parents[0]}')
        if int(num_bones) <= 0 or int(param_dim) < 0 or int(hidden_dim) <= 0:
            raise ValueError(
                'num_bones and hidden_dim must be positive and param_dim >= 0'
                f', got {num_bones}, {hidden_dim} and {param_dim}')
        self.num_vertices = int(num_verts)
        self.num_joints = int(num_joints)
        self.num_bones = int(num_bones)
        self.param_dim = int(param_dim)
        self.subtract_reference = bool(subtract_reference)
        self.parents = parents
        # (9 (J - 1), V * 3), as smplx stores it
        self.register_buffer(
            'posedirs', dirs.reshape(-1, dirs.shape[-1]).T.contiguous(),
            persistent=False)
        self.register_buffer('lbs_weights', weights, persistent=False)
        self.mlp = nn.Sequential(
            nn.Linear(9 * self.num_bones + self.param_dim, int(hidden_dim)),
            nn.ReLU(inplace=True),
            nn.Linear(int(hidden_dim), 3 * self.num_joints))
        nn.init.zeros_(self.mlp[2].weight)
        nn.init.zeros_(self.mlp[2].bias)

    @classmethod
    def from_body_model(cls,
                        model_path: str,
                        num_bones: int,
                        gender: str = 'neutral',
                        **kwargs) -> 'PoseBlendShapeCompensation':
        """Builds the module from an SMPL model file (or directory).

        Args:
            model_path (str): SMPL ``.npz``/``.pkl`` file or a directory
                with ``SMPL_{NEUTRAL,MALE,FEMALE}.*``.
            num_bones (int): Number of calibration rotations.
            gender (str): Used with a directory. Defaults to ``'neutral'``.
            **kwargs: ``param_dim``, ``hidden_dim``, ``subtract_reference``.
        """
        path = resolve_smpl_model_file(model_path, gender)
        data = load_body_model_file(path)
        return cls(data['posedirs'], data['weights'],
                   data['kintree_table'][0], num_bones, **kwargs)

    def joint_rotations(self, features: Tensor) -> Tensor:
        """(M, 9N + P) features -> (M, J, 3, 3) joint rotations."""
        aa = self.mlp(features).view(-1, self.num_joints, 3)
        return axis_angle_to_matrix(aa)

    def skinned_blend_shapes(self, rotations: Tensor) -> Tensor:
        """``G_v B_P(R)_v`` (M, V, 3) for joint rotations (M, J, 3, 3)."""
        num = rotations.shape[0]
        eye = torch.eye(3, dtype=rotations.dtype, device=rotations.device)
        pose_feature = (rotations[:, 1:] - eye).reshape(num, -1)
        rest = (pose_feature @ self.posedirs.to(rotations.dtype)).view(
            num, self.num_vertices, 3)
        glob = [rotations[:, 0]]
        for joint in range(1, self.num_joints):
            glob.append(glob[self.parents[joint]] @ rotations[:, joint])
        glob = torch.stack(glob, dim=1)  # (M, J, 3, 3)
        per_vertex = torch.einsum('vj,mjkl->mvkl',
                                  self.lbs_weights.to(rotations.dtype), glob)
        return torch.einsum('mvkl,mvl->mvk', per_vertex, rest)

    def forward(self,
                bone_rotations: Tensor,
                params: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """Compensation offsets for the calibrated mesh.

        Args:
            bone_rotations (Tensor): (B, N, 3, 3) calibration rotations
                ``Psi`` of the neck.
            params (Tensor, optional): (B, P) mesh parameters ``Theta``;
                required when ``param_dim > 0``.

        Returns:
            dict: ``offsets`` (B, V, 3) metres, to add to the calibrated
            mesh; ``rotations`` (B, J, 3, 3) estimated joint rotations.
        """
        if bone_rotations.dim() != 4 or \
                bone_rotations.shape[1:] != (self.num_bones, 3, 3):
            raise ValueError(
                f'bone_rotations must have shape (B, {self.num_bones}, 3, 3)'
                f', got {tuple(bone_rotations.shape)}')
        bsz = bone_rotations.shape[0]
        eye = torch.eye(3, dtype=bone_rotations.dtype,
                        device=bone_rotations.device)
        rot_feat = (bone_rotations - eye).reshape(bsz, -1)
        if self.param_dim > 0:
            if params is None:
                raise ValueError(
                    f'shape compensation was built with param_dim='
                    f'{self.param_dim}; mesh_params (B, {self.param_dim}) '
                    'must be given')
            if params.dim() != 2 or params.shape != (bsz, self.param_dim):
                raise ValueError(
                    f'mesh_params must have shape ({bsz}, {self.param_dim}),'
                    f' got {tuple(params.shape)}')
            if not torch.isfinite(params).all():
                raise ValueError('mesh_params contains NaN or Inf values')
            param_feat = params.to(rot_feat.dtype)
        else:
            param_feat = rot_feat.new_zeros(bsz, 0)
        feats = torch.cat([rot_feat, param_feat], dim=1)
        if self.subtract_reference:
            ref = torch.cat([torch.zeros_like(rot_feat), param_feat], dim=1)
            rots = self.joint_rotations(torch.cat([feats, ref], dim=0))
            blend = self.skinned_blend_shapes(rots)
            offsets = blend[:bsz] - blend[bsz:]
            rots = rots[:bsz]
        else:
            rots = self.joint_rotations(feats)
            offsets = self.skinned_blend_shapes(rots)
        return dict(offsets=offsets, rotations=rots)
