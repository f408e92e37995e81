"""MPT on images: HRNet pose feature maps -> mesh regression transformer.

Paper sections 3.2 / 3.3: after pre-training on MoCap heatmaps, the
transformer head reads the 17 undecoded heatmaps of a stock MMPose HRNet
("pose feature maps") instead of synthetic Gaussian heatmaps, first without
fine-tuning, then fine-tuned end to end on mixed 2D/3D image datasets.
"""
import weakref
from typing import Dict, List, Optional, Sequence

import torch
from mmengine.structures import InstanceData
from mmpose.structures import PoseDataSample
from torch import Tensor, nn

from mpt_plugin.body_models.conventions import (H36M_TO_J14,
                                                get_keypoint_num, get_mapping)
from mpt_plugin.geometry.crop import crop_to_norm
from mpt_plugin.registry import MODELS
from ..utils.decode_heatmap_keypoints import decode_heatmap_keypoints
from ..utils.mesh_targets import require_targets, stack_targets
from .domain_adaptation_protocol import DA_MODES, DomainAdaptationProtocol
from .pretrain_estimator import MPTPretrainEstimator

__all__ = ['MPTFinetuneEstimator', 'TARGET_KEYPOINT_SOURCES']

#: Where the domain-adaptation target's 2D keypoints come from.
TARGET_KEYPOINT_SOURCES = ('pose_network', 'annotation')

#: ``(lsp_idx, coco_idx)``: the 12 LSP-14 joints with a COCO-17 counterpart
#: (all but neck and head top), by joint name.
_COCO_TO_LSP = get_mapping('coco', 'lsp')

