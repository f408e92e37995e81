"""Tests for MPTMoCapDataPreprocessor (joints -> MHM -> model inputs)."""
import numpy as np
import pytest
import torch
from mmengine.structures import BaseDataElement

from mpt_plugin.models.data_preprocessors.masked_heatmap_modeling import \
    MPTMaskedHeatmapModeling
from mpt_plugin.models.data_preprocessors.mocap_data_preprocessor import \
    MPTMoCapDataPreprocessor
from mpt_plugin.models.utils.heatmap_patch_embed import (HeatmapPatchEmbed,
                                                         render_heatmaps)
from mpt_plugin.registry import MODELS
from .random_joints import K, random_joints


def _kpts(batch, seed=0):
    joints, weights = random_joints(batch, seed)
    return torch.cat([joints, weights[..., None]], dim=-1)  # (B, K, 3)


def test_preprocessor_outputs():
    pre = MODELS.build(
        dict(
            type='MPTMoCapDataPreprocessor',
            mhm=dict(type='MPTMaskedHeatmapModeling', seed=0)))
    assert isinstance(pre.mhm, MPTMaskedHeatmapModeling)
    kpts = _kpts(4)
    samples = [BaseDataElement(metainfo=dict(idx=i)) for i in range(4)]
    out = pre(dict(inputs=list(kpts), data_samples=samples), training=True)
    inputs = out['inputs']
    assert set(inputs) == {'joints_px', 'joint_weights', 'masked_joints'}
    assert inputs['joints_px'].shape == (4, K, 2)
    assert inputs['joint_weights'].shape == (4, K)
    assert inputs['joints_px'].dtype == torch.float32
    for value in inputs.values():
        assert value.device == pre.device == torch.device('cpu')
    assert [s.idx for s in out['data_samples']] == [0, 1, 2, 3]
    # training augments, evaluation does not
    assert not torch.equal(inputs['joints_px'], kpts[..., :2])
    ev = pre(dict(inputs=kpts), training=False)['inputs']
    assert torch.equal(ev['joints_px'], kpts[..., :2])
    assert torch.equal(ev['joint_weights'], kpts[..., 2])


def test_preprocessor_list_stack_numpy_agree_and_visibility():
    pre = MPTMoCapDataPreprocessor(mhm=None)
    kpts = _kpts(3)
    kpts[0, 2, 2] = 0.2  # below the 0.5 threshold
    kpts[0, 3, 2] = 0.7
    kpts[1, 4, :2] = float('nan')  # invisible: any coordinates
    kpts[1, 4, 2] = 0
    a = pre(dict(inputs=list(kpts)))['inputs']
    b = pre(dict(inputs=kpts))['inputs']
    c = pre(dict(inputs=[k.numpy() for k in kpts]))['inputs']
    for key in a:
        torch.testing.assert_close(a[key], b[key], equal_nan=True)
        torch.testing.assert_close(a[key], c[key], equal_nan=True)
    assert a['joint_weights'][0, 2] == 0 and a['joint_weights'][0, 3] == 1
    soft = MPTMoCapDataPreprocessor(mhm=None, visibility_thr=None)
    w = soft(dict(inputs=kpts))['inputs']['joint_weights']
    assert w[0, 2].item() == pytest.approx(0.2)


