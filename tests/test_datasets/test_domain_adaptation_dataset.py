"""Tests for MPTDomainAdaptationDataset and the target-domain keypoint options
of Key2MeshAMASSPairsDataset (``keypoints2d=``, ``return_3d``)."""
import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate

from mpt_plugin.datasets.domain_adaptation_dataset import \
    MPTDomainAdaptationDataset
from mpt_plugin.datasets.key2mesh_amass_pairs_dataset import \
    Key2MeshAMASSPairsDataset
from mpt_plugin.models.data_preprocessors.key2mesh_data_preprocessor import \
    Key2MeshDataPreprocessor
from .range_dataset import Range


@pytest.fixture(scope='module')
def body_model(synthetic_assets):
    return dict(type='MPTSMPL',
                model_path=str(synthetic_assets / 'body_models'),
                gender='neutral')


@pytest.fixture(scope='module')
def amass(synthetic_assets):
    return dict(data_root=str(synthetic_assets / 'amass'), verbose=False,
                num_samples=24)


# --------------------------------------------------------------- pairing
def test_pairs_random_deterministic_and_aligned():
    ds = MPTDomainAdaptationDataset(Range(50, 's'), Range(7, 't'), seed=3)
    assert len(ds) == 7
    item = ds[2]
    assert item['target'] == dict(tag='t', index=2)
    assert item['source']['tag'] == 's'
    # within an epoch the pairing only depends on (seed, index)
    again = MPTDomainAdaptationDataset(Range(50, 's'), Range(7, 't'), seed=3)
    assert [again[i]['source'] for i in range(7)] == \
        [ds[i]['source'] for i in range(7)]
    other = MPTDomainAdaptationDataset(Range(50, 's'), Range(7, 't'), seed=4)
    assert [other[i]['source'] for i in range(7)] != \
        [ds[i]['source'] for i in range(7)]
    sources = {ds.source_index(i) for i in range(7)}
    assert all(0 <= s < 50 for s in sources) and len(sources) > 1

    aligned = MPTDomainAdaptationDataset(Range(3, 's'), Range(7, 't'),
                                         length=10, pairing='aligned')
    assert len(aligned) == 10
    assert [aligned[i]['source']['index'] for i in range(10)] == \
        [i % 3 for i in range(10)]
    assert aligned[9]['target']['index'] == 2
    assert aligned[-1] == aligned[9]
    with pytest.raises(IndexError):
        aligned[10]


def _pairs(ds):
    return [ds.source_index(i) for i in range(len(ds))]


def test_random_pairing_is_redrawn_every_epoch():
    ds = MPTDomainAdaptationDataset(Range(1000, 's'), Range(40, 't'), seed=5)
    assert ds.epoch == 0
    epoch0 = _pairs(ds)
    ds.set_epoch(1)
    epoch1 = _pairs(ds)
    ds.set_epoch(2)
    epoch2 = _pairs(ds)
    # 40 draws out of 1000: the epochs' pairings share almost nothing
    for a, b in ((epoch0, epoch1), (epoch1, epoch2), (epoch0, epoch2)):
        assert sum(x == y for x, y in zip(a, b)) < 5
    # deterministic for a given (seed, epoch), whatever happened before
    assert _pairs(ds) == epoch2
    ds.set_epoch(0)
    assert _pairs(ds) == epoch0
    assert [ds[i]['source']['index'] for i in range(40)] == epoch0
    # the generator is seeded by (seed, epoch, index)
    assert epoch1[7] == int(
        np.random.default_rng([5, 1, 7]).integers(1000))
    # 'aligned' does not depend on the epoch
    aligned = MPTDomainAdaptationDataset(Range(3, 's'), Range(7, 't'),
                                         pairing='aligned')
    before = _pairs(aligned)
    aligned.set_epoch(3)
    assert _pairs(aligned) == before
    with pytest.raises(ValueError, match='epoch must be a non-negative '
                       'integer, got -1'):
        ds.set_epoch(-1)


def test_errors():
    with pytest.raises(ValueError, match='pairing'):
        MPTDomainAdaptationDataset(Range(2, 's'), Range(2, 't'),
                                   pairing='zip')
    with pytest.raises(ValueError, match='empty'):
        MPTDomainAdaptationDataset(Range(0, 's'), Range(2, 't'))
    with pytest.raises(ValueError, match='length'):
        MPTDomainAdaptationDataset(Range(2, 's'), Range(2, 't'), length=0)
    with pytest.raises(TypeError, match='source'):
        MPTDomainAdaptationDataset(3, Range(2, 't'))


