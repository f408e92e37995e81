"""Hand poses x virtual cameras -> heatmap joints + mesh targets, on the device.

The hand counterpart of :mod:`.mocap_targets` (MPT's hand pre-training,
paper table 6; the released hand code's targets, see
``shared/reference/hand_spec.md``). :class:`HandMoCapTargetBuilder` poses a
batch of MANO parameters once and makes, per sample:

1. the hand posed by MANO (global orientation 0: the virtual cameras go
   around it), centred on its wrist (joint 0 of ``hand_21``);
2. its 21 joints (``hand_21``: MANO's ``J_regressor`` on the posed mesh +
   the fingertip vertices, FreiHAND's ground-truth definition) seen by the
   camera: ``x_cam = (x - T) @ R``, ``u = f x_cam[:2] / z + c`` (pixels);
3. a square crop of side ``crop_padding`` x the 21 joints' box, mapped to
   the ``heatmap_size`` frame (pixel centres ``0 .. S-1``): the network's 2D
   joints, and the same joints normalised to [-1, 1]
   (:func:`~mpt_plugin.geometry.crop.crop_to_norm`): the re-projection
   target;
4. the 3D targets in the camera's axes (x right, y down, z forward), wrist
   at the origin, metres: ``vertices`` (B, 778, 3) and ``joints_3d``
   (B, 21, 3).

Everything runs without gradients in float32 on the hand model's device,
autocast disabled.
"""
from typing import Dict, Tuple

import torch
from torch import Tensor, nn

from mpt_plugin.body_models import MPTMANO
from mpt_plugin.geometry.cameras import project_points
from mpt_plugin.geometry.crop import (crop_to_norm, fit_square_crop,
                                      image_to_crop)

__all__ = ['HandMoCapTargetBuilder', 'HAND_MOCAP_TARGET_KEYS']

#: Keys a hand target dict holds (the ``gt`` of :class:`MPTMeshLoss`, before
#: the mesh sampler's coarse level).
HAND_MOCAP_TARGET_KEYS = ('vertices', 'joints_3d', 'joints_2d_norm')


class HandMoCapTargetBuilder(nn.Module):
    """Pose MANO parameters, view them through virtual cameras, crop.

    Args:
        hand_model (dict): ``MPTMANO`` arguments: ``model_path`` (a MANO
            file or the folder of ``MANO_RIGHT`` / ``MANO_LEFT``),
            ``is_rhand`` and ``flat_hand_mean`` (the pose space of the pose
            set: ``MPTHandPoseDataset``'s sets are relative to the flat
            hand, the default here). ``joints_from`` is fixed to ``'mesh'``.
        heatmap_size (int): Side ``S`` of the heatmap frame, px.
        crop_padding (float): Crop side = padding x the 21 joints' box.
    """

    #: The loader's per-sample parameters and their shapes.
    PARAM_FIELDS = dict(hand_pose=(45, ), betas=(10, ))

    def __init__(self, hand_model: dict, heatmap_size: int = 224,
                 crop_padding: float = 1.2) -> None:
        super().__init__()
        args = {k: v for k, v in dict(hand_model).items() if k != 'type'}
        args.setdefault('flat_hand_mean', True)
        if args.get('use_pca'):
            raise ValueError('hand pose sets hold 45 axis-angle numbers per '
                             'hand; build the hand model with use_pca=False')
        args['joints_from'] = 'mesh'
        self.body_model = MPTMANO(**args)
        self.heatmap_size = int(heatmap_size)
        self.crop_padding = float(crop_padding)

    @property
    def device(self) -> torch.device:
        """The hand model's device (where the batch is posed)."""
        return self.body_model.v_template.device

    def train(self, mode: bool = True) -> 'HandMoCapTargetBuilder':
        super().train(mode)
        self.body_model.eval()  # frozen
        return self

    @torch.no_grad()
    def forward(self, params: Dict[str, Tensor],
                camera: Dict[str, Tensor]) -> Tuple[Tensor, Dict[str, Tensor]]:
        """Inputs and targets of a batch.

        Args:
            params: ``hand_pose`` (B, 45) axis-angle, radians, and ``betas``
                (B, 10), on this module's device.
            camera: ``cam_R`` (B, 3, 3), ``cam_T`` (B, 3), ``cam_f`` (B, 2),
                ``cam_c`` (B, 2) (see ``MPTHandPoseDataset``).

        Returns:
            tuple: ``joints_hm`` (B, 21, 2) heatmap pixels, and the targets
            (:data:`HAND_MOCAP_TARGET_KEYS`, see the module doc).

        Raises:
            ValueError: (CPU batches only, a GPU check would sync) a joint
                at or behind a camera.
        """
        with torch.autocast(params['hand_pose'].device.type, enabled=False):
            out = self.body_model(betas=params['betas'].float(),
                                  hand_pose=params['hand_pose'].float())
            root = out['joints'][:, :1]
            joints, verts = out['joints'] - root, out['vertices'] - root
            rot = camera['cam_R'].float()
            joints_cam = torch.bmm(joints - camera['cam_T'].float()[:, None],
                                   rot)
            depth = joints_cam[..., 2]
            if depth.device.type == 'cpu' and (depth <= 1e-6).any():
                bad = torch.nonzero((depth <= 1e-6).any(1))[:5]
                raise ValueError(
                    f'batch samples {bad.flatten().tolist()}: hand joints at '
                    'or behind the virtual camera (check cam_T, metres)')
            px = project_points(joints_cam, camera['cam_f'].float()[:, None],
                                camera['cam_c'].float()[:, None])
            centre, side = fit_square_crop(px, padding=self.crop_padding)
            hm = image_to_crop(px, centre, side, self.heatmap_size)
            targets = dict(
                vertices=torch.bmm(verts, rot),
                joints_3d=torch.bmm(joints, rot),
                joints_2d_norm=crop_to_norm(hm, self.heatmap_size))
        return hm, targets
