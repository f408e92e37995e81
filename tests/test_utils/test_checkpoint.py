"""Runner checkpoints load with torch's ``weights_only=True`` default."""
import io
import os
import os.path as osp
import pickle
import pickletools
import zipfile

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.logging import HistoryBuffer
from mmengine.runner import Runner
from mmengine.runner.checkpoint import _load_checkpoint

import mpt_plugin.testing  # noqa: F401  (registers the toy components)
from mpt_plugin.utils.checkpoint import (checkpoint_safe_globals,
                                         checkpoint_safe_globals_registered,
                                         register_checkpoint_safe_globals)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOY_CONFIG = osp.join(REPO, 'tests', 'data', 'configs', 'toy_regression.py')


def _safe_names() -> set:
    names = set()
    for g in checkpoint_safe_globals():
        if isinstance(g, tuple):
            names.add(g[1])
        else:
            names.add(f'{g.__module__}.{g.__qualname__}')
    return names


def _globals_in_checkpoint(path: str) -> set:
    """``module.name`` of every GLOBAL in a zip-format torch checkpoint."""
    with zipfile.ZipFile(path) as zf:
        name = next(n for n in zf.namelist() if n.endswith('/data.pkl'))
        data = zf.read(name)
    found = set()
    for opcode, arg, _ in pickletools.genops(data):
        if opcode.name == 'GLOBAL':
            module, qualname = arg.split(' ')
            module = 'builtins' if module == '__builtin__' else module
            found.add(f'{module}.{qualname}')
    return found


def _roundtrip(obj, **save_kwargs):
    buf = io.BytesIO()
    torch.save(obj, buf, **save_kwargs)
    buf.seek(0)
    return torch.load(buf)  # weights_only: torch's default (True)


@pytest.fixture(scope='module')
def runner_checkpoint(tmp_path_factory):
    """A real Runner checkpoint after 2 iterations of the toy config."""
    register_checkpoint_safe_globals()
    work_dir = tmp_path_factory.mktemp('ckpt_run')
    cfg = Config.fromfile(TOY_CONFIG)
    cfg.work_dir = str(work_dir)
    # Runners made in the same second with the same name share their
    # MessageHub; a unique name keeps this run's history separate
    cfg.experiment_name = 'test_checkpoint'
    cfg.train_cfg.max_iters = 2
    cfg.train_cfg.val_interval = 2
    runner = Runner.from_cfg(cfg)
    runner.train()
    path = osp.join(str(work_dir), 'iter_2.pth')
    assert osp.isfile(path)
    return path


def test_weights_only_is_the_default():
    # the whole point: torch >= 2.6 refuses unknown globals unless asked
    import inspect
    default = inspect.signature(torch.load).parameters['weights_only']
    assert default.default is None  # None -> True unless env forces False
    assert os.environ.get('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD') in (None, '0')


def test_register_is_idempotent():
    register_checkpoint_safe_globals()
    first = set(torch.serialization.get_safe_globals())
    register_checkpoint_safe_globals()
    assert set(torch.serialization.get_safe_globals()) == first
    assert checkpoint_safe_globals_registered()


def test_safe_globals_are_exact():
    names = _safe_names()
    assert names == {
        'mmengine.logging.history_buffer.HistoryBuffer',
        'builtins.getattr',
        'builtins.bytes',
        'numpy.ndarray',
        'numpy.dtype',
        'numpy._core.multiarray._reconstruct',
        'numpy._core.multiarray.scalar',
        'numpy.core.multiarray._reconstruct',
        'numpy.core.multiarray.scalar',
        'numpy.dtypes.BoolDType',
        'numpy.dtypes.Int8DType',
        'numpy.dtypes.Int16DType',
        'numpy.dtypes.Int32DType',
        'numpy.dtypes.Int64DType',
        'numpy.dtypes.UInt8DType',
        'numpy.dtypes.UInt16DType',
        'numpy.dtypes.UInt32DType',
        'numpy.dtypes.UInt64DType',
        'numpy.dtypes.Float16DType',
        'numpy.dtypes.Float32DType',
        'numpy.dtypes.Float64DType',
    }
    # the real getattr/bytes are never allowed, only restricted stand-ins
    objs = [
        g[0] if isinstance(g, tuple) else g for g in checkpoint_safe_globals()
    ]
    assert getattr not in objs and bytes not in objs
    assert type(np.dtype(object)) not in objs


