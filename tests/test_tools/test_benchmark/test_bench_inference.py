"""A tiny run of the inference throughput benchmark (demo configs with the
session's synthetic body model)."""
import json
import os.path as osp

import pytest

from tests.tool_runner import REPO

_PATH = osp.join(REPO, 'tools', 'benchmark', 'bench_inference.py')


@pytest.fixture(scope='module')
def bench():
    import importlib.util
    spec = importlib.util.spec_from_file_location('bench_inference', _PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tiny_run_reports_both_apis(bench, synthetic_assets, tmp_path,
                                    capsys):
    out = tmp_path / 'bench.json'
    assert bench.main([
        '--mesh-config', osp.join(REPO, 'configs',
                                  'pc_hmr_parallel_video_demo.py'),
        '--keypoints-config', osp.join(REPO, 'configs',
                                       'key2mesh_pretrain_demo.py'),
        '--synthetic-body-model', str(synthetic_assets / 'body_models'),
        '--batch-sizes', '1', '2', '--num-images', '2', '--people', '2',
        '--image-size', '64', '48', '--repeats', '1', '--json', str(out)
    ]) == 0
    rows = json.loads(out.read_text())['rows']
    assert [(r['api'], r['batch_size']) for r in rows] == [
        ('inference_mesh', 1), ('inference_mesh', 2),
        ('inference_keypoints', 1), ('inference_keypoints', 2)]
    for row in rows:
        assert row['people'] == 4 and row['images'] == 2
        assert row['people_per_s'] == pytest.approx(
            2 * row['images_per_s'])
        assert row['seconds'] > 0
    assert '| inference_mesh | pc_hmr_parallel_video_demo.py | 2 |' in \
        capsys.readouterr().out


def test_synthetic_body_model_rewrites_paths(bench):
    cfg = dict(body_model=dict(model_path='data/body_models',
                               joints_regressor='x.npy'),
               backbone=dict(checkpoint='ckpt.pth'),
               streams=[dict(mesh_sampler='m.npz', joint_regressor='r.npy')])
    bench._point_paths(cfg, '/s')
    assert cfg == dict(body_model=dict(model_path='/s',
                                       joints_regressor=osp.join(
                                           '/s', 'J_regressor_h36m.npy')),
                       backbone=dict(checkpoint=None),
                       streams=[dict(mesh_sampler=osp.join(
                           '/s', 'mesh_downsampling.npz'),
                           joint_regressor=osp.join(
                               '/s', 'J_regressor_h36m.npy'))])
