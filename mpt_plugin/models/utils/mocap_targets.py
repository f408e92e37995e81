"""MoCap bodies -> MPT inputs and targets, batched on the training device.

The loader (:class:`mpt_plugin.datasets.MPTMoCapHeatmapDataset`) carries
each sample's SMPL parameters and virtual camera; :class:`MoCapTargetBuilder`
poses the whole batch once and makes, per sample (paper section 3.1,
appendices A and B):

1. the body posed by the SMPL model of the subject's gender (or one model
   for all), centred on its H3.6M pelvis (joint 0 of the 17-joint
   regressor, the joint every mmhuman3d metric aligns on) at the world
   origin, AMASS's z-up world;
2. its 17 COCO joints (from the ``smpl_45`` joints) and 14 LSP joints (from
   the H3.6M regressor) seen by the camera: ``x_cam = (x - T) @ R``,
   ``u = f x_cam[:2] / z + c`` (pixels);
3. a square crop of side ``crop_padding`` x the COCO joints' box, mapped to
   the ``heatmap_size`` frame (pixel centres ``0 .. S-1``): the network's
   2D joints; the LSP joints in the same crop, normalised to [-1, 1]
   (:func:`~mpt_plugin.geometry.crop.crop_to_norm`): the re-projection
   target;
4. the 3D targets in the camera's axes (x right, y down, z forward),
   pelvis at the origin, metres: ``vertices`` (B, V, 3), ``joints_h36m``
   (B, 17, 3) and ``joints_3d`` (B, 14, 3) LSP.

Everything runs without gradients in float32 on the body model's device,
autocast disabled (mixed-precision training keeps float32 targets).
"""
from typing import Dict, Tuple

import torch
from torch import Tensor, nn

from mpt_plugin.body_models.conventions import H36M_TO_J14, get_mapping
from mpt_plugin.geometry.cameras import project_points
from mpt_plugin.geometry.crop import (crop_to_norm, fit_square_crop,
                                      image_to_crop)
from .mesh_targets import build_gt_body_model

__all__ = ['MoCapTargetBuilder', 'MOCAP_TARGET_KEYS']

#: Keys a MoCap target dict holds (the ``gt`` of :class:`MPTMeshLoss`,
#: before the mesh sampler's coarse levels).
MOCAP_TARGET_KEYS = ('vertices', 'joints_h36m', 'joints_3d',
                     'joints_2d_norm')


