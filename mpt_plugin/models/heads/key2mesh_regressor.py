"""Key2Mesh: normalised 2D keypoints -> SMPL parameters (and mesh).

Architecture (Key2Mesh ``models/key2mesh.py`` / ``utils/network.py``):
``(B, K, 2)`` normalised keypoints -> flatten -> MLP feature extractor
(Linear(2K, 1024) -> BN1d -> PReLU -> Dropout -> 2 residual blocks) ->
1024-d feature -> SMPL head (residual block -> Linear(1024, 10 + 24 * 6))
-> betas and 24 rotations in the 6D representation (global orient first)
-> rotation matrices -> axis-angle ``(B, 72)`` and, optionally, the SMPL
body model (neutral, no translation).

Coordinates: the body model output is in metres with SMPL axes (y up, the
body faces +z). :func:`~mpt_plugin.geometry.cameras.project_fixed_camera`
is Key2Mesh's synthetic-data camera (f = 256, 6 m in front of the body,
image y pointing down).
"""
from typing import Dict, Optional

from mmengine.model import BaseModule
from torch import Tensor, nn

from mpt_plugin.body_models import MPTSMPL  # noqa: F401 (registers it)
from mpt_plugin.body_models.conventions import (SMPL45_TO_OPENPOSE18,
                                                coco17_to_openpose18)
from mpt_plugin.geometry.rotations import (rot6d_to_rotmat,
                                           rotmat_to_axis_angle)
from mpt_plugin.registry import MODELS

__all__ = [
    'Key2MeshRegressor', 'Key2MeshBasicBlock', 'Key2MeshFeatureExtractor',
    'Key2MeshSMPLHead'
]


class Key2MeshBasicBlock(nn.Module):
    """Residual MLP block: ``x + [Linear -> BN -> PReLU -> Dropout] x 2``.

    Args:
        dim (int): Feature width.
        dropout (float): Dropout probability. Defaults to 0.2.
    """

    def __init__(self, dim: int, dropout: float = 0.2) -> None:
        super().__init__()
        layers = []
        for _ in range(2):
            layers += [
                nn.Linear(dim, dim),
                nn.BatchNorm1d(dim),
                nn.PReLU(),
                nn.Dropout(dropout)
            ]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        """(B, dim) -> (B, dim)."""
        return x + self.layers(x)


class Key2MeshFeatureExtractor(nn.Module):
    """MLP feature extractor of Key2Mesh.

    Args:
        in_dim (int): Input width ``2K``.
        hidden_dim (int): Feature width. Defaults to 1024.
        num_blocks (int): Residual blocks. Defaults to 2.
        dropout (float): Dropout probability. Defaults to 0.2.
    """

    def __init__(self,
                 in_dim: int,
                 hidden_dim: int = 1024,
                 num_blocks: int = 2,
                 dropout: float = 0.2) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Linear(in_dim, hidden_dim),
                                  nn.BatchNorm1d(hidden_dim), nn.PReLU(),
                                  nn.Dropout(dropout))
        self.blocks = nn.Sequential(*[
            Key2MeshBasicBlock(hidden_dim, dropout) for _ in range(num_blocks)
        ])

    def forward(self, x: Tensor) -> Tensor:
        """(B, in_dim) -> (B, hidden_dim) features."""
        return self.blocks(self.stem(x))


class Key2MeshSMPLHead(nn.Module):
    """SMPL head: residual block -> Linear(hidden, num_betas + J * 6).

    Args:
        hidden_dim (int): Feature width. Defaults to 1024.
        num_betas (int): Shape coefficients. Defaults to 10.
        num_joints (int): Rotations (global orient included). Defaults
            to 24.
        dropout (float): Dropout probability. Defaults to 0.2.
    """

    def __init__(self,
                 hidden_dim: int = 1024,
                 num_betas: int = 10,
                 num_joints: int = 24,
                 dropout: float = 0.2) -> None:
        super().__init__()
        self.num_betas = num_betas
        self.num_joints = num_joints
        self.block = Key2MeshBasicBlock(hidden_dim, dropout)
        self.fc = nn.Linear(hidden_dim, num_betas + num_joints * 6)

    def forward(self, feats: Tensor) -> Dict[str, Tensor]:
        """(B, hidden_dim) -> dict(betas (B, S), pose_6d (B, J, 6))."""
        out = self.fc(self.block(feats))
        betas = out[:, :self.num_betas]
        pose_6d = out[:, self.num_betas:].reshape(-1, self.num_joints, 6)
        return dict(betas=betas, pose_6d=pose_6d)


