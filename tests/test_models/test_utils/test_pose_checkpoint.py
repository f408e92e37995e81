"""Tests of the pose checkpoint loader (MMPose 1.x / 0.x top-down and
HigherHRNet files) through tiny MPTHRNetPoseFeatureMaps models."""
import os.path as osp
from collections import OrderedDict

import numpy as np
import pytest
import torch
from mmengine.model import BaseModule

from mpt_plugin.models.backbones.hrnet_pose_feature_maps import \
    MPTHRNetPoseFeatureMaps
from mpt_plugin.models.utils.pose_checkpoint import (
    PoseCheckpointKeyError, convert_pose_state_dict,
    detect_pose_checkpoint_format, load_pose_checkpoint,
    read_pose_checkpoint)
from ..tiny_hrnet import (K, randomised_state, save_checkpoint,
                          stock_higherhrnet_state, tiny, tiny_extra)


def _assert_loaded(model, state):
    loaded = model.state_dict()
    assert loaded.keys() == state.keys()
    for key, value in state.items():
        assert torch.equal(loaded[key], value), key


@pytest.fixture(scope='module')
def source_state():
    """A random top-down tiny state dict (1.x names)."""
    return randomised_state(tiny(head_type='topdown'))


def test_mmpose1x_round_trip(tmp_path, source_state):
    meta = dict(
        epoch=210,
        dataset_meta=dict(
            dataset_name='coco',
            sigmas=np.linspace(0.02, 0.1, K, dtype=np.float32)))
    path = save_checkpoint(tmp_path / 'td-hm_hrnet.pth',
                           dict(meta=meta, state_dict=source_state))
    model = tiny(checkpoint=path, head_type='topdown')
    _assert_loaded(model, source_state)
    assert model.checkpoint_info == dict(
        format='mmpose', missing=[], unexpected=[])
    # A parent's init_weights() (Runner.train) must not re-initialise it.
    parent = BaseModule()
    parent.features = model
    parent.init_weights()
    _assert_loaded(model, source_state)


def test_own_higherhrnet_state_dict_round_trip(tmp_path):
    """A HigherHRNet state dict with 1.x names (``head.final_layers``),
    e.g. our module's own, loads as format 'mmpose'."""
    state = randomised_state(tiny(), seed=4)
    path = save_checkpoint(tmp_path / 'own.pth', dict(state_dict=state))
    model = tiny(checkpoint=path)
    _assert_loaded(model, state)
    assert model.checkpoint_info['format'] == 'mmpose'


def test_mmpose0x_topdown_round_trip(tmp_path, source_state):
    state = OrderedDict(
        (k.replace('head.final_layer.', 'keypoint_head.final_layer.'), v)
        for k, v in source_state.items())
    assert 'keypoint_head.final_layer.weight' in state
    # Old PyTorch saves lack num_batches_tracked: tolerated.
    old = OrderedDict((k, v) for k, v in state.items()
                      if not k.endswith('num_batches_tracked'))
    path = save_checkpoint(
        tmp_path / 'hrnet_w32_coco_256x192.pth',
        dict(meta=dict(mmcv_version='1.3.8'), state_dict=old))
    model = tiny(checkpoint=path, checkpoint_format='mmpose0x_topdown',
                 head_type='topdown')
    expected = OrderedDict(source_state)
    for key, value in model.state_dict().items():
        if key.endswith('num_batches_tracked'):
            expected[key] = value
    _assert_loaded(model, expected)
    assert model.checkpoint_info['format'] == 'mmpose0x_topdown'
    # Top-level state dict with a DataParallel 'module.' prefix, auto.
    path = save_checkpoint(
        tmp_path / 'dp.pth',
        OrderedDict(('module.' + k, v) for k, v in state.items()))
    model = tiny(checkpoint=path, head_type='topdown')
    _assert_loaded(model, source_state)
    assert model.checkpoint_info['format'] == 'mmpose0x_topdown'


def test_higherhrnet_conversion_renames_whole_head(source_state):
    state = stock_higherhrnet_state(source_state, width=8)
    converted = convert_pose_state_dict(state, 'mmpose0x_higherhrnet')
    assert len(converted) == len(state)
    assert not any(k.startswith('keypoint_head') for k in converted)
    torch.testing.assert_close(
        converted['head.final_layers.0.weight'],
        state['keypoint_head.final_layers.0.weight'])  # tags kept: (34, ..)
    assert converted['head.final_layers.0.weight'].shape == (2 * K, 8, 1, 1)
    assert 'head.deconv_layers.0.4.0.bn2.running_var' in converted
    with pytest.raises(ValueError, match='checkpoint_format'):
        convert_pose_state_dict(state, 'mmpose2x')


