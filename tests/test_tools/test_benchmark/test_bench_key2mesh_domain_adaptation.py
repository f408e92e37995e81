"""Row selection and the pre-trained cache of the Key2Mesh DA benchmark."""
import importlib.util
import os.path as osp

import pytest
import torch

_PATH = osp.join(osp.dirname(__file__), '..', '..', '..', 'tools',
                 'benchmark', 'bench_key2mesh_domain_adaptation.py')


@pytest.fixture(scope='module')
def bench():
    spec = importlib.util.spec_from_file_location('bench_k2m_da', _PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rows_cover_both_regulariser_readings(bench):
    args = bench.parse_args(
        ['--rows', 'reprojection', 'domain', 'full', 'full-target'])
    rows = bench.variants(args.feature_reg_weights, args.feature_reg_mode,
                          args.rows)
    assert [(r['domain_loss_weight'], r['feature_reg_weight'],
             r.get('feature_reg_mode')) for r in rows.values()] == [
                 (0.0, 0.0, None), (0.1, 0.0, None), (0.1, 20.0, 'source'),
                 (0.1, 20.0, 'target')]
    # 'full' with --feature-reg-mode target and 'full-target': one row
    rows = bench.variants([20.0], 'target', ('full', 'full-target'))
    assert [r['feature_reg_mode'] for r in rows.values()] == ['target']
    assert bench.parse_args([]).reduction == 'mean'
    with pytest.raises(SystemExit):
        bench.parse_args(['--reduction', 'sum'])


def test_pretrained_cache_refuses_other_options(bench, tmp_path):
    path = str(tmp_path / 'pre.pt')
    args = bench.parse_args(['--pretrained-cache', path])
    key = dict(bench._pretrain_key(args), hidden_dim=args.hidden_dim + 1)
    torch.save(dict(key=key, seconds=1.0, state_dict={}), path)
    with pytest.raises(ValueError, match='pre-trained with .* this run asks'):
        bench.pretrain_cached(torch.nn.Linear(1, 1), None, args)
