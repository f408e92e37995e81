"""Shared fixtures: synthetic SMPL-format assets generated once per session
by the project's own tool (the same files `make demo` uses)."""
import os.path as osp
import subprocess
import sys

import pytest
import torch

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


@pytest.fixture(scope='session')
def synthetic_assets(tmp_path_factory):
    """Folder with ``body_models/`` (SMPL_{NEUTRAL,MALE,FEMALE}.npz,
    J_regressor_h36m.npy, mesh_downsampling.npz, and the hands:
    MANO_{RIGHT,LEFT}.npz, mano_downsampling.npz), ``amass/`` and the hand
    pose sets ``hand_poses/``."""
    out = tmp_path_factory.mktemp('synthetic_assets')
    subprocess.run([
        sys.executable,
        osp.join(REPO, 'tools', 'make_synthetic_assets.py'), '--out',
        str(out), '--hands', '--quiet'
    ], check=True)
    return out


def pytest_collection_modifyitems(config, items):
    """Skip the tests marked ``cuda`` where no CUDA GPU is available."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason='needs a CUDA GPU; skipped where '
                            'torch.cuda.is_available() is False')
    for item in items:
        if item.get_closest_marker('cuda') is not None:
            item.add_marker(skip)
