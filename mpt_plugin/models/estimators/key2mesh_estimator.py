"""Key2Mesh estimator: normalised 2D keypoints -> SMPL mesh (paper sec. 3).

Data flow: the data preprocessor (:class:`Key2MeshPairsPreprocessor` for
SMPL-parameter batches, :class:`Key2MeshDataPreprocessor` for keypoint
batches too) gives ``(B, K, 2)`` normalised keypoints and a dict of ground
truth; :class:`Key2MeshRegressor` predicts SMPL; :class:`Key2MeshLoss`
supervises it (pre-training, C.3). For evaluation the mesh ``(B, 6890, 3)``
(untranslated SMPL, metres) and its 17 H3.6M joints (``J_regressor_h36m``,
pelvis-centred) are returned for :class:`MPTMeshMetric`.

It implements :class:`DomainAdaptationProtocol`: the adapted encoder is the
MLP feature extractor, the target loss the label-free 2D re-projection loss
(fixed camera, input keypoints and their confidence mask as the target,
OpenPose-18 joint weights), so :class:`MPTWGANDomainAdaptation` can adapt it.
"""
from typing import Dict, List, Optional, Union

import torch
from mmengine.model import BaseModel
from mmengine.structures import InstanceData
from mmpose.structures import PoseDataSample
from torch import Tensor, nn

from mpt_plugin.body_models.conventions import (SMPL45_TO_OPENPOSE18,
                                                coco17_to_openpose18)
from mpt_plugin.body_models.io import load_joint_regressor
from mpt_plugin.geometry.cameras import smpl_to_camera_axes
from mpt_plugin.registry import MODELS
from ..utils.mesh_targets import stack_targets
from .domain_adaptation_protocol import DA_MODES, DomainAdaptationProtocol

__all__ = ['Key2MeshEstimator']



