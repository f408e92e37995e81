"""Every estimator trains and predicts on a CUDA GPU (marked ``cuda``:
``tests/conftest.py`` skips these where ``torch.cuda.is_available()`` is
False).

For each demo config, on the synthetic assets (and, for the image demos,
images rendered by ``tools/make_synthetic_images.py``):

- the model built from the MODELS registry under the ``mmpose`` scope and
  moved to the GPU runs ``train_step`` on one small training batch with the
  config's optimiser (finite losses), then ``val_step`` on one validation
  batch (finite predictions);
- the data preprocessor puts every tensor of its output on the GPU;
- ``tools/train.py configs/mpt_pretrain_demo.py`` trains one short epoch
  on the GPU in a subprocess (with its validation).

The workspace is laid out as the demos expect relative to the working
directory (``data/synthetic`` = the session's synthetic assets,
``data/synthetic_images`` rendered here), as in
``tests/test_tools/test_mpt_image_configs.py``; the tests run from it.
"""
import os.path as osp
import re
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import MODELS, init_default_scope
from mmengine.runner import Runner
from mmengine.structures import BaseDataElement
from mmengine.utils import import_modules_from_strings

from tests.tool_runner import image_workspace, run_tool

pytestmark = pytest.mark.cuda

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = ('mpt_pretrain_demo', 'mpt_finetune_demo', 'key2mesh_pretrain_demo',
           'key2mesh_da_demo', 'mpt_da_demo', 'pc_hmr_serial_demo',
           'pc_hmr_parallel_key2mesh_demo', 'pc_hmr_parallel_video_demo')
BATCH_SIZE = 4


@pytest.fixture(scope='module')
def workspace(synthetic_assets, tmp_path_factory):
    """A working directory with the synthetic assets and images."""
    return image_workspace(synthetic_assets,
                           tmp_path_factory.mktemp('cuda_demos'), 'mpt_cuda_tests')


@pytest.fixture
def in_workspace(workspace, monkeypatch):
    monkeypatch.chdir(workspace)
    return workspace


def _config(name: str) -> Config:
    cfg = Config.fromfile(osp.join(REPO, 'configs', f'{name}.py'))
    if cfg.get('custom_imports'):
        import_modules_from_strings(**cfg.custom_imports)
    init_default_scope(cfg.get('default_scope', 'mmpose'))
    for split in ('train', 'val'):
        loader = cfg[f'{split}_dataloader']
        loader.batch_size = BATCH_SIZE
        loader.num_workers = 0
        loader.persistent_workers = False
    return cfg


def _build(cfg: Config):
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model.cuda().train()


def _first_batch(loader_cfg) -> dict:
    return next(iter(Runner.build_dataloader(loader_cfg, seed=0)))


def _tensors(obj, path='out', arrays=False):
    """``(path, tensor)`` of every tensor in nested dicts / sequences /
    data elements; with ``arrays``, numpy float arrays too (as tensors)."""
    if isinstance(obj, torch.Tensor):
        yield path, obj
    elif arrays and isinstance(obj, np.ndarray) and obj.dtype.kind == 'f':
        yield path, torch.from_numpy(obj)
    elif isinstance(obj, BaseDataElement):
        for key, value in obj.all_items():
            yield from _tensors(value, f'{path}.{key}', arrays)
    elif isinstance(obj, dict):
        for key, value in obj.items():
            yield from _tensors(value, f'{path}[{key!r}]', arrays)
    elif isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            yield from _tensors(value, f'{path}[{i}]', arrays)


def _not_finite(obj):
    return [p for p, t in _tensors(obj, arrays=True)
            if t.is_floating_point() and not torch.isfinite(t).all()]


@pytest.mark.parametrize('name', CONFIGS)
def test_train_step_and_predict(name, in_workspace):
    cfg = _config(name)
    model = _build(cfg)
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    log_vars = model.train_step(_first_batch(cfg.train_dataloader),
                                optim_wrapper)
    assert log_vars, f'{name}: train_step logged nothing'
    bad = [k for k, v in log_vars.items()
           if not torch.isfinite(torch.as_tensor(v)).all()]
    assert bad == [], f'{name}: non-finite losses {bad}: {log_vars}'
    params = [p for p in model.parameters() if p.requires_grad]
    assert params and all(p.is_cuda for p in params)

    model.eval()
    with torch.no_grad():
        preds = model.val_step(_first_batch(cfg.val_dataloader))
    assert len(preds) > 0
    found = list(_tensors(preds, arrays=True))
    assert found, f'{name}: no tensors in the predictions'
    assert _not_finite(preds) == [], f'{name}: non-finite predictions'


@pytest.mark.parametrize('name', CONFIGS)
def test_data_preprocessor_output_on_cuda(name, in_workspace):
    cfg = _config(name)
    model = _build(cfg)
    device = next(model.parameters()).device
    assert device.type == 'cuda'
    batch = _first_batch(cfg.train_dataloader)
    with torch.no_grad():
        out = model.data_preprocessor(batch, training=True)
    found = list(_tensors(out))
    assert found, f'{name}: no tensors in the preprocessor output'
    off = [f'{p} ({t.device})' for p, t in found if not t.is_cuda]
    assert off == [], f'{name}: preprocessor output off the GPU: {off}'


def test_train_tool_mpt_pretrain_demo_one_epoch(in_workspace):
    work = in_workspace / 'work_mpt_pretrain_demo'
    small = []
    for split, meshes in (('train', 32), ('val', 16)):
        key = f'{split}_dataloader'
        small += [f'{key}.dataset.max_meshes={meshes}',
                  f'{key}.num_workers=0', f'{key}.persistent_workers=False']
    out = run_tool([
        sys.executable,
        osp.join(REPO, 'tools', 'train.py'),
        osp.join(REPO, 'configs', 'mpt_pretrain_demo.py'), '--work-dir',
        str(work), '--cfg-options', 'train_cfg.max_epochs=1', *small
    ], cwd=str(in_workspace), timeout=600)
    # 32 meshes x 4 views = 128 samples, batch 32 -> 4 iterations, on the
    # GPU: MMEngine logs torch.cuda.max_memory_allocated (MB) of each
    # logged iteration, 0 if the model stayed on the CPU
    assert 'Epoch(train) [1][4/4]' in out, out[-3000:]
    memory = [int(m) for m in re.findall(r'memory: (\d+)', out)]
    assert memory and max(memory) > 0, out[-3000:]
    assert 'mocap/pa_mpjpe' in out
    assert (work / 'epoch_1.pth').is_file()
