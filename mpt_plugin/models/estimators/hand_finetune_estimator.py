"""MPT for hands on images (FreiHAND, MPT table 6): the pose feature maps of a
stock MMPose hand network -> the pre-trained mesh regression transformer."""
import math
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from mmpose.structures import PoseDataSample
from torch import Tensor

from mpt_plugin.geometry.procrustes import similarity_transform
from mpt_plugin.registry import MODELS
from .hand_pretrain_estimator import MPTHandPretrainEstimator

__all__ = ['MPTHandFinetuneEstimator', 'RELEASED_TTA']

#: The released hand code's multi-scale / multi-rotation test
#: (``run_hand_multiscale.py``): 5 crop scales x 19 in-plane rotations.
RELEASED_TTA = dict(scales=(0.7, 0.8, 0.9, 1.0, 1.1),
                    rotations=tuple(range(-90, 91, 10)))


@MODELS.register_module()
class MPTHandFinetuneEstimator(MPTHandPretrainEstimator):
    """MPT hand fine-tuning and testing on images (FreiHAND).

    Data flow: ``MPTFreiHANDDataset`` -> the released hand pipeline
    (``MPTMeshRandomScaleRotation``, ``MPTMeshColorNoise``, the central crop
    by ``MPTMeshAffine``, ``MPTPackMeshInputs``: 224 x 224 BGR crops, GT
    joints / mesh rotated with the crop) -> ``MPTMeshDataPreprocessor(
    hand_model=...)`` (RGB, ImageNet mean/std; wrist-centred targets) ->
    ``backbone`` (``MPTHRNetPoseFeatureMaps`` with the HRNetV2-W18 hand
    network: 21 undecoded heatmaps resized to the head's ``input_size``) ->
    ``head`` (dense input path) -> mesh, 21 joints, camera ->
    ``MPTMeshLoss`` / ``MPTFreiHANDMetric``.

    Loading a hand pre-training checkpoint with ``load_from`` maps its
    ``head.`` weights in unchanged (same name in both estimators); the
    backbone keeps its own ``checkpoint``.

    Test-time augmentation (``test_cfg=dict(tta=dict(scales=...,
    rotations=...))``, off by default; :data:`RELEASED_TTA` is the released
    hand code's 5 x 19 grid): every input crop is re-sampled about its
    centre with the crop side multiplied by ``scale`` and rotated by
    ``rotation`` degrees (bilinear, zero outside the image), each variant
    is predicted, each prediction's mesh and joints are aligned with the
    one similarity transform (:func:`~mpt_plugin.geometry.procrustes.
    similarity_transform`) onto the prediction of ``(scale 1, rotation 0)``
    (which must be in the grid), and the aligned predictions are averaged.
    The camera is the reference one's. Runs ``len(scales) x
    len(rotations)`` forward passes per batch (95 for the released grid);
    ``tta['batch_variants']`` of them go through the network at once.
    Our variants re-sample the already cropped input instead of re-cropping
    the full image: pixels outside the 224 crop are black in zoomed-out
    variants (FreiHAND's hands sit in the central 180 px, so little is
    lost).

    Args:
        backbone (dict): image -> (B, 21, S, S) maps, e.g.
            ``MPTHRNetPoseFeatureMaps`` (``arch='hrnetv2_w18'``).
        head, hand_model, mesh_sampler, data_preprocessor,
        init_upsampling_from_sampler, init_cfg: as
            :class:`MPTHandPretrainEstimator`.
        test_cfg (dict, optional): ``tta`` as above.
    """

    target_preprocessor = ('MPTMeshDataPreprocessor(hand_model=...) for '
                           'MPTFreiHANDDataset batches')

    def __init__(self,
                 backbone: dict,
                 head: dict,
                 hand_model: dict,
                 mesh_sampler: str,
                 data_preprocessor: Optional[dict] = None,
                 init_upsampling_from_sampler: bool = True,
                 test_cfg: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(
            head=head,
            hand_model=hand_model,
            mesh_sampler=mesh_sampler,
            data_preprocessor=data_preprocessor,
            init_upsampling_from_sampler=init_upsampling_from_sampler,
            init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        self.test_cfg = dict(test_cfg or {})
        tta = self.test_cfg.get('tta')
        if tta is not None:
            tta = dict(tta)
            tta['scales'] = tuple(float(s) for s in tta.get('scales', ()))
            tta['rotations'] = tuple(
                float(r) for r in tta.get('rotations', ()))
            tta['batch_variants'] = int(tta.get('batch_variants', 8))
            if not tta['scales'] or not tta['rotations'] or \
                    min(tta['scales']) <= 0:
                raise ValueError('test_cfg.tta needs positive scales and '
                                 f'rotations (degrees), got {tta}')
            if 1.0 not in tta['scales'] or 0.0 not in tta['rotations']:
                raise ValueError('test_cfg.tta must include scale 1 and '
                                 'rotation 0 (the reference the other '
                                 f'variants are aligned onto), got {tta}')
            if tta['batch_variants'] < 1:
                raise ValueError('test_cfg.tta.batch_variants must be >= 1')
        self.tta = tta

    def extract_feat(self, inputs: Tensor) -> Tensor:
        """(B, 3, H, W) normalised images -> (B, 21, S, S) pose maps."""
        maps = self.backbone(inputs)
        if isinstance(maps, (list, tuple)):
            maps = maps[-1]
        return maps

    # ------------------------------------------------------------- TTA
    @staticmethod
    def _variant_grid(scale: float, rotation_deg: float, like: Tensor,
                      batch: int) -> Tensor:
        """Sampling grid of one variant: a crop of side ``scale`` x the
        input's about its centre, whose content appears turned by
        ``rotation`` degrees clockwise (as displayed, y down): output pixel
        ``p`` (normalised, centre 0) reads the input at ``scale *
        R(rotation) p``."""
        a = math.radians(rotation_deg)
        cos, sin = math.cos(a) * scale, math.sin(a) * scale
        theta = like.new_tensor([[cos, sin, 0.0], [-sin, cos, 0.0]])
        return F.affine_grid(theta.expand(batch, 2, 3),
                             [batch, like.shape[1], *like.shape[-2:]],
                             align_corners=False)

    @torch.no_grad()
    def predict_tta(self, inputs: Tensor) -> Dict[str, Tensor]:
        """Averaged predictions of the TTA grid (see the class doc).

        Args:
            inputs (Tensor): (B, 3, S, S) normalised crops.

        Returns:
            dict: ``vertices`` (B, 778, 3), ``joints`` (B, 21, 3) averaged
            after alignment, ``camera`` (B, 3) of the reference variant;
            metres, wrist-centred like the reference.
        """
        tta = self.tta
        variants = [(s, r) for s in tta['scales'] for r in tta['rotations']]
        ref = variants.index((1.0, 0.0))
        bsz = inputs.shape[0]
        outs: List[Dict[str, Tensor]] = []
        step = tta['batch_variants']
        for start in range(0, len(variants), step):
            chunk = variants[start:start + step]
            warped = torch.cat([
                F.grid_sample(inputs,
                              self._variant_grid(s, r, inputs, bsz),
                              mode='bilinear', padding_mode='zeros',
                              align_corners=False) for s, r in chunk
            ])
            out = self.head.predict(self.extract_feat(warped))
            for i in range(len(chunk)):
                outs.append({k: v[i * bsz:(i + 1) * bsz]
                             for k, v in out.items()})
        result = dict(camera=outs[ref]['camera'])
        for key in ('vertices', 'joints'):
            stack = torch.stack([o[key] for o in outs])  # (T, B, N, 3)
            ref_pts = stack[ref]
            t, _, n, _ = stack.shape
            src = stack.reshape(t * bsz, n, 3).double().cpu().numpy()
            dst = np.broadcast_to(
                ref_pts.double().cpu().numpy()[None],
                (t, bsz, n, 3)).reshape(t * bsz, n, 3)
            aligned = similarity_transform(src, dst, min_variance=1e-12)
            mean = aligned.reshape(t, bsz, n, 3).mean(axis=0)
            result[key] = torch.as_tensor(mean, dtype=ref_pts.dtype,
                                          device=ref_pts.device)
        return result

    def predict(self, inputs: Tensor,
                data_samples: Optional[Sequence[PoseDataSample]] = None
                ) -> List[PoseDataSample]:
        """As :meth:`MPTHandPretrainEstimator.predict`; with
        ``test_cfg.tta`` the averaged TTA predictions."""
        if self.tta is not None:
            return self._pack(self.predict_tta(inputs), data_samples)
        return super().predict(inputs, data_samples)
