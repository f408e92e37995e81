"""Tests of MPTHRNetPoseFeatureMaps (the pose checkpoint loader's own tests:
tests/test_models/test_utils/test_pose_checkpoint.py).

Shape tests use the real W32/W48 HRNet on small images (CPU is slow); the
freeze/fine-tune and aggregation tests use a tiny HRNet (same module names,
1 block per branch, widths 8..64) so that they run in a fraction of the
time. The hand network (``arch='hrnetv2_w18'``, last section) is checked
against MMPose 1.x's own ``TopdownPoseEstimator`` built from its
``td-hm_hrnetv2-w18_*-256x256`` configs, on 64x64 images.
"""
import os.path as osp
from collections import OrderedDict

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from mpt_plugin.models.backbones.hrnet_pose_feature_maps import (
    HRNET_ARCH_WIDTHS, HRNETV2_ARCHS, HigherResolutionHeatmapHead,
    MPTHRNetPoseFeatureMaps, aggregate_higherhrnet_heatmaps,
    hrnet_arch_extra)
from mpt_plugin.models.utils.pose_checkpoint import (convert_pose_state_dict,
                                                     load_pose_checkpoint)
from mpt_plugin.registry import MODELS
from ..tiny_hrnet import (K, higherhrnet_head_spec, randomised_state,
                          save_checkpoint, stock_higherhrnet_state, tiny)


class _Parent(nn.Module):
    """Feature maps -> pooled linear regressor (a stand-in MPT model)."""

    def __init__(self, features):
        super().__init__()
        self.features = features
        self.fc = nn.Linear(K, 2)

    def forward(self, x):
        return self.fc(self.features(x).mean(dim=(2, 3)))


def _train_step(parent, images):
    optim = torch.optim.SGD(
        parent.parameters(), lr=0.1, momentum=0.9, weight_decay=0.1)
    optim.zero_grad()
    parent(images).square().sum().backward()
    optim.step()