@MODELS.register_module()
class Key2MeshEstimator(DomainAdaptationProtocol, BaseModel):
    """Key2Mesh: keypoints -> :class:`Key2MeshRegressor` -> SMPL.

    Args:
        regressor (dict): :class:`Key2MeshRegressor` config; needs a
            ``body_model`` (SMPL topology) for the mesh and the joints.
        joint_regressor (str): ``J_regressor_h36m.npy`` ``(17, V)`` used
            for the evaluation joints.
        loss (dict): Pre-training loss, :class:`Key2MeshLoss` config.
            Defaults to ``dict(type='Key2MeshLoss')`` (C.3 weights).
        target_loss (dict, optional): Label-free target loss for domain
            adaptation: a :class:`Key2MeshLoss` of which only the 2D
            re-projection term is used (weight 1 by default; the adapter
            weighs it). Defaults to None (that default).
        output_frame (str): Axes of the predicted meshes/joints:
            ``'smpl'`` (y up, the body faces +z; Key2Mesh's own) or
            ``'camera'`` (180 degrees about x: x right, y down, z away from
            the camera, the image-sample contract). The evaluation GT (the
            data preprocessor's mesh targets, camera axes) is turned into
            this frame. Defaults to ``'smpl'``.
        data_preprocessor (dict, optional): e.g.
            ``Key2MeshPairsPreprocessor`` / ``Key2MeshDataPreprocessor``.
        init_cfg (dict, optional): MMEngine init config.

    ``data_samples`` (the preprocessor's dict): ``keypoints_mask`` (B, K)
    input validity; training: the :class:`Key2MeshLoss` ground truth;
    evaluation: the mesh targets the preprocessor builds from the labels
    (:class:`Key2MeshDataPreprocessor`'s docstring).
    """

    def __init__(self,
                 regressor: dict,
                 joint_regressor: str,
                 loss: Optional[dict] = None,
                 target_loss: Optional[dict] = None,
                 output_frame: str = 'smpl',
                 data_preprocessor: Optional[Union[dict, nn.Module]] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if isinstance(data_preprocessor, dict):
            # built from mmpose's registry whatever the default scope
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        if output_frame not in ('smpl', 'camera'):
            raise ValueError("output_frame must be 'smpl' or 'camera', got "
                             f'{output_frame!r}')
        self.regressor = MODELS.build(regressor)
        if self.regressor.body_model is None:
            raise KeyError('Key2MeshEstimator: regressor needs a body_model '
                           "(e.g. dict(type='MPTSMPL', model_path=...)) for "
                           'meshes and joints')
        self.loss_module = MODELS.build(loss or dict(type='Key2MeshLoss'))
        self.target_loss_module = MODELS.build(target_loss or dict(
            type='Key2MeshLoss',
            pose_weight=0.0,
            betas_weight=0.0,
            keypoints2d_weight=1.0,
            keypoints3d_weight=0.0))
        reg = torch.as_tensor(load_joint_regressor(joint_regressor),
                              dtype=torch.float32)
        if reg.shape[0] != 17:
            raise ValueError(f'{joint_regressor}: expected 17 rows (H3.6M '
                             f'joints), got shape {tuple(reg.shape)}')
        self.register_buffer('joint_regressor', reg, persistent=False)
        self.output_frame = output_frame
        self.register_buffer('openpose18_index',
                             torch.as_tensor(SMPL45_TO_OPENPOSE18),
                             persistent=False)

    # ------------------------------------------------------------ helpers
    @staticmethod
    def _mask(data_samples: Optional[dict]) -> Optional[Tensor]:
        if isinstance(data_samples, dict):
            return data_samples.get('keypoints_mask')
        return None

    def _to_frame(self, points: Tensor) -> Tensor:
        """Predictions (SMPL axes) -> ``output_frame``."""
        if self.output_frame == 'camera':
            return smpl_to_camera_axes(points)
        return points

    def _targets_to_frame(self, points: Tensor) -> Tensor:
        """Targets (camera axes) -> ``output_frame``."""
        if self.output_frame == 'smpl':
            return smpl_to_camera_axes(points)
        return points

    def _h36m(self, vertices: Tensor) -> Tensor:
        """(B, V, 3) -> (B, 17, 3) H3.6M joints, pelvis at the origin."""
        joints = torch.einsum('jv,bvc->bjc', self.joint_regressor.to(vertices),
                              vertices)
        return joints - joints[:, :1]

    def _openpose18_2d(self, keypoints: Tensor,
                       mask: Optional[Tensor]) -> Dict[str, Tensor]:
        """The input keypoints as the OpenPose-18 2D target (label-free)."""
        if mask is None:
            mask = torch.ones(keypoints.shape[:2], dtype=torch.bool,
                              device=keypoints.device)
        if self.regressor.input_convention == 'coco':
            keypoints, mask = coco17_to_openpose18(keypoints, mask)
        return dict(keypoints2d_norm=keypoints, keypoints2d_mask=mask.bool())

    def decode(self, feats: Tensor) -> Dict[str, Tensor]:
        """SMPL head + body model on (B, D) features.

        Returns:
            dict: ``betas`` (B, 10), ``rotmat`` (B, 24, 3, 3), ``pose_aa``
            (B, 72) radians, ``vertices`` (B, V, 3) metres, ``keypoints3d``
            (B, 18, 3) OpenPose-18 joints, metres (SMPL frame).
        """
        out = self.regressor.decode(feats)
        if 'vertices' not in out:
            raise ValueError('Key2MeshEstimator needs a regressor with a '
                             'body_model (the mesh is predicted)')
        return dict(betas=out['betas'],
                    rotmat=out['rotmat'],
                    pose_aa=out['pose_aa'],
                    vertices=out['vertices'],
                    keypoints3d=out['joints'].index_select(
                        1, self.openpose18_index))

    # -------------------------------------------------------------- modes
    def forward(self,
                inputs: Tensor,
                data_samples: Optional[dict] = None,
                mode: str = 'tensor',
                **kwargs):
        """``'loss'``, ``'predict'``, ``'tensor'`` or a
        :data:`DA_MODES` mode (domain-adaptation protocol)."""
        if mode in DA_MODES:
            return self.da_forward(mode, inputs, data_samples, **kwargs)
        if kwargs:
            raise TypeError(f'mode {mode!r} takes no extra arguments, got '
                            f'{sorted(kwargs)}')
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.regressor(inputs, self._mask(data_samples))
        raise ValueError("mode must be 'loss', 'predict', 'tensor' or one of "
                         f'{DA_MODES}, got {mode!r}')

    def _gt_with_openpose18_2d(self, data_samples: dict) -> dict:
        gt = dict(data_samples)
        if self.regressor.input_convention == 'coco' and \
                'keypoints2d_norm' in gt:
            gt.update(self._openpose18_2d(gt['keypoints2d_norm'],
                                          gt.get('keypoints2d_mask')))
        return gt

    def loss(self, inputs: Tensor, data_samples: dict) -> Dict[str, Tensor]:
        """Pre-training losses (:class:`Key2MeshLoss`) on a labelled batch.

        Args:
            inputs (Tensor): (B, K, 2) normalised keypoints.
            data_samples (dict): The preprocessor's ground truth.

        Returns:
            dict[str, Tensor]: ``loss_pose``, ``loss_betas``,
            ``loss_keypoints2d``, ``loss_keypoints3d``.
        """
        if not isinstance(data_samples, dict):
            raise TypeError('Key2MeshEstimator.loss needs the preprocessor '
                            'ground-truth dict as data_samples, got '
                            f'{type(data_samples).__name__}')
        pred = self.regressor(inputs, self._mask(data_samples))
        return self.loss_module(pred,
                                self._gt_with_openpose18_2d(data_samples))

    @torch.no_grad()
    def metric_gt(self, data_samples: Optional[dict]
                  ) -> Optional[Dict[str, Tensor]]:
        """Evaluation GT from the batch's mesh targets (built by the data
        preprocessor in camera axes), in ``output_frame``; None without.

        Returns:
            dict | None: ``joints_h36m`` (B, 17, 3) pelvis-centred (the
            targets' own, else regressed from the GT mesh), ``mask``
            (B, 17), and ``vertices`` (B, V, 3) + ``has_mesh`` (B,) when
            there is a GT mesh (untranslated, mmhuman3d's PVE frame).
        """
        targets = stack_targets(data_samples)
        if 'vertices' not in targets and 'joints_h36m' not in targets:
            return None
        out = {}
        if 'vertices' in targets:
            verts = self._targets_to_frame(
                targets['vertices'].to(self.joint_regressor))
            has = targets.get('has_mesh')
            has = (torch.ones(verts.shape[0], dtype=torch.bool,
                              device=verts.device)
                   if has is None else has.bool())
            out.update(vertices=verts, has_mesh=has,
                       joints_h36m=self._h36m(verts),
                       mask=has[:, None].expand(-1, 17))
        if 'joints_h36m' in targets:
            joints = self._targets_to_frame(
                targets['joints_h36m'].to(self.joint_regressor))
            weights = targets.get('joints_h36m_weights')
            out.update(joints_h36m=joints - joints[:, :1],
                       mask=(torch.ones(joints.shape[:2], dtype=torch.bool,
                                        device=joints.device)
                             if weights is None else weights > 0))
        return out

    @torch.no_grad()
    def predict(self, inputs: Tensor,
                data_samples: Optional[dict] = None) -> List[PoseDataSample]:
        """One ``PoseDataSample`` per input.

        ``pred_instances``: ``vertices`` (1, V, 3) metres (untranslated
        SMPL in ``output_frame``), ``joints_h36m`` (1, 17, 3) metres,
        pelvis-centred, ``betas`` (1, 10), ``pose_aa`` (1, 72).
        ``gt_instances`` (when the batch has labels, see the class doc):
        ``vertices``, ``joints_h36m`` and ``keypoints3d_mask`` (1, 17).
        """
        pred = self.regressor(inputs, self._mask(data_samples))
        verts = self._to_frame(pred['vertices'])
        joints = self._h36m(verts)
        gt = self.metric_gt(data_samples)
        results = []
        for i in range(verts.shape[0]):
            sample = PoseDataSample()
            sample.pred_instances = InstanceData(
                vertices=verts[i:i + 1],
                joints_h36m=joints[i:i + 1],
                betas=pred['betas'][i:i + 1],
                pose_aa=pred['pose_aa'][i:i + 1])
            if gt is not None:
                gt_inst = InstanceData(
                    joints_h36m=gt['joints_h36m'][i:i + 1],
                    keypoints3d_mask=gt['mask'][i:i + 1].to(verts))
                if 'vertices' in gt and bool(gt['has_mesh'][i]):
                    gt_inst.vertices = gt['vertices'][i:i + 1]
                sample.gt_instances = gt_inst
            results.append(sample)
        return results

    # -------------------------------------- domain-adaptation protocol
    @property
    def da_encoder(self) -> nn.Module:
        """The keypoint feature extractor (adapted; the head is frozen)."""
        return self.regressor.feature_extractor

    def da_features(self,
                    inputs: Tensor,
                    data_samples: Optional[dict] = None,
                    encoder: Optional[nn.Module] = None) -> Tensor:
        """(B, D) features of ``encoder`` (default: the regressor's)."""
        keypoints = self.regressor.prepare_inputs(inputs,
                                                  self._mask(data_samples))
        encoder = self.da_encoder if encoder is None else encoder
        return encoder(keypoints.flatten(1))

    def da_forward_from_features(self,
                                 feats: Tensor,
                                 data_samples=None) -> Dict[str, Tensor]:
        """:meth:`decode` (frozen SMPL head + body model)."""
        return self.decode(feats)

    def da_target_loss(self, inputs: Tensor, data_samples: Optional[dict],
                       feats: Tensor) -> Dict[str, Tensor]:
        """Label-free 2D re-projection loss on target keypoints.

        The predicted OpenPose-18 joints are projected with the fixed
        camera, normalised with the input's confidence mask and compared
        (joint-weighted L1) with the normalised input keypoints. Only
        ``inputs`` and ``data_samples['keypoints_mask']`` are read.

        Returns:
            dict: ``loss_reprojection`` (unweighted by the adapter).
        """
        pred = self.decode(feats)
        gt2d = self._openpose18_2d(inputs, self._mask(data_samples))
        losses = self.target_loss_module(pred, gt2d)
        return dict(loss_reprojection=losses['loss_keypoints2d'])

    def da_source_loss(self, inputs: Tensor, data_samples: dict,
                       feats: Tensor) -> Dict[str, Tensor]:
        """Pre-training losses on a labelled source batch from features."""
        pred = self.decode(feats)
        return self.loss_module(pred,
                                self._gt_with_openpose18_2d(data_samples))