@MODELS.register_module()
class Key2MeshRegressor(BaseModule):
    """Key2Mesh regressor from normalised 2D keypoints to SMPL.

    Args:
        num_keypoints (int): ``K`` joints the network sees. Defaults to 18
            (OpenPose BODY_COCO order).
        input_convention (str): ``'openpose_coco18'`` (inputs ``(B, 18,
            2)``) or ``'coco'`` (MMPose COCO-17 inputs ``(B, 17, 2)``; the
            neck is synthesised as the shoulder midpoint, so
            ``num_keypoints`` must be 18). Defaults to ``'openpose_coco18'``.
        hidden_dim (int): Feature width. Defaults to 1024.
        num_blocks (int): Residual blocks of the extractor. Defaults to 2.
        dropout (float): Dropout probability. Defaults to 0.2.
        num_betas (int): Shape coefficients. Defaults to 10.
        num_joints (int): SMPL rotations (global orient included). Defaults
            to 24.
        body_model (dict, optional): Config of the body model, e.g.
            ``dict(type='MPTSMPL', model_path=..., gender='neutral')``.
            Without it no mesh is produced. Defaults to None.
        init_cfg (dict | list[dict], optional): Initialisation config.
    """

    def __init__(self,
                 num_keypoints: int = 18,
                 input_convention: str = 'openpose_coco18',
                 hidden_dim: int = 1024,
                 num_blocks: int = 2,
                 dropout: float = 0.2,
                 num_betas: int = 10,
                 num_joints: int = 24,
                 body_model: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if input_convention not in ('openpose_coco18', 'coco'):
            raise ValueError(
                'input_convention must be "openpose_coco18" or "coco", got '
                f'{input_convention!r}')
        if input_convention == 'coco' and num_keypoints != 18:
            raise ValueError('input_convention="coco" maps COCO-17 onto '
                             'OpenPose-18; num_keypoints must be 18, got '
                             f'{num_keypoints}')
        self.num_keypoints = num_keypoints
        self.input_convention = input_convention
        self.num_betas = num_betas
        self.num_joints = num_joints
        self.feature_extractor = Key2MeshFeatureExtractor(
            2 * num_keypoints, hidden_dim, num_blocks, dropout)
        self.smpl_head = Key2MeshSMPLHead(hidden_dim, num_betas, num_joints,
                                          dropout)
        if body_model is not None:
            body_model = dict(body_model)
            body_model.setdefault('type', 'MPTSMPL')
            self.body_model = MODELS.build(body_model)
            # The body model is fixed: never trained.
            for param in self.body_model.parameters():
                param.requires_grad_(False)
        else:
            self.body_model = None

    def prepare_inputs(self,
                       keypoints: Tensor,
                       keypoints_mask: Optional[Tensor] = None) -> Tensor:
        """Checks shapes and maps COCO-17 inputs to OpenPose-18.

        Args:
            keypoints (Tensor): (B, K_in, 2) normalised keypoints.
            keypoints_mask (Tensor, optional): (B, K_in) validity; used for
                the synthesised neck only (low-confidence joints are already
                0.5 after :func:`normalize_keypoints_2d`).

        Returns:
            Tensor: (B, num_keypoints, 2).
        """
        if self.input_convention == 'coco':
            if keypoints.ndim != 3 or keypoints.shape[1:] != (17, 2):
                raise ValueError('Key2MeshRegressor(input_convention="coco") '
                                 'expects keypoints (B, 17, 2), got '
                                 f'{tuple(keypoints.shape)}')
            keypoints, _ = coco17_to_openpose18(keypoints, keypoints_mask)
        elif keypoints.ndim != 3 or \
                keypoints.shape[1:] != (self.num_keypoints, 2):
            raise ValueError(
                f'Key2MeshRegressor expects keypoints (B, '
                f'{self.num_keypoints}, 2), got {tuple(keypoints.shape)}')
        return keypoints

    def forward(self,
                keypoints: Tensor,
                keypoints_mask: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """Regresses SMPL (and the mesh) from normalised 2D keypoints.

        Args:
            keypoints (Tensor): (B, K, 2) keypoints normalised with
                :func:`normalize_keypoints_2d` (K = 18, or 17 with
                ``input_convention='coco'``).
            keypoints_mask (Tensor, optional): (B, K) validity, only used to
                synthesise the COCO neck.

        Returns:
            dict[str, Tensor]:

            - ``features``: (B, hidden_dim).
            - ``betas``: (B, num_betas).
            - ``pose_6d``: (B, J, 6).
            - ``rotmat``: (B, J, 3, 3) (J = 24, global orient first).
            - ``pose_aa``: (B, 3 J) axis-angle, radians.
            - ``vertices``: (B, V, 3) metres (body model only).
            - ``joints``: (B, 45 or 24, 3) metres, the body model's joints
              (body model only).
            - ``keypoints3d``: (B, 18, 3) OpenPose-18 joints in metres
              (only with an SMPL-topology body model, whose joints are
              ``smpl_45``).
        """
        keypoints = self.prepare_inputs(keypoints, keypoints_mask)
        batch = keypoints.shape[0]
        feats = self.feature_extractor(keypoints.reshape(batch, -1))
        return self.decode(feats)

    def decode(self, feats: Tensor) -> Dict[str, Tensor]:
        """SMPL head (+ body model) on (B, hidden_dim) features; the same
        outputs as :meth:`forward` (e.g. for domain-adapted features)."""
        batch = feats.shape[0]
        head = self.smpl_head(feats)
        rotmat = rot6d_to_rotmat(head['pose_6d'])  # (B, J, 3, 3)
        pose_aa = rotmat_to_axis_angle(rotmat).reshape(batch, -1)
        out = dict(features=feats,
                   betas=head['betas'],
                   pose_6d=head['pose_6d'],
                   rotmat=rotmat,
                   pose_aa=pose_aa)
        if self.body_model is not None:
            smpl_out = self.body_model(betas=head['betas'],
                                       global_orient=rotmat[:, :1],
                                       body_pose=rotmat[:, 1:],
                                       pose2rot=False)
            out['vertices'] = smpl_out['vertices']
            out['joints'] = smpl_out['joints']
            if getattr(self.body_model, 'joint_convention', None) == \
                    'smpl_45':
                out['keypoints3d'] = smpl_out['joints'][:,
                                                        SMPL45_TO_OPENPOSE18]
        return out