def _resize_matrix(n_out, n_in, align_corners):
    """(n_out, n_in) 1-D linear interpolation weights, PyTorch's bilinear
    convention written out: align_corners=False samples the input at
    ``(i + 0.5) * n_in / n_out - 0.5`` clamped at 0, True at ``i * (n_in -
    1) / (n_out - 1)``."""
    mat = np.zeros((n_out, n_in))
    for i in range(n_out):
        if align_corners:
            src = i * (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
        else:
            src = max((i + 0.5) * n_in / n_out - 0.5, 0.0)
        i0 = min(int(np.floor(src)), n_in - 1)
        i1 = min(i0 + 1, n_in - 1)
        frac = src - i0
        mat[i, i0] += 1 - frac
        mat[i, i1] += frac
    return mat


def _resize_ref(maps, size, align_corners):
    """Bilinear resize of a (..., h, w) array by separable matrices."""
    rows = _resize_matrix(size[0], maps.shape[-2], align_corners)
    cols = _resize_matrix(size[1], maps.shape[-1], align_corners)
    return np.einsum('ih,...hw,jw->...ij', rows, maps, cols)


@pytest.fixture(scope='module', autouse=True)
def single_thread():
    """One intra-op thread: the first HRNet forward with several OpenMP
    threads on a busy 2-core machine takes seconds instead of 0.1 s."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='module')
def images():
    gen = torch.Generator().manual_seed(1)
    return torch.randn(2, 3, 64, 64, generator=gen)


# ----------------------------------------------------------------- shapes
def test_arch_extra():
    extra = hrnet_arch_extra('w48')
    assert extra['stage4']['num_channels'] == (48, 96, 192, 384)
    assert hrnet_arch_extra('w32')['stage2']['num_channels'] == (32, 64)
    with pytest.raises(ValueError, match='w64'):
        hrnet_arch_extra('w64')


def test_w48_higherhrnet_stock_layout_224_112(tmp_path):
    """The paper's network: a random checkpoint with the exact key layout
    of ``higher_hrnet48_coco_512x512.pth`` loads strictly (nothing missing,
    unexpected or dropped) and gives 224 / 112 maps."""
    model = MODELS.build(
        dict(type='MPTHRNetPoseFeatureMaps', arch='w48', output_size=224))
    assert model.head_type == 'higherhrnet' and model.native_stride == 2
    assert model.head.in_channels == 48
    # backbone.*: MMPose's HRNet-W48 (the module the 0.x configs build);
    # keypoint_head.*: random, shapes from the 0.x head's source
    state = stock_higherhrnet_state(model.state_dict(), 48)
    assert not any(k.startswith('keypoint_head') for k in model.state_dict())
    head_keys = [k for k in state if k.startswith('keypoint_head.')]
    assert len(head_keys) == 58
    assert state['keypoint_head.deconv_layers.0.0.0.weight'].shape == (
        82, 48, 4, 4)  # 48 features + 17 heatmaps + 17 tags in
    path = str(tmp_path / 'higher_hrnet48_coco_512x512.pth')
    torch.save(dict(meta=dict(mmcv_version='1.3.9'), state_dict=state), path)
    info = load_pose_checkpoint(model, path)
    assert info == dict(
        format='mmpose0x_higherhrnet', missing=[], unexpected=[])
    loaded = model.state_dict()
    assert len(loaded) == len(state)
    for key, value in state.items():
        key = key.replace('keypoint_head.', 'head.', 1)
        assert torch.equal(loaded[key], value), key
    images = torch.randn(1, 3, 64, 64)  # a small image: W48 on CPU is slow
    with torch.no_grad():
        out = model(images)
        assert out.shape == (1, K, 224, 224)
        assert torch.isfinite(out).all()
        model.output_size = (112, 112)
        assert model(images).shape == (1, K, 112, 112)
        model.output_size = None
        assert model(images).shape == (1, K, 32, 32)  # native 1/2


@pytest.mark.parametrize('width', [32, 48])
def test_higherhrnet_head_matches_0x_key_layout(width):
    """Every parameter/buffer name and shape of the head equals the 0.x
    one (``keypoint_head.`` -> ``head.``), for both COCO widths."""
    head = HigherResolutionHeatmapHead(width, K)
    got = OrderedDict(
        (k, tuple(v.shape)) for k, v in head.state_dict().items())
    want = OrderedDict((k[len('keypoint_head.'):], v)
                       for k, v in higherhrnet_head_spec(width).items())
    assert got == want
    assert head.deconv_layers[0][0][0].in_channels == width + 2 * K
    single_tag = HigherResolutionHeatmapHead(width, K, tag_per_joint=False)
    assert single_tag.final_layers[0].out_channels == K + 1
    assert single_tag.deconv_layers[0][0][0].in_channels == width + K + 1


def test_basic_block_matches_mmpose():
    """Our deconv-stage BasicBlock computes what MMPose's (1.x, same as
    0.x) computes with the same weights."""
    from mmpose.models.backbones.resnet import BasicBlock
    head = HigherResolutionHeatmapHead(8, K)
    ours = head.deconv_layers[0][1][0].eval()
    theirs = BasicBlock(8, 8).eval()
    state = randomised_state(ours)
    theirs.load_state_dict(state, strict=True)
    ours.load_state_dict(state, strict=True)
    x = torch.randn(2, 8, 6, 5)
    torch.testing.assert_close(ours(x), theirs(x))


def test_non_square_output_and_bad_inputs():
    model = tiny(output_size=(48, 40))
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 32)).shape == (1, K, 48, 40)
    with pytest.raises(ValueError, match='divisible by 32'):
        model(torch.randn(1, 3, 112, 112))
    with pytest.raises(ValueError, match=r'\(B, 3, H, W\)'):
        model(torch.randn(1, 1, 64, 64))
    with pytest.raises(ValueError, match='output_size'):
        tiny(output_size=0)
    with pytest.raises(ValueError, match="head_type.*'bottomup'"):
        tiny(head_type='bottomup')
    with pytest.raises(ValueError, match="stage_aggregation.*'max'"):
        tiny(stage_aggregation='max')


# ------------------------------------------------- HigherHRNet aggregation
@pytest.mark.parametrize('align_corners', [False, True])
def test_aggregation_equals_hand_written_reference(align_corners):
    gen = torch.Generator().manual_seed(3)
    quarter = torch.randn(2, 2 * 3, 3, 4, generator=gen)  # K=3 + 3 tags
    half = torch.randn(2, 3, 6, 8, generator=gen)
    q, h = quarter[:, :3].double().numpy(), half.double().numpy()
    avg = (_resize_ref(q, (6, 8), align_corners) + h) / 2
    for size, want in [(None, avg), ((6, 8), avg),
                       ((12, 16), _resize_ref(avg, (12, 16), align_corners))]:
        got = aggregate_higherhrnet_heatmaps(
            quarter, half, 3, size=size, align_corners=align_corners)
        np.testing.assert_allclose(got.numpy(), want, atol=1e-6)
    # 'output': each stage straight to the output size, then averaged
    want = (_resize_ref(q, (12, 16), align_corners) +
            _resize_ref(h, (12, 16), align_corners)) / 2
    got = aggregate_higherhrnet_heatmaps(
        quarter, half, 3, size=(12, 16), align_corners=align_corners,
        stage_aggregation='output')
    np.testing.assert_allclose(got.numpy(), want, atol=1e-6)
    # The tag channels never reach the maps.
    tagged = quarter.clone()
    tagged[:, 3:] += 100.0
    torch.testing.assert_close(
        aggregate_higherhrnet_heatmaps(tagged, half, 3),
        aggregate_higherhrnet_heatmaps(quarter, half, 3))
    with pytest.raises(ValueError, match=r'half \(B, 3, H2, W2\)'):
        aggregate_higherhrnet_heatmaps(quarter, half[:, :2], 3)


@pytest.fixture(scope='module')
def higherhrnet_crop_model(tmp_path_factory):
    """Tiny-backbone HigherHRNet loaded from a random 0.x-layout file."""
    src = tiny(head_type='topdown')
    state = stock_higherhrnet_state(randomised_state(src), width=8)
    path = str(tmp_path_factory.mktemp('ckpt') / 'higher_hrnet_tiny.pth')
    torch.save(dict(state_dict=state), path)
    model = tiny(checkpoint=path, output_size=112)
    return model, state


def _stage_outputs(model, images):
    feats = model.backbone(images)[0]
    return model.head(feats)


def test_maps_are_built_from_the_half_resolution_output(
        higherhrnet_crop_model):
    model, state = higherhrnet_crop_model
    assert model.checkpoint_info == dict(
        format='mmpose0x_higherhrnet', missing=[], unexpected=[])
    crops = torch.randn(2, 3, 224, 224, generator=torch.Generator()
                        .manual_seed(5))
    with torch.no_grad():
        quarter, half = _stage_outputs(model, crops)
        assert quarter.shape == (2, 2 * K, 56, 56)
        assert half.shape == (2, K, 112, 112)
        native = model(crops)
        assert native.shape == (2, K, 112, 112)
        up = F.interpolate(quarter[:, :K], size=(112, 112), mode='bilinear',
                           align_corners=False)
        torch.testing.assert_close(native, (up + half) / 2)
        model.output_size = None
        torch.testing.assert_close(model(crops), native)
        model.output_size = (224, 224)  # project2image of the 112 maps
        torch.testing.assert_close(
            model(crops),
            F.interpolate(native, size=(224, 224), mode='bilinear',
                          align_corners=False))

        head = model.head
        bias = head.final_layers[1].bias
        saved = bias.clone()
        try:
            # +delta on final_layers.1's bias of joint 3 raises map 3 by
            # delta / 2 everywhere (the 1/2 stage has weight 1/2) and
            # leaves the other joints alone.
            bias[3] += 0.8
            model.output_size = (112, 112)
            shifted = model(crops)
            torch.testing.assert_close(shifted[:, 3], native[:, 3] + 0.4)
            others = [k for k in range(K) if k != 3]
            torch.testing.assert_close(shifted[:, others], native[:, others])
            # Without final_layers.1 only half the 1/4 heatmaps remain.
            weight = head.final_layers[1].weight
            w_saved = weight.clone()
            weight.zero_()
            bias.zero_()
            torch.testing.assert_close(model(crops), up / 2)
            # The tag channels feed the deconv stage (cat_output) but
            # never the maps themselves.
            tag_bias = head.final_layers[0].bias
            t_saved = tag_bias.clone()
            tag_bias[K:] += 5.0
            torch.testing.assert_close(model(crops), up / 2)
            weight.copy_(w_saved)
            bias.copy_(saved)
            assert not torch.allclose(model(crops), native)
            tag_bias.copy_(t_saved)
            torch.testing.assert_close(model(crops), native)
        finally:
            bias.copy_(saved)
            model.output_size = (112, 112)


def test_stage_aggregation_output_mode(higherhrnet_crop_model):
    model, _ = higherhrnet_crop_model
    crops = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        quarter, half = _stage_outputs(model, crops)
        model.output_size = (64, 64)
        model.stage_aggregation = 'output'
        try:
            out = model(crops)
        finally:
            model.stage_aggregation = 'half'
            model.output_size = (112, 112)
    want = (F.interpolate(quarter[:, :K], size=(64, 64), mode='bilinear')
            + F.interpolate(half, size=(64, 64), mode='bilinear')) / 2
    torch.testing.assert_close(out, want)


# ------------------------------------------------------- freeze semantics
@pytest.mark.parametrize('head_type', ['higherhrnet', 'topdown'])
def test_frozen_stays_eval_and_unchanged(images, head_type):
    model = tiny(freeze=True, head_type=head_type)
    parent = _Parent(model).train()
    assert parent.training and parent.fc.training
    assert not any(m.training for m in model.modules() if m is not model)
    assert all(not p.requires_grad for p in model.parameters())
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fc_before = parent.fc.weight.detach().clone()

    _train_step(parent, images)

    assert all(p.grad is None for p in model.parameters())
    for key, value in model.state_dict().items():  # incl. BN running stats
        assert torch.equal(value, before[key]), key
    assert not torch.equal(parent.fc.weight, fc_before)
    parent.train()  # still eval after another train() call
    bns = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    assert bns and not any(bn.training for bn in bns)


def test_fine_tune_gets_gradients(images):
    model = tiny(freeze=False)
    parent = _Parent(model).train()
    assert model.backbone.training and model.head.training
    mean_before = model.backbone.bn1.running_mean.clone()
    deconv_bn = model.head.deconv_layers[0][0][1]
    deconv_mean_before = deconv_bn.running_mean.clone()
    weight_before = model.head.final_layers[1].weight.detach().clone()
    _train_step(parent, images)
    grads = {n: p.grad for n, p in model.named_parameters()}
    assert all(g is not None for g in grads.values())
    assert sum(float(g.abs().sum()) for g in grads.values()) > 0
    # Both stages are trained, including the tag rows (through the deconv).
    assert grads['head.final_layers.0.weight'][K:].abs().sum() > 0
    assert grads['head.deconv_layers.0.0.0.weight'].abs().sum() > 0
    assert not torch.equal(model.backbone.bn1.running_mean, mean_before)
    assert not torch.equal(deconv_bn.running_mean, deconv_mean_before)
    assert not torch.equal(model.head.final_layers[1].weight, weight_before)


def test_freeze_bn_only(images):
    model = tiny(freeze=False, freeze_bn=True)
    parent = _Parent(model).train()
    bns = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    assert not any(bn.training for bn in bns)
    stats = model.head.deconv_layers[0][0][1].running_mean.clone()
    _train_step(parent, images)
    assert torch.equal(model.head.deconv_layers[0][0][1].running_mean, stats)
    assert all(p.grad is None for bn in bns for p in bn.parameters())
    assert model.backbone.conv1.weight.grad is not None
    assert model.head.deconv_layers[0][0][0].weight.grad is not None


def test_w32_matches_stock_mmpose_estimator_224_112(tmp_path):
    """MMPose 1.3.2's own td-hm_hrnet-w32 COCO config: its estimator's
    state dict loads strictly, its raw heatmaps (``mode='tensor'``, no
    decoding) equal our native maps, and 224 / 112 outputs are their
    bilinear resizes."""
    import mmpose
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    cfg_file = osp.join(
        osp.dirname(mmpose.__file__), '.mim', 'configs', 'body_2d_keypoint',
        'topdown_heatmap', 'coco',
        'td-hm_hrnet-w32_8xb64-210e_coco-256x192.py')
    cfg = Config.fromfile(cfg_file)
    cfg.model.backbone.init_cfg = None  # no download
    with DefaultScope.overwrite_default_scope('mmpose'):
        estimator = MODELS.build(cfg.model).eval()
    # PyTorch's default init already makes every conv random (and
    # different from the model below); the file holds the estimator's
    # own state dict, keys as in a published checkpoint.
    state = estimator.state_dict()
    path = save_checkpoint(tmp_path / 'td-hm_hrnet-w32.pth',
                           dict(state_dict=state))
    model = MPTHRNetPoseFeatureMaps(
        arch='w32', head_type='topdown', checkpoint=path, output_size=None)
    assert model.checkpoint_info['format'] == 'mmpose'
    assert model.head.final_layer.in_channels == 32
    assert model.native_stride == 4
    images = torch.randn(1, 3, 64, 32)
    with torch.no_grad():
        native = model(images)
        assert native.shape == (1, K, 16, 8)  # 1/4 resolution
        torch.testing.assert_close(
            native, estimator(images, None, mode='tensor'))
        for size in (224, 112):
            model.output_size = (size, size)
            out = model(images)
            assert out.shape == (1, K, size, size)
            assert torch.isfinite(out).all()
            torch.testing.assert_close(
                out,
                F.interpolate(
                    native, size=(size, size), mode='bilinear',
                    align_corners=False))


# ------------------------------------ the hand network (HRNetV2-W18)
HAND_ARCH = 'hrnetv2_w18'
K_HAND = 21
HAND_CONFIG_FILES = (
    ('onehand10k', 'td-hm_hrnetv2-w18_8xb64-210e_onehand10k-256x256.py'),
    ('rhd2d', 'td-hm_hrnetv2-w18_8xb64-210e_rhd2d-256x256.py'),
    ('coco_wholebody_hand',
     'td-hm_hrnetv2-w18_8xb32-210e_coco-wholebody-hand-256x256.py'),
)


def _hand_config(index=0):
    """MMPose 1.x's HRNetV2-W18 hand config (0: onehand10k)."""
    import mmpose
    return osp.join(
        osp.dirname(mmpose.__file__), '.mim', 'configs', 'hand_2d_keypoint',
        'topdown_heatmap', *HAND_CONFIG_FILES[index])


