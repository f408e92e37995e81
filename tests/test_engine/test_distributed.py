"""CPU distributed set-up: gloo process group and DDP with device_ids=None."""
import os.path as osp
import socket

import pytest
import torch
import torch.distributed as torch_dist
import torch.nn as nn
from mmengine.config import Config
from mmengine.model import (BaseModel, MMDistributedDataParallel,
                            MMSeparateDistributedDataParallel)
from mmengine.optim import OptimWrapper, OptimWrapperDict
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

import mpt_plugin.testing  # noqa: F401  (registers the toy components)
from mpt_plugin.engine import distributed as mpt_dist
from mpt_plugin.registry import MODEL_WRAPPERS
from mpt_plugin.testing import MPTToyRegressor

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOY_CONFIG = osp.join(REPO, 'tests', 'data', 'configs', 'toy_regression.py')
LAUNCHER_VARS = ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR',
                 'MASTER_PORT', 'SLURM_PROCID', 'SLURM_NTASKS',
                 'SLURM_LOCALID', 'SLURM_NODELIST', 'OMPI_COMM_WORLD_RANK',
                 'OMPI_COMM_WORLD_SIZE', 'OMPI_COMM_WORLD_LOCAL_RANK')

pytestmark = pytest.mark.skipif(
    mpt_dist.accelerator_available(),
    reason='the CPU code path only runs without an accelerator')


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@pytest.fixture
def clean_env(monkeypatch):
    """No launcher variables; restored (and set ones undone) afterwards."""
    for name in LAUNCHER_VARS:
        monkeypatch.delenv(name, raising=False)
    # Runner.setup_env sets these when distributed; keep them test-local
    monkeypatch.setenv('OMP_NUM_THREADS', '1')
    monkeypatch.setenv('MKL_NUM_THREADS', '1')
    return monkeypatch


@pytest.fixture
def single_rank_group(clean_env):
    """A one-process 'pytorch' launch: env as torchrun sets it."""
    clean_env.setenv('RANK', '0')
    clean_env.setenv('WORLD_SIZE', '1')
    clean_env.setenv('LOCAL_RANK', '0')
    clean_env.setenv('MASTER_ADDR', '127.0.0.1')
    clean_env.setenv('MASTER_PORT', str(_free_port()))
    yield
    if torch_dist.is_initialized():
        torch_dist.destroy_process_group()


def test_launcher_none_changes_nothing():
    cfg = Config(
        dict(launcher='none', env_cfg=dict(dist_cfg=dict(backend='nccl'))))
    assert mpt_dist.setup_distributed(cfg) == 'none'
    assert cfg.env_cfg.dist_cfg.backend == 'nccl'
    assert 'model_wrapper_cfg' not in cfg
    assert not torch_dist.is_initialized()


def test_invalid_launcher():
    with pytest.raises(ValueError, match='launcher'):
        mpt_dist.setup_distributed(Config(dict(launcher='ssh')))


def test_default_wrapper_cfg_has_no_device_ids():
    cfg = Config(dict(find_unused_parameters=True))
    assert mpt_dist.cpu_model_wrapper_cfg(cfg) == dict(
        type='MMDistributedDataParallel',
        device_ids=None,
        broadcast_buffers=False,
        find_unused_parameters=True)


def test_separate_wrapper_cfg_keeps_options():
    cfg = Config(
        dict(
            model_wrapper_cfg=dict(
                type='MMSeparateDistributedDataParallel',
                broadcast_buffers=False,
                find_unused_parameters=True)))
    out = mpt_dist.cpu_model_wrapper_cfg(cfg)
    assert out == dict(
        type='MMSeparateDistributedDataParallel',
        broadcast_buffers=False,
        find_unused_parameters=True,
        device_ids=None)
    # the config itself is not modified
    assert 'device_ids' not in cfg.model_wrapper_cfg


def test_wrapper_cfg_errors():
    with pytest.raises(ValueError, match='device_ids'):
        mpt_dist.cpu_model_wrapper_cfg(
            Config(dict(model_wrapper_cfg=dict(device_ids=[0]))))
    with pytest.raises(KeyError, match='NoSuchWrapper'):
        mpt_dist.cpu_model_wrapper_cfg(
            Config(dict(model_wrapper_cfg=dict(type='NoSuchWrapper'))))


