"""Tests for MPTGenderedSMPL (one SMPL model per gender code)."""
import numpy as np
import pytest
import torch

from mpt_plugin.body_models import MPTGenderedSMPL
from mpt_plugin.registry import MODELS
from .tiny_smpl import make_tiny_smpl, save_model


@pytest.fixture(scope='module')
def gendered_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp('gendered')
    for seed, (stem, offset) in enumerate([('SMPL_NEUTRAL', 0.0),
                                           ('SMPL_MALE', 1.0),
                                           ('SMPL_FEMALE', 2.0)]):
        save_model(root / f'{stem}.npz',
                   make_tiny_smpl(seed=10 + seed, offset=offset))
    return root


def test_gendered_routing(gendered_dir, tmp_path):
    np.save(tmp_path / 'reg.npy', np.full((5, 30), 1.0 / 30))
    model = MODELS.build(
        dict(type='MPTGenderedSMPL', model_path=str(gendered_dir),
             joints_regressor=str(tmp_path / 'reg.npy')))
    gender = torch.tensor([1, -1, 0, 1, 0])
    rng = np.random.default_rng(6)
    betas = torch.tensor(rng.normal(size=(5, 10)), dtype=torch.float32)
    pose = torch.tensor(rng.normal(size=(5, 69)) * 0.3, dtype=torch.float32)
    out = model(betas=betas, body_pose=pose, gender=gender)
    assert out['vertices'].shape == (5, 30, 3)
    assert out['joints_regressed'].shape == (5, 5, 3)
    singles = {
        code: model.model_for(code)(betas=betas, body_pose=pose)
        for code in (-1, 0, 1)
    }
    for i, code in enumerate(gender.tolist()):
        for key in ('vertices', 'joints', 'joints_regressed'):
            torch.testing.assert_close(out[key][i], singles[code][key][i])
    # the three models really differ (template offsets 0 / 1 / 2 m in x)
    mean_x = out['vertices'][..., 0].mean(1)
    assert mean_x[0] - mean_x[1] > 1.5 and 0.5 < mean_x[2] - mean_x[1] < 1.5

    neutral = model(betas=betas, body_pose=pose)
    torch.testing.assert_close(neutral['vertices'], singles[-1]['vertices'])
    one = model(betas=betas[:2], body_pose=pose[:2],
                gender=torch.tensor([0, 0]))
    torch.testing.assert_close(one['vertices'], singles[0]['vertices'][:2])
    no_inputs = model(gender=torch.tensor([1, 0, -1]))
    assert no_inputs['vertices'].shape == (3, 30, 3)


def test_gendered_errors(gendered_dir):
    model = MPTGenderedSMPL(gendered_dir)
    with pytest.raises(ValueError, match=r'unknown gender code\(s\) \[2\]'):
        model(betas=torch.zeros(2, 10), gender=torch.tensor([0, 2]))
    with pytest.raises(ValueError, match='batch 3 but gender has 2'):
        model(betas=torch.zeros(3, 10), gender=torch.tensor([0, 1]))
    with pytest.raises(TypeError, match='do not pass gender'):
        MPTGenderedSMPL(gendered_dir, gender='male')
