"""Pose feature maps from a stock MMPose HRNet (MPT paper Sec. 3.2, 3.3).

MPT feeds the mesh regression transformer with the *pose feature maps* of
an off-the-shelf 2D pose estimator: its predicted per-joint heatmaps with
all post-processing (decoding to coordinates, flip test, ...) removed. Here
that network is MMPose's own ``HRNet`` backbone followed by a
``HeatmapHead`` without deconv layers (one 1x1 conv from the 1/4-resolution
HRNet branch to K = 17 COCO heatmaps), i.e. the top-down
``td-hm_hrnet-w{32,48}_..._coco-256x192`` network, or the 1/4-resolution
heatmap branch of HigherHRNet (paper's main choice) when a 0.x HigherHRNet
checkpoint is loaded (see :mod:`mpt_plugin.models.utils.pose_checkpoint`).

Shapes: images ``(B, C_in, H, W)`` normalised like the checkpoint's
training data (MMPose: RGB, ImageNet mean/std on 0-255 values), ``H`` and
``W`` multiples of 32; native heatmaps ``(B, K, H / 4, W / 4)``; output
``(B, K, S_h, S_w)`` after bilinear resizing to ``output_size`` (224 for
the MPT head's default input; 112 also used; ``None`` keeps 1/4 scale).

Training modes (paper: frozen for "testing without fine-tuning", trained
end to end for fine-tuning):

- ``freeze=True``: every backbone/head parameter has ``requires_grad``
  False and the network stays in eval mode (BatchNorm uses its running
  statistics and never updates them) even when the parent model is put in
  train mode (:meth:`train` override).
- ``freeze=False``: fine-tuned with the parent. ``freeze_bn=True`` then
  keeps every BatchNorm layer frozen (eval mode, affine parameters without
  gradients), useful for small per-GPU batches.
"""
import copy
import logging
from typing import Optional, Sequence, Tuple, Union

import torch.nn.functional as F
from mmengine.logging import print_log
from mmengine.model import BaseModule
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm

from mpt_plugin.registry import MODELS
from ..utils.pose_checkpoint import load_pose_checkpoint

#: Stage widths of MMPose's standard top-down HRNet configs.
HRNET_ARCH_WIDTHS = {'w32': 32, 'w48': 48}


def hrnet_arch_extra(arch: str) -> dict:
    """``extra`` of MMPose's standard HRNet-W32/W48 (4 stages).

    The values of ``td-hm_hrnet-w{32,48}_8xb*-210e_coco-256x192.py`` (and
    of the 0.x HigherHRNet configs, which use the same backbone): stage 1 is
    4 Bottlenecks at 64 channels, stages 2-4 have 1/4/3 modules of 4
    BasicBlocks per branch at widths ``(w, 2w, 4w, 8w)``. Stage 4 keeps only
    the highest-resolution output (``multiscale_output`` False, MMPose's
    default).

    Args:
        arch (str): ``'w32'`` or ``'w48'``.

    Returns:
        dict: The ``extra`` config of ``mmpose.models.HRNet``.
    """
    if arch not in HRNET_ARCH_WIDTHS:
        raise ValueError(f'arch must be one of {sorted(HRNET_ARCH_WIDTHS)}, '
                         f'got {arch!r}')
    w = HRNET_ARCH_WIDTHS[arch]
    return dict(
        stage1=dict(
            num_modules=1,
            num_branches=1,
            block='BOTTLENECK',
            num_blocks=(4, ),
            num_channels=(64, )),
        stage2=dict(
            num_modules=1,
            num_branches=2,
            block='BASIC',
            num_blocks=(4, 4),
            num_channels=(w, 2 * w)),
        stage3=dict(
            num_modules=4,
            num_branches=3,
            block='BASIC',
            num_blocks=(4, 4, 4),
            num_channels=(w, 2 * w, 4 * w)),
        stage4=dict(
            num_modules=3,
            num_branches=4,
            block='BASIC',
            num_blocks=(4, 4, 4, 4),
            num_channels=(w, 2 * w, 4 * w, 8 * w)))


def _size_pair(size: Union[int, Sequence[int], None]
               ) -> Optional[Tuple[int, int]]:
    if size is None:
        return None
    pair = (size, size) if isinstance(size, int) else tuple(size)
    if len(pair) != 2 or not all(isinstance(s, int) and s > 0 for s in pair):
        raise ValueError('output_size must be None, a positive int or '
                         f'(height, width), got {size!r}')
    return pair