def test_head_type_mismatch_is_named(tmp_path, source_state):
    state = stock_higherhrnet_state(source_state, width=8)
    path = save_checkpoint(tmp_path / 'higher.pth', dict(state_dict=state))
    with pytest.raises(PoseCheckpointKeyError,
                       match=r"higher\.pth.*head_type='higherhrnet'"):
        tiny(checkpoint=path, head_type='topdown')
    path = save_checkpoint(tmp_path / 'td.pth', dict(state_dict=source_state))
    with pytest.raises(PoseCheckpointKeyError,
                       match=r"td\.pth.*missing keys.*head_type='topdown'"):
        tiny(checkpoint=path)
    # The single-tag variant does not fit a tag_per_joint file.
    with pytest.raises(ValueError, match=r'higher\.pth.*tag_per_joint'):
        tiny(checkpoint=save_checkpoint(tmp_path / 'higher.pth',
                                        dict(state_dict=state)),
             tag_per_joint=False)


def test_detect_format():
    w = torch.zeros(1)
    assert detect_pose_checkpoint_format({'head.final_layer.weight': w}) \
        == 'mmpose'
    assert detect_pose_checkpoint_format({'head.final_layers.1.bias': w}) \
        == 'mmpose'
    assert detect_pose_checkpoint_format(
        {'keypoint_head.final_layer.bias': w}) == 'mmpose0x_topdown'
    assert detect_pose_checkpoint_format(
        {'keypoint_head.final_layers.0.bias': w}) == 'mmpose0x_higherhrnet'
    with pytest.raises(PoseCheckpointKeyError, match='a.pth.*conv1.weight'):
        detect_pose_checkpoint_format({'conv1.weight': w}, 'a.pth')
    with pytest.raises(PoseCheckpointKeyError, match='ambiguous'):
        detect_pose_checkpoint_format(
            {
                'head.final_layer.weight': w,
                'keypoint_head.final_layer.weight': w
            }, 'a.pth')


def test_unexpected_and_missing_keys_raise(tmp_path, source_state):
    extra = OrderedDict(source_state)
    extra['head.deconv_layers.0.weight'] = torch.zeros(8, 256, 4, 4)
    path = save_checkpoint(tmp_path / 'deconv_head.pth',
                           dict(state_dict=extra))
    with pytest.raises(PoseCheckpointKeyError) as err:
        tiny(checkpoint=path, head_type='topdown')
    msg = str(err.value)
    assert 'deconv_head.pth' in msg and 'head.deconv_layers.0.weight' in msg
    assert 'unexpected' in msg

    less = OrderedDict(
        (k, v) for k, v in source_state.items()
        if k not in ('backbone.conv1.weight', 'head.final_layer.bias'))
    path = save_checkpoint(tmp_path / 'partial.pth', dict(state_dict=less))
    with pytest.raises(PoseCheckpointKeyError,
                       match=r"partial\.pth.*2 missing keys.*"
                       r"'backbone\.conv1\.weight'"):
        tiny(checkpoint=path, head_type='topdown')
    # strict=False loads what matches and reports the rest.
    model = tiny(checkpoint=path, strict=False, head_type='topdown')
    assert sorted(model.checkpoint_info['missing']) == [
        'backbone.conv1.weight', 'head.final_layer.bias'
    ]
    assert torch.equal(model.backbone.conv2.weight,
                       source_state['backbone.conv2.weight'])


def test_shape_mismatch_and_bad_files(tmp_path, source_state):
    path = save_checkpoint(tmp_path / 'tiny.pth',
                           dict(state_dict=source_state))
    wide = tiny_extra()
    wide['stage4']['num_channels'] = (8, 16, 32, 128)
    model = MPTHRNetPoseFeatureMaps(backbone=dict(extra=wide),
                                    head_type='topdown')
    with pytest.raises(ValueError, match=r'tiny\.pth.*wrong shape'):
        load_pose_checkpoint(model, path)
    with pytest.raises(ValueError, match='checkpoint_format'):
        load_pose_checkpoint(model, path, checkpoint_format='0x')
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        read_pose_checkpoint(osp.join(tmp_path, 'missing.pth'))
    path = save_checkpoint(tmp_path / 'mixed.pth',
                           {'a': torch.zeros(1), 'b': 'text'})
    with pytest.raises(PoseCheckpointKeyError, match=r"mixed\.pth.*'b'"):
        read_pose_checkpoint(path)
    path = save_checkpoint(tmp_path / 'pickled.pth', {'state_dict': _Unsafe()})
    with pytest.raises(ValueError, match=r'pickled\.pth.*weights_only'):
        read_pose_checkpoint(path)


class _Unsafe:
    """Not on torch's weights-only allowlist."""
