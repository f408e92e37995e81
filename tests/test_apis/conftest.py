"""Fixtures shared by the API tests: a working folder whose ``data/synthetic``
links to the session's assets (the demo configs' relative paths), a builder
of randomly initialised models from configs in it, and the models several
test files use (built once per package)."""
import os
import os.path as osp

import pytest
import torch

from mpt_plugin.apis import init_model

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@pytest.fixture(scope='package')
def workspace(synthetic_assets, tmp_path_factory):
    root = tmp_path_factory.mktemp('apis')
    (root / 'data').mkdir()
    os.symlink(synthetic_assets, root / 'data' / 'synthetic')
    return root


@pytest.fixture(scope='package')
def build(workspace):
    """``build(name, checkpoint=None, **kwargs)``: ``init_model`` of
    ``configs/<name>.py`` (seed 0) with its relative data paths resolved in
    the workspace."""

    def _build(name, checkpoint=None, **kwargs):
        torch.manual_seed(0)
        with pytest.MonkeyPatch.context() as mp:
            mp.chdir(workspace)
            return init_model(osp.join(REPO, 'configs', f'{name}.py'),
                              checkpoint, **kwargs)

    return _build


@pytest.fixture(scope='package')
def key2mesh(build):
    return build('key2mesh_pretrain_demo')


@pytest.fixture(scope='package')
def video_model(build):
    """PC-HMR with the MPT image stream and a 9-frame lifter (64 px crops).
    """
    return build('pc_hmr_parallel_video_demo')