def _plain(obj):
    """Config values as plain dicts and lists (tuples -> lists)."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def _build_stock_hand():
    """The onehand10k estimator, built through MMPose's registry."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpose.registry import MODELS as MMPOSE_MODELS
    cfg = Config.fromfile(_hand_config())
    cfg.model.backbone.init_cfg = None  # no download
    init_default_scope('mmpose')
    return MMPOSE_MODELS.build(cfg.model).eval()


def _to_mmpose0x(state):
    """1.x hand-network keys -> MMPose 0.x ``TopdownHeatmapSimpleHead``
    ``(num_conv_layers=1)`` keys: ``final_layer = Sequential(Conv2d, BN,
    ReLU, Conv2d)``, i.e. the released ``hrnetv2_w18_*_256x256`` files."""
    out = OrderedDict()
    for key, value in state.items():
        if key.startswith('head.conv_layers.'):
            key = 'keypoint_head.final_layer.' + key[len('head.conv_layers.'):]
        elif key.startswith('head.final_layer.'):
            key = ('keypoint_head.final_layer.3.' +
                   key[len('head.final_layer.'):])
        out[key] = value
    return out


@pytest.fixture(scope='module')
def hand_stock():
    """MMPose's own onehand10k HRNetV2-W18 estimator with random weights
    (BatchNorm statistics included) and its state dict."""
    estimator = _build_stock_hand()
    state = randomised_state(estimator, seed=3)
    estimator.load_state_dict(state, strict=True)
    return estimator, estimator.state_dict()


