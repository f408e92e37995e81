"""Load MMPose HRNet pose-estimator checkpoints into a pose feature-map net.

The target module (e.g. ``MPTHRNetPoseFeatureMaps``) has exactly two
children whose state-dict keys are ``backbone.*`` (MMPose 1.x ``HRNet``) and
``head.final_layer.{weight,bias}`` (MMPose 1.x ``HeatmapHead`` without deconv
or extra conv layers: one 1x1 ``Conv2d(C, K)``, ``K = 17`` COCO joints).

Reading (:func:`read_pose_checkpoint`): ``torch.load(weights_only=True,
map_location='cpu')``, never a full unpickle (MMEngine checkpoints with
numpy metadata load because ``mpt_plugin`` registers the needed globals,
see :mod:`mpt_plugin.utils.checkpoint`). The state dict is taken from the
``state_dict`` entry, else the file must be a flat ``{name: Tensor}`` dict.
When *every* key starts with ``module.`` (a ``DataParallel`` save), that
prefix is removed.

Formats and key mappings (:func:`convert_pose_state_dict`). Only the keys
listed here are renamed or dropped; every other key keeps its name, so it
is reported as *unexpected* by :func:`load_pose_checkpoint`:

``'mmpose'``: MMPose 1.x ``TopdownPoseEstimator`` with ``HRNet`` +
    ``HeatmapHead(deconv_out_channels=None)``, e.g.
    ``td-hm_hrnet-w48_8xb32-210e_coco-256x192`` and ``td-hm_hrnet-w32_...``
    (verified against ``mmpose/models/heads/heatmap_heads/heatmap_head.py``
    and ``configs/body_2d_keypoint/topdown_heatmap/coco/`` of MMPose 1.3.2)::

        backbone.*                  -> backbone.*            (unchanged)
        head.final_layer.weight     -> head.final_layer.weight  (K, C, 1, 1)
        head.final_layer.bias       -> head.final_layer.bias    (K,)

    Nothing is dropped. (The data preprocessor's ``mean``/``std`` buffers
    are non-persistent and the loss has no state, so the file holds nothing
    else.)

``'mmpose0x_topdown'``: MMPose 0.x ``TopDown`` with ``HRNet`` +
    ``TopdownHeatmapSimpleHead(num_deconv_layers=0,
    extra=dict(final_conv_kernel=1))`` (``topdown_heatmap`` HRNet configs).
    With no extra conv layers its ``final_layer`` is a single ``Conv2d``::

        backbone.*                          -> backbone.*
        keypoint_head.final_layer.weight    -> head.final_layer.weight
        keypoint_head.final_layer.bias      -> head.final_layer.bias

    Nothing is dropped; a head with deconv layers
    (``keypoint_head.deconv_layers.*``) or extra convs
    (``keypoint_head.final_layer.<n>.*``) is a different network and its
    keys are reported as unexpected.

``'mmpose0x_higherhrnet'``: MMPose 0.x ``AssociativeEmbedding`` with
    ``HRNet`` + ``AEHigherResolutionHead`` (``associative_embedding``
    ``higherhrnet_w32_coco_512x512`` and siblings: ``num_deconv_layers=1``,
    ``cat_output=[True]``, ``with_ae_loss=[True, False]``,
    ``tag_per_joint=True``, ``extra=dict(final_conv_kernel=1)``). Its
    ``final_layers[0]`` is a 1x1 ``Conv2d`` on the 1/4-resolution HRNet
    branch whose outputs are ``K`` heatmaps followed by the tag maps
    (``K + K`` = 34 channels with ``tag_per_joint``, ``K + 1`` without, or
    ``K`` if that level has no AE loss); ``final_layers[1]`` predicts the
    1/2-resolution heatmaps after ``deconv_layers[0]`` (a ``ConvTranspose2d
    -> BN -> ReLU`` and 4 ``BasicBlock`` s on ``cat(features, outputs[0])``)::

        backbone.*                               -> backbone.*
        keypoint_head.final_layers.0.weight[:K]  -> head.final_layer.weight
        keypoint_head.final_layers.0.bias[:K]    -> head.final_layer.bias
        keypoint_head.final_layers.<i>.*, i >= 1 -> dropped
        keypoint_head.deconv_layers.*            -> dropped

    So the feature maps are HigherHRNet's 1/4-resolution heatmaps (the tag
    channels and the higher-resolution branch are not used). Verified
    against ``mmpose/models/heads/ae_higher_resolution_head.py`` and the
    config of the MMPose ``0.x`` branch (code not executed here: MMPose 0.x
    needs mmcv 1.x). Assumed: the 0.x ``HRNet`` backbone has the same module
    names as the 1.x one (1.x ported it unchanged; both name their norm
    layers through mmcv's ``build_norm_layer``), which the 1.x
    ``ae_hrnet-w32`` config relies on when it loads a 0.x checkpoint.

``'auto'`` (:func:`detect_pose_checkpoint_format`) picks the format from
the head keys: ``head.final_layer.*`` -> ``'mmpose'``,
``keypoint_head.final_layers.*`` -> ``'mmpose0x_higherhrnet'``,
``keypoint_head.final_layer.*`` -> ``'mmpose0x_topdown'``; none or more
than one of them is an error.

Checking (:func:`load_pose_checkpoint`): keys of the converted dict are
compared with the module's state dict. Missing or unexpected keys raise
:class:`PoseCheckpointKeyError` naming the file and the first few keys
(``strict=True``, the default); with ``strict=False`` the matching keys are
loaded and the others are logged and returned. The only tolerated gap is a
missing BatchNorm ``*.num_batches_tracked`` buffer (older PyTorch saves
lack it; it is only used when BN momentum is None). Shape mismatches always
raise ``ValueError``.
"""
import logging
import os.path as osp
import pickle
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.logging import print_log
from torch import Tensor, nn