def test_non_ddp_wrapper_is_left_alone():

    class NotDDP(nn.Module):
        pass

    cfg = Config(dict(model_wrapper_cfg=dict(type=NotDDP, foo=1)))
    assert mpt_dist.cpu_model_wrapper_cfg(cfg) == dict(type=NotDDP, foo=1)


def test_launcher_env_pytorch_missing(clean_env):
    with pytest.raises(KeyError, match='RANK'):
        mpt_dist.set_launcher_env('pytorch')
    clean_env.setenv('RANK', '0')
    clean_env.setenv('WORLD_SIZE', '2')
    with pytest.raises(KeyError, match='MASTER_ADDR'):
        mpt_dist.set_launcher_env('pytorch')


def test_launcher_env_slurm(clean_env):
    clean_env.setenv('SLURM_PROCID', '3')
    clean_env.setenv('SLURM_NTASKS', '4')
    clean_env.setenv('SLURM_LOCALID', '1')
    clean_env.setenv('SLURM_NODELIST', 'node[1-2]')
    clean_env.setenv('MASTER_ADDR', '10.0.0.1')  # kept, no scontrol call
    assert mpt_dist.set_launcher_env('slurm', port=12345) == (3, 4, 1)
    env = mpt_dist.os.environ
    assert (env['RANK'], env['WORLD_SIZE'], env['LOCAL_RANK']) == ('3', '4',
                                                                   '1')
    assert (env['MASTER_ADDR'], env['MASTER_PORT']) == ('10.0.0.1', '12345')


def test_launcher_env_slurm_without_scontrol(clean_env):
    clean_env.setenv('SLURM_PROCID', '0')
    clean_env.setenv('SLURM_NTASKS', '1')
    clean_env.setenv('SLURM_NODELIST', 'node1')
    clean_env.setenv('PATH', '/nonexistent')
    with pytest.raises(RuntimeError, match='MASTER_ADDR'):
        mpt_dist.set_launcher_env('slurm')


def test_launcher_env_mpi(clean_env):
    clean_env.setenv('OMPI_COMM_WORLD_RANK', '1')
    clean_env.setenv('OMPI_COMM_WORLD_SIZE', '2')
    clean_env.setenv('OMPI_COMM_WORLD_LOCAL_RANK', '1')
    with pytest.raises(KeyError, match='MASTER_ADDR'):
        mpt_dist.set_launcher_env('mpi')
    clean_env.setenv('MASTER_ADDR', '127.0.0.1')
    assert mpt_dist.set_launcher_env('mpi') == (1, 2, 1)
    assert mpt_dist.os.environ['MASTER_PORT'] == '29500'


def test_launcher_env_bad_rank(clean_env):
    clean_env.setenv('OMPI_COMM_WORLD_RANK', '2')
    clean_env.setenv('OMPI_COMM_WORLD_SIZE', '2')
    clean_env.setenv('MASTER_ADDR', '127.0.0.1')
    with pytest.raises(ValueError, match='outside'):
        mpt_dist.set_launcher_env('mpi')


def test_accelerator_backend_refused_on_cpu(single_rank_group):
    with pytest.raises(ValueError, match='gloo'):
        mpt_dist.init_cpu_process_group('pytorch', backend='nccl')
    assert not torch_dist.is_initialized()


def test_setup_creates_gloo_group(single_rank_group):
    cfg = Config(
        dict(
            launcher='pytorch',
            env_cfg=dict(dist_cfg=dict(backend='nccl', timeout=60))))
    assert mpt_dist.setup_distributed(cfg) == 'gloo'
    assert torch_dist.is_initialized()
    assert torch_dist.get_backend() == 'gloo'
    assert torch_dist.get_world_size() == 1
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'
    assert cfg.model_wrapper_cfg.device_ids is None
    # a second call keeps the existing group
    assert mpt_dist.setup_distributed(cfg) == 'gloo'



