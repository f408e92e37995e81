"""Hostile and broken checkpoints given to the tools, and a run killed while
a checkpoint is written (issue 12).

Every run sets ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1``, which makes
``torch.load`` calls without an explicit ``weights_only`` unpickle anything:
the tools must still refuse a checkpoint whose pickle calls ``os.system``
(the payload would create a marker file) with an error naming the file.

- subprocesses (the real entry points, started together):
  ``tools/test.py CKPT``, ``tools/train.py --resume CKPT``,
  ``tools/train.py --cfg-options load_from=CKPT``, ``tools/demo.py``;
- in-process ``main()`` calls for truncated, zero-byte and random-byte
  checkpoints, a malicious one found by ``--resume`` (auto, through
  ``last_checkpoint``), and ``--cfg-options`` errors;
- a training run SIGKILLed halfway through writing ``iter_4.pth``
  (``hostile_checkpoint_helpers``) leaves ``iter_2.pth`` and the pointer
  intact and resumes from it; the same kill with MMEngine's plain writer
  leaves a truncated ``iter_4.pth``.
"""
import os
import os.path as osp
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from mpt_plugin.utils.safe_checkpoint import (CorruptCheckpointError,
                                              load_checkpoint_file)
from tests.tool_runner import finish_tool, load_tool, start_tool, tool_env

pytestmark = pytest.mark.slow  # the tools in subprocesses, killed runs

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOLS = osp.join(REPO, 'tools')
TOY_CONFIG = osp.join(REPO, 'tests', 'data', 'configs', 'toy_regression.py')
FORCE_UNSAFE = 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'
TIMEOUT = 420
HELPERS = 'tests.test_tools.hostile_checkpoint_helpers'


class _Payload:
    """Unpickling runs ``touch MARKER``."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f'touch {self.marker}', )


def _evil_checkpoint(path, marker) -> str:
    """A Runner-looking checkpoint whose ``meta`` is an os.system call."""
    torch.save(
        dict(
            state_dict={'backbone.0.weight': torch.zeros(16, 4)},
            meta=_Payload(str(marker))), str(path))
    return str(path)


def _hostile_env() -> dict:
    env = tool_env()
    env[FORCE_UNSAFE] = '1'
    return env


def _start(cmd, env=None) -> subprocess.Popen:
    return start_tool(cmd, env or _hostile_env())


def _finish(proc: subprocess.Popen) -> tuple:
    return finish_tool(proc, TIMEOUT)


def _load_tool(name: str):
    return load_tool(name, 'mpt_hostile_tools')


def _demo_config(path) -> str:
    """The toy model with an image test pipeline (for tools/demo.py)."""
    path.write_text(f"""
_base_ = [{TOY_CONFIG!r}]
test_dataloader = dict(dataset=dict(
    convention='h36m', bbox_scale_factor=1.0,
    pipeline=[dict(type='LoadImage'),
              dict(type='MPTMeshAffine', input_size=32),
              dict(type='MPTPackMeshInputs')]))