@pytest.fixture(scope='module')
def hand_images():
    gen = torch.Generator().manual_seed(5)
    return torch.randn(1, 3, 64, 64, generator=gen)


def test_hrnetv2_w18_extra_is_the_stock_hand_config():
    assert HAND_ARCH in HRNET_ARCH_WIDTHS and HAND_ARCH in HRNETV2_ARCHS
    extra = hrnet_arch_extra(HAND_ARCH)
    assert extra['stage4']['num_channels'] == (18, 36, 72, 144)
    assert extra['stage4']['multiscale_output'] is True
    assert extra['upsample'] == dict(mode='bilinear', align_corners=False)
    # W32/W48 unchanged: single-scale stage 4, MMPose's default upsampling
    for arch in ('w32', 'w48'):
        assert 'multiscale_output' not in hrnet_arch_extra(arch)['stage4']
        assert 'upsample' not in hrnet_arch_extra(arch)
    from mmengine.config import Config
    for index in range(len(HAND_CONFIG_FILES)):
        cfg_file = _hand_config(index)
        model = Config.fromfile(cfg_file).model
        assert _plain(model.backbone.extra) == _plain(extra), cfg_file
        assert _plain(model.neck) == dict(
            type='FeatureMapProcessor', concat=True), cfg_file
        head = model.head
        assert (head.in_channels, head.out_channels) == (270, K_HAND)
        assert head.deconv_out_channels is None
        assert _plain(head.conv_out_channels) == [270]
        assert _plain(head.conv_kernel_sizes) == [1]


