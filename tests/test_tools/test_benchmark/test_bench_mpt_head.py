"""One timed iteration of the head benchmark at the hand network's paper
dimensions (its numbers come from the analytic FLOP count and a clock)."""
import pytest

from mpt_plugin.models.heads.mesh_transformer_head import (
    HAND_PAPER_DIMS, MPTMeshTransformerHead)
from tests.tool_runner import load_tool


@pytest.fixture(scope='module')
def bench():
    return load_tool('benchmark/bench_mpt_head', 'mpt_bench')


def test_hand_variant_reports_the_hand_network(bench, capsys):
    out = bench.main(['--variant', 'hand', '--batch-size', '1', '--iters',
                      '1', '--warmup', '0', '--matmul-size', '64',
                      '--threads', '1'])
    head = MPTMeshTransformerHead(**HAND_PAPER_DIMS, loss=None)
    assert out['variant'] == 'hand'
    assert out['params_m'] == pytest.approx(head.num_parameters() / 1e6)
    assert out['gflop_per_sample'] == pytest.approx(
        head.flops_per_sample(train=True, sparse_input=True) / 1e9)
    assert out['samples_per_s'] > 0 and out['achieved_gflops'] > 0
    assert '| network | hand |' in capsys.readouterr().out