@MODELS.register_module()
class MPTHRNetPoseFeatureMaps(BaseModule):
    """Undecoded HRNet heatmaps ("pose feature maps") for the MPT head.

    Args:
        arch (str): ``'w48'`` or ``'w32'``: MMPose's standard top-down HRNet
            ``extra`` (:func:`hrnet_arch_extra`). Defaults to ``'w48'``.
        backbone (dict, optional): Overrides merged (shallowly) into the
            backbone config ``dict(type='HRNet', in_channels=in_channels,
            extra=hrnet_arch_extra(arch))``, e.g. ``dict(with_cp=True)`` or
            a full ``extra``. The backbone must be HRNet-like: its
            ``extra['stage4']['num_channels'][0]`` gives the head input.
        in_channels (int): Image channels. Defaults to 3.
        num_keypoints (int): Heatmap channels K. Defaults to 17 (COCO).
        output_size (int | Sequence[int], optional): Output heatmap size
            ``S`` or ``(S_h, S_w)`` in pixels (bilinear resize); ``None``
            returns the native 1/4-resolution maps. Defaults to 224.
        align_corners (bool): ``align_corners`` of the resize. Defaults to
            False.
        checkpoint (str, optional): MMPose checkpoint path loaded at
            construction (see
            :func:`~mpt_plugin.models.utils.pose_checkpoint.
            load_pose_checkpoint`). The module is then marked initialised,
            so a later ``init_weights()`` (``Runner.train``) keeps it.
        checkpoint_format (str): ``'auto'``, ``'mmpose'``,
            ``'mmpose0x_topdown'`` or ``'mmpose0x_higherhrnet'``. Defaults
            to ``'auto'``.
        strict (bool): Raise on missing/unexpected checkpoint keys.
            Defaults to True.
        freeze (bool): Frozen feature extractor (no gradients, always eval
            mode). Defaults to True.
        freeze_bn (bool): With ``freeze=False``, keep the BatchNorm layers
            frozen (eval mode, no gradients). Defaults to False.
        init_cfg (dict, optional): mmengine init config of this module.
    """

    def __init__(self,
                 arch: str = 'w48',
                 backbone: Optional[dict] = None,
                 in_channels: int = 3,
                 num_keypoints: int = 17,
                 output_size: Union[int, Sequence[int], None] = 224,
                 align_corners: bool = False,
                 checkpoint: Optional[str] = None,
                 checkpoint_format: str = 'auto',
                 strict: bool = True,
                 freeze: bool = True,
                 freeze_bn: bool = False,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        backbone_cfg = dict(
            type='HRNet',
            in_channels=in_channels,
            extra=hrnet_arch_extra(arch))
        if backbone is not None:
            backbone_cfg.update(copy.deepcopy(dict(backbone)))
        if backbone_cfg.get('in_channels', in_channels) != in_channels:
            raise ValueError(f"backbone['in_channels'] "
                             f"({backbone_cfg['in_channels']}) differs from "
                             f'in_channels ({in_channels})')
        self.arch = arch
        self.in_channels = in_channels
        self.num_keypoints = num_keypoints
        self.output_size = _size_pair(output_size)
        self.align_corners = align_corners
        self.freeze = freeze
        self.freeze_bn = freeze_bn

        self.backbone = MODELS.build(backbone_cfg)
        try:
            head_in = int(self.backbone.extra['stage4']['num_channels'][0])
        except (AttributeError, KeyError, IndexError, TypeError) as exc:
            raise ValueError(
                'backbone must be HRNet-like with '
                "extra['stage4']['num_channels'] (the head input is its "
                f"first branch); got {backbone_cfg.get('type')!r}") from exc
        self.head = MODELS.build(
            dict(
                type='HeatmapHead',
                in_channels=head_in,
                out_channels=num_keypoints,
                deconv_out_channels=None))

        self.checkpoint = checkpoint
        self.checkpoint_info: Optional[dict] = None
        if checkpoint is not None:
            self.checkpoint_info = load_pose_checkpoint(
                self,
                checkpoint,
                checkpoint_format=checkpoint_format,
                strict=strict,
                num_keypoints=num_keypoints)
            # Keep the loaded weights when a parent calls init_weights().
            self._is_init = True
        elif freeze:
            print_log(
                'MPTHRNetPoseFeatureMaps: freeze=True without a checkpoint; '
                'the frozen weights are random unless loaded later.',
                logger='current',
                level=logging.WARNING)

        if freeze:
            for param in self.parameters():
                param.requires_grad_(False)
        elif freeze_bn:
            for module in self.modules():
                if isinstance(module, _BatchNorm):
                    for param in module.parameters():
                        param.requires_grad_(False)
        self.train(self.training)

    def train(self, mode: bool = True) -> 'MPTHRNetPoseFeatureMaps':
        """Set train/eval mode, keeping frozen parts in eval mode.

        Args:
            mode (bool): Train mode if True. Defaults to True.

        Returns:
            MPTHRNetPoseFeatureMaps: self.
        """
        super().train(mode)
        if self.freeze:
            self.backbone.eval()
            self.head.eval()
        elif self.freeze_bn:
            for module in self.modules():
                if isinstance(module, _BatchNorm):
                    module.eval()
        return self

    def forward(self, images: Tensor) -> Tensor:
        """Predict undecoded heatmaps.

        Args:
            images (Tensor): ``(B, C_in, H, W)`` normalised images, H and W
                multiples of 32.

        Returns:
            Tensor: ``(B, K, S_h, S_w)`` heatmaps (``output_size``), or
            ``(B, K, H / 4, W / 4)`` if ``output_size`` is None.
        """
        if images.dim() != 4 or images.shape[1] != self.in_channels:
            raise ValueError(f'images must be (B, {self.in_channels}, H, W), '
                             f'got {tuple(images.shape)}')
        height, width = images.shape[-2:]
        if height % 32 or width % 32:
            raise ValueError('HRNet needs H and W divisible by 32 (its 4 '
                             f'branches are at 1/4..1/32), got {height}x'
                             f'{width}')
        feats = self.backbone(images)
        # The 1/4-resolution branch: the only output with MMPose's default
        # stage4 multiscale_output=False, the first one otherwise.
        heatmaps = self.head((feats[0], ))
        if (self.output_size is not None
                and tuple(heatmaps.shape[-2:]) != self.output_size):
            heatmaps = F.interpolate(
                heatmaps,
                size=self.output_size,
                mode='bilinear',
                align_corners=self.align_corners)
        return heatmaps
