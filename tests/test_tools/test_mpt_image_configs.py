"""MPT from images, end to end, on rendered synthetic HumanData files.

- every image config builds its model (paper sizes) and names registered
  datasets / transforms / metrics;
- ``configs/mpt_finetune_demo.py`` fine-tunes a few iterations through
  ``tools/train.py`` on the mixed synthetic datasets (a 3D one and a 2D-only
  one) and is evaluated with ``MPTMeshMetric``;
- ``configs/mpt_test_h36m_p2.py`` and ``configs/mpt_test_3dpw.py`` (paper
  model) run through ``tools/test.py`` on synthetic
  ``h36m_valid_protocol2.npz`` / ``pw3d_test.npz`` laid out like the real
  files, printing the metrics and dumping predictions.

The data are written by ``tools/make_synthetic_images.py --all`` under
``<tmp>/data/synthetic_images`` next to ``<tmp>/data/synthetic`` (the body
model), i.e. the paths the demo config expects relative to the working
directory.

Cost: every tool subprocess pays ~10 s of imports on the 2-core CI
machine, and the tools run with one OpenMP thread, so the module's tool
runs (fine-tuning + demo, domain adaptation, the two paper test runs) are
started together from one fixture, two at a time, and the tests read their
outputs; the two paper test configs share one model config, hence one
checkpoint (built once, with the same seed).
"""
import os.path as osp
import re
import pickle
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mpt_plugin.registry import DATASETS, METRICS, MODELS, TRANSFORMS
from tests.tool_runner import capture_tool, image_workspace

pytestmark = pytest.mark.slow  # trains and tests through the tools

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TIMEOUT = 900
IMAGE_CONFIGS = ('mpt_finetune_mixed', 'mpt_finetune_3dpw',
                 'mpt_test_h36m_p2', 'mpt_test_3dpw',
                 'mpt_test_no_finetune_h36m_p2', 'mpt_finetune_demo')


@pytest.fixture(scope='module')
def workspace(synthetic_assets, tmp_path_factory):
    """A working directory with the synthetic assets and images."""
    return image_workspace(synthetic_assets,
                           tmp_path_factory.mktemp('mpt_images'), 'mpt_image_tests')


def _synthetic_model_options(root):
    bm = osp.join(root, 'data', 'synthetic', 'body_models')
    return {
        'model.body_model.model_path': bm,
        'model.body_model.joints_regressor': f'{bm}/J_regressor_h36m.npy',
        # the GT bodies of the targets, posed by the data preprocessor
        'model.data_preprocessor.body_model.model_path': bm,
        'model.data_preprocessor.body_model.joints_regressor':
        f'{bm}/J_regressor_h36m.npy',
        'model.mesh_sampler': f'{bm}/mesh_downsampling.npz',
        'model.backbone.checkpoint': None,
    }


def _types(cfg):
    """Every ``type`` name in a (nested) config."""
    if isinstance(cfg, dict):
        found = [cfg['type']] if isinstance(cfg.get('type'), str) else []
        for v in cfg.values():
            found += _types(v)
        return found
    if isinstance(cfg, (list, tuple)):
        return [t for v in cfg for t in _types(v)]
    return []


PAPER_TEST_CONFIGS = ('mpt_test_h36m_p2', 'mpt_test_3dpw')


def _paper_model_cfg(name, root):
    init_default_scope('mmpose')
    cfg = Config.fromfile(osp.join(REPO, 'configs', f'{name}.py'))
    cfg.merge_from_dict(_synthetic_model_options(root))
    return cfg.model


def _paper_checkpoints(root):
    """``{name: checkpoint}``: the paper model, seed 0, ``init_weights``;
    configs with equal model configs share one file."""
    ckpts, built = {}, []
    for name in PAPER_TEST_CONFIGS:
        model_cfg = _paper_model_cfg(name, root)
        for other_cfg, path in built:
            if other_cfg == model_cfg:
                ckpts[name] = path
                break
        else:
            path = root / f'{name}.pth'
            torch.manual_seed(0)
            model = MODELS.build(model_cfg)
            model.init_weights()
            torch.save(dict(state_dict=model.state_dict(), meta={}), path)
            del model
            built.append((model_cfg, path))
            ckpts[name] = path
    return ckpts


