"""Atomic checkpoint writing: atomic_write, MPTAtomicLocalBackend and
MPTAtomicCheckpointHook (the kill-during-save run is in
tests/test_tools/test_hostile_checkpoints.py)."""
import glob
import os
import os.path as osp
import subprocess
import sys

import pytest
from mmengine.config import Config
from mmengine.fileio import get_file_backend
from mmengine.runner import Runner

import mpt_plugin.testing  # noqa: F401  (toy components)
from mpt_plugin.engine.hooks.atomic_checkpoint_hook import (
    ATOMIC_BACKEND, MPTAtomicCheckpointHook, MPTAtomicLocalBackend, _host,
    atomic_write, choose_backend_args, remove_stale_temp_files)
from mpt_plugin.utils.safe_checkpoint import load_checkpoint_file
from tests.tool_runner import REPO

TOY_CONFIG = osp.join(REPO, 'tests', 'data', 'configs', 'toy_regression.py')


def test_atomic_write_replaces_whole_file(tmp_path):
    path = tmp_path / 'sub' / 'f.bin'
    atomic_write(path, b'old')
    atomic_write(path, b'new content')
    assert path.read_bytes() == b'new content'
    assert os.listdir(tmp_path / 'sub') == ['f.bin']


def test_atomic_write_failure_keeps_old_file(tmp_path):
    path = tmp_path / 'f.bin'
    path.write_bytes(b'complete')

    def half_then_fail(fileobj, data, _path):
        fileobj.write(data[:3])
        raise OSError('disk full')

    with pytest.raises(OSError, match='disk full'):
        atomic_write(path, b'abcdef', half_then_fail)
    assert path.read_bytes() == b'complete'
    assert os.listdir(tmp_path) == ['f.bin']  # temporary file removed


def test_atomic_write_permissions_follow_umask(tmp_path):
    old = os.umask(0o027)
    try:
        atomic_write(tmp_path / 'f', b'x')
    finally:
        os.umask(old)
    assert oct((tmp_path / 'f').stat().st_mode & 0o777) == oct(0o640)


def test_stale_temp_files_removed_only_for_dead_writers(tmp_path):
    dead = subprocess.run(
        [sys.executable, '-c', 'import os; print(os.getpid())'],
        capture_output=True, text=True).stdout.strip()
    host = _host()
    stale = tmp_path / f'.iter_4.pth.{host}.{dead}.0123abcd.tmp'
    live = tmp_path / f'.iter_6.pth.{host}.{os.getppid()}.0123abcd.tmp'
    other_host = tmp_path / f'.iter_8.pth.otherbox.{dead}.0123abcd.tmp'
    unrelated = tmp_path / 'notes.tmp'
    for path in (stale, live, other_host, unrelated):
        path.write_bytes(b'partial')
    assert remove_stale_temp_files(str(tmp_path)) == [str(stale)]
    assert sorted(os.listdir(tmp_path)) == sorted(
        p.name for p in (live, other_host, unrelated))


def test_atomic_backend_registered(tmp_path):
    backend = get_file_backend(str(tmp_path),
                               backend_args=dict(backend=ATOMIC_BACKEND))
    assert isinstance(backend, MPTAtomicLocalBackend)
    backend.put(b'abc', str(tmp_path / 'a' / 'b.pth'))
    backend.put_text('iter_2.pth', str(tmp_path / 'last'))
    assert (tmp_path / 'a' / 'b.pth').read_bytes() == b'abc'
    assert (tmp_path / 'last').read_text() == 'iter_2.pth'


def _toy_runner(work_dir, name, **checkpoint):
    cfg = Config.fromfile(TOY_CONFIG)
    cfg.work_dir = str(work_dir)
    cfg.experiment_name = name
    cfg.train_cfg.max_iters = 6
    cfg.train_cfg.val_interval = 100
    cfg.default_hooks.checkpoint.update(checkpoint)
    return Runner.from_cfg(cfg)


def _checkpoint_hook(runner):
    return next(h for h in runner.hooks
                if isinstance(h, MPTAtomicCheckpointHook))


def test_hook_trains_with_atomic_backend(tmp_path):
    runner = _toy_runner(tmp_path, 'atomic_hook_keep1', max_keep_ckpts=1)
    runner.train()
    hook = _checkpoint_hook(runner)
    assert hook.backend_args == dict(backend=ATOMIC_BACKEND)
    assert isinstance(hook.file_backend, MPTAtomicLocalBackend)
    assert sorted(glob.glob(str(tmp_path / '*.pth'))) == [
        str(tmp_path / 'iter_6.pth')
    ]
    assert (tmp_path / 'last_checkpoint').read_text() == str(tmp_path /
                                                              'iter_6.pth')
    ckpt = load_checkpoint_file(tmp_path / 'iter_6.pth')
    assert ckpt['message_hub']['runtime_info']['keep_ckpt_ids'] == [6]
    assert not glob.glob(str(tmp_path / '.*.tmp'))


def test_old_checkpoint_deleted_only_after_new_one_saved(tmp_path,
                                                         monkeypatch):
    """max_keep_ckpts=1 and a save that fails at iteration 4: iter_2.pth
    and the pointer to it survive (MMEngine deletes before saving)."""
    runner = _toy_runner(tmp_path, 'atomic_hook_fail4', max_keep_ckpts=1)
    real_save = runner.save_checkpoint

    def failing_save(out_dir, filename, *args, **kwargs):
        if filename == 'iter_4.pth':
            raise OSError('simulated crash while saving iter_4.pth')
        return real_save(out_dir, filename, *args, **kwargs)

    monkeypatch.setattr(runner, 'save_checkpoint', failing_save)
    with pytest.raises(OSError, match='simulated crash'):
        runner.train()
    assert (tmp_path / 'iter_2.pth').is_file()
    assert not (tmp_path / 'iter_4.pth').exists()
    assert (tmp_path / 'last_checkpoint').read_text() == str(tmp_path /
                                                              'iter_2.pth')
    assert load_checkpoint_file(tmp_path / 'iter_2.pth')['meta']['iter'] == 2


@pytest.mark.parametrize('out_dir, backend_args, expected', [
    ('/w', None, dict(backend=ATOMIC_BACKEND)),
    ('/w', dict(backend='local'), dict(backend=ATOMIC_BACKEND)),
    ('s3://bucket/w', None, None),
    ('/w', dict(backend='petrel'), dict(backend='petrel')),
    ('/w', dict(backend='local', extra=1), dict(backend='local', extra=1)),
])
def test_backend_choice(out_dir, backend_args, expected):
    assert choose_backend_args(out_dir, backend_args) == expected


def _shipped_configs():
    return sorted(glob.glob(osp.join(REPO, 'configs', '*.py'))) + [TOY_CONFIG]


@pytest.mark.parametrize('config', _shipped_configs(),
                         ids=lambda p: osp.basename(p))
def test_every_shipped_config_uses_atomic_hook(config):
    cfg = Config.fromfile(config)
    assert cfg.default_hooks.checkpoint.type == 'MPTAtomicCheckpointHook'
