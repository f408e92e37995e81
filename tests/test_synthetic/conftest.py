"""The three synthetic SMPL-format models, built once per test session."""
import pytest

from mpt_plugin.synthetic.body_proportions import GENDERS
from mpt_plugin.synthetic.smpl_model import make_synthetic_smpl


@pytest.fixture(scope='session')
def models():
    """``{gender: model dict}`` of :func:`make_synthetic_smpl` (seed 0)."""
    return {g: make_synthetic_smpl(g) for g in GENDERS}


@pytest.fixture(scope='session')
def neutral(models):
    return models['neutral']
