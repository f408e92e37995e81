"""Key2Mesh configs: every config builds; the demo ones train (single
process, 2 CPU processes with gloo) and resume bit-identically."""
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import OptimWrapperDict, build_optim_wrapper
from mmengine.registry import DefaultScope

from mpt_plugin.engine.optim_wrappers import \
    MPTMultiOptimWrapperConstructor  # noqa: F401 (registers it)
from mpt_plugin.models.data_preprocessors.key2mesh_data_preprocessor import \
    Key2MeshDataPreprocessor  # noqa: F401 (registers it)
from mpt_plugin.models.estimators.key2mesh_estimator import \
    Key2MeshEstimator
from mpt_plugin.models.estimators.wgan_domain_adaptation import \
    MPTWGANDomainAdaptation
from mpt_plugin.registry import MODELS
from mpt_plugin.utils.checkpoint import register_checkpoint_safe_globals
from tests.tool_runner import (finish_tool, free_port, start_tool_logged,
                               tool_env)

pytestmark = pytest.mark.slow  # trains the demo configs in subprocesses

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = osp.join(REPO, 'configs')
TRAIN = osp.join(REPO, 'tools', 'train.py')
TIMEOUT = 400
ALL = ('key2mesh_pretrain_amass', 'key2mesh_pretrain_demo',
       'key2mesh_da_3dpw', 'key2mesh_da_h36m', 'key2mesh_da_demo')
IMPORTS = [
    'mpt_plugin', 'mpt_plugin.testing', 'mpt_plugin.engine.optim_wrappers',
    'mpt_plugin.datasets.domain_adaptation_dataset',
    'mpt_plugin.models.estimators.key2mesh_estimator',
    'mpt_plugin.models.estimators.wgan_domain_adaptation',
    'mpt_plugin.models.data_preprocessors.key2mesh_data_preprocessor',
    'mpt_plugin.models.data_preprocessors.domain_adaptation_preprocessor'
]

# A tiny, deterministic (no dropout, no jitter/occlusion drawn from torch's
# generator) iteration-based version of the adaptation demo.
TINY_DA = """
_base_ = [{base!r}]
custom_imports = dict(imports={imports!r}, allow_failed_imports=False)
model = dict(
    estimator=dict(
        regressor=dict(hidden_dim=16, dropout=0.0),
        data_preprocessor=dict(jitter_std=0.0, occlusion_prob=0.0)),
    critic=dict(in_dim=16, hidden_dim=8, dropout=0.0),
    critic_steps=2)
train_dataloader = dict(
    batch_size=4,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(length=16, source=dict(num_samples=16),
                 target=dict(num_samples=16)))
val_dataloader = dict(batch_size=8, dataset=dict(num_samples=8))
test_dataloader = val_dataloader
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=4,
                 val_interval=4)
param_scheduler = dict(
    _delete_=True,
    estimator=[dict(type='MultiStepLR', by_epoch=False, milestones=[3],
                    gamma=0.5)],
    critic=[dict(type='ConstantLR', by_epoch=False, factor=1.0)])
default_hooks = dict(
    logger=dict(interval=1),
    checkpoint=dict(interval=2, by_epoch=False, max_keep_ckpts=-1))
log_processor = dict(by_epoch=False, window_size=1)
{extra}
"""


def _cfg_with_assets(name: str, assets) -> Config:
    """A config whose body-model files are the synthetic assets."""
    cfg = Config.fromfile(osp.join(CONFIGS, f'{name}.py'))
    bm_dir = str(assets / 'body_models')
    model = cfg.model.get('estimator', cfg.model)
    for body_model in (model.regressor.body_model,
                       model.data_preprocessor.body_model):
        body_model.model_path = bm_dir
    model.joint_regressor = osp.join(bm_dir, 'J_regressor_h36m.npy')
    return cfg


