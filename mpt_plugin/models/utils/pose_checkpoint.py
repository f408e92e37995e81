"""Load MMPose HRNet pose-estimator checkpoints into a pose feature-map net.

The target module (``MPTHRNetPoseFeatureMaps``) has exactly two children
with parameters: ``backbone.*`` (MMPose 1.x ``HRNet``) and ``head.*``,
either ``head.final_layer.{weight,bias}`` (``head_type='topdown'``: MMPose
1.x ``HeatmapHead`` without deconv layers, one 1x1 ``Conv2d(C, K)``, ``K =
17`` COCO joints; for ``arch='hrnetv2_w18'`` preceded by one extra 1x1 conv
layer ``head.conv_layers.{0,1}.*``, ``Conv2d(270, 270)`` + BN, ``K = 21``
hand joints) or the HigherHRNet head (``head_type='higherhrnet'``:
``head.final_layers.{0,1}.*`` and ``head.deconv_layers.0.*``, the names of
MMPose 0.x's ``AEHigherResolutionHead``, see
``HigherResolutionHeatmapHead``). (The HRNetV2 concat neck has no
parameters.)

Reading (:func:`read_pose_checkpoint`): ``torch.load(weights_only=True,
map_location='cpu')``, never a full unpickle (MMEngine checkpoints with
numpy metadata load because ``mpt_plugin`` registers the needed globals,
see :mod:`mpt_plugin.utils.checkpoint`). The state dict is taken from the
``state_dict`` entry, else the file must be a flat ``{name: Tensor}`` dict.
When *every* key starts with ``module.`` (a ``DataParallel`` save), that
prefix is removed.

Formats and key mappings (:func:`convert_pose_state_dict`). Only the keys
listed here are renamed, none is dropped; every other key keeps its name,
so it is reported as *unexpected* by :func:`load_pose_checkpoint`:

``'mmpose'``: MMPose 1.x ``TopdownPoseEstimator`` with ``HRNet`` +
    ``HeatmapHead(deconv_out_channels=None)``, e.g.
    ``td-hm_hrnet-w48_8xb32-210e_coco-256x192`` and ``td-hm_hrnet-w32_...``
    (verified against ``mmpose/models/heads/heatmap_heads/heatmap_head.py``
    and ``configs/body_2d_keypoint/topdown_heatmap/coco/`` of MMPose 1.3.2)::

        backbone.*                  -> backbone.*            (unchanged)
        head.final_layer.weight     -> head.final_layer.weight  (K, C, 1, 1)
        head.final_layer.bias       -> head.final_layer.bias    (K,)

    The same holds for the HRNetV2-W18 hand networks
    (``td-hm_hrnetv2-w18_*-256x256``, MMPose 1.3.2 configs), whose head
    also has ``head.conv_layers.0.{weight,bias}`` ``(270, 270, 1, 1)`` and
    ``head.conv_layers.1.*`` (BatchNorm2d(270)), kept unchanged.

    The same identity mapping loads a HigherHRNet state dict with 1.x
    naming (``head.final_layers.*``, ``head.deconv_layers.*``; MMPose 1.x
    renames ``keypoint_head.`` to ``head.`` when it loads a 0.x file), e.g.
    the ``state_dict()`` of a ``head_type='higherhrnet'`` module.

    (The data preprocessor's ``mean``/``std`` buffers are non-persistent
    and the loss has no state, so the file holds nothing else.)

``'mmpose0x_topdown'``: MMPose 0.x ``TopDown`` with ``HRNet`` +
    ``TopdownHeatmapSimpleHead(num_deconv_layers=0,
    extra=dict(final_conv_kernel=1))`` (``topdown_heatmap`` HRNet configs).
    With no extra conv layers its ``final_layer`` is a single ``Conv2d``::

        backbone.*                          -> backbone.*
        keypoint_head.final_layer.weight    -> head.final_layer.weight
        keypoint_head.final_layer.bias      -> head.final_layer.bias

    With ``extra=dict(num_conv_layers=L, ...)`` (the HRNetV2-W18 hand
    configs: ``L = 1``, ``num_conv_kernels=(1, )``; their released
    checkpoints ``hrnetv2_w18_{onehand10k,rhd2d,coco_wholebody_hand}_
    256x256-*.pth``, which MMPose 1.x's model zoo still lists, are in this
    format) ``final_layer`` is ``Sequential(L x [Conv2d, BN, ReLU],
    Conv2d)``; as MMPose 1.x's ``HeatmapHead._load_state_dict_pre_hook``
    does, its last index (``3L``) is the final conv and the others are the
    1.x ``conv_layers``::

        keypoint_head.final_layer.<n>.<p>   -> head.conv_layers.<n>.<p>
                                               (n < the largest index)
        keypoint_head.final_layer.<3L>.<p>  -> head.final_layer.<p>

    A head with deconv layers (``keypoint_head.deconv_layers.*``) is a
    different network and its keys are reported as unexpected (so are
    ``head.conv_layers.*`` for a module without extra conv layers).

``'mmpose0x_higherhrnet'``: MMPose 0.x ``AssociativeEmbedding`` with
    ``HRNet`` + ``AEHigherResolutionHead`` (``associative_embedding``
    ``higherhrnet_w{32,48}_coco_{512x512,640x640}``: ``num_deconv_layers=1``,
    ``num_deconv_filters=[w]``, ``cat_output=[True]``,
    ``with_ae_loss=[True, False]``, ``tag_per_joint=True``,
    ``extra=dict(final_conv_kernel=1)``), loaded whole into
    ``head_type='higherhrnet'``::

        backbone.*                   -> backbone.*
        keypoint_head.final_layers.* -> head.final_layers.*
            0: (K + K, w, 1, 1) 1/4 heatmaps + tags; 1: (K, w, 1, 1) 1/2
        keypoint_head.deconv_layers.* -> head.deconv_layers.*
            0.0.0.weight (w + 2K, w, 4, 4) ConvTranspose2d, 0.0.1.* BN,
            0.{1..4}.0.{conv1,bn1,conv2,bn2}.* BasicBlocks

    The tag channels of ``final_layers.0`` are kept: they feed the deconv
    input (``cat_output``). Verified against
    ``mmpose/models/heads/ae_higher_resolution_head.py``, ``BasicBlock`` of
    ``mmpose/models/backbones/resnet.py`` and the configs of the MMPose
    ``0.x`` branch (code not executed here: MMPose 0.x needs mmcv 1.x).
    Assumed: the 0.x ``HRNet`` backbone has the same module names as the
    1.x one (1.x ported it unchanged; both name their norm layers through
    mmcv's ``build_norm_layer``), which the 1.x ``ae_hrnet-w32`` config
    relies on when it loads a 0.x checkpoint.

``'auto'`` (:func:`detect_pose_checkpoint_format`) picks the format from
the head keys: ``head.final_layer.*`` or ``head.final_layers.*`` ->
``'mmpose'``,
``keypoint_head.final_layers.*`` -> ``'mmpose0x_higherhrnet'``,
``keypoint_head.final_layer.*`` -> ``'mmpose0x_topdown'``; none or more
than one of them is an error.

Checking (:func:`load_pose_checkpoint`): keys of the converted dict are
compared with the module's state dict. Missing or unexpected keys raise
:class:`PoseCheckpointKeyError` naming the file and the first few keys
(``strict=True``, the default; a HigherHRNet file given to a top-down
module, or the reverse, says which ``head_type`` it needs); with
``strict=False`` the matching keys are loaded and the others are logged
and returned. The only tolerated gap is a missing BatchNorm
``*.num_batches_tracked`` buffer (older PyTorch saves
lack it; it is only used when BN momentum is None). Shape mismatches always
raise ``ValueError``.
"""
import logging
import os.path as osp
import pickle
from collections import OrderedDict
from typing import Dict, Optional, Sequence

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
    ('mmpose', ('head.final_layer.', 'head.final_layers.')),
    ('mmpose0x_higherhrnet', ('keypoint_head.final_layers.', )),
    ('mmpose0x_topdown', ('keypoint_head.final_layer.', )),
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
        fmt for fmt, markers in _HEAD_MARKERS.items()
        if any(k.startswith(markers) for k in state_dict)
    ]
    if len(found) == 1:
        return found[0]
    expected = ', '.join(f'{m}* ({f})' for f, ms in _HEAD_MARKERS.items()
                         for m in ms)
    if not found:
        raise PoseCheckpointKeyError(
            f'{filename}: cannot detect the pose checkpoint format: no key '
            f'starts with any of {expected}; first keys: '
            f'{_show(list(state_dict))}. Pass checkpoint_format explicitly '
            'if the file is one of the supported formats.')
    raise PoseCheckpointKeyError(
        f'{filename}: ambiguous pose checkpoint format, keys of several '
        f'formats are present: {found}')