def test_preprocessor_dense_option_and_test_mask():
    kpts = _kpts(2)
    pre = MPTMoCapDataPreprocessor(
        dense=True,
        mhm=dict(type='MPTMaskedHeatmapModeling', test_mask_ratio=0.3))
    inputs = pre(dict(inputs=kpts), training=False)['inputs']
    maps = inputs['heatmaps']
    assert maps.shape == (2, K, 224, 224) and maps.dtype == torch.float32
    torch.testing.assert_close(
        maps, render_heatmaps(inputs['joints_px'], inputs['joint_weights']))
    assert (inputs['masked_joints'].sum(1) == 5).all()
    assert (maps.amax(dim=(2, 3)) == 0).sum() == 10
    # dense and sparse outputs give the same tokens (same MHM seed)
    embed = HeatmapPatchEmbed(embed_dim=32)
    tok = []
    for dense in (False, True):
        pre = MPTMoCapDataPreprocessor(
            dense=dense,
            mhm=dict(
                type='MPTMaskedHeatmapModeling', seed=3,
                pixel_noise_std=0.1))
        inputs = pre(dict(inputs=kpts), True)['inputs']
        tok.append(embed.forward_inputs(inputs))
    assert ((tok[0] - tok[1]).abs().max() / tok[1].abs().max()) < 1e-5


def test_preprocessor_exact_dense_pixel_noise():
    pre = MPTMoCapDataPreprocessor(
        mhm=dict(
            type='MPTMaskedHeatmapModeling', mask_mode='none',
            jitter_std_px=0.0, amplitude_noise_std=0.0, pixel_noise_std=0.05,
            pixel_noise_mode='dense', seed=0))
    kpts = _kpts(2)
    inputs = pre(dict(inputs=kpts), training=True)['inputs']
    assert 'pixel_noise' not in inputs
    noise = inputs['heatmaps'] - render_heatmaps(kpts[..., :2], kpts[..., 2])
    assert abs(noise.std().item() - 0.05) < 0.001
    # evaluation renders no dense maps and adds no noise
    assert 'heatmaps' not in pre(dict(inputs=kpts), False)['inputs']


def test_preprocessor_bad_input():
    pre = MPTMoCapDataPreprocessor()
    with pytest.raises(KeyError, match='inputs'):
        pre(dict(data_samples=None))
    with pytest.raises(ValueError, match=r'\(K, 3\)'):
        pre(dict(inputs=[torch.zeros(16, 3)]))
    with pytest.raises(ValueError, match=r'\(B, K, 3\)'):
        pre(dict(inputs=torch.zeros(2, K, 2)))
    with pytest.raises(TypeError, match='tensor'):
        pre(dict(inputs=[[0.0, 1.0]]))
    kpts = _kpts(2)
    kpts[1, 3, 0] = float('nan')
    with pytest.raises(ValueError, match=r'finite x_px, y_px.*\[\[1, 3\]\]'):
        pre(dict(inputs=kpts))
    with pytest.raises(ValueError, match=r'\[0, 1\]'):
        MPTMoCapDataPreprocessor(visibility_thr=None)(
            dict(inputs=np.full((1, K, 3), 2.0, dtype=np.float32)))


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_preprocessor_cuda():
    pre = MPTMoCapDataPreprocessor(
        mhm=dict(type='MPTMaskedHeatmapModeling', seed=0,
                 pixel_noise_std=0.1, test_mask_ratio=0.3)).cuda()
    kpts = _kpts(4)
    inputs = pre(dict(inputs=list(kpts)), training=True)['inputs']
    for value in inputs.values():
        assert value.device.type == 'cuda'
    ev = pre(dict(inputs=kpts), training=False)['inputs']
    ev_cpu = MPTMoCapDataPreprocessor(
        mhm=dict(type='MPTMaskedHeatmapModeling', test_mask_ratio=0.3))(
            dict(inputs=kpts), training=False)['inputs']
    assert torch.equal(ev['masked_joints'].cpu(), ev_cpu['masked_joints'])


