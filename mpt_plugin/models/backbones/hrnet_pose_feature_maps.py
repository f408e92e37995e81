"""Pose feature maps from a stock MMPose HRNet / HigherHRNet / HRNetV2 (MPT
paper Sec. 3.2, 3.3, appendix D; table 6 for hands).

MPT feeds the mesh regression transformer with the *pose feature maps* of
an off-the-shelf 2D pose estimator: its predicted per-joint heatmaps with
all post-processing (grouping, decoding to coordinates, flip test, ...)
removed. Three networks are built here (``head_type`` and ``arch``):

``'higherhrnet'`` (default, the paper's main choice): MMPose 0.x
    ``AssociativeEmbedding`` with ``HRNet`` + ``AEHigherResolutionHead``
    (``higherhrnet_w{32,48}_coco_512x512``: ``num_deconv_layers=1``,
    ``num_deconv_filters=[w]``, ``num_deconv_kernels=[4]``,
    ``num_basic_blocks=4``, ``cat_output=[True]``,
    ``with_ae_loss=[True, False]``, ``extra=dict(final_conv_kernel=1)``),
    rebuilt as plain torch modules (:class:`HigherResolutionHeatmapHead`)
    with the 0.x parameter names, so ``keypoint_head.*`` of a stock 0.x
    checkpoint loads one to one into ``head.*``. Two outputs:

    - ``final_layers[0]`` (1x1 conv on the 1/4-resolution HRNet branch):
      ``K`` heatmaps then the tag maps (``K`` with ``tag_per_joint``, else
      1) at 1/4 resolution;
    - ``deconv_layers[0]`` reads ``cat(features, final_layers[0] output)``
      (``w + 2K`` channels: 66 for W32, 82 for W48 with COCO's K = 17),
      doubles the resolution (``ConvTranspose2d(k=4, s=2, p=1)`` -> BN ->
      ReLU -> 4 ``BasicBlock`` s) and ``final_layers[1]`` gives ``K``
      heatmaps at 1/2 resolution.

    The maps are aggregated as HigherHRNet does at inference
    (:func:`aggregate_higherhrnet_heatmaps`): the 1/4 heatmaps (tags
    dropped) are resized bilinearly to 1/2 resolution and averaged with the
    1/2 heatmaps; ``project2image`` then resizes the average bilinearly to
    the input size. So a 224 crop gives 112x112 maps natively
    (``output_size=112`` or ``None``) and 224x224 ones with
    ``output_size=224`` (the image size, ``project2image=True``), the two
    settings of the paper's table 10 (224 is the paper's setting and the
    better row). Not done: flip test (MPT removes post-processing) and
    multi-scale test.

``'topdown'`` with ``arch='w32'`` / ``'w48'``: MMPose's top-down
    ``td-hm_hrnet-w{32,48}_..._coco-256x192`` network (MMPose 1.x ``HRNet``
    + ``HeatmapHead(deconv_out_channels=None)``, one 1x1 conv from the
    1/4-resolution branch to K heatmaps); its 1/4 maps are resized
    bilinearly to ``output_size``.

``'topdown'`` with ``arch='hrnetv2_w18'`` (top-down only; the hand
    network): MMPose's ``td-hm_hrnetv2-w18_8xb*-210e_{onehand10k,rhd2d,
    coco-wholebody-hand}-256x256`` (K = 21), verified against those MMPose
    1.3.2 configs and sources:

    - ``HRNet`` at widths ``(18, 36, 72, 144)`` with stage 4
      ``multiscale_output=True`` (all four branches, 1/4..1/32) and
      ``extra['upsample']=dict(mode='bilinear', align_corners=False)`` (the
      fuse layers' upsampling; MMPose's default is nearest);
    - neck ``FeatureMapProcessor(concat=True)`` (no parameters): every
      branch resized bilinearly (``align_corners=False``) to the 1/4
      branch's size and concatenated: ``18 + 36 + 72 + 144 = 270`` channels
      (HRNetV2's representation); built here from MMPose's own class, as
      ``self.neck``;
    - ``HeatmapHead(in_channels=270, out_channels=21,
      deconv_out_channels=None, conv_out_channels=(270, ),
      conv_kernel_sizes=(1, ))``: ``Conv2d(270, 270, 1)`` -> BN -> ReLU
      (``head.conv_layers.{0,1}.*``) then the 1x1 ``Conv2d(270, 21)``
      (``head.final_layer.*``).

    The 1/4 maps are then resized bilinearly to ``output_size``, as above.

Checkpoints: :mod:`mpt_plugin.models.utils.pose_checkpoint` (MMPose 1.x and
0.x top-down files for ``'topdown'``, including the released 0.x-format
HRNetV2-W18 hand files, 0.x HigherHRNet files for ``'higherhrnet'``).

Shapes: images ``(B, C_in, H, W)`` normalised like the checkpoint's
training data (MMPose: RGB, ImageNet mean/std on 0-255 values), ``H`` and
``W`` multiples of 32; native maps ``(B, K, H / s, W / s)`` with stride
``s = 2`` (HigherHRNet) or 4 (top-down); output ``(B, K, S_h, S_w)`` after
bilinear resizing to ``output_size`` (``None`` keeps the native size).

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

import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from mmengine.model import BaseModule
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from mpt_plugin.registry import MODELS
from ..utils.pose_checkpoint import load_pose_checkpoint

#: ``arch`` names and their stage-2 width ``w`` (branch widths ``(w, 2w,
#: 4w, 8w)``): MMPose's standard COCO HRNet-W32/W48 and the HRNetV2-W18 of
#: its top-down hand configs.
HRNET_ARCH_WIDTHS = {'w32': 32, 'w48': 48, 'hrnetv2_w18': 18}

#: HRNetV2 archs: stage 4 returns all four branches, which the
#: ``FeatureMapProcessor(concat=True)`` neck resizes to the 1/4 branch and
#: concatenates before a ``HeatmapHead`` with one extra 1x1 conv layer.
#: Top-down only.
HRNETV2_ARCHS = ('hrnetv2_w18', )

#: Heads of :class:`MPTHRNetPoseFeatureMaps`.
POSE_HEAD_TYPES = ('higherhrnet', 'topdown')

#: Where the HigherHRNet stages are averaged (see
#: :func:`aggregate_higherhrnet_heatmaps`).
STAGE_AGGREGATIONS = ('half', 'output')


def hrnet_arch_extra(arch: str) -> dict:
    """``extra`` of MMPose's standard HRNet-W32/W48 or HRNetV2-W18.

    The values of ``td-hm_hrnet-w{32,48}_8xb*-210e_coco-256x192.py`` (and
    of the 0.x HigherHRNet configs, which use the same backbone): stage 1 is
    4 Bottlenecks at 64 channels, stages 2-4 have 1/4/3 modules of 4
    BasicBlocks per branch at widths ``(w, 2w, 4w, 8w)``. Stage 4 keeps only
    the highest-resolution output (``multiscale_output`` False, MMPose's
    default).

    ``'hrnetv2_w18'`` (``td-hm_hrnetv2-w18_*-256x256.py`` hand configs):
    the same layout at ``w = 18``, with stage 4 ``multiscale_output=True``
    (all four branches returned) and ``upsample=dict(mode='bilinear',
    align_corners=False)`` for the fuse layers.

    Args:
        arch (str): ``'w32'``, ``'w48'`` or ``'hrnetv2_w18'``.

    Returns:
        dict: The ``extra`` config of ``mmpose.models.HRNet``.
    """
    if arch not in HRNET_ARCH_WIDTHS:
        raise ValueError(f'arch must be one of {sorted(HRNET_ARCH_WIDTHS)}, '
                         f'got {arch!r}')
    w = HRNET_ARCH_WIDTHS[arch]
    extra = dict(
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
    if arch in HRNETV2_ARCHS:
        extra['stage4']['multiscale_output'] = True
        extra['upsample'] = dict(mode='bilinear', align_corners=False)
    return extra


def _size_pair(size: Union[int, Sequence[int], None]
               ) -> Optional[Tuple[int, int]]:
    if size is None:
        return None
    pair = (size, size) if isinstance(size, int) else tuple(size)
    if len(pair) != 2 or not all(isinstance(s, int) and s > 0 for s in pair):
        raise ValueError('output_size must be None, a positive int or '
                         f'(height, width), got {size!r}')
    return pair


class _BasicBlock(nn.Module):
    """ResNet basic block with MMPose's names (``conv1, bn1, conv2, bn2``).

    Two bias-free 3x3 convs with BatchNorm, identity shortcut (same
    channels, stride 1): ``relu(x + bn2(conv2(relu(bn1(conv1(x))))))``.

    Args:
        channels (int): Input and output channels C. Shapes: ``(B, C, h,
            w)`` -> ``(B, C, h, w)``.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(
            channels, channels, kernel_size=3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(
            channels, channels, kernel_size=3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + x)


class HigherResolutionHeatmapHead(nn.Module):
    """HigherHRNet's head (MMPose 0.x ``AEHigherResolutionHead``), as used by
    the COCO ``higherhrnet_w{32,48}`` configs, without losses.

    Parameter names and shapes are those of the 0.x head (``K`` keypoints,
    ``T = K`` tag maps with ``tag_per_joint`` else 1, ``C`` = input and
    deconv channels)::

        final_layers.0.{weight,bias}        (K + T, C, 1, 1), (K + T,)
        deconv_layers.0.0.0.weight          (C + K + T, C, 4, 4)  deconv
        deconv_layers.0.0.1.*               BatchNorm2d(C)
        deconv_layers.0.{1..4}.0.{conv1,conv2}.weight  (C, C, 3, 3)
        deconv_layers.0.{1..4}.0.{bn1,bn2}.*           BatchNorm2d(C)
        final_layers.1.{weight,bias}        (K, C, 1, 1), (K,)

    Args:
        in_channels (int): Channels C of the 1/4-resolution HRNet branch
            (32 for W32, 48 for W48); also the deconv width (the configs'
            ``num_deconv_filters=[C]``).
        num_keypoints (int): K. Defaults to 17.
        tag_per_joint (bool): One tag map per keypoint (True in the COCO
            configs) or a single one. Defaults to True.
        num_basic_blocks (int): BasicBlocks after the deconv. Defaults to 4.
    """

    def __init__(self,
                 in_channels: int,
                 num_keypoints: int = 17,
                 tag_per_joint: bool = True,
                 num_basic_blocks: int = 4):
        super().__init__()
        self.in_channels = in_channels
        self.num_keypoints = num_keypoints
        self.num_tags = num_keypoints if tag_per_joint else 1
        quarter_channels = num_keypoints + self.num_tags
        self.final_layers = nn.ModuleList([
            nn.Conv2d(in_channels, quarter_channels, kernel_size=1),
            nn.Conv2d(in_channels, num_keypoints, kernel_size=1),
        ])
        # cat_output=[True]: the deconv reads features and all 1/4 outputs.
        # kernel 4 -> padding 1, output_padding 0: exactly 2x the size.
        upsample = nn.Sequential(
            nn.ConvTranspose2d(
                in_channels + quarter_channels,
                in_channels,
                kernel_size=4,
                stride=2,
                padding=1,
                output_padding=0,
                bias=False), nn.BatchNorm2d(in_channels),
            nn.ReLU(inplace=True))
        blocks = [
            nn.Sequential(_BasicBlock(in_channels))
            for _ in range(num_basic_blocks)
        ]
        self.deconv_layers = nn.ModuleList([nn.Sequential(upsample, *blocks)])

    def forward(self, feats: Tensor) -> Tuple[Tensor, Tensor]:
        """Both stages' raw outputs.

        Args:
            feats (Tensor): ``(B, C, h, w)`` 1/4-resolution HRNet features.

        Returns:
            Tuple[Tensor, Tensor]: ``(B, K + T, h, w)`` heatmaps then tags
            (1/4 resolution) and ``(B, K, 2h, 2w)`` heatmaps (1/2).
        """
        quarter = self.final_layers[0](feats)
        half_feats = self.deconv_layers[0](torch.cat((feats, quarter), 1))
        return quarter, self.final_layers[1](half_feats)


def aggregate_higherhrnet_heatmaps(quarter: Tensor,
                                   half: Tensor,
                                   num_keypoints: int,
                                   size: Optional[Tuple[int, int]] = None,
                                   align_corners: bool = False,
                                   stage_aggregation: str = 'half'
                                   ) -> Tensor:
    """HigherHRNet's inference aggregation of its two heatmap stages.

    ``'half'`` (the HigherHRNet release, ``lib/core/inference.py``
    ``get_multi_stage_outputs``, and MMPose 0.x's first
    ``bottom_up_eval.get_multi_stage_outputs``)::

        avg = (resize(quarter[:, :K], half size) + half) / 2
        out = resize(avg, size)          # project2image; skipped if equal

    ``'output'`` (later MMPose 0.x, ``aggregate_stage_flip`` ->
    ``_resize_average`` with ``resize_size`` = the projected size): each
    stage is resized straight to ``size`` and the two are averaged. Both
    agree when ``size`` is the 1/2 size. All resizes are bilinear with
    ``align_corners`` (the configs' ``test_cfg.align_corners=False``).

    Args:
        quarter (Tensor): ``(B, K + T, h, w)`` 1/4-resolution output
            (heatmaps first; the T tag channels are ignored).
        half (Tensor): ``(B, K, H2, W2)`` 1/2-resolution heatmaps.
        num_keypoints (int): K.
        size (Tuple[int, int], optional): Output ``(S_h, S_w)``; None keeps
            ``(H2, W2)``.
        align_corners (bool): Of every resize. Defaults to False.
        stage_aggregation (str): ``'half'`` or ``'output'``. Defaults to
            ``'half'``.

    Returns:
        Tensor: ``(B, K, S_h, S_w)`` averaged heatmaps.
    """
    if stage_aggregation not in STAGE_AGGREGATIONS:
        raise ValueError(f'stage_aggregation must be one of '
                         f'{STAGE_AGGREGATIONS}, got {stage_aggregation!r}')
    if (quarter.dim() != 4 or half.dim() != 4
            or quarter.shape[1] < num_keypoints
            or half.shape[1] != num_keypoints
            or quarter.shape[0] != half.shape[0]):
        raise ValueError(
            f'expected quarter (B, >={num_keypoints}, h, w) and half (B, '
            f'{num_keypoints}, H2, W2), got {tuple(quarter.shape)} and '
            f'{tuple(half.shape)}')
    half_size = tuple(half.shape[-2:])
    size = half_size if size is None else tuple(size)

    def resize(maps: Tensor, to: Tuple[int, int]) -> Tensor:
        if tuple(maps.shape[-2:]) == to:
            return maps
        return F.interpolate(
            maps, size=to, mode='bilinear', align_corners=align_corners)

    heatmaps = quarter[:, :num_keypoints]
    if stage_aggregation == 'output':
        return (resize(heatmaps, size) + resize(half, size)) / 2
    return resize((resize(heatmaps, half_size) + half) / 2, size)


@MODELS.register_module()
class MPTHRNetPoseFeatureMaps(BaseModule):
    """Undecoded HigherHRNet / HRNet / HRNetV2 heatmaps ("pose feature
    maps").

    Three networks (see the module docstring): HigherHRNet-W32/W48
    (``head_type='higherhrnet'``), top-down HRNet-W32/W48 (``'topdown'``)
    and the top-down HRNetV2-W18 hand network (``arch='hrnetv2_w18'``,
    ``head_type='topdown'``, ``num_keypoints=21``: backbone -> the
    parameter-free concat neck :attr:`neck` -> ``HeatmapHead`` with one
    270-channel 1x1 conv layer). :attr:`neck` is None for the other two.

    Args:
        arch (str): ``'w48'``, ``'w32'`` or ``'hrnetv2_w18'``: MMPose's
            standard HRNet ``extra`` (:func:`hrnet_arch_extra`).
            ``'hrnetv2_w18'`` (:data:`HRNETV2_ARCHS`) needs
            ``head_type='topdown'``. Defaults to ``'w48'``.
        head_type (str): ``'higherhrnet'`` (0.x HigherHRNet head, 1/4 and
            1/2 stages aggregated) or ``'topdown'`` (``HeatmapHead``, 1/4
            maps). Defaults to ``'higherhrnet'`` (the paper's).
        backbone (dict, optional): Overrides merged (shallowly) into the
            backbone config ``dict(type='HRNet', in_channels=in_channels,
            extra=hrnet_arch_extra(arch))``, e.g. ``dict(with_cp=True)`` or
            a full ``extra``. The backbone must be HRNet-like: its
            ``extra['stage4']['num_channels'][0]`` gives the head input
            (HRNetV2: the sum of ``extra['stage4']['num_channels']``, and
            ``extra['stage4']['multiscale_output']`` must stay True).
        in_channels (int): Image channels. Defaults to 3.
        num_keypoints (int): Heatmap channels K. Defaults to 17 (COCO; 21
            for the hand network).
        tag_per_joint (bool): HigherHRNet only: K tag maps (COCO configs)
            or one. Defaults to True.
        output_size (int | Sequence[int], optional): Output heatmap size
            ``S`` or ``(S_h, S_w)`` in pixels (bilinear resize); ``None``
            returns the native maps (1/2 resolution for HigherHRNet, 1/4
            for top-down). Defaults to 224 (paper: 224 maps from 224
            crops).
        align_corners (bool): ``align_corners`` of every resize done here
            (MMPose 0.x HigherHRNet ``test_cfg.align_corners``); the
            resizes inside the stock HRNetV2 network (fuse upsampling,
            concat neck) keep its config's False. Defaults to False.
        stage_aggregation (str): HigherHRNet only, ``'half'`` or
            ``'output'``: see :func:`aggregate_higherhrnet_heatmaps`.
            Defaults to ``'half'``.
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
                 head_type: str = 'higherhrnet',
                 backbone: Optional[dict] = None,
                 in_channels: int = 3,
                 num_keypoints: int = 17,
                 tag_per_joint: bool = True,
                 output_size: Union[int, Sequence[int], None] = 224,
                 align_corners: bool = False,
                 stage_aggregation: str = 'half',
                 checkpoint: Optional[str] = None,
                 checkpoint_format: str = 'auto',
                 strict: bool = True,
                 freeze: bool = True,
                 freeze_bn: bool = False,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if head_type not in POSE_HEAD_TYPES:
            raise ValueError(f'head_type must be one of {POSE_HEAD_TYPES}, '
                             f'got {head_type!r}')
        concat_branches = arch in HRNETV2_ARCHS
        if concat_branches and head_type != 'topdown':
            raise ValueError(
                f"arch={arch!r} is MMPose's top-down HRNetV2 network "
                '(concatenated branches + HeatmapHead); it has no '
                f"HigherHRNet head: use head_type='topdown', got "
                f'{head_type!r}')
        if stage_aggregation not in STAGE_AGGREGATIONS:
            raise ValueError(f'stage_aggregation must be one of '
                             f'{STAGE_AGGREGATIONS}, got '
                             f'{stage_aggregation!r}')
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
        self.head_type = head_type
        self.in_channels = in_channels
        self.num_keypoints = num_keypoints
        self.output_size = _size_pair(output_size)
        self.align_corners = align_corners
        self.stage_aggregation = stage_aggregation
        self.freeze = freeze
        self.freeze_bn = freeze_bn

        self.backbone = MODELS.build(backbone_cfg)
        try:
            stage4 = self.backbone.extra['stage4']
            branch_channels = [int(c) for c in stage4['num_channels']]
            head_in = branch_channels[0]
        except (AttributeError, KeyError, IndexError, TypeError) as exc:
            raise ValueError(
                'backbone must be HRNet-like with '
                "extra['stage4']['num_channels'] (the head input is its "
                f"first branch); got {backbone_cfg.get('type')!r}") from exc
        # The concat neck (HRNetV2) or None (the backbone's 1/4 branch).
        self.neck: Optional[nn.Module] = None
        if concat_branches:
            if not stage4.get('multiscale_output', False):
                raise ValueError(
                    f'arch={arch!r} concatenates all stage-4 branches: the '
                    "backbone needs extra['stage4']['multiscale_output']="
                    'True')
            # MMPose's own neck of the hand configs: every branch resized
            # bilinearly (align_corners=False) to the first one, concat.
            self.neck = MODELS.build(
                dict(type='FeatureMapProcessor', concat=True))
            head_in = sum(branch_channels)
        if head_type == 'higherhrnet':
            self.head = HigherResolutionHeatmapHead(
                head_in, num_keypoints, tag_per_joint=tag_per_joint)
        elif concat_branches:
            # td-hm_hrnetv2-w18 hand head: Conv2d(270, 270, 1) -> BN ->
            # ReLU (conv_layers) -> Conv2d(270, K, 1) (final_layer).
            self.head = MODELS.build(
                dict(
                    type='HeatmapHead',
                    in_channels=head_in,
                    out_channels=num_keypoints,
                    deconv_out_channels=None,
                    conv_out_channels=(head_in, ),
                    conv_kernel_sizes=(1, )))
        else:
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
                strict=strict)
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

    @property
    def native_stride(self) -> int:
        """Input pixels per native heatmap pixel: 2 (HigherHRNet) or 4."""
        return 2 if self.head_type == 'higherhrnet' else 4

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
            if self.neck is not None:
                self.neck.eval()
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
            Tensor: ``(B, K, S_h, S_w)`` heatmaps (``output_size``), or the
            native ``(B, K, H / s, W / s)`` (:attr:`native_stride` s) if
            ``output_size`` is None.
        """
        if images.dim() != 4 or images.shape[1] != self.in_channels:
            raise ValueError(f'images must be (B, {self.in_channels}, H, W), '
                             f'got {tuple(images.shape)}')
        height, width = images.shape[-2:]
        if height % 32 or width % 32:
            raise ValueError('HRNet needs H and W divisible by 32 (its 4 '
                             f'branches are at 1/4..1/32), got {height}x'
                             f'{width}')
        if self.neck is not None:
            # HRNetV2: all branches resized to 1/4 and concatenated.
            return self._resize_output(
                self.head(tuple(self.neck(self.backbone(images)))))
        # The 1/4-resolution branch: the only output with MMPose's default
        # stage4 multiscale_output=False, the first one otherwise.
        feats = self.backbone(images)[0]
        if self.head_type == 'higherhrnet':
            quarter, half = self.head(feats)
            return aggregate_higherhrnet_heatmaps(
                quarter,
                half,
                self.num_keypoints,
                size=self.output_size,
                align_corners=self.align_corners,
                stage_aggregation=self.stage_aggregation)
        return self._resize_output(self.head((feats, )))

    def _resize_output(self, heatmaps: Tensor) -> Tensor:
        """Top-down maps ``(B, K, h, w)`` resized bilinearly to
        ``output_size`` (unchanged if None or already that size)."""
        if (self.output_size is not None
                and tuple(heatmaps.shape[-2:]) != self.output_size):
            heatmaps = F.interpolate(
                heatmaps,
                size=self.output_size,
                mode='bilinear',
                align_corners=self.align_corners)
        return heatmaps