def test_builds_from_configs_and_collates(amass, body_model):
    ds = MPTDomainAdaptationDataset(
        source=dict(type='Key2MeshAMASSPairsDataset', **amass),
        target=dict(type='Key2MeshAMASSPairsDataset',
                    keypoints2d=dict(body_model=body_model),
                    return_3d=False, seed=1, **amass))
    assert len(ds) == 24
    meta = ds.metainfo
    assert meta['num_source'] == meta['num_target'] == 24
    assert meta['dataset_name'] == 'key2mesh_amass_pairs'
    batch = pseudo_collate([ds[i] for i in range(3)])
    assert set(batch) == {'source', 'target'}
    assert len(batch['source']['inputs']['pose_aa']) == 3
    assert set(batch['target']['inputs']) == {'keypoints2d_px',
                                              'keypoints2d_conf'}
    # the adaptation input holds no label
    assert set(batch['target']['data_samples']) == {'sample_index'}


# ------------------------------------------------ synthetic target domain
def test_clean_keypoints_match_the_training_synthesis(amass, body_model):
    """With no shift, the dataset's keypoints are the preprocessor's."""
    kp_ds = Key2MeshAMASSPairsDataset(
        test_mode=True,
        keypoints2d=dict(body_model=body_model, jitter_std=0.0,
                         occlusion_prob=0.0),
        **amass)
    params_ds = Key2MeshAMASSPairsDataset(test_mode=True, **amass)
    pre = Key2MeshDataPreprocessor(body_model=body_model)
    idx = [0, 5, 17]
    ref = pre(pseudo_collate([params_ds[i] for i in idx]), training=False)
    items = [kp_ds[i] for i in idx]
    got = torch.stack([it['inputs']['keypoints2d_px'] for it in items])
    torch.testing.assert_close(got, ref['data_samples']['keypoints2d_px'],
                               atol=2e-4, rtol=0)
    kp3d = torch.stack([it['data_samples']['keypoints3d'] for it in items])
    torch.testing.assert_close(kp3d, ref['data_samples']['keypoints3d'],
                               atol=2e-5, rtol=0)
    assert all(it['inputs']['keypoints2d_conf'].eq(1).all() for it in items)
    torch.testing.assert_close(
        torch.stack([it['data_samples']['pose_aa'] for it in items]),
        ref['data_samples']['pose_aa'])
    # through the keypoint path of the preprocessor: same normalised input
    out = pre(pseudo_collate(items))
    torch.testing.assert_close(out['inputs'], ref['inputs'], atol=1e-5,
                               rtol=0)


def test_shift_options(amass, body_model):
    clean = Key2MeshAMASSPairsDataset(
        test_mode=True,
        keypoints2d=dict(body_model=body_model, jitter_std=0.0,
                         occlusion_prob=0.0),
        **amass)
    bias = np.zeros((18, 2))
    bias[3] = (4.0, -2.0)
    shifted = Key2MeshAMASSPairsDataset(
        test_mode=True,
        keypoints2d=dict(body_model=body_model, jitter_std=0.0,
                         occlusion_prob=0.0, bias_px=bias.tolist(),
                         joint_blend=[(8, 9, 0.5)]),
        **amass)
    a, b = clean[4], shifted[4]
    diff = (b['inputs']['keypoints2d_px'] - a['inputs']['keypoints2d_px'])
    torch.testing.assert_close(diff[3], torch.tensor([4.0, -2.0]))
    assert diff[8].abs().max() > 1.0  # the right hip moved to the knee
    others = [j for j in range(18) if j not in (3, 8)]
    assert diff[others].abs().max() < 1e-4
    # the labels are the true joints, not the redefined ones
    torch.testing.assert_close(b['data_samples']['keypoints3d'],
                               a['data_samples']['keypoints3d'])

    noisy = Key2MeshAMASSPairsDataset(
        test_mode=True,
        keypoints2d=dict(body_model=body_model, jitter_std=3.0,
                         round_jitter=False, occlusion_prob=0.5),
        **amass)
    n1, n2 = noisy[4], noisy[4]
    torch.testing.assert_close(n1['inputs']['keypoints2d_px'],
                               n2['inputs']['keypoints2d_px'])  # test_mode
    confs = torch.stack([noisy[i]['inputs']['keypoints2d_conf']
                         for i in range(24)])
    assert 0.3 < float(confs.mean()) < 0.7
    noise = n1['inputs']['keypoints2d_px'] - a['inputs']['keypoints2d_px']
    assert 0.5 < float(noise.std()) < 6.0


def test_keypoint_option_errors(amass, body_model):
    with pytest.raises(KeyError, match='body_model'):
        Key2MeshAMASSPairsDataset(keypoints2d=dict(), **amass)
    with pytest.raises(KeyError, match='unknown option'):
        Key2MeshAMASSPairsDataset(
            keypoints2d=dict(body_model=body_model, noise=1), **amass)
    with pytest.raises(ValueError, match='bias_px'):
        Key2MeshAMASSPairsDataset(
            keypoints2d=dict(body_model=body_model, bias_px=[1, 2, 3]),
            **amass)
    with pytest.raises(ValueError, match='joint_blend'):
        Key2MeshAMASSPairsDataset(
            keypoints2d=dict(body_model=body_model,
                             joint_blend=[(8, 18, 0.5)]), **amass)
    with pytest.raises(ValueError, match='return_3d=False needs'):
        Key2MeshAMASSPairsDataset(return_3d=False, **amass)