# --------------------------------------------------------------------------
# posing MoCap bodies on the device (body_model=...)
# --------------------------------------------------------------------------
def _bodies(assets, batch=6, seed=0):
    """SMPL parameters of ``batch`` random bodies and cameras 0..3."""
    import os.path as osp
    from mpt_plugin.geometry.virtual_cameras import build_virtual_cameras
    gen = torch.Generator().manual_seed(seed)
    pose = torch.randn(batch, 72, generator=gen) * 0.2
    pose[:, :3] = torch.tensor([1.5708, 0.0, 0.0])  # stand up in z-up
    betas = torch.randn(batch, 10, generator=gen)
    gender = torch.tensor([-1, 0, 1] * (batch // 3))
    cams = build_virtual_cameras(num_views=4)
    view = np.arange(batch) % 4
    camera = dict(cam_R=torch.tensor(cams.R[view], dtype=torch.float32),
                  cam_T=torch.tensor(cams.T[view], dtype=torch.float32),
                  cam_f=torch.tensor(cams.f[view], dtype=torch.float32),
                  cam_c=torch.tensor(cams.c[view], dtype=torch.float32))
    bm_dir = osp.join(assets, 'body_models')
    body_model = dict(model_path=bm_dir, joints_regressor=osp.join(
        bm_dir, 'J_regressor_h36m.npy'))
    return (dict(pose_aa=pose, betas=betas, gender=gender), camera, cams,
            view, body_model)


def test_posing_matches_the_numpy_camera_path(synthetic_assets):
    """2D joints and targets equal the float64 numpy projection of the same
    bodies (VirtualCameras, as the loader used to do it on the CPU)."""
    from mpt_plugin.body_models import MPTSMPL
    from mpt_plugin.body_models.conventions import H36M_TO_J14, get_mapping
    from mpt_plugin.geometry.crop import (crop_to_norm, fit_square_crop,
                                          image_to_crop)
    params, camera, cams, view, bm = _bodies(synthetic_assets)
    size = 112
    pre = MPTMoCapDataPreprocessor(heatmap_size=size, mhm=None,
                                   body_model=dict(bm, gender='neutral'))
    out = pre(dict(inputs=params, data_samples=camera), training=False)
    smpl = MPTSMPL(gender='neutral', **bm)
    with torch.no_grad():
        res = smpl(betas=params['betas'], global_orient=params['pose_aa'][:,
                                                                          :3],
                   body_pose=params['pose_aa'][:, 3:])
    root = res['joints_regressed'][:, :1]
    h36m = (res['joints_regressed'] - root).double().numpy()
    dst, src = get_mapping('smpl_45', 'coco')
    coco = (res['joints'] - root).double().numpy()[:, np.asarray(src)[
        np.argsort(dst)]]
    pts = np.concatenate([coco, h36m[:, H36M_TO_J14]], axis=1)
    px = cams.project(cams.world_to_camera(pts, view), view)
    centre, side = fit_square_crop(px[:, :17], padding=1.2)
    hm = image_to_crop(px, centre, side, size)
    got = out['inputs']['joints_px'].double().numpy()
    assert np.abs(got - hm[:, :17]).max() < 1e-3  # px
    assert got.min() >= -0.5 and got.max() <= size - 0.5
    tgt = out['data_samples']
    assert np.abs(tgt['joints_2d_norm'].numpy() -
                  crop_to_norm(hm[:, 17:], size)).max() < 1e-5
    rot = cams.R[view]
    h36m_cam = np.einsum('bkj,bji->bki', h36m, rot)
    assert np.abs(tgt['joints_h36m'].numpy() - h36m_cam).max() < 1e-5
    assert np.abs(tgt['joints_3d'].numpy() -
                  h36m_cam[:, H36M_TO_J14]).max() < 1e-5
    assert np.abs(tgt['joints_h36m'][:, 0].numpy()).max() < 1e-6
    verts = np.einsum('bkj,bji->bki',
                      (res['vertices'] - root).double().numpy(), rot)
    assert np.abs(tgt['vertices'].numpy() - verts).max() < 1e-5
    # cameras and metadata pass through; all joints visible
    assert torch.equal(tgt['cam_R'], camera['cam_R'])
    assert torch.all(out['inputs']['joint_weights'] == 1)


def test_gendered_posing(synthetic_assets):
    """gender='subject' poses each sample with its own model; a fixed
    gender poses all with that one."""
    from mpt_plugin.body_models import MPTSMPL
    params, camera, cams, view, bm = _bodies(synthetic_assets)
    gendered = MPTMoCapDataPreprocessor(heatmap_size=64, mhm=None,
                                        body_model=bm)  # 'subject'
    out = gendered(dict(inputs=params, data_samples=camera))
    verts = out['data_samples']['vertices']
    names = {-1: 'neutral', 0: 'male', 1: 'female'}
    with torch.no_grad():
        for code, name in names.items():
            smpl = MPTSMPL(gender=name, **bm)
            sel = params['gender'] == code
            res = smpl(betas=params['betas'][sel],
                       global_orient=params['pose_aa'][sel, :3],
                       body_pose=params['pose_aa'][sel, 3:])
            want = torch.bmm(
                res['vertices'] - res['joints_regressed'][:, :1],
                camera['cam_R'][sel])
            assert torch.allclose(verts[sel], want, atol=1e-5), name
    # the three models differ on the same parameters
    same = {k: v[:1].repeat(3, *[1] * (v.dim() - 1)) for k, v in
            params.items()}
    same['gender'] = torch.tensor([-1, 0, 1])
    cam3 = {k: v[:1].repeat(3, *[1] * (v.dim() - 1)) for k, v in
            camera.items()}
    v3 = gendered(dict(inputs=same, data_samples=cam3))['data_samples'][
        'vertices']
    assert (v3[0] - v3[1]).abs().max() > 1e-3
    assert (v3[1] - v3[2]).abs().max() > 1e-3
    neutral = MPTMoCapDataPreprocessor(
        heatmap_size=64, mhm=None, body_model=dict(bm, gender='neutral'))
    vn = neutral(dict(inputs=same, data_samples=cam3))['data_samples'][
        'vertices']
    assert torch.allclose(vn[1], v3[0], atol=1e-6)
    assert torch.allclose(vn[2], v3[0], atol=1e-6)


def test_posing_input_errors(synthetic_assets):
    params, camera, _, _, bm = _bodies(synthetic_assets, batch=3)
    pre = MPTMoCapDataPreprocessor(heatmap_size=64, mhm=None, body_model=bm)
    with pytest.raises(KeyError, match='betas'):
        pre(dict(inputs=dict(pose_aa=params['pose_aa'],
                             gender=params['gender']), data_samples=camera))
    with pytest.raises(ValueError, match=r"'pose_aa'.*\(B, 72\)"):
        pre(dict(inputs=dict(params, pose_aa=params['pose_aa'][:, :69]),
                 data_samples=camera))
    with pytest.raises(KeyError, match="data_samples.*cam_T"):
        pre(dict(inputs=params, data_samples=dict(cam_R=camera['cam_R'])))
    far = dict(camera, cam_T=torch.zeros(3, 3))  # camera inside the body
    with pytest.raises(ValueError, match='behind the virtual camera'):
        pre(dict(inputs=params, data_samples=far))
    with pytest.raises(ValueError, match='gender must be one of'):
        MPTMoCapDataPreprocessor(body_model=dict(bm, gender='other'))


def test_targets_stay_float32_under_autocast(synthetic_assets):
    """AmpOptimWrapper runs the data preprocessor under autocast; the bodies
    and targets must still be posed in float32."""
    params, camera, _, _, bm = _bodies(synthetic_assets, batch=3)
    pre = MPTMoCapDataPreprocessor(heatmap_size=64, mhm=None,
                                   body_model=dict(bm, gender='neutral'))
    ref = pre(dict(inputs=params, data_samples=camera))
    with torch.autocast('cpu', dtype=torch.bfloat16):
        amp = pre(dict(inputs=params, data_samples=camera))
    for key in ('vertices', 'joints_h36m', 'joints_2d_norm'):
        assert amp['data_samples'][key].dtype == torch.float32
        assert torch.equal(amp['data_samples'][key],
                           ref['data_samples'][key]), key