def _finetune_and_demo(root):
    work = root / 'work_finetune'
    result = dict(work=work)
    result['train'] = capture_tool([
        sys.executable,
        osp.join(REPO, 'tools', 'train.py'),
        osp.join(REPO, 'configs', 'mpt_finetune_demo.py'), '--work-dir',
        str(work), '--cfg-options', 'train_cfg.max_epochs=1',
        'train_dataloader.batch_size=4', 'train_dataloader.num_workers=0',
        'train_dataloader.dataset.length=8',
        'val_dataloader.num_workers=0', 'val_dataloader.batch_size=4',
        'val_dataloader.persistent_workers=False'
    ], cwd=root, timeout=TIMEOUT)
    if result['train'][0] != 0:
        return result
    # tools/demo.py: one rendered image -> overlay PNG + OBJ mesh
    image = sorted((root / 'data' / 'synthetic_images' / 'datasets' /
                    'pw3d').rglob('*.jpg'))[0]
    demo_dir = root / 'demo_out'
    result.update(image=image, demo_dir=demo_dir)
    result['demo'] = capture_tool([
        sys.executable,
        osp.join(REPO, 'tools', 'demo.py'),
        str(image),
        osp.join(REPO, 'configs', 'mpt_finetune_demo.py'),
        str(work / 'epoch_1.pth'), '--out-dir',
        str(demo_dir)
    ], cwd=root, timeout=TIMEOUT)
    return result


def _paper_test(root, name, ckpt):
    dump = root / f'{name}_preds.pkl'
    opts = [f'{k}={v}' for k, v in _synthetic_model_options(root).items()]
    code, out = capture_tool([
        sys.executable,
        osp.join(REPO, 'tools', 'test.py'),
        osp.join(REPO, 'configs', f'{name}.py'), str(ckpt), '--work-dir',
        str(root / f'work_{name}'), '--dump', str(dump),
        '--cfg-options', *opts,
        'test_dataloader.dataset.data_prefix=data/synthetic_images',
        'test_dataloader.dataset.num_samples=4',
        'test_dataloader.batch_size=2', 'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False'
    ], cwd=root, timeout=TIMEOUT)
    return code, out, dump


@pytest.fixture(scope='module')
def runs(workspace):
    """Every tool run of this module, two at a time (2 CPU cores, one
    OpenMP thread per run): fine-tuning demo then tools/demo.py, the
    domain-adaptation demo, tools/test.py on both paper test configs."""
    root = workspace
    with ThreadPoolExecutor(max_workers=2) as pool:
        finetune = pool.submit(_finetune_and_demo, root)
        da = pool.submit(capture_tool, [
            sys.executable,
            osp.join(REPO, 'tools', 'train.py'),
            osp.join(REPO, 'configs', 'mpt_da_demo.py'), '--work-dir',
            str(root / 'work_da'), '--cfg-options',
            'train_dataloader.dataset.length=8',
            'train_dataloader.batch_size=4'
        ], cwd=root, timeout=TIMEOUT)
        # built here while the first two runs go
        ckpts = _paper_checkpoints(root)
        paper = {name: pool.submit(_paper_test, root, name, ckpts[name])
                 for name in PAPER_TEST_CONFIGS}
        return dict(finetune=finetune.result(), da=da.result(),
                    ckpts=ckpts,
                    paper={k: f.result() for k, f in paper.items()})


@pytest.mark.parametrize('name', IMAGE_CONFIGS)
def test_config_builds(name, workspace):
    init_default_scope('mmpose')
    cfg = Config.fromfile(osp.join(REPO, 'configs', f'{name}.py'))
    cfg.merge_from_dict(_synthetic_model_options(workspace))
    model = MODELS.build(cfg.model)
    assert type(model).__name__ == 'MPTFinetuneEstimator'
    if name != 'mpt_finetune_demo':
        # paper sizes: HRNet-W48, 224x224 maps, hidden sizes 1024/256/64
        assert model.backbone.backbone.stage4 is not None
        assert model.head.input_size == 224
        assert model.head.hidden_dims == (1024, 256, 64)
    registries = (DATASETS, TRANSFORMS, METRICS, MODELS)
    for key in ('train_dataloader', 'test_dataloader', 'test_evaluator'):
        for t in _types(cfg[key]):
            if t in ('DefaultSampler', 'pseudo_collate'):
                continue
            assert any(r.get(t) is not None for r in registries), (name, t)