def test_runner_checkpoint_loads_with_default_torch_load(runner_checkpoint):
    register_checkpoint_safe_globals()
    # the checkpoint needs more than torch allows by default ...
    found = _globals_in_checkpoint(runner_checkpoint)
    needed = {
        'mmengine.logging.history_buffer.HistoryBuffer', 'builtins.getattr',
        'numpy.ndarray', 'numpy.dtype', 'numpy._core.multiarray._reconstruct',
        'numpy._core.multiarray.scalar'
    }
    assert needed <= found
    # ... and everything else is torch's own or plain containers
    assert {
        g
        for g in found - _safe_names()
        if not g.startswith(('torch.', 'collections.', '_codecs.'))
    } == set()
    assert torch.serialization.get_unsafe_globals_in_checkpoint(
        runner_checkpoint) == []

    ckpt = torch.load(runner_checkpoint)
    assert set(ckpt) == {
        'meta', 'state_dict', 'message_hub', 'optimizer', 'param_schedulers'
    }
    assert ckpt['meta']['iter'] == 2
    meta = ckpt['meta']['dataset_meta']
    assert meta['weight'].dtype == np.float32
    assert meta['weight'].shape == (2, 4)
    loss = ckpt['message_hub']['log_scalars']['train/loss']
    assert isinstance(loss, HistoryBuffer)
    values, counts = loss.data
    assert values.shape == (2, ) and counts.dtype == np.int64
    assert loss.mean() == pytest.approx(values.mean())
    assert set(loss._statistics_methods) >= {'min', 'max', 'current', 'mean'}
    # MultiStepLR keeps its milestones in a collections.Counter
    assert ckpt['param_schedulers'][0]['milestones'] == {6: 1}
    # MMEngine's own loader (used by --resume and load_from) works too
    ckpt2 = _load_checkpoint(runner_checkpoint, map_location='cpu')
    for key, value in ckpt['state_dict'].items():
        assert torch.equal(value, ckpt2['state_dict'][key])


def test_numpy_payloads_roundtrip():
    register_checkpoint_safe_globals()
    obj = dict(
        f64=np.float64(1.5),
        f32=np.float32(2.5),
        i64=np.int64(-3),
        flag=np.bool_(True),
        colors=np.arange(6, dtype=np.uint8).reshape(2, 3),
        sigmas=np.linspace(0, 1, 5, dtype=np.float32),
        empty=np.zeros((0, 3), dtype=np.float64),
        mask=np.array([True, False]),
        buffer=HistoryBuffer([1.0, 2.0], [1, 1]),
        empty_buffer=HistoryBuffer())
    out = _roundtrip(obj)
    assert out['f64'] == 1.5 and out['f64'].dtype == np.float64
    assert out['i64'] == -3 and out['flag']
    np.testing.assert_array_equal(out['colors'], obj['colors'])
    assert out['colors'].dtype == np.uint8
    assert out['empty'].shape == (0, 3)
    assert out['buffer'].mean() == 1.5
    assert out['empty_buffer'].data[0].shape == (0, )


def test_numpy1_checkpoint_paths_load():
    """Checkpoints written under numpy 1.x name ``numpy.core.multiarray``."""
    register_checkpoint_safe_globals()
    buf = io.BytesIO()
    torch.save(
        dict(a=np.arange(3, dtype=np.float32), s=np.float64(2.0)),
        buf,
        _use_new_zipfile_serialization=False)
    raw = buf.getvalue()
    assert b'numpy._core.multiarray\n' in raw
    old = raw.replace(b'numpy._core.multiarray\n', b'numpy.core.multiarray\n')
    out = torch.load(io.BytesIO(old))
    np.testing.assert_array_equal(out['a'], [0, 1, 2])
    assert out['s'] == 2.0


class _Malicious:
    """Runs a shell command when unpickled."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f'touch {self.marker}', )


class _SneakyGetattr:
    """Reaches a non-statistics attribute through ``builtins.getattr``."""

    def __reduce__(self):
        return getattr, (HistoryBuffer, '__init__')


class _SneakyBytes:
    """Calls ``bytes`` with an argument (allocation)."""

    def __reduce__(self):
        return bytes, (10, )


def test_malicious_checkpoint_is_refused(tmp_path):
    register_checkpoint_safe_globals()
    marker = tmp_path / 'pwned'
    path = tmp_path / 'evil.pth'
    torch.save(
        dict(state_dict={'w': torch.zeros(2)}, meta=_Malicious(str(marker))),
        path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path)
    with pytest.raises(pickle.UnpicklingError):
        _load_checkpoint(str(path), map_location='cpu')
    assert not marker.exists()


@pytest.mark.parametrize('payload', [_SneakyGetattr(), _SneakyBytes()])
def test_restricted_stand_ins_refuse_other_calls(payload):
    register_checkpoint_safe_globals()
    with pytest.raises(pickle.UnpicklingError, match='only'):
        _roundtrip(dict(x=payload))
