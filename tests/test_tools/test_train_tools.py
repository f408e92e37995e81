"""tools/train.py, tools/test.py and the launch scripts on a CPU.

The subprocess tests run the real entry points on the toy regression config
(``tests/data/configs/toy_regression.py``): an uninterrupted run, a run that
is killed after the checkpoint of iteration 4 and resumed with ``--resume``,
a 2-process ``tools/dist_train.sh`` run with the gloo backend, and
``tools/test.py`` / ``tools/dist_test.sh`` on the resulting checkpoints.
"""
import json
import os
import os.path as osp
import stat
import subprocess
import sys
from argparse import Namespace

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

import mpt_plugin.testing  # noqa: F401  (registers the toy components)
from mpt_plugin.registry import DATASETS, MODELS
from mpt_plugin.testing import MPTToyRegressor
from mpt_plugin.utils.checkpoint import register_checkpoint_safe_globals
from tests.tool_runner import (finish_tool, free_port, load_tool, start_tool,
                               tool_env)

pytestmark = pytest.mark.slow  # trains and tests in subprocesses

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOLS = osp.join(REPO, 'tools')
TOY_CONFIG = osp.join(REPO, 'tests', 'data', 'configs', 'toy_regression.py')
MAX_ITERS = 8  # train_cfg.max_iters of the toy config
INTERRUPT_AT = 4  # a checkpoint iteration (interval 2)
TIMEOUT = 300


def _env() -> dict:
    return tool_env()


def _start(cmd, env=None) -> subprocess.Popen:
    return start_tool(cmd, env or _env())


def _finish(proc: subprocess.Popen) -> tuple:
    """Wait for ``proc``; return ``(returncode, output)``."""
    return finish_tool(proc, TIMEOUT, _why)


def _why(out: str) -> str:
    """Error lines and the end of a failed run's output."""
    lines = out.splitlines()
    errors = [
        line for line in lines
        if 'Error' in line or 'Traceback' in line or 'error:' in line
    ]
    return '\n'.join(errors[:40]) + '\n...\n' + '\n'.join(lines[-40:])


def _train_cmd(config, work_dir, *extra):
    return [
        sys.executable,
        osp.join(TOOLS, 'train.py'), config, '--work-dir',
        str(work_dir), *extra
    ]


def _derived_config(path, body: str) -> str:
    path.write_text(f'_base_ = [{TOY_CONFIG!r}]\n{body}\n')
    return str(path)


def _free_port() -> int:
    return free_port()


def _load(path):
    register_checkpoint_safe_globals()
    return torch.load(path)  # weights_only: torch's default


def _load_tool(name: str):
    """Import tools/<name>.py as a module (for in-process tests)."""
    return load_tool(name, 'mpt_tools')


def _expected_test_metrics(ckpt_path: str) -> dict:
    """MSE/MAE of a checkpoint on the toy test split, computed directly."""
    cfg = Config.fromfile(TOY_CONFIG)
    with DefaultScope.overwrite_default_scope('mmpose'):
        dataset = DATASETS.build(cfg.test_dataloader.dataset)
    model = MPTToyRegressor(
        **{
            k: v
            for k, v in cfg.model.items()
            if k not in ('type', 'data_preprocessor')
        })
    model.load_state_dict(_load(ckpt_path)['state_dict'])
    items = [dataset[i] for i in range(len(dataset))]
    with torch.no_grad():
        preds = model(torch.stack([it['inputs'] for it in items]))
    gts = torch.stack([it['data_samples'].gt_values for it in items])
    diff = (preds - gts).numpy()
    return {
        'toy/mse': float(np.mean(diff**2)),
        'toy/mae': float(np.mean(np.abs(diff)))
    }


# ---------------------------------------------------------------------------
# single-process training, interruption, resume, test
# ---------------------------------------------------------------------------


@pytest.fixture(scope='module')
def train_tool():
    return _load_tool('train')


@pytest.fixture(scope='module')
def test_tool():
    return _load_tool('test')