def test_finetune_demo_trains_and_evaluates(runs):
    result = runs['finetune']
    work = result['work']
    code, out = result['train']
    assert code == 0, out[-6000:]
    assert 'Epoch(train) [1][2/2]' in out
    assert 'loss_joints_proj' in out
    assert 'mesh/PA-MPJPE' in out
    # the best epoch is chosen on the held-out subject S8 (8 frames)
    assert 'Epoch(val) [1][2/2]' in out
    assert (work / 'best_mesh_PA-MPJPE_epoch_1.pth').is_file()
    ckpt = torch.load(work / 'epoch_1.pth', map_location='cpu')
    keys = ckpt['state_dict']
    assert any(k.startswith('backbone.backbone.') for k in keys)
    assert any(k.startswith('head.') for k in keys)

    # tools/demo.py: one rendered image -> overlay PNG + OBJ mesh
    code, out = result['demo']
    assert code == 0, out[-6000:]
    image, demo_dir = result['image'], result['demo_dir']
    obj = (demo_dir / f'{image.stem}_mesh.obj').read_text().splitlines()
    assert sum(line.startswith('v ') for line in obj) == 6890
    assert sum(line.startswith('f ') for line in obj) == 13776
    assert (demo_dir / f'{image.stem}_mesh_overlay.png').stat().st_size > 0


@pytest.mark.parametrize('name,dataset,metrics', [
    ('mpt_test_h36m_p2', 'h36m_valid_protocol2.npz',
     ('MPJPE', 'PA-MPJPE', '3DPCK', 'PA-3DAUC')),
    ('mpt_test_3dpw', 'pw3d_test.npz', ('MPJPE', 'PA-MPJPE', 'PVE')),
])
def test_paper_test_configs_run(name, dataset, metrics, workspace, runs):
    # the checkpoint tested is the paper model of this config (seed 0,
    # init_weights), shared by configs whose model configs are equal
    ckpt = runs['ckpts'][name]
    shared = [other for other in PAPER_TEST_CONFIGS
              if runs['ckpts'][other] == ckpt]
    for other in shared:
        assert _paper_model_cfg(other, workspace) == \
            _paper_model_cfg(name, workspace)
    code, out, dump = runs['paper'][name]
    assert code == 0, out[-6000:]
    # the resolved config the runner logs reads the benchmark file
    assert re.search(rf"ann_file='[^']*/?{re.escape(dataset)}'", out), \
        out[-3000:]
    for m in metrics:
        assert f'mesh/{m}:' in out, out[-3000:]
    with open(dump, 'rb') as f:  # our own file, written just above
        preds = pickle.load(f)
    assert len(preds) == 4
    assert tuple(preds[0]['pred_instances']['vertices'].shape) == (1, 6890,
                                                                  3)


def test_mpt_domain_adaptation_demo_trains(workspace, runs):
    """MPT's token encoder adapted by the WGAN-GP component: MoCap heatmaps
    (source) vs pose feature maps of rendered images (target)."""
    init_default_scope('mmpose')
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'mpt_da_h36m.py'))
    cfg.merge_from_dict({
        f'model.estimator.{k[len("model."):]}': v
        for k, v in _synthetic_model_options(workspace).items()
    })
    bm = osp.join(workspace, 'data', 'synthetic', 'body_models')
    cfg.model.data_preprocessor.source.body_model.update(
        model_path=bm, joints_regressor=f'{bm}/J_regressor_h36m.npy')
    cfg.model.source_checkpoint = None
    model = MODELS.build(cfg.model)  # paper sizes build
    assert type(model.estimator).__name__ == 'MPTFinetuneEstimator'
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(
        n.startswith(('estimator.head.patch_embed.',
                      'estimator.head.patch_mlp.', 'critic.'))
        for n in trainable)
    del model

    code, out = runs['da']
    assert code == 0, out[-6000:]
    assert 'Epoch(train) [1][2/2]' in out
    for key in ('loss_critic', 'wasserstein', 'gradient_penalty',
                'critic_grad_norm', 'loss_domain', 'loss_reprojection',
                'loss_feature_reg'):
        assert f'{key}: ' in out, key
    assert 'mesh/PA-MPJPE' in out