@MODELS.register_module()
class MPTFinetuneEstimator(MPTPretrainEstimator, DomainAdaptationProtocol):
    """MPT fine-tuning / image inference (paper sections 3.2, 3.3).

    Data flow: ``MPTHumanDataDataset`` / ``MPTMixedHumanDataDataset`` ->
    ``MPTPackMeshInputs`` (224x224 BGR crops, GT in the crop) -> data
    preprocessor (mmpose ``PoseDataPreprocessor``: BGR->RGB, ImageNet
    mean/std) -> ``backbone`` (e.g. ``MPTHRNetPoseFeatureMaps``: 17 undecoded
    COCO heatmaps resized to the head's ``input_size``) -> ``head``
    (:class:`MPTMeshTransformerHead`, dense input path) -> mesh, joints and
    weak-perspective camera -> :class:`MPTMeshLoss` / ``MPTMeshMetric``.

    Ground truth: the targets of :mod:`mpt_plugin.models.utils.mesh_targets`,
    built before the model by :class:`MPTMeshDataPreprocessor` from the
    samples' SMPL parameters (gendered GT meshes) and keypoints (see
    :mod:`mpt_plugin.models.utils.image_targets`); this model adds the mesh
    sampler's levels and opens no file.

    Units: metres, camera-aligned axes (x right, y down, z forward) for all
    3D quantities, pelvis-centred.

    Loading a pre-training checkpoint with ``load_from``: the head lives
    under the same name (``head.``) in both estimators, so MMEngine's
    non-strict loading maps its weights in unchanged; the backbone keeps the
    weights of its own ``checkpoint`` (they are absent from a pre-training
    checkpoint). A fine-tuned checkpoint restores both.

    Domain adaptation (:class:`MPTWGANDomainAdaptation`, the
    :class:`DomainAdaptationProtocol`): the adapted encoder is the head's
    token encoder (``patch_embed`` + ``patch_mlp``,
    :attr:`MPTMeshTransformerHead.token_encoder`). Source batches are
    MoCap bodies (``MPTMoCapDataPreprocessor`` output: synthetic heatmap
    tokens, 3D targets posed on the device), target batches are images whose pose
    feature maps come from the (frozen) backbone; the only target loss is
    the 2D re-projection of the predicted LSP-14 joints onto the target's
    2D keypoints (no 3D label is read), taken from ``target_keypoints``:

    - ``'pose_network'`` (default; label-free): the detections of the
      frozen pose network itself, decoded from the pose feature maps the
      backbone computes anyway (:func:`decode_heatmap_keypoints`: argmax +
      quarter-pixel shift toward the higher neighbour, confidence = peak
      value, keypoints in the crop's pixels). The COCO-17 detections map by
      joint name onto 12 of the LSP-14 joints; neck and head top (no COCO
      counterpart) get weight 0, as does every joint whose confidence is
      below ``target_keypoint_threshold``. The data samples' 2D fields are
      never read.
    - ``'annotation'``: the samples' ``keypoints2d`` weighted by
      ``keypoints2d_visible``: ground truth for H3.6M's HumanData files
      (then the adaptation is NOT label-free), or detections when the
      target file stores detections there.

    Token features are averaged over the patches for the critic
    (``da_critic_reduce = 'mean'``).

    Args:
        backbone (dict): image -> (B, 17, S, S) maps, e.g.
            ``MPTHRNetPoseFeatureMaps``.
        head (dict): ``MPTMeshTransformerHead`` config (owns the loss).
        body_model (dict): ``MPTSMPL`` arguments (``model_path`` = the
            directory of ``SMPL_{NEUTRAL,MALE,FEMALE}``, ``joints_regressor``
            = the 17-joint H3.6M regressor): the head's template and the
            predicted H3.6M joints.
        mesh_sampler (str): ``mesh_downsampling.npz`` of the topology.
        data_preprocessor (dict, optional): ``MPTMeshDataPreprocessor``
            (image normalisation + targets).
        init_upsampling_from_sampler (bool): see
            :class:`MPTPretrainEstimator`.
        target_keypoints (str): Domain adaptation only: the source of the
            target's 2D keypoints, ``'pose_network'`` or ``'annotation'``
            (see above). Defaults to ``'pose_network'``.
        target_keypoint_threshold (float): With ``'pose_network'``: joints
            whose heatmap peak is below it get weight 0. Defaults to 0.1
            (MMPose 0.x HigherHRNet's ``detection_threshold``; Key2Mesh's
            ``normalize_p2d`` threshold on OpenPose confidences).
        init_cfg (dict, optional): MMEngine init config.
    """

    def __init__(self,
                 backbone: dict,
                 head: dict,
                 body_model: dict,
                 mesh_sampler: str,
                 data_preprocessor: Optional[dict] = None,
                 init_upsampling_from_sampler: bool = True,
                 target_keypoints: str = 'pose_network',
                 target_keypoint_threshold: float = 0.1,
                 init_cfg: Optional[dict] = None):
        if target_keypoints not in TARGET_KEYPOINT_SOURCES:
            raise ValueError(f'target_keypoints must be one of '
                             f'{TARGET_KEYPOINT_SOURCES}, got '
                             f'{target_keypoints!r}')
        super().__init__(
            head=head,
            body_model=body_model,
            mesh_sampler=mesh_sampler,
            data_preprocessor=data_preprocessor,
            init_upsampling_from_sampler=init_upsampling_from_sampler,
            init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        self.target_keypoints = target_keypoints
        self.target_keypoint_threshold = float(target_keypoint_threshold)
        # (weakref to the target images, their decoded detections): set by
        # da_features, reused by da_target_loss on the same tensor.
        self._da_detections = None

    # ------------------------------------------------------------------ parts
    def extract_feat(self, inputs: Tensor) -> Tensor:
        """(B, 3, H, W) normalised images -> (B, 17, S, S) pose maps."""
        maps = self.backbone(inputs)
        if isinstance(maps, (list, tuple)):
            maps = maps[-1]
        return maps

    def forward(self,
                inputs: Tensor,
                data_samples: Optional[Sequence[PoseDataSample]] = None,
                mode: str = 'tensor',
                **kwargs):
        if mode in DA_MODES:
            return self.da_forward(mode, inputs, data_samples, **kwargs)
        return super().forward(inputs, data_samples, mode)

    # -------------------------------------------------------------- ground truth
    target_preprocessor = ('MPTMeshDataPreprocessor(body_model=...) for '
                           'MPTPackMeshInputs image batches')

    def metric_gt(self, targets: Dict[str, Tensor]) -> Dict[str, Tensor]:
        """The evaluation GT of mmhuman3d from the targets.

        Returns:
            dict: ``joints_h36m`` (B, 17, 3) and ``keypoints3d_mask``
            (B, 17): the joints regressed from the GT mesh where the sample
            has one (mmhuman3d's 3DPW branch; all joints valid), else the
            target 3D joints with their weights (its H3.6M branch).
        """
        has = targets['has_mesh'].bool()
        verts = targets['vertices'].to(self.joint_regressor.dtype)
        mesh_joints = torch.einsum('jv,bvc->bjc', self.joint_regressor, verts)
        mesh_joints = mesh_joints - mesh_joints[:, :1]
        weights = targets['joints_h36m_weights'].to(verts)
        return dict(
            joints_h36m=torch.where(has[:, None, None], mesh_joints,
                                    targets['joints_h36m'].to(verts)),
            keypoints3d_mask=torch.where(has[:, None],
                                         torch.ones_like(weights), weights))

    # ------------------------------------------------------------------ modes
    def loss(self, inputs: Tensor,
             data_samples: Sequence[PoseDataSample]) -> Dict[str, Tensor]:
        gt = self.gather_gt(data_samples)
        return self.head.loss(self.extract_feat(inputs), gt)

    def predict(self,
                inputs: Tensor,
                data_samples: Optional[Sequence[PoseDataSample]] = None
                ) -> List[PoseDataSample]:
        """Mesh predictions, plus mmhuman3d-style GT for ``MPTMeshMetric``.

        Returns:
            list[PoseDataSample]: the input samples (or new ones) with
            ``pred_instances``: ``vertices`` (1, V, 3), ``joints`` (1, 14,
            3), ``joints_h36m`` (1, 17, 3), ``camera`` (1, 3) (metres,
            camera axes, pelvis-centred). When the batch has targets,
            ``gt_instances.joints_h36m`` (1, 17, 3) and ``keypoints3d_mask``
            (1, 17) are the evaluation GT (:meth:`metric_gt`), and
            ``gt_instances.vertices`` (1, V, 3) (PVE) is kept only where the
            sample has a GT mesh. The predicted mesh is the model's own
            (mmhuman3d re-poses predicted SMPL parameters with the GT
            gender; MPT predicts vertices, not parameters).
        """
        out = self.head.predict(self.extract_feat(inputs))
        pred_h36m = torch.einsum('jv,bvc->bjc', self.joint_regressor,
                                 out['vertices'])
        pred_h36m = pred_h36m - pred_h36m[:, :1]
        bsz = out['vertices'].shape[0]
        targets = stack_targets(data_samples)
        gt = None
        if all(k in targets for k in ('vertices', 'has_mesh', 'joints_h36m',
                                      'joints_h36m_weights')):
            gt = self.metric_gt(targets)
        results = []
        for i in range(bsz):
            sample = (data_samples[i] if data_samples is not None else
                      PoseDataSample())
            sample.pred_instances = InstanceData(
                vertices=out['vertices'][i:i + 1],
                joints=out['joints'][i:i + 1],
                joints_h36m=pred_h36m[i:i + 1],
                camera=out['camera'][i:i + 1])
            if gt is not None:
                gi = sample.gt_instances
                gi.joints_h36m = gt['joints_h36m'][i:i + 1]
                gi.keypoints3d_mask = gt['keypoints3d_mask'][i:i + 1]
                if not bool(targets['has_mesh'][i]) and 'vertices' in gi:
                    del gi.vertices
            results.append(sample)
        return results

    # -------------------------------------------------- domain adaptation
    da_critic_reduce = 'mean'

    @property
    def da_encoder(self) -> nn.Module:
        """The head's token encoder (heatmaps / joints -> patch tokens)."""
        return self.head.token_encoder

    def da_features(self, inputs, data_samples=None,
                    encoder: Optional[nn.Module] = None) -> Tensor:
        """(B, P, D0) patch tokens of ``encoder``: MoCap joints (a dict from
        ``MPTMoCapDataPreprocessor``) or images (through the backbone).

        For images with ``target_keypoints='pose_network'`` the pose maps
        are also decoded into detections, kept (with a weak reference to
        ``inputs``) for :meth:`da_target_loss` on the same tensor, so the
        backbone runs once per target batch.
        """
        encoder = self.da_encoder if encoder is None else encoder
        if isinstance(inputs, Tensor):
            images = inputs
            inputs = self.extract_feat(images)
            if self.target_keypoints == 'pose_network':
                self._da_detections = (weakref.ref(images),
                                       self.decode_pose_keypoints(
                                           inputs, images.shape[-2:]))
        return encoder(inputs)

    def decode_pose_keypoints(self, maps: Tensor,
                              image_size: Sequence[int]) -> Dict[str, Tensor]:
        """COCO-17 detections of the pose network from its feature maps.

        Args:
            maps (Tensor): ``(B, 17, S_h, S_w)`` pose feature maps
                (:meth:`extract_feat`), spanning the input crop with the
                backbone's ``align_corners`` (default False).
            image_size (Sequence[int]): ``(H, W)`` of the input crop.

        Returns:
            dict: ``keypoints`` (B, 17, 2) crop pixels (pixel centres at
            integers), ``scores`` (B, 17) heatmap peaks; no gradient.
        """
        num_coco = get_keypoint_num('coco')
        if maps.dim() != 4 or maps.shape[1] != num_coco:
            raise ValueError(
                "target_keypoints='pose_network' needs the backbone's "
                f'{num_coco} COCO heatmaps (B, {num_coco}, S, S), got '
                f'{tuple(maps.shape)}')
        keypoints, scores = decode_heatmap_keypoints(
            maps, image_size,
            align_corners=bool(getattr(self.backbone, 'align_corners',
                                       False)))
        return dict(keypoints=keypoints, scores=scores)

    def detections_to_lsp(self, detections: Dict[str, Tensor],
                          crop_size: int) -> Dict[str, Tensor]:
        """COCO-17 detections -> LSP-14 2D targets for :class:`MPTMeshLoss`.

        Args:
            detections (dict): :meth:`decode_pose_keypoints` output.
            crop_size (int): Side S of the crop (frame of the keypoints).

        Returns:
            dict: ``joints_2d_norm`` (B, 14, 2) in ``[-1, 1]``,
            ``joints_2d_weights`` (B, 14) 1 for joints with a COCO
            counterpart and ``score >= target_keypoint_threshold``, else 0
            (neck, head top: always 0), ``has_2d`` (B,).
        """
        dtype = self.joint_regressor.dtype
        kp, scores = detections['keypoints'], detections['scores']
        lsp_idx, coco_idx = _COCO_TO_LSP
        bsz = kp.shape[0]
        joints = kp.new_zeros(bsz, len(H36M_TO_J14), 2, dtype=dtype)
        weights = kp.new_zeros(bsz, len(H36M_TO_J14), dtype=dtype)
        joints[:, lsp_idx] = kp[:, coco_idx].to(dtype)
        weights[:, lsp_idx] = (scores[:, coco_idx] >=
                               self.target_keypoint_threshold).to(dtype)
        return dict(joints_2d_norm=crop_to_norm(joints, crop_size),
                    joints_2d_weights=weights,
                    has_2d=(weights > 0).any(dim=1))

    def da_target_keypoints(self, inputs: Tensor,
                            data_samples) -> Dict[str, Tensor]:
        """LSP-14 2D targets of a target batch from ``target_keypoints``
        (see the class docstring); ``inputs`` (B, 3, S, S) images."""
        if self.target_keypoints == 'annotation':
            targets = stack_targets(data_samples)
            keys = ('joints_2d_norm', 'joints_2d_weights', 'has_2d')
            require_targets(targets, keys, f'{type(self).__name__} with '
                            "target_keypoints='annotation'",
                            'give the target domain the data preprocessor '
                            + self.target_preprocessor)
            return {k: targets[k] for k in keys}
        cached = self._da_detections
        if cached is not None and cached[0]() is inputs:
            detections = cached[1]
        else:
            with torch.no_grad():
                detections = self.decode_pose_keypoints(
                    self.extract_feat(inputs), inputs.shape[-2:])
        return self.detections_to_lsp(detections, inputs.shape[-1])

    def da_forward_from_features(self, feats: Tensor,
                                 data_samples=None) -> Dict[str, Tensor]:
        return self.head.forward_tokens(feats)

    def da_target_loss(self, inputs, data_samples,
                       feats: Tensor) -> Dict[str, Tensor]:
        """2D re-projection of the predicted LSP-14 joints onto the target's
        2D keypoints from :meth:`da_target_keypoints` (by default the pose
        network's detections; no label read)."""
        gt2d = self.da_target_keypoints(inputs, data_samples)
        pred = self.head.forward_tokens(feats)
        losses = self.head.loss_module(
            pred, dict(gt2d, has_mesh=torch.zeros_like(gt2d['has_2d']),
                       has_3d=torch.zeros_like(gt2d['has_2d'])))
        return dict(loss_reprojection=losses['loss_joints_proj'])

    def da_source_loss(self, inputs, data_samples,
                       feats: Tensor) -> Dict[str, Tensor]:
        """The pre-training losses on a MoCap source batch."""
        gt = MPTPretrainEstimator.gather_gt(self, data_samples)
        return self.head.loss_module(self.head.forward_tokens(feats), gt)