def convert_pose_state_dict(
        state_dict: StateDict,
        checkpoint_format: str,
        filename: str = '<state_dict>') -> StateDict:
    """Rename checkpoint keys for the feature-map module.

    See the module docstring for the mapping of each format. Keys not
    covered by the mapping are kept unchanged (and so reported as
    unexpected by :func:`load_pose_checkpoint`).

    Args:
        state_dict (Dict[str, Tensor]): Checkpoint weights.
        checkpoint_format (str): One of :data:`POSE_CHECKPOINT_FORMATS`.
        filename (str): Name used in error messages.

    Returns:
        Dict[str, Tensor]: The converted state dict.

    Raises:
        ValueError: For an unknown format.
    """
    if checkpoint_format not in POSE_CHECKPOINT_FORMATS:
        raise ValueError(f'checkpoint_format must be one of '
                         f'{POSE_CHECKPOINT_FORMATS} (or auto), got '
                         f'{checkpoint_format!r}')
    out: StateDict = OrderedDict()
    if checkpoint_format == 'mmpose':
        out.update(state_dict)
    elif checkpoint_format == 'mmpose0x_topdown':
        prefix = 'keypoint_head.final_layer.'
        # Sequential final_layer (extra conv layers): '<n>.<param>' keys;
        # the largest n is the final conv.
        indexed = {
            key: key[len(prefix):].split('.')
            for key in state_dict if key.startswith(prefix)
        }
        indexed = {
            key: (int(parts[0]), parts[1])
            for key, parts in indexed.items()
            if len(parts) == 2 and parts[0].isdigit()
        }
        last = max((n for n, _ in indexed.values()), default=None)
        for key, value in state_dict.items():
            if key in ('keypoint_head.final_layer.weight',
                       'keypoint_head.final_layer.bias'):
                key = HEAD_KEY + key[len('keypoint_head.final_layer'):]
            elif key in indexed:
                index, param = indexed[key]
                key = (f'{HEAD_KEY}.{param}' if index == last else
                       f'head.conv_layers.{index}.{param}')
            out[key] = value
    else:  # mmpose0x_higherhrnet: the whole head, renamed
        for key, value in state_dict.items():
            if key.startswith(('keypoint_head.final_layers.',
                               'keypoint_head.deconv_layers.')):
                key = 'head.' + key[len('keypoint_head.'):]
            out[key] = value
    return out


