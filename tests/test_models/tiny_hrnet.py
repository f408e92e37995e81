"""Tiny HRNet pose-feature-map models and random state dicts in MMPose's key
layouts, shared by the backbone and the pose-checkpoint tests."""
import math
from collections import OrderedDict

import torch

from mpt_plugin.models.backbones.hrnet_pose_feature_maps import (
    MPTHRNetPoseFeatureMaps, hrnet_arch_extra)

K = 17


def tiny_extra():
    """W32's layout with 1 module of 1 block per branch, widths 8..64."""
    extra = hrnet_arch_extra('w32')
    for stage in extra.values():
        num = stage['num_branches']
        stage.update(
            num_modules=1,
            num_blocks=(1, ) * num,
            num_channels=(8, 16, 32, 64)[:num])
    return extra


def tiny(**kwargs):
    kwargs.setdefault('output_size', 32)
    return MPTHRNetPoseFeatureMaps(
        backbone=dict(extra=tiny_extra()), **kwargs)


def random_tensor(key, shape, gen):
    """Random values for a parameter/buffer named ``key``."""
    if key.endswith('num_batches_tracked'):
        return torch.tensor(7)
    noise = torch.randn(shape, generator=gen)
    if len(shape) > 1:  # conv: fan-in scaled, activations stay O(1)
        fan_in = shape[0] if 'deconv_layers.0.0.0' in key else shape[1]
        return noise / math.sqrt(fan_in * shape[2] * shape[3])
    if key.endswith('running_var'):
        return 0.5 + noise.abs()
    if key.endswith('.weight'):
        return 1.0 + 0.1 * noise
    return 0.1 * noise


def randomised_state(model, seed=0):
    """The model's state dict with random values."""
    gen = torch.Generator().manual_seed(seed)
    return OrderedDict(
        (key, random_tensor(key, tuple(value.shape), gen))
        for key, value in model.state_dict().items())


def bn_spec(prefix, channels):
    spec = OrderedDict(
        (f'{prefix}.{name}', (channels, ))
        for name in ('weight', 'bias', 'running_mean', 'running_var'))
    spec[f'{prefix}.num_batches_tracked'] = ()
    return spec


def higherhrnet_head_spec(width, num_keypoints=K, num_tags=K):
    """Key -> shape of an MMPose 0.x ``AEHigherResolutionHead`` (COCO
    ``higherhrnet_w{32,48}`` configs: ``num_deconv_filters=[width]``,
    ``cat_output=[True]``, ``with_ae_loss=[True, False]``, 4 BasicBlocks,
    ``final_conv_kernel=1``), written from the 0.x source, as stored in
    ``higher_hrnet{32,48}_coco_512x512.pth``."""
    out0 = num_keypoints + num_tags
    p = 'keypoint_head.'
    spec = OrderedDict()
    spec[p + 'final_layers.0.weight'] = (out0, width, 1, 1)
    spec[p + 'final_layers.0.bias'] = (out0, )
    spec[p + 'final_layers.1.weight'] = (num_keypoints, width, 1, 1)
    spec[p + 'final_layers.1.bias'] = (num_keypoints, )
    d = p + 'deconv_layers.0.'
    # ConvTranspose2d weight: (in_channels, out_channels, kh, kw)
    spec[d + '0.0.weight'] = (width + out0, width, 4, 4)
    spec.update(bn_spec(d + '0.1', width))
    for block in range(1, 5):
        for i in (1, 2):
            spec[d + f'{block}.0.conv{i}.weight'] = (width, width, 3, 3)
            spec.update(bn_spec(d + f'{block}.0.bn{i}', width))
    return spec


def stock_higherhrnet_state(backbone_state, width, seed=1):
    """A random 0.x HigherHRNet checkpoint state dict: ``backbone.*`` from
    ``backbone_state`` (keys with the ``backbone.`` prefix) and a head
    built from :func:`higherhrnet_head_spec`."""
    gen = torch.Generator().manual_seed(seed)
    out = OrderedDict((k, v) for k, v in backbone_state.items()
                      if k.startswith('backbone.'))
    for key, shape in higherhrnet_head_spec(width).items():
        out[key] = random_tensor(key, shape, gen)
    return out


def save_checkpoint(path, obj):
    torch.save(obj, str(path))
    return str(path)