class MoCapTargetBuilder(nn.Module):
    """Pose SMPL parameters, view them through virtual cameras, crop.

    Args:
        body_model (dict): ``model_path`` (folder of
            ``SMPL_{NEUTRAL,MALE,FEMALE}``), ``joints_regressor`` (the
            17-joint H3.6M regressor ``.npy``), and ``gender``:
            ``'subject'`` (default: each sample's own gender code, through
            :class:`MPTGenderedSMPL`) or ``'neutral'`` / ``'male'`` /
            ``'female'`` (one model for every sample); other keys go to
            ``MPTSMPL``.
        heatmap_size (int): Side ``S`` of the heatmap frame, px.
        crop_padding (float): Crop side = padding x the COCO joints' box.
    """

    #: The loader's per-sample parameters and their shapes.
    PARAM_FIELDS = dict(pose_aa=(72, ), betas=(10, ), gender=())

    def __init__(self, body_model: dict, heatmap_size: int = 224,
                 crop_padding: float = 1.2) -> None:
        super().__init__()
        body_model = dict(body_model)
        if body_model.get('gender') == 'file':  # the posed-mesh cache's name
            body_model['gender'] = 'subject'
        self.body_model, self.gendered = build_gt_body_model(body_model)
        convention = getattr(self.body_model, 'joint_convention', None)
        if convention != 'smpl_45':
            raise ValueError('MoCap targets need a body model with the '
                             "'smpl_45' joints (SMPL topology), got "
                             f'{convention!r}')
        dst, src = get_mapping('smpl_45', 'coco')
        if len(dst) != 17:
            raise RuntimeError('smpl_45 -> coco mapping is incomplete')
        order = sorted(range(len(dst)), key=lambda i: dst[i])
        self.register_buffer('coco_index',
                             torch.as_tensor([src[i] for i in order]),
                             persistent=False)
        self.register_buffer('lsp_index', torch.as_tensor(H36M_TO_J14),
                             persistent=False)
        self.heatmap_size = int(heatmap_size)
        self.crop_padding = float(crop_padding)

    @property
    def device(self) -> torch.device:
        """The body model's device (where the batch is posed)."""
        return self.coco_index.device

    def train(self, mode: bool = True) -> 'MoCapTargetBuilder':
        super().train(mode)
        self.body_model.eval()  # frozen
        return self

    @torch.no_grad()
    def pose(self, pose_aa: Tensor, betas: Tensor,
             gender: Tensor) -> Dict[str, Tensor]:
        """Bodies centred on their H3.6M pelvis, AMASS world, metres.

        Args:
            pose_aa: (B, 72) axis-angle, radians. betas: (B, 10).
            gender: (B,) codes -1/0/1 (used when ``gendered``).

        Returns:
            dict: ``vertices`` (B, V, 3), ``joints`` (B, 45, 3) smpl_45,
            ``joints_h36m`` (B, 17, 3).
        """
        out = self.body_model(
            betas=betas, global_orient=pose_aa[:, :3],
            body_pose=pose_aa[:, 3:],
            **(dict(gender=gender) if self.gendered else {}))
        root = out['joints_regressed'][:, :1]
        return dict(vertices=out['vertices'] - root,
                    joints=out['joints'] - root,
                    joints_h36m=out['joints_regressed'] - root)

    @torch.no_grad()
    def forward(self, params: Dict[str, Tensor],
                camera: Dict[str, Tensor]) -> Tuple[Tensor, Dict[str, Tensor]]:
        """Inputs and targets of a batch.

        Args:
            params: ``pose_aa`` (B, 72), ``betas`` (B, 10), ``gender`` (B,)
                on this module's device.
            camera: ``cam_R`` (B, 3, 3), ``cam_T`` (B, 3), ``cam_f`` (B, 2),
                ``cam_c`` (B, 2) (see the dataset's docstring).

        Returns:
            tuple: ``joints_hm`` (B, 17, 2) COCO joints, heatmap pixels, and
            the targets dict (:data:`MOCAP_TARGET_KEYS`, see the module doc).

        Raises:
            ValueError: (CPU batches only, a GPU check would sync) a joint at
                or behind a camera.
        """
        # float32 whatever the caller's autocast (AmpOptimWrapper wraps the
        # data preprocessor too): targets are not built in bf16
        with torch.autocast(params['pose_aa'].device.type, enabled=False):
            return self._build(params, camera)

    def _build(self, params: Dict[str, Tensor],
               camera: Dict[str, Tensor]) -> Tuple[Tensor, Dict[str, Tensor]]:
        body = self.pose(params['pose_aa'].float(), params['betas'].float(),
                         params['gender'])
        rot = camera['cam_R'].float()
        h36m = body['joints_h36m']
        pts = torch.cat([body['joints'][:, self.coco_index],
                         h36m[:, self.lsp_index]], dim=1)
        pts_cam = torch.bmm(pts - camera['cam_T'].float()[:, None], rot)
        if pts_cam.device.type == 'cpu' and (pts_cam[..., 2] <= 1e-6).any():
            bad = torch.nonzero((pts_cam[..., 2] <= 1e-6).any(1))[:5]
            raise ValueError(
                f'batch samples {bad.flatten().tolist()}: joints at or behind '
                'the virtual camera; bodies are centred at the origin and '
                'cameras must stand a few metres away (check cam_T, metres)')
        px = project_points(pts_cam, camera['cam_f'].float()[:, None],
                            camera['cam_c'].float()[:, None])
        centre, side = fit_square_crop(px[:, :17], padding=self.crop_padding)
        hm = image_to_crop(px, centre, side, self.heatmap_size)
        targets = dict(
            vertices=torch.bmm(body['vertices'], rot),
            joints_h36m=torch.bmm(h36m, rot),
            joints_2d_norm=crop_to_norm(hm[:, 17:], self.heatmap_size))
        targets['joints_3d'] = targets['joints_h36m'][:, self.lsp_index]
        return hm[:, :17], targets