def _head_type_hint(converted: StateDict, target: StateDict) -> str:
    """A sentence naming the needed ``head_type`` if the file's head and
    the module's are of different kinds, else ''."""

    def kind(keys) -> Optional[str]:
        if any(k.startswith('head.final_layers.') for k in keys):
            return 'higherhrnet'
        if any(k.startswith(HEAD_KEY + '.') for k in keys):
            return 'topdown'
        return None

    have, want = kind(target), kind(converted)
    if have and want and have != want:
        return (f"; the file holds a {want} head but the module a {have} "
                f"one: build it with head_type={want!r}")
    return ''


def load_pose_checkpoint(module: nn.Module,
                         filename: str,
                         checkpoint_format: str = 'auto',
                         strict: bool = True) -> dict:
    """Load an MMPose HRNet checkpoint into ``module`` (in place).

    Args:
        module (nn.Module): Module with ``backbone.*`` and ``head.*``
            parameters (``MPTHRNetPoseFeatureMaps``).
        filename (str): Checkpoint path.
        checkpoint_format (str): ``'auto'`` or one of
            :data:`POSE_CHECKPOINT_FORMATS`. Defaults to ``'auto'``.
        strict (bool): Raise on missing or unexpected keys. Defaults to
            True.

    Returns:
        dict: ``format`` (str), ``missing`` and ``unexpected`` (lists of
        keys; empty unless ``strict=False``).

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
    state_dict = read_pose_checkpoint(filename)
    fmt = checkpoint_format
    if fmt == 'auto':
        fmt = detect_pose_checkpoint_format(state_dict, filename)
    converted = convert_pose_state_dict(state_dict, fmt, filename)

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
            'matching keys)' + _head_type_hint(converted, target))
    mismatched = [
        f'{k}: checkpoint {tuple(v.shape)} vs model '
        f'{tuple(target[k].shape)}' for k, v in converted.items()
        if k in target and v.shape != target[k].shape
    ]
    if mismatched:
        raise ValueError(
            f'{filename}: checkpoint (format {fmt!r}) has {len(mismatched)} '
            f'tensors of the wrong shape, e.g. {mismatched[:_MAX_SHOWN]} '
            '(wrong arch, e.g. w32 vs w48 vs hrnetv2_w18, number of '
            'keypoints or tag_per_joint?)')
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
        format=fmt, missing=missing, unexpected=unexpected)
