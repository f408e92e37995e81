"""Image samples -> mesh targets (the contract of :mod:`.mesh_targets`).

:class:`ImageTargetBuilder` turns the per-sample GT of
``MPTPackMeshInputs`` (``gt_instances``: SMPL parameters, 17 H3.6M 3D
keypoints, 17 2D keypoints in the crop, visibilities) into the batched
targets every image estimator reads:

- mesh (``has_mesh`` = ``has_smpl``): the GT SMPL parameters (global
  orientation in the camera frame, no translation; the pipeline already
  rotated it like the image) through the SMPL model of each sample's gender
  (``gender='subject'``, mmhuman3d's 3DPW evaluation) or one model, centred
  on H3.6M joint 0 of the 17-joint regressor; zeros where there is none.
- 3D joints (``joints_h36m`` / ``joints_3d``): the dataset's
  ``keypoints3d`` centred on their pelvis when the pelvis is visible
  (weights = visibility), otherwise the joints regressed from the GT mesh
  when there is one (weights 1), else weight 0.
- 2D joints: ``keypoints2d`` (crop pixels, pixel centres at integers) of
  the LSP-14 subset -> ``[-1, 1]`` (:func:`crop_to_norm`), weighted by
  visibility.

Units: metres, camera axes (x right, y down, z forward), pelvis-centred.
Runs without gradients, float32, autocast disabled.
"""
from typing import Dict, Mapping, Optional, Sequence

import torch
from torch import Tensor, nn

from mpt_plugin.body_models.conventions import H36M_TO_J14
from mpt_plugin.geometry.crop import crop_to_norm
from .mesh_targets import build_gt_body_model

__all__ = ['ImageTargetBuilder', 'IMAGE_GT_FIELDS']

#: Per-sample GT fields of ``MPTPackMeshInputs`` read here and their
#: trailing shapes (``gt_instances``, each ``(1, *shape)``).
IMAGE_GT_FIELDS = {
    'keypoints2d': (17, 2),
    'keypoints2d_visible': (17, ),
    'keypoints3d': (17, 3),
    'keypoints3d_visible': (17, ),
    'smpl_global_orient': (3, ),
    'smpl_body_pose': (69, ),
    'smpl_betas': (10, ),
    'has_smpl': (),
    'gender': (),
}


def _sample_name(sample, i: int) -> str:
    return f'data sample {i} ({sample.metainfo.get("img_path", "?")})'


def stack_image_gt(data_samples: Sequence, device: torch.device,
                   keys: Optional[Sequence[str]] = None,
                   fields: Mapping[str, tuple] = IMAGE_GT_FIELDS,
                   convention: str = "17-joint h36m convention: dataset "
                   "convention='h36m'") -> Dict[str, Tensor]:
    """Batch the ``gt_instances`` fields ``keys`` of image samples.

    Args:
        data_samples: the batch's ``PoseDataSample`` s.
        device: where the tensors go.
        keys: the fields to stack (default: all of ``fields``).
        fields: field -> per-sample trailing shape (default: the body's
            :data:`IMAGE_GT_FIELDS`).
        convention: what a wrong shape's message names.

    Returns:
        dict: field -> (B, *shape) float32 tensor on ``device``.

    Raises:
        KeyError: a sample lacks a field (names the sample and the
            transform that packs it).
        ValueError: a wrong shape (the 17-joint ``h36m`` convention is
            required), or a visible joint that is not finite.
    """
    out = {}
    for key in (tuple(fields) if keys is None else keys):
        shape = fields[key]
        rows = []
        for i, sample in enumerate(data_samples):
            gt = sample.gt_instances
            if key not in gt:
                raise KeyError(
                    f'{_sample_name(sample, i)} has no gt_instances.{key}; '
                    'pack image samples with MPTPackMeshInputs '
                    '(mpt_plugin/datasets/transforms/pack_mesh_inputs.py)')
            row = torch.as_tensor(gt[key])
            if tuple(row.shape) != (1, ) + shape:
                raise ValueError(
                    f'{_sample_name(sample, i)}: gt_instances.{key} must be '
                    f'{(1, ) + shape} ({convention}), got '
                    f'{tuple(row.shape)}')
            rows.append(row)
        out[key] = torch.cat(rows).to(device, torch.float32)
    for name in ('keypoints3d', 'keypoints2d'):
        if name not in out:
            continue
        vis = out[f'{name}_visible'] if f'{name}_visible' in out else None
        bad = ~torch.isfinite(out[name]).all(-1)
        if vis is not None:
            bad &= vis > 0
        if bad.any():
            i, k = (int(v) for v in bad.nonzero()[0])
            raise ValueError(f'{_sample_name(data_samples[i], i)}: '
                             f'gt_instances.{name} joint {k} is visible but '
                             'not finite')
        out[name] = torch.nan_to_num(out[name])
    return out