""")
    return str(path)


# ---------------------------------------------------------------------------
# a malicious checkpoint at every entry point (subprocesses)
# ---------------------------------------------------------------------------


@pytest.fixture(scope='module')
def malicious_runs(tmp_path_factory):
    """Start the four tool runs together; each has its own checkpoint and
    marker file (resume='auto' runs in-process below)."""
    root = tmp_path_factory.mktemp('malicious')
    runs = {}

    def evil(name):
        marker = root / f'ran_{name}'
        return _evil_checkpoint(root / f'evil_{name}.pth', marker), marker

    ckpt, marker = evil('test')
    runs['test'] = ('test.py', ckpt, marker, _start([
        sys.executable, osp.join(TOOLS, 'test.py'), TOY_CONFIG, ckpt,
        '--work-dir', root / 'w_test'
    ]))
    ckpt, marker = evil('resume')
    runs['resume'] = ('train.py', ckpt, marker, _start([
        sys.executable, osp.join(TOOLS, 'train.py'), TOY_CONFIG,
        '--work-dir', root / 'w_resume', '--resume', ckpt
    ]))
    ckpt, marker = evil('load_from')
    runs['load_from'] = ('train.py', ckpt, marker, _start([
        sys.executable, osp.join(TOOLS, 'train.py'), TOY_CONFIG,
        '--work-dir', root / 'w_load', '--cfg-options', f'load_from={ckpt}'
    ]))
    ckpt, marker = evil('demo')
    image = str(root / 'person.png')
    cv2.imwrite(image, np.full((48, 32, 3), 128, np.uint8))
    runs['demo'] = ('demo.py', ckpt, marker, _start([
        sys.executable, osp.join(TOOLS, 'demo.py'), image,
        _demo_config(root / 'demo_cfg.py'), ckpt, '--out-dir', root / 'demo'
    ]))
    return {
        name: (tool, ckpt, marker, *_finish(proc))
        for name, (tool, ckpt, marker, proc) in runs.items()
    }


def test_payload_runs_when_unpickled_without_weights_only(tmp_path):
    """The payload is live: torch.load(weights_only=False) runs it."""
    marker = tmp_path / 'ran'
    path = _evil_checkpoint(tmp_path / 'evil.pth', marker)
    torch.load(path, weights_only=False)
    assert marker.exists()


@pytest.mark.parametrize('entry', ['test', 'resume', 'load_from', 'demo'])
def test_malicious_checkpoint_refused(malicious_runs, entry):
    tool, ckpt, marker, code, out = malicious_runs[entry]
    assert code == 1, out[-4000:]
    assert (f'{tool}: error: UnsafeCheckpointError: refused to load '
            f'checkpoint {ckpt} (') in out, out[-4000:]
    assert 'posix.system' in out
    assert 'Traceback' not in out
    assert not marker.exists(), 'the payload ran'


# ---------------------------------------------------------------------------
# broken checkpoints (in-process main() calls)
# ---------------------------------------------------------------------------


@pytest.fixture(scope='module')
def train_tool():
    return _load_tool('train')


@pytest.fixture(scope='module')
def test_tool():
    return _load_tool('test')


@pytest.fixture(scope='module')
def broken(tmp_path_factory):
    """Truncated, zero-byte and random-byte ``.pth`` files."""
    root = tmp_path_factory.mktemp('broken')
    full = root / 'full.pth'
    torch.save(
        dict(state_dict={'backbone.0.weight': torch.randn(16, 4)},
             meta=dict(iter=2, epoch=0)), str(full))
    data = full.read_bytes()
    (root / 'truncated.pth').write_bytes(data[:len(data) // 2])
    (root / 'empty.pth').write_bytes(b'')
    _evil_checkpoint(root / 'evil.pth', root / 'ran_in_process')
    torch.save({'backbone.0.weight': torch.randn(16, 4)},
               str(root / 'bare.pth'))  # a state_dict: no meta
    (root / 'random.pth').write_bytes(
        np.random.default_rng(0).integers(0, 256, 4096,
                                          dtype=np.uint8).tobytes())
    return root


CORRUPT, UNSAFE = 'CorruptCheckpointError', 'UnsafeCheckpointError'


@pytest.mark.parametrize('name, entry, error, reason', [
    ('truncated', 'test', CORRUPT, 'cannot be read: it is truncated'),
    ('empty', 'test', CORRUPT, 'is empty (0 bytes)'),
    ('truncated', 'resume', CORRUPT, 'cannot be read: it is truncated'),
    ('empty', 'resume', CORRUPT, 'is empty (0 bytes)'),
    ('random', 'load_from', CORRUPT, 'cannot be read: it is truncated'),
    ('empty', 'auto', CORRUPT, 'is empty (0 bytes)'),
    ('bare', 'resume', CORRUPT, 'cannot be resumed: it has no meta.epoch'),
    # resume='auto' with last_checkpoint naming a malicious file
    ('evil', 'auto', UNSAFE, 'its pickle calls posix.system'),
])
def test_broken_checkpoint_named(broken, train_tool, test_tool, tmp_path,
                                 monkeypatch, name, entry, error, reason):
    monkeypatch.setenv(FORCE_UNSAFE, '1')
    ckpt = str(broken / f'{name}.pth')
    work = tmp_path / 'work'
    common = ['--work-dir', str(work), '--cfg-options',
              f'experiment_name=hostile_{name}_{entry}']
    if entry == 'test':
        tool, argv = test_tool, [TOY_CONFIG, ckpt, *common]
    elif entry == 'resume':
        tool, argv = train_tool, [TOY_CONFIG, '--resume', ckpt, *common]
    elif entry == 'load_from':
        tool, argv = train_tool, [TOY_CONFIG, *common, f'load_from={ckpt}']
    else:  # auto: last_checkpoint names the broken file
        work.mkdir()
        ckpt = str(work / 'iter_2.pth')
        shutil.copy(broken / f'{name}.pth', ckpt)
        (work / 'last_checkpoint').write_text(ckpt)
        tool, argv = train_tool, [TOY_CONFIG, '--resume', *common]
    with pytest.raises(SystemExit) as exc:
        tool.main(argv)
    prefix = 'test.py' if tool is test_tool else 'train.py'
    message = str(exc.value.code)
    assert message.startswith(f'{prefix}: error: {error}: ')
    assert f'checkpoint {ckpt} ' in message
    assert reason in message
    assert not (broken / 'ran_in_process').exists(), 'the payload ran'


def test_empty_last_checkpoint_pointer(train_tool, tmp_path, monkeypatch):
    monkeypatch.setenv(FORCE_UNSAFE, '1')
    (tmp_path / 'last_checkpoint').write_text('')
    with pytest.raises(SystemExit) as exc:
        train_tool.main([
            TOY_CONFIG, '--resume', '--work-dir',
            str(tmp_path), '--cfg-options', 'experiment_name=hostile_ptr'
        ])
    assert str(exc.value.code) == (
        'train.py: error: CheckpointNotFoundError: no checkpoint path given '
        "(an empty string: is the work directory's last_checkpoint file "
        'empty?)')


@pytest.mark.parametrize('tool_name, items, expected', [
    ('train', ['train_cfg.max_iters'],
     "invalid item 'train_cfg.max_iters': expected KEY=VALUE"),
    ('test', ['a=1', 'load_from'], "invalid item 'load_from'"),
    ('train', ['=3'], "invalid item '=3': '' is not a config key"),
    ('demo', ['a=[1,2'], "invalid item 'a=[1,2': cannot parse the value"),
])
def test_cfg_options_errors(capsys, broken, tool_name, items, expected):
    tool = _load_tool(tool_name)
    ckpt = str(broken / 'full.pth')
    positional = {
        'train': [TOY_CONFIG],
        'test': [TOY_CONFIG, ckpt],
        'demo': ['img.png', TOY_CONFIG, ckpt]
    }[tool_name]
    with pytest.raises(SystemExit) as exc:
        tool.parse_args([*positional, '--cfg-options', *items])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f'error: argument --cfg-options: {expected}' in err


# ---------------------------------------------------------------------------
# a kill while a checkpoint is written
# ---------------------------------------------------------------------------


def _kill_config(path, hook_type: str, backend: str) -> str:
    path.write_text(f"""
