"""mpt_plugin.utils.safe_checkpoint: every checkpoint is read with
``weights_only=True`` and every bad file raises an error naming it, with
``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` set (torch reads it at each call)."""
import argparse
import io
import os
import pickle
import zipfile

import pytest
import torch
from mmengine.model import BaseModule
from mmengine.runner.checkpoint import CheckpointLoader, _load_checkpoint

import mpt_plugin  # noqa: F401  (installs the loaders)
from mpt_plugin.utils import safe_checkpoint as sc
from mpt_plugin.utils.safe_checkpoint import (CheckpointLoadError,
                                              CheckpointNotFoundError,
                                              CorruptCheckpointError,
                                              UnsafeCheckpointError,
                                              load_checkpoint_file,
                                              read_checkpoint)
from tests.isolated import run_isolated

FORCE_UNSAFE = 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'


@pytest.fixture(autouse=True)
def force_unsafe_env(monkeypatch):
    """The environment that turns implicit torch.load into full pickle."""
    monkeypatch.setenv(FORCE_UNSAFE, '1')


class _Payload:

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f'touch {self.marker}', )


def _good(path):
    torch.save({'state_dict': {'w': torch.arange(64.)}, 'meta': {}},
               str(path))
    return str(path)


def test_env_var_makes_implicit_load_unsafe(tmp_path):
    """Why the explicit argument matters (torch 2.13 behaviour)."""
    marker = tmp_path / 'ran'
    torch.save({'x': _Payload(marker)}, str(tmp_path / 'evil.pth'))
    with pytest.warns(UserWarning, match='TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'):
        torch.load(str(tmp_path / 'evil.pth'))
    assert marker.exists()


@pytest.mark.parametrize('load', [
    load_checkpoint_file,
    read_checkpoint,
    lambda p: _load_checkpoint(p, map_location='cpu'),
    lambda p: CheckpointLoader.load_checkpoint(p),
])
def test_os_system_payload_refused(tmp_path, load):
    marker = tmp_path / 'ran'
    path = str(tmp_path / 'evil.pth')
    torch.save({'state_dict': {}, 'meta': _Payload(marker)}, path)
    with pytest.raises(UnsafeCheckpointError) as exc:
        load(path)
    assert str(exc.value).startswith(
        f'refused to load checkpoint {path} (')
    assert 'posix.system' in str(exc.value)
    assert exc.value.filename == path
    assert isinstance(exc.value, pickle.UnpicklingError)
    assert not marker.exists()


def test_class_outside_allow_list_refused(tmp_path):
    path = str(tmp_path / 'ns.pth')
    torch.save({'state_dict': {}, 'args': argparse.Namespace(lr=1)}, path)
    with pytest.raises(UnsafeCheckpointError,
                       match=r'ns\.pth .*calls argparse\.Namespace'):
        load_checkpoint_file(path)


def test_torchscript_archive_refused(tmp_path):
    path = str(tmp_path / 'scripted.pt')
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), path)
    with pytest.raises(UnsafeCheckpointError,
                       match=r'scripted\.pt .*TorchScript archive'):
        load_checkpoint_file(path)


def test_zero_byte_file(tmp_path):
    path = tmp_path / 'empty.pth'
    path.write_bytes(b'')
    with pytest.raises(CorruptCheckpointError,
                       match=rf'checkpoint {path} is empty \(0 bytes\)'):
        _load_checkpoint(str(path))


def test_truncated_zip(tmp_path):
    data = open(_good(tmp_path / 'full.pth'), 'rb').read()
    path = tmp_path / 'cut.pth'
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(CorruptCheckpointError) as exc:
        _load_checkpoint(str(path))
    msg = str(exc.value)
    assert msg.startswith(f'checkpoint {path} ({len(data) // 2} bytes) '
                          'cannot be read: it is truncated')
    assert 'RuntimeError: PytorchStreamReader failed reading zip' in msg
    assert 'weights_only` set to `False`' not in msg  # no unsafe advice


def test_random_bytes(tmp_path):
    path = tmp_path / 'noise.pth'
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(CorruptCheckpointError,
                       match=r'noise\.pth \(1024 bytes\) cannot be read'):
        load_checkpoint_file(path)


def test_valid_zip_with_corrupt_data_pkl(tmp_path):
    src = zipfile.ZipFile(_good(tmp_path / 'full.pth'))
    path = tmp_path / 'badpkl.pth'
    with zipfile.ZipFile(path, 'w') as out:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename.endswith('/data.pkl'):
                data = data[:12] + b'\xff' * 8 + data[20:]
            out.writestr(info, data)
    with pytest.raises(CorruptCheckpointError,
                       match=r'badpkl\.pth \(\d+ bytes\) cannot be read'):
        load_checkpoint_file(path)


def test_truncated_legacy_format(tmp_path):
    buf = io.BytesIO()
    torch.save({'w': torch.zeros(8)}, buf,
               _use_new_zipfile_serialization=False)
    path = tmp_path / 'old.pth'
    path.write_bytes(buf.getvalue()[:200])
    with pytest.raises(CorruptCheckpointError, match=r'old\.pth \(200 byt'):
        load_checkpoint_file(path)