@pytest.fixture(scope='module')
def runs(tmp_path_factory, train_tool):
    """Run full / interrupted / resumed training and tools/test.py.

    The interrupted run, the resumed run and the test run are separate
    processes (as a user would run them); the uninterrupted reference run
    goes through ``tools/train.py``'s ``main`` in this process, overlapping
    with the interrupted one.
    """
    root = tmp_path_factory.mktemp('train_tools')
    full_dir, resumed_dir = root / 'full', root / 'resumed'
    interrupt_cfg = _derived_config(
        root / 'toy_interrupt.py',
        f"custom_hooks = [dict(type='MPTInterruptHook', "
        f'at_iter={INTERRUPT_AT})]')
    result = dict(root=root, full_dir=full_dir, resumed_dir=resumed_dir)

    interrupted = _start(_train_cmd(interrupt_cfg, resumed_dir))
    train_tool.main([
        TOY_CONFIG, '--work-dir',
        str(full_dir), '--cfg-options', 'experiment_name=test_train_full'
    ])
    metrics_file = root / 'test_out' / 'metrics.json'
    dump_file = root / 'test_out' / 'preds.pkl'
    tested = _start([
        sys.executable,
        osp.join(TOOLS, 'test.py'), TOY_CONFIG,
        str(full_dir / f'iter_{MAX_ITERS}.pth'), '--work-dir',
        str(root / 'test_work'), '--out',
        str(metrics_file), '--dump',
        str(dump_file)
    ])
    result['interrupted'] = _finish(interrupted)
    result['after_interrupt'] = sorted(os.listdir(resumed_dir))

    resumed = _start(_train_cmd(interrupt_cfg, resumed_dir, '--resume'))
    result['tested'] = _finish(tested)
    result['resumed'] = _finish(resumed)
    result['metrics_file'] = metrics_file
    result['dump_file'] = dump_file
    return result


def test_interrupted_run_stops_after_checkpoint(runs):
    code, out = runs['interrupted']
    assert code == 3, _why(out)
    assert 'MPTInterruptHook: exiting' in out
    files = runs['after_interrupt']
    assert f'iter_{INTERRUPT_AT}.pth' in files
    assert f'iter_{INTERRUPT_AT + 2}.pth' not in files


def test_resume_matches_uninterrupted_run(runs):
    code, out = runs['resumed']
    assert code == 0, _why(out)
    assert f'resumed epoch: 0, iter: {INTERRUPT_AT}' in out
    full = _load(runs['full_dir'] / f'iter_{MAX_ITERS}.pth')
    resumed = _load(runs['resumed_dir'] / f'iter_{MAX_ITERS}.pth')
    at_interrupt = _load(runs['resumed_dir'] / f'iter_{INTERRUPT_AT}.pth')
    assert full['meta']['iter'] == resumed['meta']['iter'] == MAX_ITERS

    for key, value in full['state_dict'].items():
        torch.testing.assert_close(
            resumed['state_dict'][key], value, rtol=0, atol=1e-6)
    # training after the resume did change the weights
    assert any(not torch.equal(at_interrupt['state_dict'][k], v)
               for k, v in full['state_dict'].items())

    # optimizer: SGD momentum buffers and param groups (lr after MultiStepLR)
    full_opt, resumed_opt = full['optimizer'], resumed['optimizer']
    assert full_opt['param_groups'] == resumed_opt['param_groups']
    assert full_opt['param_groups'][0]['lr'] == pytest.approx(0.025)
    assert full_opt['state'].keys() == resumed_opt['state'].keys()
    for idx, state in full_opt['state'].items():
        torch.testing.assert_close(
            resumed_opt['state'][idx]['momentum_buffer'],
            state['momentum_buffer'],
            rtol=0,
            atol=1e-6)
    assert full['param_schedulers'] == resumed['param_schedulers']

    # the per-iteration losses after the resume are those of the full run
    def losses(ckpt):
        return ckpt['message_hub']['log_scalars']['train/loss'].data[0]

    np.testing.assert_allclose(
        losses(resumed)[-(MAX_ITERS - INTERRUPT_AT):],
        losses(full)[-(MAX_ITERS - INTERRUPT_AT):],
        rtol=0,
        atol=1e-6)


def test_test_tool_reports_metrics(runs):
    code, out = runs['tested']
    assert code == 0, _why(out)
    assert 'toy/mse:' in out and 'toy/mae:' in out
    metrics = json.loads(runs['metrics_file'].read_text())
    expected = _expected_test_metrics(
        str(runs['full_dir'] / f'iter_{MAX_ITERS}.pth'))
    assert metrics.keys() == expected.keys()
    for key, value in expected.items():
        assert metrics[key] == pytest.approx(value, abs=1e-6)
    assert runs['dump_file'].is_file()


# ---------------------------------------------------------------------------
# distributed training and testing on CPU (gloo)
# ---------------------------------------------------------------------------


