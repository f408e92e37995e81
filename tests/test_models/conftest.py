"""Fixtures shared by the model tests."""
import pytest


@pytest.fixture(scope='module')
def paths(synthetic_assets):
    """Key2Mesh test assets: the synthetic neutral body model config, the
    17-joint H3.6M regressor and the AMASS-format motion tree."""
    bm_dir = synthetic_assets / 'body_models'
    return dict(
        body_model=dict(type='MPTSMPL', model_path=str(bm_dir),
                        gender='neutral'),
        regressor=str(bm_dir / 'J_regressor_h36m.npy'),
        amass=str(synthetic_assets / 'amass'))
