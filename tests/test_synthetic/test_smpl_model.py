"""Tests of the assembled synthetic SMPL-format model (file format,
arguments, determinism, loading through the project's SMPL)."""
import numpy as np
import pytest
import torch

from mpt_plugin.body_models.conventions import SMPL_PARENTS
from mpt_plugin.synthetic import smpl_model
from mpt_plugin.synthetic.smpl_model import make_synthetic_smpl, save_smpl_npz
from tests.test_synthetic.body_checks import height


def test_keys_shapes_dtypes_like_smpl(models):
    expected = {
        'v_template': ((6890, 3), np.float64),
        'f': ((13776, 3), np.uint32),
        'J_regressor': ((24, 6890), np.float64),
        'weights': ((6890, 24), np.float64),
        'kintree_table': ((2, 24), np.uint32),
        'shapedirs': ((6890, 3, 10), np.float64),
        'posedirs': ((6890, 3, 207), np.float64),
        'J': ((24, 3), np.float64),
    }
    for gender, model in models.items():
        assert set(model) == set(expected) | {'bs_style', 'bs_type'}, gender
        for key, (shape, dtype) in expected.items():
            assert model[key].shape == shape, (gender, key)
            assert model[key].dtype == dtype, (gender, key)
            if model[key].dtype.kind == 'f':
                assert np.isfinite(model[key]).all(), (gender, key)
        assert model['bs_style'] == 'lbs' and model['bs_type'] == 'lrotmin'
        kintree = model['kintree_table']
        assert kintree[0, 0] == 4294967295
        np.testing.assert_array_equal(kintree[0, 1:], SMPL_PARENTS[1:])
        np.testing.assert_array_equal(kintree[1], np.arange(24))


def test_invalid_arguments():
    with pytest.raises(ValueError, match='gender'):
        make_synthetic_smpl('robot')
    with pytest.raises(ValueError, match='seed'):
        make_synthetic_smpl('neutral', seed=-1)


def test_loads_through_project_smpl(neutral, tmp_path):
    from mpt_plugin.body_models.io import load_body_model_file
    path = tmp_path / 'SMPL_NEUTRAL'
    save_smpl_npz(path, neutral)  # '.npz' is appended
    path = tmp_path / 'SMPL_NEUTRAL.npz'
    with np.load(path) as data:  # plain arrays: no pickle needed
        for key, value in neutral.items():
            np.testing.assert_array_equal(data[key], value)
    loaded = load_body_model_file(path)
    np.testing.assert_array_equal(loaded['f'], neutral['f'])
    np.testing.assert_array_equal(loaded['v_template'],
                                  neutral['v_template'])
    assert not list(tmp_path.glob('.tmp-*'))
    smpl_mod = pytest.importorskip('mpt_plugin.body_models.smpl')
    body = smpl_mod.MPTSMPL(tmp_path, gender='neutral', dtype=torch.float64)
    with torch.no_grad():
        out = body(betas=torch.zeros(2, 10))
    assert out['vertices'].shape == (2, 6890, 3)
    np.testing.assert_allclose(out['joints'][0, :24].numpy(), neutral['J'],
                               atol=1e-8)
    with pytest.raises(KeyError, match='posedirs'):
        save_smpl_npz(tmp_path / 'bad.npz',
                      {k: v for k, v in neutral.items() if k != 'posedirs'})


def test_deterministic_and_seeded(neutral):
    smpl_model._canonical.cache_clear()  # rebuild the mesh from scratch
    again = make_synthetic_smpl('neutral', seed=0)
    for key, value in neutral.items():
        assert np.asarray(value).tobytes() == np.asarray(again[key]).tobytes()
    seeded = make_synthetic_smpl('neutral', seed=3)
    np.testing.assert_array_equal(seeded['f'], neutral['f'])
    diff = np.abs(seeded['v_template'] - neutral['v_template'])
    assert 1e-4 < diff.max() < 0.06  # small variations only
    assert abs(height(seeded['v_template']) -
               height(neutral['v_template'])) < 0.05
    assert make_synthetic_smpl('neutral', seed=3)['J'].tobytes() == \
        seeded['J'].tobytes()