def test_w32_w48_topdown_keep_their_layout():
    model = tiny(head_type='topdown')
    assert model.neck is None
    assert sorted(k for k in model.state_dict() if k.startswith('head.')) \
        == ['head.final_layer.bias', 'head.final_layer.weight']
    assert all(k.startswith(('backbone.', 'head.'))
               for k in model.state_dict())


def test_hrnetv2_w18_wrong_head_type_refused():
    with pytest.raises(ValueError, match="head_type='topdown'"):
        # the default head_type, 'higherhrnet'
        MPTHRNetPoseFeatureMaps(arch=HAND_ARCH, num_keypoints=K_HAND)
    with pytest.raises(ValueError, match='no HigherHRNet head'):
        MPTHRNetPoseFeatureMaps(
            arch=HAND_ARCH, head_type='higherhrnet', num_keypoints=K_HAND)
    with pytest.raises(ValueError, match='head_type must be one of'):
        MPTHRNetPoseFeatureMaps(arch=HAND_ARCH, head_type='bottomup')
    extra = hrnet_arch_extra(HAND_ARCH)
    extra['stage4']['multiscale_output'] = False
    with pytest.raises(ValueError, match='multiscale_output'):
        MPTHRNetPoseFeatureMaps(
            arch=HAND_ARCH, head_type='topdown', num_keypoints=K_HAND,
            backbone=dict(extra=extra), freeze=False)