def test_dist_train_and_test_on_cpu(tmp_path):
    config = _derived_config(tmp_path / 'toy_dump.py',
                             "custom_hooks = [dict(type='MPTStateDumpHook')]")
    work_dir = tmp_path / 'work'
    env = _env()
    env['PORT'] = str(_free_port())
    code, out = _finish(
        _start([
            'bash',
            osp.join(TOOLS, 'dist_train.sh'), config, '2', '--work-dir',
            str(work_dir)
        ],
               env=env))
    assert code == 0, _why(out)
    assert 'using the gloo backend instead of nccl' in out

    before = [_load(work_dir / f'before_train_rank{r}.pth') for r in (0, 1)]
    after = [_load(work_dir / f'after_train_rank{r}.pth') for r in (0, 1)]
    ckpt = _load(work_dir / f'iter_{MAX_ITERS}.pth')
    assert set(after[0]) == set(ckpt['state_dict'])
    for key in after[0]:
        # both ranks start and end identical ...
        assert torch.equal(before[0][key], before[1][key])
        assert torch.equal(after[0][key], after[1][key])
        # ... the checkpoint written by rank 0 holds those weights ...
        assert torch.equal(after[0][key], ckpt['state_dict'][key])
    # ... and training changed them
    assert all(not torch.equal(before[0][k], after[0][k]) for k in after[0])

    # 2-process test: metrics gathered from both ranks over the whole set
    metrics_file = tmp_path / 'dist_metrics.json'
    env['PORT'] = str(_free_port())
    code, out = _finish(
        _start([
            'bash',
            osp.join(TOOLS, 'dist_test.sh'), config,
            str(work_dir / f'iter_{MAX_ITERS}.pth'), '2', '--work-dir',
            str(tmp_path / 'test_work'), '--out',
            str(metrics_file)
        ],
               env=env))
    assert code == 0, _why(out)
    metrics = json.loads(metrics_file.read_text())
    expected = _expected_test_metrics(str(work_dir / f'iter_{MAX_ITERS}.pth'))
    for key, value in expected.items():
        assert metrics[key] == pytest.approx(value, abs=1e-6)


# ---------------------------------------------------------------------------
# argument handling (in process)
# ---------------------------------------------------------------------------


def test_amp_without_gpu_is_a_clear_error(train_tool, monkeypatch, capsys):
    monkeypatch.setattr(train_tool, 'accelerator_available', lambda: False)
    with pytest.raises(SystemExit) as exc:
        train_tool.parse_args([TOY_CONFIG, '--amp'])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert '--amp needs a GPU' in err and 'AmpOptimWrapper' in err


def test_local_rank_sets_env(train_tool, monkeypatch):
    monkeypatch.delenv('LOCAL_RANK', raising=False)
    args = train_tool.parse_args([TOY_CONFIG, '--local-rank', '3'])
    assert args.local_rank == 3 and os.environ['LOCAL_RANK'] == '3'
    args = train_tool.parse_args([TOY_CONFIG, '--local_rank=5'])
    assert os.environ['LOCAL_RANK'] == '3'  # an existing value is kept


def _merged(tool, argv):
    args = tool.parse_args(argv)
    return tool.merge_args(Config.fromfile(args.config), args)


def test_train_merge_args(train_tool, monkeypatch):
    monkeypatch.chdir(REPO)
    cfg = _merged(train_tool, [TOY_CONFIG])
    assert cfg.work_dir == osp.join('./work_dirs', 'toy_regression')
    assert cfg.launcher == 'none' and cfg.resume is False
    assert cfg.val_cfg is not None

    cfg = _merged(train_tool, [TOY_CONFIG, '--resume'])
    assert cfg.resume is True and cfg.load_from is None
    cfg = _merged(train_tool, [TOY_CONFIG, '--resume', 'a/iter_4.pth'])
    assert cfg.resume is True and cfg.load_from == 'a/iter_4.pth'

    cfg = _merged(train_tool, [
        TOY_CONFIG, '--no-validate', '--auto-scale-lr', '--launcher',
        'pytorch', '--work-dir', 'w1', '--cfg-options', 'work_dir=w2',
        'train_cfg.max_iters=3'
    ])
    assert cfg.val_cfg is None and cfg.val_dataloader is None
    assert cfg.val_evaluator is None
    assert cfg.auto_scale_lr.enable is True
    assert cfg.launcher == 'pytorch'
    assert cfg.work_dir == 'w2'  # --cfg-options is merged last
    assert cfg.train_cfg.max_iters == 3