StateDict = Dict[str, Tensor]

#: Checkpoint formats understood by :func:`convert_pose_state_dict`.
POSE_CHECKPOINT_FORMATS = ('mmpose', 'mmpose0x_topdown',
                           'mmpose0x_higherhrnet')

#: Target key of the 1x1 heatmap conv in the feature-map module.
HEAD_KEY = 'head.final_layer'

_HEAD_MARKERS = OrderedDict([
    ('mmpose', 'head.final_layer.'),
    ('mmpose0x_higherhrnet', 'keypoint_head.final_layers.'),
    ('mmpose0x_topdown', 'keypoint_head.final_layer.'),
])

#: Number of keys shown in error messages.
_MAX_SHOWN = 5


class PoseCheckpointKeyError(KeyError):
    """A checkpoint's keys do not fit the expected format or module.

    ``str()`` gives the plain message (``KeyError`` would quote it).
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ''


def _show(keys: Sequence[str], limit: int = _MAX_SHOWN) -> str:
    keys = list(keys)
    shown = ', '.join(repr(k) for k in keys[:limit])
    more = f', ... ({len(keys) - limit} more)' if len(keys) > limit else ''
    return f'[{shown}{more}]'


def read_pose_checkpoint(filename: str) -> StateDict:
    """Read a checkpoint file into a flat ``{name: Tensor}`` dict.

    Args:
        filename (str): Path of a ``.pth`` file.

    Returns:
        Dict[str, Tensor]: The state dict (CPU tensors), with a ``module.``
        prefix removed when every key has it.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If it cannot be loaded with ``weights_only=True``.
        PoseCheckpointKeyError: If it holds no state dict or non-tensor
            entries.
    """
    filename = str(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'pose checkpoint not found: {filename}')
    try:
        obj = torch.load(filename, map_location='cpu', weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as exc:
        raise ValueError(f'{filename}: cannot be loaded with '
                         f'torch.load(weights_only=True): {exc}') from exc
    if not isinstance(obj, dict):
        raise PoseCheckpointKeyError(
            f'{filename}: expected a dict (a state dict or a checkpoint with '
            f"a 'state_dict' entry), got {type(obj).__name__}")
    if 'state_dict' in obj:
        state_dict = obj['state_dict']
        where = "entry 'state_dict'"
        if not isinstance(state_dict, dict):
            raise PoseCheckpointKeyError(
                f"{filename}: 'state_dict' is a "
                f'{type(state_dict).__name__}, expected a dict of tensors')
    else:
        state_dict = obj
        where = 'top level'
    bad = [k for k, v in state_dict.items() if not isinstance(v, Tensor)]
    if bad:
        raise PoseCheckpointKeyError(
            f'{filename}: {where} is not a state dict: {len(bad)} entries '
            f'are not tensors: {_show(bad)} (expected a flat '
            "{name: Tensor} dict, or a checkpoint with a 'state_dict' entry)")
    if not state_dict:
        raise PoseCheckpointKeyError(f'{filename}: {where} is empty')
    keys = list(state_dict.keys())
    if all(k.startswith('module.') for k in keys):
        return OrderedDict(
            (k[len('module.'):], v) for k, v in state_dict.items())
    return OrderedDict(state_dict)


def detect_pose_checkpoint_format(state_dict: StateDict,
                                  filename: str = '<state_dict>') -> str:
    """Tell the checkpoint format from its head keys.

    Args:
        state_dict (Dict[str, Tensor]): Checkpoint weights.
        filename (str): Name used in error messages.

    Returns:
        str: One of :data:`POSE_CHECKPOINT_FORMATS`.

    Raises:
        PoseCheckpointKeyError: If no format, or more than one, matches.
    """
    found = [
        fmt for fmt, marker in _HEAD_MARKERS.items()
        if any(k.startswith(marker) for k in state_dict)
    ]
    if len(found) == 1:
        return found[0]
    expected = ', '.join(f'{m}* ({f})' for f, m in _HEAD_MARKERS.items())
    if not found:
        raise PoseCheckpointKeyError(
            f'{filename}: cannot detect the pose checkpoint format: no key '
            f'starts with any of {expected}; first keys: '
            f'{_show(list(state_dict))}. Pass checkpoint_format explicitly '
            'if the file is one of the supported formats.')
    raise PoseCheckpointKeyError(
        f'{filename}: ambiguous pose checkpoint format, keys of several '
        f'formats are present: {found}')


def _split_higherhrnet_final_layer(state_dict: StateDict, num_keypoints: int,
                                   filename: str) -> Tuple[Tensor, Tensor]:
    """First ``num_keypoints`` output channels of ``final_layers.0``."""
    w_key = 'keypoint_head.final_layers.0.weight'
    b_key = 'keypoint_head.final_layers.0.bias'
    missing = [k for k in (w_key, b_key) if k not in state_dict]
    if missing:
        raise PoseCheckpointKeyError(
            f'{filename}: HigherHRNet checkpoint lacks {missing}')
    weight, bias = state_dict[w_key], state_dict[b_key]
    out_ch = weight.shape[0]
    allowed = (num_keypoints, num_keypoints + 1, 2 * num_keypoints)
    if weight.dim() != 4 or out_ch not in allowed or bias.shape != (out_ch, ):
        raise ValueError(
            f'{filename}: {w_key} has shape {tuple(weight.shape)} and '
            f'{b_key} {tuple(bias.shape)}; expected (O, C, kh, kw) and (O,) '
            f'with O in {allowed} (K={num_keypoints} heatmaps, then tags)')
    return weight[:num_keypoints].clone(), bias[:num_keypoints].clone()


def convert_pose_state_dict(
        state_dict: StateDict,
        checkpoint_format: str,
        num_keypoints: int = 17,
        filename: str = '<state_dict>') -> Tuple[StateDict, List[str]]:
    """Rename (and drop) checkpoint keys for the feature-map module.

    See the module docstring for the mapping of each format. Keys not
    covered by the mapping are kept unchanged.

    Args:
        state_dict (Dict[str, Tensor]): Checkpoint weights.
        checkpoint_format (str): One of :data:`POSE_CHECKPOINT_FORMATS`.
        num_keypoints (int): Heatmap channels K kept from a HigherHRNet
            final layer. Defaults to 17.
        filename (str): Name used in error messages.

    Returns:
        Tuple[Dict[str, Tensor], List[str]]: The converted state dict and
        the (original) names of the dropped keys.

    Raises:
        ValueError: For an unknown format or a HigherHRNet final layer of an
            unexpected shape.
        PoseCheckpointKeyError: If a HigherHRNet final layer is missing.
    """
    if checkpoint_format not in POSE_CHECKPOINT_FORMATS:
        raise ValueError(f'checkpoint_format must be one of '
                         f'{POSE_CHECKPOINT_FORMATS} (or auto), got '
                         f'{checkpoint_format!r}')
    out: StateDict = OrderedDict()
    dropped: List[str] = []
    if checkpoint_format == 'mmpose':
        out.update(state_dict)
    elif checkpoint_format == 'mmpose0x_topdown':
        for key, value in state_dict.items():
            if key in ('keypoint_head.final_layer.weight',
                       'keypoint_head.final_layer.bias'):
                key = HEAD_KEY + key[len('keypoint_head.final_layer'):]
            out[key] = value
    else:  # mmpose0x_higherhrnet
        weight, bias = _split_higherhrnet_final_layer(state_dict,
                                                      num_keypoints, filename)
        for key, value in state_dict.items():
            if key.startswith('keypoint_head.final_layers.0.'):
                if key.endswith(('.weight', '.bias')):
                    continue  # replaced by the sliced tensors below
            elif key.startswith(('keypoint_head.deconv_layers.',
                                 'keypoint_head.final_layers.')):
                dropped.append(key)
                continue
            out[key] = value
        out[HEAD_KEY + '.weight'] = weight
        out[HEAD_KEY + '.bias'] = bias
    return out, dropped


def load_pose_checkpoint(module: nn.Module,
                         filename: str,
                         checkpoint_format: str = 'auto',
                         strict: bool = True,
                         num_keypoints: Optional[int] = None) -> dict:
    """Load an MMPose HRNet checkpoint into ``module`` (in place).

    Args:
        module (nn.Module): Module with ``backbone.*`` and
            ``head.final_layer.*`` parameters.
        filename (str): Checkpoint path.
        checkpoint_format (str): ``'auto'`` or one of
            :data:`POSE_CHECKPOINT_FORMATS`. Defaults to ``'auto'``.
        strict (bool): Raise on missing or unexpected keys. Defaults to
            True.
        num_keypoints (int, optional): Heatmap channels K. Defaults to the
            output channels of ``module.head.final_layer`` (or 17).

    Returns:
        dict: ``format`` (str), ``dropped`` (documented drops), ``missing``
        and ``unexpected`` (lists of keys; empty unless ``strict=False``).

    Raises:
        FileNotFoundError, ValueError, PoseCheckpointKeyError: see
            :func:`read_pose_checkpoint` and :func:`convert_pose_state_dict`;
            :class:`PoseCheckpointKeyError` for missing/unexpected keys
            (strict), ``ValueError`` for shape mismatches.
    """
    filename = str(filename)
    if checkpoint_format != 'auto' and (checkpoint_format
                                        not in POSE_CHECKPOINT_FORMATS):
        raise ValueError(f"checkpoint_format must be 'auto' or one of "
                         f'{POSE_CHECKPOINT_FORMATS}, got '
                         f'{checkpoint_format!r}')
    if num_keypoints is None:
        final = getattr(getattr(module, 'head', None), 'final_layer', None)
        num_keypoints = getattr(final, 'out_channels', 17)
    state_dict = read_pose_checkpoint(filename)
    fmt = checkpoint_format
    if fmt == 'auto':
        fmt = detect_pose_checkpoint_format(state_dict, filename)
    converted, dropped = convert_pose_state_dict(state_dict, fmt,
                                                 num_keypoints, filename)

    target = module.state_dict()
    missing = [
        k for k in target
        if k not in converted and not k.endswith('.num_batches_tracked')
    ]
    unexpected = [k for k in converted if k not in target]
    if strict and (missing or unexpected):
        parts = []
        if missing:
            parts.append(f'{len(missing)} missing keys {_show(missing)}')
        if unexpected:
            parts.append(f'{len(unexpected)} unexpected keys '
                         f'{_show(unexpected)}')
        raise PoseCheckpointKeyError(
            f'{filename}: checkpoint (format {fmt!r}) does not match '
            f'{type(module).__name__}: ' + '; '.join(parts) +
            ' (key names after the format mapping; strict=False loads the '
            'matching keys)')
    mismatched = [
        f'{k}: checkpoint {tuple(v.shape)} vs model '
        f'{tuple(target[k].shape)}' for k, v in converted.items()
        if k in target and v.shape != target[k].shape
    ]
    if mismatched:
        raise ValueError(
            f'{filename}: checkpoint (format {fmt!r}) has {len(mismatched)} '
            f'tensors of the wrong shape, e.g. {mismatched[:_MAX_SHOWN]} '
            '(wrong arch, e.g. w32 vs w48, or number of keypoints?)')
    loadable = OrderedDict(
        (k, v) for k, v in converted.items() if k in target)
    module.load_state_dict(loadable, strict=False)
    if missing or unexpected:
        print_log(
            f'{filename}: loaded with strict=False; {len(missing)} missing '
            f'keys {_show(missing)}, {len(unexpected)} unexpected keys '
            f'{_show(unexpected)} ignored',
            logger='current',
            level=logging.WARNING)
    return dict(
        format=fmt, dropped=dropped, missing=missing, unexpected=unexpected)
