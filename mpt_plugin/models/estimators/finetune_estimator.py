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

from mpt_plugin.body_models import MPTGenderedSMPL
from mpt_plugin.body_models.conventions import (H36M_TO_J14,
                                                get_keypoint_num, get_mapping)
from mpt_plugin.geometry.crop import crop_to_norm
from mpt_plugin.registry import MODELS
from ..utils.decode_heatmap_keypoints import decode_heatmap_keypoints
from .domain_adaptation_protocol import DA_MODES, DomainAdaptationProtocol
from .pretrain_estimator import MPTPretrainEstimator

__all__ = ['MPTFinetuneEstimator', 'TARGET_KEYPOINT_SOURCES']

#: Where the domain-adaptation target's 2D keypoints come from.
TARGET_KEYPOINT_SOURCES = ('pose_network', 'annotation')

#: ``(lsp_idx, coco_idx)``: the 12 LSP-14 joints with a COCO-17 counterpart
#: (all but neck and head top), by joint name.
_COCO_TO_LSP = get_mapping('coco', 'lsp')

#: Per-sample GT fields of ``MPTPackMeshInputs`` and their trailing shapes
#: (``None`` = any number of joints K).
_GT_FIELDS = {
    'keypoints2d': (None, 2),
    'keypoints2d_visible': (None, ),
    'keypoints3d': (None, 3),
    'keypoints3d_visible': (None, ),
    'smpl_global_orient': (3, ),
    'smpl_body_pose': (69, ),
    'smpl_betas': (10, ),
    'has_smpl': (),
    'gender': (),
}


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

    Ground truth is assembled per batch on the device:

    - mesh (``has_mesh``): the GT SMPL parameters (global orientation in the
      camera frame, no translation) through the **gendered** SMPL of each
      sample, rotated like the image (the pipeline already did), centred on
      H3.6M joint 0 of the 17-joint regressor; coarse levels by the mesh
      sampler.
    - 3D joints (``has_3d``): the dataset's 17 H3.6M ``keypoints3d`` centred
      on their pelvis (joint 0) when the pelvis is visible, otherwise the
      joints regressed from the GT mesh when there is one; the 14 LSP joints
      are supervised, weighted by visibility.
    - 2D joints (``has_2d``): ``keypoints2d`` (crop pixels, pixel centres at
      integers) -> ``[-1, 1]`` (``(x + 0.5) * 2 / S - 1``), weighted by
      visibility.

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
            = the 17-joint H3.6M regressor). The neutral model gives the
            head's template, the gendered ones the GT meshes.
        mesh_sampler (str): ``mesh_downsampling.npz`` of the topology.
        data_preprocessor (dict, optional): e.g. ``PoseDataPreprocessor``.
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
        bm = {
            k: v
            for k, v in body_model.items()
            if k not in ('type', 'gender', 'joints_regressor')
        }
        self.gt_body_model = MPTGenderedSMPL(**bm)
        for p in self.gt_body_model.parameters():
            p.requires_grad_(False)
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
    def _stack_gt(self,
                  data_samples: Sequence[PoseDataSample],
                  device: torch.device,
                  keys: Sequence[str] = tuple(_GT_FIELDS)
                  ) -> Dict[str, Tensor]:
        """Batch the ``gt_instances`` fields ``keys`` of ``MPTPackMeshInputs``.
        """
        if not data_samples:
            raise ValueError('MPTFinetuneEstimator needs data_samples')
        out = {}
        for key in keys:
            tail = _GT_FIELDS[key]
            values = []
            for i, sample in enumerate(data_samples):
                gt = sample.gt_instances
                if key not in gt:
                    raise KeyError(
                        f'data sample {i} ({sample.metainfo.get("img_path")})'
                        f' has no gt_instances.{key}; use MPTPackMeshInputs '
                        '(mpt_plugin/datasets/transforms/pack_mesh_inputs.py)')
                values.append(torch.as_tensor(gt[key]))
            value = torch.cat(values).to(device)
            expected = [t for t in tail if t is not None]
            if list(value.shape[value.dim() - len(expected):]) != expected \
                    or value.dim() != 1 + len(tail):
                raise ValueError(f'gt_instances.{key} must be (1, '
                                 f'{", ".join(str(t or "K") for t in tail)})'
                                 f' per sample, got {tuple(value.shape)} for '
                                 'the batch')
            out[key] = value
        counts = {k: out[k].shape[1]
                  for k in ('keypoints3d', 'keypoints2d') if k in out}
        if any(n != 17 for n in counts.values()):
            raise ValueError(
                'MPTFinetuneEstimator needs keypoints in the 17-joint h36m '
                f"convention (dataset convention='h36m'), got {counts}")
        return out

    def _keypoints2d_gt(self, gt: Dict[str, Tensor],
                        crop_size: int) -> Dict[str, Tensor]:
        """LSP-14 2D GT for :class:`MPTMeshLoss` from batched ``keypoints2d``
        (crop pixels, pixel centres at integers) -> ``[-1, 1]``."""
        dtype = self.joint_regressor.dtype
        kp = gt['keypoints2d'].to(dtype)[:, H36M_TO_J14]
        vis = gt['keypoints2d_visible'].to(dtype)[:, H36M_TO_J14]
        return dict(joints_2d_norm=crop_to_norm(kp, crop_size),
                    joints_2d_weights=vis, has_2d=(vis > 0).any(dim=1))

    @torch.no_grad()
    def gt_meshes(self, gt: Dict[str, Tensor]) -> Dict[str, Tensor]:
        """Gendered SMPL meshes of the GT parameters, pelvis-centred.

        Args:
            gt (dict): batched fields (see :meth:`_stack_gt`).

        Returns:
            dict: ``vertices`` (B, V, 3) and ``joints_h36m`` (B, 17, 3)
            metres, camera axes, centred on the regressed pelvis; rows of
            samples without SMPL are zeros.
        """
        dtype = self.joint_regressor.dtype
        out = self.gt_body_model(
            betas=gt['smpl_betas'].to(dtype),
            body_pose=gt['smpl_body_pose'].to(dtype),
            global_orient=gt['smpl_global_orient'].to(dtype),
            gender=gt['gender'].long())
        verts = out['vertices']
        joints = torch.einsum('jv,bvc->bjc', self.joint_regressor, verts)
        has = (gt['has_smpl'] > 0)[:, None, None]
        verts = torch.where(has, verts - joints[:, :1], 0.)
        joints = torch.where(has, joints - joints[:, :1], 0.)
        return dict(vertices=verts, joints_h36m=joints)

    def gather_gt(self,
                  data_samples: Sequence[PoseDataSample],
                  crop_size: int,
                  device: Optional[torch.device] = None
                  ) -> Dict[str, Tensor]:
        """GT tensors for :class:`MPTMeshLoss` (see the class docstring).

        Args:
            data_samples (Sequence[PoseDataSample]): ``MPTPackMeshInputs``
                samples.
            crop_size (int): side S of the input crops in pixels (the frame
                of ``keypoints2d``).
            device (torch.device, optional): defaults to the model's.

        Returns:
            dict: ``vertices``/``vertices_mid``/``vertices_coarse`` +
            ``has_mesh``; ``joints_3d`` (B, 14, 3), ``joints_3d_weights``,
            ``has_3d``, ``joints_h36m`` (B, 17, 3); ``joints_2d_norm``
            (B, 14, 2), ``joints_2d_weights``, ``has_2d``; all metres /
            normalised crop coordinates.
        """
        device = device or self.joint_regressor.device
        gt = self._stack_gt(data_samples, device)
        dtype = self.joint_regressor.dtype
        has_mesh = gt['has_smpl'] > 0
        mesh = self.gt_meshes(gt)

        kp3d = gt['keypoints3d'].to(dtype)
        vis3d = gt['keypoints3d_visible'].to(dtype)
        use_kp3d = vis3d[:, 0] > 0  # the pelvis is needed to centre
        joints = torch.where(use_kp3d[:, None, None],
                             kp3d - kp3d[:, :1], mesh['joints_h36m'])
        weights3d = torch.where(use_kp3d[:, None], vis3d,
                                has_mesh[:, None].to(dtype).expand_as(vis3d))
        joints_lsp, weights_lsp = joints[:, H36M_TO_J14], \
            weights3d[:, H36M_TO_J14]
        has_3d = (weights_lsp > 0).any(dim=1)

        verts = mesh['vertices']
        return dict(
            vertices=verts,
            vertices_mid=self.mesh_sampler.downsample(verts, 0, 1),
            vertices_coarse=self.mesh_sampler.downsample(verts, 0, 2),
            has_mesh=has_mesh,
            joints_3d=joints_lsp,
            joints_3d_weights=weights_lsp,
            has_3d=has_3d,
            joints_h36m=joints,
            joints_h36m_weights=weights3d,
            **self._keypoints2d_gt(gt, crop_size))

    # ------------------------------------------------------------------ modes
    def loss(self, inputs: Tensor,
             data_samples: Sequence[PoseDataSample]) -> Dict[str, Tensor]:
        gt = self.gather_gt(data_samples, inputs.shape[-1], inputs.device)
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
            camera axes, pelvis-centred). When GT is available,
            ``gt_instances`` additionally holds ``joints_h36m`` (1, 17, 3)
            and ``keypoints3d_mask`` (1, 17): from the GT SMPL through the
            gendered model (3DPW branch of mmhuman3d, with ``vertices``
            (1, V, 3) for PVE) when the sample has SMPL, else the dataset's
            3D keypoints (H3.6M branch). The predicted mesh is the model's
            own (mmhuman3d re-poses predicted SMPL parameters with the GT
            gender; MPT predicts vertices, not parameters).
        """
        out = self.head.predict(self.extract_feat(inputs))
        pred_h36m = torch.einsum('jv,bvc->bjc', self.joint_regressor,
                                 out['vertices'])
        pred_h36m = pred_h36m - pred_h36m[:, :1]
        bsz = out['vertices'].shape[0]
        gt = None
        if data_samples is not None and len(data_samples) and all(
                'keypoints3d' in s.gt_instances for s in data_samples):
            gt = self._stack_gt(data_samples, inputs.device)
            mesh = self.gt_meshes(gt)
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
                if gt['has_smpl'][i] > 0:
                    gi.joints_h36m = mesh['joints_h36m'][i:i + 1]
                    gi.vertices = mesh['vertices'][i:i + 1]
                    gi.keypoints3d_mask = torch.ones_like(
                        gt['keypoints3d_visible'][i:i + 1])
                else:
                    gi.joints_h36m = gt['keypoints3d'][i:i + 1]
                    gi.keypoints3d_mask = gt['keypoints3d_visible'][i:i + 1]
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
            return self._keypoints2d_gt(
                self._stack_gt(data_samples, inputs.device,
                               keys=('keypoints2d', 'keypoints2d_visible')),
                inputs.shape[-1])
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