def test_train_merge_args_errors(train_tool):
    args = train_tool.parse_args([TOY_CONFIG, '--auto-scale-lr'])
    cfg = Config.fromfile(TOY_CONFIG)
    cfg.pop('auto_scale_lr')
    with pytest.raises(train_tool.ToolArgumentError, match='auto_scale_lr'):
        train_tool.merge_args(cfg, args)
    args = train_tool.parse_args([TOY_CONFIG, '--show-dir', 'vis'])
    with pytest.raises(train_tool.ToolArgumentError, match='visualization'):
        train_tool.merge_args(Config.fromfile(TOY_CONFIG), args)


def test_amp_config_switch(train_tool):
    cfg = Config.fromfile(TOY_CONFIG)
    train_tool._enable_amp(cfg)
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.loss_scale == 'dynamic'

    # multi-optimizer config: each sub-wrapper is switched, nothing is added
    # at the top level (it would be read as a submodule name)
    cfg = Config(
        dict(
            optim_wrapper=dict(
                constructor='MultiOptimWrapperConstructor',
                generator=dict(optimizer=dict(type='Adam', lr=1e-4)),
                critic=dict(
                    type='OptimWrapper',
                    optimizer=dict(type='Adam', lr=1e-4),
                    loss_scale=512.))))
    train_tool._enable_amp(cfg)
    assert set(cfg.optim_wrapper) == {'constructor', 'generator', 'critic'}
    assert cfg.optim_wrapper.generator.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.generator.loss_scale == 'dynamic'
    assert cfg.optim_wrapper.critic.loss_scale == 512.

    cfg = Config(
        dict(
            optim_wrapper=dict(
                type='MyWrapper', optimizer=dict(type='SGD', lr=0.1))))
    with pytest.raises(train_tool.ToolArgumentError, match='MyWrapper'):
        train_tool._enable_amp(cfg)


def test_test_merge_args(test_tool, tmp_path):
    ckpt = tmp_path / 'model.pth'
    ckpt.write_bytes(b'')
    cfg = _merged(test_tool, [
        TOY_CONFIG,
        str(ckpt), '--dump',
        str(tmp_path / 'p.pkl'), '--launcher', 'slurm'
    ])
    assert cfg.load_from == str(ckpt)
    assert cfg.launcher == 'slurm'
    assert cfg.test_evaluator == [
        dict(type='MPTToyMSEMetric'),
        dict(type='DumpResults', out_file_path=str(tmp_path / 'p.pkl'))
    ]
    args = test_tool.parse_args([TOY_CONFIG, str(ckpt), '--badcase'])
    with pytest.raises(test_tool.ToolArgumentError, match='badcase'):
        test_tool.merge_args(Config.fromfile(TOY_CONFIG), args)


@pytest.mark.parametrize('extra', [
    ['--out', 'metrics.txt'],
    ['--dump', 'preds.json'],
])
def test_test_tool_rejects_bad_outputs(test_tool, tmp_path, extra, capsys):
    ckpt = tmp_path / 'model.pth'
    ckpt.write_bytes(b'')
    with pytest.raises(SystemExit) as exc:
        test_tool.parse_args([TOY_CONFIG, str(ckpt), *extra])
    assert exc.value.code == 2
    assert extra[0] in capsys.readouterr().err


def test_test_tool_missing_checkpoint(test_tool, tmp_path, capsys):
    with pytest.raises(SystemExit):
        test_tool.parse_args([TOY_CONFIG, str(tmp_path / 'missing.pth')])
    assert 'checkpoint file not found' in capsys.readouterr().err


# ---------------------------------------------------------------------------
# registration
# ---------------------------------------------------------------------------


