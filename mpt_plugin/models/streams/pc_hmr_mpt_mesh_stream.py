"""MPT's mesh regression transformer as the mesh stream of
``PCHMREstimator`` (interface: see ``pc_hmr_key2mesh_stream``).

Two input paths:

- MoCap pre-training batches (``MPTMoCapDataPreprocessor`` output:
  ``dict(joints_px (B, 17, 2), joint_weights (B, 17), ...)`` in the
  heatmap frame, or dense heatmaps): fed to the head as they are. The 2D
  keypoints exposed for the parallel framework are those joints,
  crop-normalised.
- images (B, 3, S, S) (normalised by the estimator's data preprocessor):
  an MMPose heatmap estimator (``heatmap_estimator``, e.g. a stock
  ``TopdownPoseEstimator`` config) gives heatmaps (B, C, h, w), which the
  head reads (resized to its ``input_size``), as in MPT's fine-tuning. The
  exposed 2D keypoints are their soft-argmax.
"""
from typing import Dict, Optional

import torch
from mmengine.model import BaseModule
from torch import Tensor

from mpt_plugin.geometry.crop import px_to_norm
from mpt_plugin.registry import MODELS
from ..estimators.pretrain_estimator import \
    MPTPretrainEstimator  # noqa: F401 (registers it)
from ..utils.pc_hmr_utils import soft_argmax_2d

__all__ = ['PCHMRMPTMeshStream']


@MODELS.register_module()
class PCHMRMPTMeshStream(BaseModule):
    """Mesh stream: MPT head (+ optional heatmap estimator on images).

    The head and its template/upsampling initialisation from the body model
    and mesh sampler come from an inner :class:`MPTPretrainEstimator`
    (``mpt``).

    Outputs: ``vertices`` (B, 6890, 3) pelvis-centred camera-aligned metres,
    ``camera`` (B, 3) (the head's), ``params`` = camera and the head's joint
    tokens flattened (``3 + 3 J``, the non-parametric stand-in for HMR's
    ``Theta``), ``keypoints2d_norm`` / ``keypoints2d_visible`` (see the
    module docstring).

    Args:
        mpt (dict): ``MPTPretrainEstimator`` config (``head``,
            ``body_model``, ``mesh_sampler``).
        heatmap_estimator (dict, optional): MMPose top-down heatmap model
            used on image inputs. Defaults to None (MoCap inputs only).
        soft_argmax_beta (float): Inverse temperature of the heatmap
            soft-argmax. Defaults to 100.
        init_cfg (dict, optional): MMEngine init config.
    """

    def __init__(self,
                 mpt: dict,
                 heatmap_estimator: Optional[dict] = None,
                 soft_argmax_beta: float = 100.0,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        mpt = dict(mpt)
        mpt.setdefault('type', 'MPTPretrainEstimator')
        self.mpt = MODELS.build(mpt)
        self.heatmap_estimator = (MODELS.build(heatmap_estimator)
                                  if heatmap_estimator is not None else None)
        self.soft_argmax_beta = float(soft_argmax_beta)
        self.param_dim = 3 + 3 * self.mpt.head.num_joints

    @property
    def input_size(self) -> int:
        """Side of the head's square input frame in pixels."""
        return int(self.mpt.head.input_size)

    def _heatmaps(self, images: Tensor) -> Tensor:
        feats = self.heatmap_estimator.extract_feat(images)
        heatmaps = self.heatmap_estimator.head.forward(feats)
        if isinstance(heatmaps, (tuple, list)):
            heatmaps = heatmaps[-1]
        return heatmaps

    def forward(self, inputs, data_samples=None) -> Dict[str, Tensor]:
        """See the class docstring.

        Args:
            inputs: MoCap dict / heatmaps, or images (B, 3, S, S) when a
                ``heatmap_estimator`` is configured.
            data_samples: unused.
        """
        kp_norm = vis = None
        if self.heatmap_estimator is not None:
            if not isinstance(inputs, Tensor) or inputs.dim() != 4 or \
                    inputs.shape[1] != 3:
                raise ValueError(
                    'PCHMRMPTMeshStream with a heatmap_estimator expects '
                    'images (B, 3, S, S), got '
                    f'{tuple(getattr(inputs, "shape", ()))}')
            heatmaps = self._heatmaps(inputs)
            coords, scores = soft_argmax_2d(heatmaps, self.soft_argmax_beta)
            size = torch.tensor(heatmaps.shape[-1:-3:-1], dtype=coords.dtype,
                                device=coords.device)  # (w, h)
            crop_px = coords * (inputs.shape[-1] / size)
            kp_norm = px_to_norm(crop_px, inputs.shape[-1])
            vis = scores
            head_in = heatmaps
        else:
            head_in = inputs
            if isinstance(inputs, dict) and 'joints_px' in inputs:
                kp_norm = px_to_norm(inputs['joints_px'], self.input_size)
                vis = inputs.get('joint_weights')
                if vis is None:
                    vis = kp_norm.new_ones(kp_norm.shape[:2])
        out = self.mpt.head(head_in)
        result = dict(
            vertices=out['vertices'],
            camera=out['camera'],
            params=torch.cat([out['camera'], out['joints'].flatten(1)], 1))
        if kp_norm is not None:
            result.update(keypoints2d_norm=kp_norm, keypoints2d_visible=vis)
        return result