def test_hrnetv2_w18_matches_stock_mmpose_hand_estimator(
        tmp_path, hand_stock, hand_images):
    """A 1.x checkpoint of the stock estimator (the keys of
    ``estimator.state_dict()``: ``backbone.*``, ``head.conv_layers.*``,
    ``head.final_layer.*``; the neck has none) loads one to one and our
    native maps equal the estimator's raw heatmaps."""
    estimator, state = hand_stock
    assert not any(k.startswith(('neck.', 'data_preprocessor.'))
                   for k in state)
    assert {k for k in state if k.startswith('head.')} == {
        'head.conv_layers.0.weight', 'head.conv_layers.0.bias',
        'head.conv_layers.1.weight', 'head.conv_layers.1.bias',
        'head.conv_layers.1.running_mean', 'head.conv_layers.1.running_var',
        'head.conv_layers.1.num_batches_tracked', 'head.final_layer.weight',
        'head.final_layer.bias'
    }
    path = save_checkpoint(
        tmp_path / 'td-hm_hrnetv2-w18_onehand10k.pth',
        dict(meta=dict(mmpose_version='1.3.2', epoch=210), state_dict=state))
    model = MPTHRNetPoseFeatureMaps(
        arch=HAND_ARCH, head_type='topdown', num_keypoints=K_HAND,
        checkpoint=path, output_size=None)
    assert model.checkpoint_info == dict(
        format='mmpose', missing=[], unexpected=[])
    loaded = model.state_dict()
    assert loaded.keys() == state.keys()
    for key, value in state.items():
        assert torch.equal(loaded[key], value), key
    assert model.native_stride == 4
    assert model.head.conv_layers[0].in_channels == 270
    assert model.head.final_layer.out_channels == K_HAND
    with torch.no_grad():
        ours = model(hand_images)
        want = estimator(hand_images, None, mode='tensor')
    assert ours.shape == want.shape == (1, K_HAND, 16, 16)
    assert want.abs().max() > 1e-2  # not a degenerate comparison
    torch.testing.assert_close(ours, want, rtol=1e-5, atol=1e-5)
    # non-square input: the 1/8..1/32 branches are resized to 1/4
    gen = torch.Generator().manual_seed(6)
    wide = torch.randn(1, 3, 64, 96, generator=gen)
    with torch.no_grad():
        torch.testing.assert_close(
            model(wide), estimator(wide, None, mode='tensor'), rtol=1e-5,
            atol=1e-5)