@pytest.mark.parametrize('success', [True, False])
def test_teardown_destroys_the_group(single_rank_group, success):
    cfg = Config(dict(launcher='pytorch', env_cfg=dict(dist_cfg=dict())))
    mpt_dist.setup_distributed(cfg)
    assert torch_dist.is_initialized()
    mpt_dist.teardown_distributed(success)
    assert not torch_dist.is_initialized()
    # without a group it is a no-op
    mpt_dist.teardown_distributed()
    assert not torch_dist.is_initialized()

class _TwoPart(BaseModel):
    """GAN-like model: two trainable children, one frozen child."""

    def __init__(self):
        super().__init__()
        self.generator = nn.Linear(3, 2)
        self.critic = nn.Linear(2, 1)
        self.frozen = nn.Linear(2, 2).requires_grad_(False)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        return self.critic(self.generator(inputs))

    def train_step(self, data, optim_wrapper):
        fake = self.generator(data['inputs'])
        loss_c = self.critic(fake.detach()).mean()
        optim_wrapper['critic'].update_params(loss_c)
        loss_g = -self.critic(fake).mean()
        optim_wrapper['generator'].update_params(loss_g)
        return dict(loss_c=loss_c, loss_g=loss_g)


def test_ddp_wrappers_build_on_cpu(single_rank_group):
    cfg = Config(
        dict(
            launcher='pytorch',
            model_wrapper_cfg=dict(
                type='MMSeparateDistributedDataParallel',
                broadcast_buffers=False,
                find_unused_parameters=False)))
    mpt_dist.setup_distributed(cfg)

    # MMSeparateDistributedDataParallel: each trainable child gets a DDP
    model = _TwoPart()
    wrapped = MODEL_WRAPPERS.build(
        cfg.model_wrapper_cfg, default_args=dict(module=model))
    assert isinstance(wrapped, MMSeparateDistributedDataParallel)
    assert isinstance(model.generator, MMDistributedDataParallel)
    assert isinstance(model.critic, MMDistributedDataParallel)
    assert model.generator.device_ids is None
    assert isinstance(model.frozen, nn.Linear)  # frozen: not wrapped
    optim = OptimWrapperDict(
        generator=OptimWrapper(
            torch.optim.SGD(model.generator.parameters(), lr=0.1)),
        critic=OptimWrapper(
            torch.optim.SGD(model.critic.parameters(), lr=0.1)))
    before = model.generator.module.weight.detach().clone()
    log = wrapped.train_step(dict(inputs=torch.ones(4, 3)), optim)
    assert set(log) == {'loss_c', 'loss_g'}
    assert not torch.equal(before, model.generator.module.weight)

    # MMDistributedDataParallel from the default (no model_wrapper_cfg) path
    default_cfg = mpt_dist.cpu_model_wrapper_cfg(Config())
    ddp = MODEL_WRAPPERS.build(
        default_cfg, default_args=dict(module=MPTToyRegressor()))
    assert isinstance(ddp, MMDistributedDataParallel)
    assert ddp.device_ids is None
    assert ddp.module(torch.zeros(2, 4)).shape == (2, 2)


def test_runner_trains_with_pytorch_launcher_on_cpu(single_rank_group,
                                                    tmp_path):
    cfg = Config.fromfile(TOY_CONFIG)
    cfg.launcher = 'pytorch'
    cfg.work_dir = str(tmp_path)
    cfg.experiment_name = 'test_distributed'  # own MessageHub
    cfg.train_cfg.max_iters = 2
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    assert mpt_dist.setup_distributed(cfg) == 'gloo'
    runner = Runner.from_cfg(cfg)  # skips init_dist: the group exists
    assert runner.distributed
    assert isinstance(runner.model, MMDistributedDataParallel)
    assert runner.model.device_ids is None
    assert DefaultScope.get_current_instance().scope_name == 'mmpose'
    before = {
        k: v.clone()
        for k, v in runner.model.module.state_dict().items()
    }
    runner.train()
    after = runner.model.module.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert osp.isfile(osp.join(str(tmp_path), 'iter_2.pth'))