@pytest.mark.parametrize('name', ALL)
def test_config_builds(name, synthetic_assets):
    cfg = _cfg_with_assets(name, synthetic_assets)
    assert cfg.default_scope == 'mmpose'
    with DefaultScope.overwrite_default_scope('mmpose'):
        model = MODELS.build(cfg.model)
        optim = build_optim_wrapper(model, cfg.optim_wrapper)
    if name.startswith('key2mesh_da'):
        assert isinstance(model, MPTWGANDomainAdaptation)
        assert isinstance(optim, OptimWrapperDict)
        assert set(optim.keys()) == {'estimator', 'critic'}
        assert cfg.model_wrapper_cfg.type == \
            'MMSeparateDistributedDataParallel'
        assert cfg.train_dataloader.dataset.type == 'MPTDomainAdaptationDataset'
        assert (model.domain_loss_weight, model.feature_reg_weight,
                model.target_loss_weights) == (0.1, 20.0,
                                               dict(loss_reprojection=10.0))
        assert model.critic.gradient_penalty.loss_weight == 50.0
        if name != 'key2mesh_da_demo':
            assert model.critic_steps == 10
            assert cfg.train_dataloader.dataset.target.type == \
                'Key2MeshKeypointsDataset'
            assert optim['estimator'].param_groups[0]['lr'] == 1e-4
            assert optim['critic'].param_groups[0]['lr'] == 1e-4
    else:
        assert isinstance(model, Key2MeshEstimator)
        assert optim.param_groups[0]['lr'] == 1e-3
        assert cfg.val_evaluator.type == 'MPTMeshMetric'
    full = name in ('key2mesh_pretrain_amass', 'key2mesh_da_3dpw',
                    'key2mesh_da_h36m')
    estimator = model.estimator if hasattr(model, 'estimator') else model
    width = estimator.regressor.feature_extractor.stem[0].out_features
    assert width == (1024 if full else 256)


# ---------------------------------------------------------------- runs
def _env() -> dict:
    return tool_env()


def _start(cmd, cwd, env=None) -> subprocess.Popen:
    # output to a file: several runs go at once and are awaited in turn
    return start_tool_logged(cmd, cwd=cwd, env=env or _env())


def _finish(proc) -> tuple:
    return finish_tool(proc, TIMEOUT, lambda out: out[-3000:])


def _free_port() -> int:
    return free_port()


def _load(path):
    register_checkpoint_safe_globals()
    return torch.load(path)


@pytest.fixture(scope='module')
def workspace(tmp_path_factory, synthetic_assets):
    """A cwd where the configs' ``data/synthetic`` are the test assets."""
    root = tmp_path_factory.mktemp('key2mesh_runs')
    (root / 'data').mkdir()
    (root / 'data' / 'synthetic').symlink_to(synthetic_assets)
    return root


def _tiny_da(root, name: str, extra: str = '') -> str:
    path = root / f'{name}.py'
    path.write_text(
        TINY_DA.format(base=osp.join(CONFIGS, 'key2mesh_da_demo.py'),
                       imports=IMPORTS, extra=extra))
    return str(path)


def _start_dist(workspace) -> tuple:
    """The tiny adaptation demo on 2 CPU processes (tools/dist_train.sh,
    gloo), with the weights dumped before and after training."""
    cfg = _tiny_da(workspace, 'tiny_da_dist',
                   "custom_hooks = [dict(type='MPTStateDumpHook')]")
    env = _env()
    env['PORT'] = str(_free_port())
    work = workspace / 'dist'
    return work, _start(['bash', osp.join(REPO, 'tools', 'dist_train.sh'),
                         cfg, '2', '--work-dir', str(work)], workspace, env)


@pytest.fixture(scope='module')
def runs(workspace):
    """Pre-training demo (2 iterations), then the tiny adaptation demo:
    uninterrupted, interrupted after iteration 2 and resumed; the 2-process
    run (independent of the others) goes meanwhile. Each run is one
    single-threaded process on a 2-core machine, so runs that do not wait
    for one another are started together."""
    dist_dir, dist = _start_dist(workspace)
    pre_dir = workspace / 'pre'
    pre = _start([
        sys.executable, TRAIN,
        osp.join(CONFIGS, 'key2mesh_pretrain_demo.py'), '--work-dir',
        str(pre_dir), '--cfg-options', 'train_cfg.max_epochs=1',
        'train_dataloader.batch_size=8',
        'train_dataloader.dataset.num_samples=16',
        'val_dataloader.dataset.num_samples=8',
        'model.regressor.hidden_dim=16'
    ], workspace)
    result = dict(pre=_finish(pre), pre_dir=pre_dir, dist_dir=dist_dir)
    ckpt = pre_dir / 'epoch_1.pth'
    full_cfg = _tiny_da(workspace, 'tiny_da',
                        f'model.update(source_checkpoint={str(ckpt)!r})')
    stop_cfg = _tiny_da(
        workspace, 'tiny_da_stop',
        f'model.update(source_checkpoint={str(ckpt)!r})\n'
        "custom_hooks = [dict(type='MPTInterruptHook', at_iter=2)]")
    full_dir, resumed_dir = workspace / 'full', workspace / 'resumed'
    full = _start([sys.executable, TRAIN, full_cfg, '--work-dir',
                   str(full_dir)], workspace)
    stopped = _start([sys.executable, TRAIN, stop_cfg, '--work-dir',
                      str(resumed_dir)], workspace)
    # the interrupted run ends first: resume it while the full run goes on
    result['stopped'] = _finish(stopped)
    resumed = _start([sys.executable, TRAIN, stop_cfg, '--work-dir',
                      str(resumed_dir), '--resume'], workspace)
    result['full'] = _finish(full)
    result['resumed'] = _finish(resumed)
    result['dist'] = _finish(dist)
    result.update(full_dir=full_dir, resumed_dir=resumed_dir)
    return result


