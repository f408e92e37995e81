"""The MPT pre-training configs build and train through the real tools.

- ``configs/mpt_pretrain_amass.py`` (paper settings) with ``--cfg-options``
  pointing at the synthetic assets runs a couple of iterations, and its model
  has the paper's dimensions;
- ``tools/dist_train.sh configs/mpt_pretrain_demo.py 2`` trains on CPU with
  two gloo processes.
"""
import os.path as osp
import sys

import pytest
import torch
from mmengine.config import Config

from tests.tool_runner import free_port, run_tool, tool_env

pytestmark = pytest.mark.slow  # trains through the tools in subprocesses

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TIMEOUT = 600


def _env():
    return tool_env()


def _run(cmd, env=None):
    return run_tool(cmd, timeout=TIMEOUT, env=env)


def _data_options(assets, cache, max_meshes, batch_size, sampling):
    bm = osp.join(assets, 'body_models')
    body_model = [f'model_path={bm}',
                  f'joints_regressor={bm}/J_regressor_h36m.npy']
    opts = [f'model.body_model.{kv}' for kv in body_model]
    opts += [f'model.data_preprocessor.body_model.{kv}' for kv in body_model]
    opts.append(f'model.mesh_sampler={bm}/mesh_downsampling.npz')
    for split in ('train', 'val', 'test'):
        key = f'{split}_dataloader'
        opts += [
            f'{key}.dataset.data_root={assets}/amass',
            f'{key}.dataset.cache_root={cache}',
            f'{key}.dataset.{sampling}',
            f'{key}.dataset.max_meshes={max_meshes}',
            f'{key}.num_workers=0', f'{key}.persistent_workers=False',
            f'{key}.batch_size={batch_size}',
        ]
    return opts


def test_paper_config_dimensions_and_iterations(synthetic_assets, tmp_path):
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'mpt_pretrain_amass.py'))
    assert cfg.train_cfg.max_epochs == 10
    assert cfg.optim_wrapper.optimizer == dict(type='Adam', lr=2e-4)
    assert cfg.train_dataloader.dataset.num_samples == 2_000_000
    assert cfg.train_dataloader.dataset.num_views == 4
    warm, decay = cfg.param_scheduler
    assert warm.end == decay.begin == 1.0 and decay.end == 10
    assert decay.end_factor == 0.0
    work = tmp_path / 'work'
    out = _run([
        sys.executable, 'tools/train.py', 'configs/mpt_pretrain_amass.py',
        '--work-dir', str(work), '--cfg-options', 'train_cfg.max_epochs=1',
        *_data_options(synthetic_assets, tmp_path / 'cache', 1, 2,
                       'num_samples=40')
    ])
    assert 'Epoch(train) [1][2/2]' in out
    ckpt = torch.load(work / 'epoch_1.pth', map_location='cpu')
    sd = ckpt['state_dict']
    # the paper's transformer: 3 blocks x 4 layers, hidden 1024/256/64,
    # 784 patch tokens of 8x8x17, 14 + 431 queries, 431 -> 1723 -> 6890
    assert sd['head.patch_embed.proj.weight'].shape == (1024, 17, 8, 8)
    for b, hidden in enumerate((1024, 256, 64)):
        layers = {k.split('.')[4] for k in sd
                  if k.startswith(f'head.blocks.{b}.layers.')}
        assert len(layers) == 4
        assert sd[f'head.blocks.{b}.layers.0.qkv.weight'].shape[0] == \
            3 * hidden
        assert sd[f'head.blocks.{b}.pos_embed'].shape[0] == 14 + 431 + 784
    assert sd['head.upsample_mid.weight'].shape == (1723, 431)
    assert sd['head.upsample_full.weight'].shape == (6890, 1723)
    assert 'mocap/pa_mpjpe' in out


def test_demo_config_dist_train_two_cpu_processes(synthetic_assets,
                                                  tmp_path):
    env = _env()
    env['PORT'] = str(free_port())
    work = tmp_path / 'work'
    out = _run([
        'bash', 'tools/dist_train.sh', 'configs/mpt_pretrain_demo.py', '2',
        '--work-dir', str(work), '--cfg-options', 'train_cfg.max_epochs=1',
        *_data_options(synthetic_assets, tmp_path / 'cache', 8, 4,
                       'sample_fps=2')
    ], env)
    # 8 meshes x 4 views = 32 samples, 2 ranks x batch 4 -> 4 iterations
    assert 'Epoch(train) [1][4/4]' in out
    # MMEngine's runtime-environment log of a 2-process pytorch launch
    assert 'Distributed launcher: pytorch' in out
    assert 'Distributed training: True' in out
    assert 'GPU number: 2' in out
    assert (work / 'epoch_1.pth').is_file()
    # one SMPL store per split (train; val = test), each built once, by
    # rank 0, while rank 1 waited for it and trained from it
    builds = [line for line in out.splitlines()
              if '[mocap store] building' in line]
    stores = sorted(p.name for p in (tmp_path / 'cache').iterdir()
                    if p.is_dir())
    assert len(builds) == len(stores) == 2, (builds, stores)
    assert all('(rank 0)' in line for line in builds)
    assert all(name.startswith('smpl_') and not name.endswith('.partial')
               for name in stores)