class ImageTargetBuilder(nn.Module):
    """GT SMPL body + keypoints of image samples -> mesh targets.

    Args:
        body_model (dict): ``model_path`` (folder of
            ``SMPL_{NEUTRAL,MALE,FEMALE}``), ``joints_regressor`` (the
            17-joint H3.6M regressor ``.npy``) and ``gender``:
            ``'subject'`` (default: each sample's gender code, neutral for
            -1) or ``'neutral'`` / ``'male'`` / ``'female'``; other keys go to
            the SMPL layer.
    """

    def __init__(self, body_model: dict) -> None:
        super().__init__()
        self.body_model, self.gendered = build_gt_body_model(body_model)
        # (17, V): the vertex count of the zero meshes of SMPL-less batches
        self.num_vertices = int(getattr(self.body_model, 'neutral',
                                        self.body_model).joints_regressor
                                .shape[1])
        self.register_buffer('lsp_index', torch.as_tensor(H36M_TO_J14),
                             persistent=False)

    def train(self, mode: bool = True) -> 'ImageTargetBuilder':
        super().train(mode)
        self.body_model.eval()  # frozen
        return self

    @torch.no_grad()
    def meshes(self, gt: Dict[str, Tensor]) -> Dict[str, Tensor]:
        """GT meshes, pelvis-centred; rows without SMPL are zeros (and the
        body model is not run when no sample has one).

        Returns:
            dict: ``vertices`` (B, V, 3), ``joints_h36m`` (B, 17, 3).
        """
        has = gt['has_smpl'] > 0
        if not bool(has.any()):
            zeros = has.new_zeros((has.shape[0], self.num_vertices, 3),
                                  dtype=torch.float32)
            return dict(vertices=zeros, joints_h36m=zeros[:, :17])
        # samples without SMPL may hold anything (even NaN): pose zeros
        params = {k: torch.where(has[:, None], gt[f'smpl_{k}'], 0.)
                  for k in ('global_orient', 'body_pose', 'betas')}
        if self.gendered:
            params['gender'] = gt['gender'].long()
        out = self.body_model(**params)
        verts, joints = out['vertices'], out['joints_regressed']
        mask = has[:, None, None]
        return dict(vertices=torch.where(mask, verts - joints[:, :1], 0.),
                    joints_h36m=torch.where(mask, joints - joints[:, :1], 0.))

    def forward(self, data_samples: Sequence,
                crop_size: int) -> Dict[str, Tensor]:
        """The targets of a batch of ``MPTPackMeshInputs`` samples.

        Args:
            data_samples: B ``PoseDataSample`` with the GT fields of
                :data:`IMAGE_GT_FIELDS` in ``gt_instances``.
            crop_size (int): Side S of the input crops, pixels (the frame of
                ``keypoints2d``).

        Returns:
            dict: every key of
            :data:`~mpt_plugin.models.utils.mesh_targets.MESH_TARGET_KEYS`.
        """
        device = self.lsp_index.device
        with torch.autocast(device.type, enabled=False), torch.no_grad():
            gt = stack_image_gt(data_samples, device)
            has_mesh = gt['has_smpl'] > 0
            mesh = self.meshes(gt)
            kp3d, vis3d = gt['keypoints3d'], gt['keypoints3d_visible']
            use_kp3d = vis3d[:, 0] > 0  # the pelvis is needed to centre
            joints = torch.where(use_kp3d[:, None, None], kp3d - kp3d[:, :1],
                                 mesh['joints_h36m'])
            weights = torch.where(use_kp3d[:, None], vis3d,
                                  has_mesh[:, None].float().expand_as(vis3d))
            lsp_w = weights[:, self.lsp_index]
            vis2d = gt['keypoints2d_visible'][:, self.lsp_index]
            return dict(
                vertices=mesh['vertices'],
                has_mesh=has_mesh,
                joints_h36m=joints,
                joints_h36m_weights=weights,
                joints_3d=joints[:, self.lsp_index],
                joints_3d_weights=lsp_w,
                has_3d=(lsp_w > 0).any(dim=1),
                joints_2d_norm=crop_to_norm(
                    gt['keypoints2d'][:, self.lsp_index], crop_size),
                joints_2d_weights=vis2d,
                has_2d=(vis2d > 0).any(dim=1))