def test_plain_pickle_is_not_a_checkpoint(tmp_path):
    path = tmp_path / 'plain.pkl'
    path.write_bytes(pickle.dumps({'a': 1}, protocol=4))
    with pytest.raises(CorruptCheckpointError,
                       match=r'plain\.pkl .*Unsupported operand'):
        load_checkpoint_file(path)


def test_non_dict_checkpoint(tmp_path):
    path = str(tmp_path / 'list.pth')
    torch.save([torch.zeros(2)], path)
    assert isinstance(load_checkpoint_file(path), list)  # file reader: ok
    with pytest.raises(CorruptCheckpointError,
                       match=r'list\.pth holds a list, but a checkpoint'):
        _load_checkpoint(path)


def test_missing_file(tmp_path):
    path = str(tmp_path / 'nope.pth')
    with pytest.raises(CheckpointNotFoundError) as exc:
        _load_checkpoint(path)
    assert isinstance(exc.value, FileNotFoundError)
    assert str(exc.value) == f'checkpoint file not found: {path}'


def test_in_memory_source_named():
    with pytest.raises(CorruptCheckpointError,
                       match=r'^checkpoint s3://b/k\.pth \(3 bytes\)'):
        load_checkpoint_file(io.BytesIO(b'abc'), name='s3://b/k.pth')


def test_declared_storage_bomb_small_memory(tmp_path):
    """A 392-byte legacy file declaring an 8 GB storage: refused with
    little memory (child process, peak RSS above the baseline)."""
    buf = io.BytesIO()
    torch.save({'w': torch.zeros(10)}, buf,
               _use_new_zipfile_serialization=False)
    raw = buf.getvalue()
    numel = b'K\n\x4e\x74'  # BININT1 10, NONE, TUPLE (storage numel)
    assert raw.count(numel) == 1
    bomb = raw.replace(numel, b'J\xff\xff\xff\x7f\x4e\x74')  # 2**31 - 1
    path = tmp_path / 'bomb.pth'
    path.write_bytes(bomb)
    res = run_isolated(
        f"""
import mpt_plugin
from mpt_plugin.utils.safe_checkpoint import load_checkpoint_file
mark_baseline()
load_checkpoint_file({str(path)!r})
""",
        timeout=120)
    assert res.exc_type == ('mpt_plugin.utils.safe_checkpoint.'
                            'CorruptCheckpointError'), res.stderr[-2000:]
    assert str(path) in res.message and 'wrong byte size' in res.message
    assert res.peak_above_base_mb < 200


def test_good_checkpoint_still_loads(tmp_path):
    ckpt = _load_checkpoint(_good(tmp_path / 'ok.pth'), map_location='cpu')
    torch.testing.assert_close(ckpt['state_dict']['w'], torch.arange(64.))


def test_every_scheme_is_safe():
    assert sc.safe_checkpoint_loaders_installed()
    assert set(CheckpointLoader._schemes) == set(sc.SAFE_SCHEMES)
    for prefix, loader in CheckpointLoader._schemes.items():
        assert loader.__module__ == sc.__name__, prefix


def test_http_scheme_reads_safely(tmp_path, monkeypatch):
    """URLs (torch.hub would pass weights_only=False) go through the same
    reader; the download is replaced by a local evil file."""
    marker = tmp_path / 'ran'
    evil = str(tmp_path / 'model.pth')
    torch.save({'meta': _Payload(marker)}, evil)
    monkeypatch.setattr(sc, '_download', lambda url: evil)
    url = 'https://example.org/model.pth'
    with pytest.raises(UnsafeCheckpointError) as exc:
        _load_checkpoint(url)
    assert f'{evil} (from {url})' in str(exc.value)
    assert not marker.exists()


def test_pretrained_init_cfg_refused(tmp_path):
    """``init_cfg=dict(type='Pretrained')`` -> mmengine load_checkpoint."""
    marker = tmp_path / 'ran'
    evil = str(tmp_path / 'pre.pth')
    torch.save({'state_dict': {}, 'meta': _Payload(marker)}, evil)

    class Net(BaseModule):

        def __init__(self):
            super().__init__(init_cfg=dict(type='Pretrained',
                                           checkpoint=evil))
            self.fc = torch.nn.Linear(2, 2)

    with pytest.raises(UnsafeCheckpointError, match=r'pre\.pth'):
        Net().init_weights()
    assert not marker.exists()


def test_source_checkpoint_of_domain_adaptation_refused(tmp_path):
    from mpt_plugin.utils.safe_checkpoint import load_estimator_weights
    marker = tmp_path / 'ran'
    evil = str(tmp_path / 'source.pth')
    torch.save({'state_dict': {}, 'meta': _Payload(marker)}, evil)
    with pytest.raises(UnsafeCheckpointError, match=r'source\.pth'):
        load_estimator_weights(torch.nn.Linear(2, 2), evil)
    assert not marker.exists()


def test_error_classes():
    assert issubclass(UnsafeCheckpointError, CheckpointLoadError)
    assert issubclass(CorruptCheckpointError, CheckpointLoadError)
    assert issubclass(CheckpointLoadError, RuntimeError)
    err = pickle.loads(pickle.dumps(CorruptCheckpointError('x.pth: bad')))
    assert str(err) == 'x.pth: bad'