def test_toy_config_builds_with_mmpose_scope(tmp_path):
    cfg = Config.fromfile(TOY_CONFIG)
    assert cfg.default_scope == 'mmpose'
    assert 'mpt_plugin' in cfg.custom_imports.imports
    assert cfg.custom_imports.allow_failed_imports is False
    assert cfg.env_cfg.dist_cfg.backend == 'nccl'
    assert 'visualization' not in cfg.default_hooks
    assert cfg.visualizer.type == 'Visualizer'
    cfg.work_dir = str(tmp_path)
    cfg.experiment_name = 'test_toy_config'  # own MessageHub
    runner = Runner.from_cfg(cfg)
    assert isinstance(runner.model, MPTToyRegressor)
    assert DefaultScope.get_current_instance().scope_name == 'mmpose'
    dataset = runner.train_dataloader.dataset
    assert type(dataset).__name__ == 'MPTToyRegressionDataset'
    assert len(dataset) == 12

    with DefaultScope.overwrite_default_scope('mmpose'):
        model = MODELS.build(
            dict(
                type='MPTToyRegressor',
                in_channels=3,
                out_channels=5,
                data_preprocessor=dict(type='MPTToyDataPreprocessor')))
    assert isinstance(model, MPTToyRegressor)
    batch = dict(inputs=[torch.ones(3), torch.zeros(3)], data_samples=None)
    data = model.data_preprocessor(batch)
    assert data['inputs'].shape == (2, 3)
    assert model(**data, mode='tensor').shape == (2, 5)


# ---------------------------------------------------------------------------
# launch scripts (command lines, with stand-ins for python and srun)
# ---------------------------------------------------------------------------


def _fake_executable(path, name: str) -> str:
    exe = path / name
    exe.write_text('#!/usr/bin/env bash\necho "ARGS:$*"\n'
                   'echo "PYTHONPATH:$PYTHONPATH"\n')
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    return str(exe)


def _run_script(argv, env_update) -> tuple:
    env = _env()
    env.update(env_update)
    return _finish(_start(['bash', *argv], env=env))


def test_dist_scripts_command_lines(tmp_path):
    fake_python = _fake_executable(tmp_path, 'python')
    code, out = _run_script(
        [osp.join(TOOLS, 'dist_train.sh'), 'cfg.py', '3', '--amp'],
        dict(PYTHON=fake_python, PORT='1234', NNODES='2', NODE_RANK='1'))
    assert code == 0, out
    assert ('ARGS:-m torch.distributed.run --nnodes=2 --node_rank=1 '
            '--master_addr=127.0.0.1 --master_port=1234 --nproc_per_node=3 '
            f'{TOOLS}/train.py cfg.py --launcher pytorch --amp') in out
    assert f'PYTHONPATH:{TOOLS}/..' in out

    code, out = _run_script([
        osp.join(TOOLS, 'dist_test.sh'), 'cfg.py', 'x.pth', '2', '--out',
        'm.json'
    ], dict(PYTHON=fake_python))
    assert code == 0, out
    assert (
        '--master_port=29500 --nproc_per_node=2 '
        f'{TOOLS}/test.py cfg.py x.pth --launcher pytorch --out m.json') in out

    code, out = _run_script([osp.join(TOOLS, 'dist_train.sh'), 'cfg.py'], {})
    assert code == 2 and 'usage' in out


def test_slurm_scripts_command_lines(tmp_path):
    _fake_executable(tmp_path, 'srun')
    path = f'{tmp_path}{os.pathsep}{os.environ["PATH"]}'
    code, out = _run_script([
        osp.join(TOOLS, 'slurm_train.sh'), 'gpu', 'job', 'cfg.py', 'wd',
        '--resume'
    ], dict(PATH=path, PYTHON='py', GPUS='16', SRUN_ARGS='--quotatype=auto'))
    assert code == 0, out
    assert ('ARGS:-p gpu --job-name=job --gres=gpu:8 --ntasks=16 '
            '--ntasks-per-node=8 --cpus-per-task=5 --kill-on-bad-exit=1 '
            f'--quotatype=auto py -u {TOOLS}/train.py cfg.py --work-dir=wd '
            '--launcher=slurm --resume') in out

    code, out = _run_script(
        [osp.join(TOOLS, 'slurm_test.sh'), 'cpu', 'job', 'cfg.py', 'x.pth'],
        dict(PATH=path, PYTHON='py', GPUS='4', GPUS_PER_NODE='0'))
    assert code == 0, out
    assert ('ARGS:-p cpu --job-name=job --ntasks=4 --ntasks-per-node=4 '
            '--cpus-per-task=5 --kill-on-bad-exit=1 '
            f'py -u {TOOLS}/test.py cfg.py x.pth --launcher=slurm') in out


def test_namespace_roundtrip_defaults(train_tool):
    args = train_tool.parse_args([TOY_CONFIG])
    assert isinstance(args, Namespace)
    assert (args.resume, args.amp, args.no_validate,
            args.launcher) == (None, False, False, 'none')
