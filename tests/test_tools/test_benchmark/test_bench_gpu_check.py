"""The GPU check's CPU smoke run: the demo config, one warm-up and one timed
step per mode, a table with both modes and finite positive numbers."""
import importlib.util
import json
import math
import os.path as osp

import pytest

_PATH = osp.join(osp.dirname(__file__), '..', '..', '..', 'tools',
                 'benchmark', 'bench_gpu_check.py')


@pytest.fixture(scope='module')
def bench():
    spec = importlib.util.spec_from_file_location('bench_gpu_check', _PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_peak_table_and_options(bench):
    args = bench.parse_args([])
    assert (args.config, args.device, args.batch_size, args.iters,
            args.warmup) == ('configs/mpt_pretrain_amass.py', 'cuda', 32, 30,
                             5)
    opts = bench.data_options('/d', 40, 2, 0)
    assert opts['train_dataloader.dataset.data_root'] == '/d/amass'
    assert opts['model.mesh_sampler'] == '/d/body_models/mesh_downsampling.npz'
    assert opts['train_dataloader.dataset.sample_fps'] is None
    import torch
    assert bench.peak_tflops(torch.device('cpu'), 'bf16', False) is None


def test_cpu_smoke_run_reports_both_modes(bench, synthetic_assets, tmp_path,
                                          capsys):
    out_json = tmp_path / 'check.json'
    report = bench.main([
        '--device', 'cpu', '--config', 'configs/mpt_pretrain_demo.py',
        '--data-root', str(synthetic_assets), '--iters', '1', '--warmup',
        '1', '--batch-size', '2', '--num-workers', '0', '--num-samples',
        '40', '--json', str(out_json)
    ])
    printed = capsys.readouterr().out
    rows = [line for line in printed.splitlines()
            if line.startswith('| fp32') or line.startswith('| bf16')]
    assert [r.split('|')[1].split()[0] for r in rows] == ['fp32', 'bf16']
    for row in rows:
        cells = [c.strip() for c in row.split('|')[2:-1]]
        assert len(cells) == 9, row
        # samples/s, step ms, peak mem, posing %, preproc %, head TFLOP/s
        numbers = [float(c) for c in cells[:6]]
        assert all(math.isfinite(v) and v > 0 for v in numbers), row
        assert cells[6:8] == ['n/a', 'n/a']  # no known CPU peak
        assert math.isfinite(float(cells[8]))  # last loss
    assert 'Command: `python tools/benchmark/bench_gpu_check.py' in printed
    assert 'Device: cpu' in printed and 'torch ' in printed

    assert json.loads(out_json.read_text()) == json.loads(
        json.dumps(report))
    for r in report['results']:
        assert 0 < r['posing_share'] <= r['preprocessor_share'] < 1
        assert r['head_input'] == 'sparse'  # the demo's sparse pixel noise
        assert r['head_gflop_per_sample'] > 0
        assert r['peak_memory_kind'] == 'max_rss'
