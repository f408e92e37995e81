"""``MPTMeshMetric`` gathers per-sample results across ranks correctly: two
gloo processes with DistributedSampler-style shards (interleaved, the last
one padded) give exactly the single-process metrics."""
import json
import socket

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from mpt_plugin.evaluation.metrics import MPTMeshMetric

pytestmark = pytest.mark.slow  # two gloo processes

METRICS = ('mpjpe', 'pa-mpjpe', 'pve', '3dpck', 'pa-3dpck', '3dauc',
           'pa-3dauc')
NUM = 7  # odd: the second rank's shard is padded with sample 0


def _samples():
    rng = np.random.default_rng(0)
    gt = rng.normal(scale=0.3, size=(NUM, 17, 3)).astype(np.float32)
    pred = gt + rng.normal(scale=0.05, size=gt.shape).astype(np.float32)
    gt_v = rng.normal(scale=0.3, size=(NUM, 40, 3)).astype(np.float32)
    pred_v = gt_v + rng.normal(scale=0.05,
                               size=gt_v.shape).astype(np.float32)
    mask = (rng.random((NUM, 17)) > 0.2).astype(np.float32)
    return [
        dict(pred_instances=dict(joints_h36m=torch.from_numpy(pred[i:i + 1]),
                                 vertices=torch.from_numpy(pred_v[i:i + 1])),
             gt_instances=dict(joints_h36m=torch.from_numpy(gt[i:i + 1]),
                               vertices=torch.from_numpy(gt_v[i:i + 1]),
                               keypoints3d_mask=torch.from_numpy(
                                   mask[i:i + 1]))) for i in range(NUM)
    ]


def _worker(rank, world, port, out_file):
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}',
                            rank=rank, world_size=world)
    try:
        samples = _samples()
        # DistributedSampler order: rank r gets r, r + world, ... padded
        # to equal length with the first indices
        indices = list(range(NUM))
        total = -(-NUM // world) * world
        indices += indices[:total - NUM]
        shard = indices[rank::world]
        metric = MPTMeshMetric(metric=METRICS)
        for i in range(0, len(shard), 2):
            metric.process({}, [samples[j] for j in shard[i:i + 2]])
        res = metric.evaluate(NUM)
        if rank == 0:
            with open(out_file, 'w') as f:
                json.dump(res, f)
    finally:
        dist.destroy_process_group()


def test_two_ranks_equal_one_process(tmp_path):
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    out = tmp_path / 'res.json'
    mp.spawn(_worker, args=(2, port, str(out)), nprocs=2, join=True)
    res = json.loads(out.read_text())
    single = MPTMeshMetric(metric=METRICS)
    single.process({}, _samples())
    expected = single.evaluate(NUM)
    assert set(res) == set(expected)
    for k in expected:
        assert res[k] == expected[k], k