def test_hrnetv2_w18_released_0x_checkpoint_format(
        tmp_path, hand_stock, hand_images):
    """The released ``hrnetv2_w18_*_256x256-*.pth`` files are MMPose 0.x
    (``keypoint_head.final_layer.{0,1,3}.*``): they load strictly, as MMPose
    1.x's own load hooks convert them."""
    estimator, state = hand_stock
    old = _to_mmpose0x(state)
    assert sorted(k for k in old if k.startswith('keypoint_head.')) == [
        f'keypoint_head.final_layer.{n}.{p}'
        for n, p in [(0, 'bias'), (0, 'weight'), (1, 'bias'),
                     (1, 'num_batches_tracked'), (1, 'running_mean'),
                     (1, 'running_var'), (1, 'weight'), (3, 'bias'),
                     (3, 'weight')]
    ]
    assert convert_pose_state_dict(old, 'mmpose0x_topdown') == state
    path = save_checkpoint(tmp_path / 'hrnetv2_w18_onehand10k_256x256.pth',
                           dict(meta=dict(mmcv_version='1.3.8'),
                                state_dict=old))
    model = MPTHRNetPoseFeatureMaps(
        arch=HAND_ARCH, head_type='topdown', num_keypoints=K_HAND,
        checkpoint=path, output_size=None)
    assert model.checkpoint_info == dict(
        format='mmpose0x_topdown', missing=[], unexpected=[])
    # MMPose 1.x reads the same 0.x dict through its own hooks: same state
    fresh = _build_stock_hand()
    fresh.load_state_dict(OrderedDict(old), strict=True)
    theirs = fresh.state_dict()
    ours = model.state_dict()
    assert ours.keys() == theirs.keys()
    for key, value in theirs.items():
        assert torch.equal(ours[key], value), key
    with torch.no_grad():
        torch.testing.assert_close(
            model(hand_images),
            estimator(hand_images, None, mode='tensor'),
            rtol=1e-5,
            atol=1e-5)


def test_hrnetv2_0x_mapping_keeps_single_conv_heads():
    """The 0.x extra-conv mapping leaves a plain ``final_layer`` as is."""
    w = torch.zeros(3, 4, 1, 1)
    b = torch.zeros(3)
    out = convert_pose_state_dict(
        {'backbone.x': b, 'keypoint_head.final_layer.weight': w,
         'keypoint_head.final_layer.bias': b}, 'mmpose0x_topdown')
    assert list(out) == ['backbone.x', 'head.final_layer.weight',
                         'head.final_layer.bias']


def test_hand_config_fragment_224_frozen(tmp_path, hand_stock,
                                        hand_images):
    """configs/_base_/models/hrnetv2_w18_hand.py: frozen, 224x224 maps,
    the bilinear resize of the stock 1/4 heatmaps."""
    estimator, state = hand_stock
    path = save_checkpoint(tmp_path / 'hand.pth', dict(state_dict=state))
    from mmengine.config import Config
    repo = osp.dirname(
        osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
    cfg = Config.fromfile(
        osp.join(repo, 'configs', '_base_', 'models', 'hrnetv2_w18_hand.py'))
    spec = cfg.hand_pose_feature_maps.to_dict()
    assert spec == dict(
        type='MPTHRNetPoseFeatureMaps', arch=HAND_ARCH, head_type='topdown',
        num_keypoints=K_HAND, output_size=224, checkpoint=None, freeze=True)
    model = MODELS.build(dict(spec, checkpoint=path))
    assert model.freeze  # frozen by default
    assert all(not p.requires_grad for p in model.parameters())
    parent = nn.Sequential(model).train()
    assert parent.training
    assert not any(m.training for m in model.modules() if m is not model)
    with torch.no_grad():
        out = model(hand_images)
        native = estimator(hand_images, None, mode='tensor')
    assert out.shape == (1, K_HAND, 224, 224)
    torch.testing.assert_close(
        out,
        F.interpolate(native, size=(224, 224), mode='bilinear',
                      align_corners=False),
        rtol=1e-5, atol=1e-5)