def test_demo_configs_train(runs):
    code, out = runs['pre']
    assert code == 0, out[-3000:]
    assert 'mesh/PA-MPJPE' in out
    code, out = runs['full']
    assert code == 0, out[-3000:]
    for key in ('loss_critic', 'wasserstein', 'gradient_penalty',
                'critic_grad_norm', 'loss_domain', 'loss_reprojection',
                'loss_feature_reg'):
        assert f'{key}: ' in out
    assert 'loaded source weights from' in out
    assert 'mesh/PA-MPJPE' in out
    ckpt = _load(runs['full_dir'] / 'iter_4.pth')
    pre = _load(runs['pre_dir'] / 'epoch_1.pth')['state_dict']
    # the frozen source encoder is the pre-trained extractor
    for key, value in ckpt['state_dict'].items():
        if key.startswith('source_encoder.'):
            ref = pre['regressor.feature_extractor.' +
                      key[len('source_encoder.'):]]
            assert torch.equal(value, ref), key
    assert set(ckpt['optimizer']) == {'estimator', 'critic'}


def test_resume_is_bit_identical(runs):
    code, out = runs['stopped']
    assert code == 3, out[-3000:]
    code, out = runs['resumed']
    assert code == 0, out[-3000:]
    assert 'resumed epoch: 0, iter: 2' in out
    # resuming must not re-copy the (already adapted) encoder
    assert 'froze a copy' not in out
    full = _load(runs['full_dir'] / 'iter_4.pth')
    resumed = _load(runs['resumed_dir'] / 'iter_4.pth')
    for key, value in full['state_dict'].items():
        assert torch.equal(resumed['state_dict'][key], value), key
    for name in ('estimator', 'critic'):
        a, b = full['optimizer'][name], resumed['optimizer'][name]
        assert a['param_groups'] == b['param_groups']
        assert a['state'].keys() == b['state'].keys() and a['state']
        for idx, state in a['state'].items():
            for key, value in state.items():
                assert torch.equal(b['state'][idx][key], value), (name, key)
    assert full['param_schedulers'] == resumed['param_schedulers']
    for key in ('train/loss_critic', 'train/loss'):
        hist_a = full['message_hub']['log_scalars'][key].data[0][-2:]
        hist_b = resumed['message_hub']['log_scalars'][key].data[0][-2:]
        assert (hist_a == hist_b).all(), key


def test_dist_train_two_cpu_processes(runs):
    code, out = runs['dist']
    work = runs['dist_dir']
    assert code == 0, out[-3000:]
    assert 'using the gloo backend' in out
    def load(path):
        # children wrapped in their own DDP: 'estimator.module.regressor...'
        return {k.replace('.module.', '.', 1): v
                for k, v in _load(path).items()}

    before = [load(work / f'before_train_rank{r}.pth') for r in (0, 1)]
    after = [load(work / f'after_train_rank{r}.pth') for r in (0, 1)]
    assert any(k.startswith('source_encoder.') for k in after[0])
    params = [k for k in after[0]
              if 'running_' not in k and 'num_batches' not in k]
    for key in params:
        # the same weights on both ranks (batch-norm running statistics
        # are per process with broadcast_buffers=False)
        assert torch.equal(after[0][key], after[1][key]), key
        assert torch.equal(before[0][key], before[1][key]), key
    moved = [k for k in params
             if not torch.equal(before[0][k], after[0][k])]
    assert any(k.startswith('estimator.regressor.feature_extractor.')
               for k in moved)
    assert any(k.startswith('critic.') for k in moved)
    assert not any(k.startswith('estimator.regressor.smpl_head.')
                   for k in moved)