_base_ = [{TOY_CONFIG!r}]
custom_imports = dict(
    imports=['mpt_plugin', 'mpt_plugin.testing', {HELPERS!r}],
    allow_failed_imports=False)
default_hooks = dict(checkpoint=dict(
    _delete_=True, type={hook_type!r}, interval=2, by_epoch=False,
    max_keep_ckpts=-1, backend_args=dict(backend={backend!r})))
""")
    return str(path)


@pytest.fixture(scope='module')
def killed_runs(tmp_path_factory):
    """Runs killed while writing iter_4.pth (atomic and plain writers),
    then the atomic one resumed with ``--resume``."""
    root = tmp_path_factory.mktemp('killed')
    env = tool_env()
    env['MPT_TEST_KILL_WRITING'] = 'iter_4.pth'
    atomic_dir, plain_dir = root / 'atomic', root / 'plain'
    atomic_cfg = _kill_config(root / 'atomic.py', 'MPTAtomicCheckpointHook',
                              'mpt_test_kill_mid_write')
    plain_cfg = _kill_config(root / 'plain.py', 'CheckpointHook',
                             'mpt_test_kill_mid_write_plain')
    train = [sys.executable, osp.join(TOOLS, 'train.py')]
    atomic = _start([*train, atomic_cfg, '--work-dir', atomic_dir], env)
    plain = _start([*train, plain_cfg, '--work-dir', plain_dir], env)
    result = dict(atomic_dir=atomic_dir, plain_dir=plain_dir)
    result['atomic'] = _finish(atomic)
    result['plain'] = _finish(plain)
    result['atomic_files'] = sorted(os.listdir(atomic_dir))
    result['atomic_pointer'] = (atomic_dir / 'last_checkpoint').read_text()
    # resume without the kill, and with checkpoints read the safe way
    resume_env = tool_env()
    resume_env[FORCE_UNSAFE] = '1'
    result['resumed'] = _finish(
        _start([*train, atomic_cfg, '--work-dir', atomic_dir, '--resume'],
               resume_env))
    return result


def test_plain_writer_leaves_truncated_checkpoint(killed_runs):
    """The failure the atomic writer prevents (MMEngine's own writer)."""
    code, out = killed_runs['plain']
    assert code == -9, out[-3000:]
    truncated = killed_runs['plain_dir'] / 'iter_4.pth'
    assert truncated.is_file()
    with pytest.raises(CorruptCheckpointError, match='iter_4.pth'):
        load_checkpoint_file(truncated)


def test_kill_mid_write_leaves_previous_checkpoint(killed_runs):
    code, out = killed_runs['atomic']
    assert code == -9, out[-3000:]
    files = killed_runs['atomic_files']
    assert 'iter_2.pth' in files and 'iter_4.pth' not in files
    temps = [f for f in files if f.startswith('.iter_4.pth.')]
    assert len(temps) == 1 and temps[0].endswith('.tmp'), files
    pointer = killed_runs['atomic_pointer']
    assert pointer == str(killed_runs['atomic_dir'] / 'iter_2.pth')


def test_killed_run_resumes_from_previous_checkpoint(killed_runs):
    code, out = killed_runs['resumed']
    assert code == 0, out[-4000:]
    work = killed_runs['atomic_dir']
    assert f'Auto resumed from the latest checkpoint {work}/iter_2.pth' in out
    assert 'resumed epoch: 0, iter: 2' in out
    assert 'left by a killed checkpoint write' in out
    files = sorted(os.listdir(work))
    assert not [f for f in files if f.endswith('.tmp')], files
    for step in (4, 6, 8):
        ckpt = load_checkpoint_file(work / f'iter_{step}.pth')
        assert ckpt['meta']['iter'] == step
    assert (work / 'last_checkpoint').read_text() == str(work / 'iter_8.pth')
