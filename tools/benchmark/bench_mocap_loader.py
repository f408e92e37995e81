"""MoCap pre-training loader: samples/s per worker and bytes per sample.

    .venv/bin/python tools/benchmark/bench_mocap_loader.py \
        [--config configs/mpt_pretrain_demo.py] [--num-samples 4000]

Measures, on the config's training dataset (built, and cached, first):
  * samples/s of ``dataset[i]`` in one process (what one loader worker does);
  * samples/s through a ``DataLoader`` with 1 worker and the config's batch
    size (includes collation and inter-process transfer);
  * bytes per sample the loader carries (every tensor in a sample: SMPL
    parameters, gender, camera, indices), against a dense 17 x 224 x 224
    float32 heatmap stack.
Prints a markdown table and the command line.
"""
import argparse
import sys
import time

import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from torch.utils.data import DataLoader, default_collate

import mpt_plugin  # noqa: F401
from mpt_plugin.registry import DATASETS


def sample_bytes(sample: dict) -> int:
    """Bytes of every tensor (and string) a sample carries."""
    inputs = sample['inputs']
    values = list(inputs.values()) if isinstance(inputs, dict) else [inputs]
    total = 0
    for v in values + list(sample['data_samples'].values()):
        if isinstance(v, torch.Tensor):
            total += v.numel() * v.element_size()
        elif isinstance(v, str):
            total += len(v.encode())
    return total


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--config', default='configs/mpt_pretrain_demo.py')
    parser.add_argument('--num-samples', type=int, default=4000)
    parser.add_argument('--threads', type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    init_default_scope('mmpose')
    cfg = Config.fromfile(args.config)
    ds = DATASETS.build(cfg.train_dataloader.dataset)
    n = min(args.num_samples, len(ds))
    rng = np.random.default_rng(0)
    order = rng.permutation(len(ds))[:n]
    ds[int(order[0])]  # warm up (opens the memory maps)
    t = time.perf_counter()
    for i in order:
        ds[int(i)]
    per_proc = n / (time.perf_counter() - t)

    bs = cfg.train_dataloader.batch_size
    loader = DataLoader(torch.utils.data.Subset(ds, order.tolist()),
                        batch_size=bs, num_workers=1,
                        collate_fn=default_collate)
    it = iter(loader)
    next(it)
    t = time.perf_counter()
    count = 0
    for batch in it:
        # inputs is a dict of (B, ...) tensors: count the samples, not keys
        count += len(batch['data_samples']['mesh_index'])
    per_worker = count / (time.perf_counter() - t)

    nbytes = sample_bytes(ds[0])
    dense = 17 * 224 * 224 * 4
    print(f'command: {" ".join(sys.argv)}')
    print('| quantity | value |\n|---|---|')
    print(f'| dataset[i] in one process | {per_proc:,.0f} samples/s |')
    print(f'| DataLoader, 1 worker, batch {bs} | {per_worker:,.0f} '
          'samples/s |')
    print(f'| bytes per sample (SMPL parameters + camera) | {nbytes} B |')
    print(f'| dense 17x224x224 float32 heatmaps | {dense:,} B '
          f'({dense / nbytes:,.0f}x more) |')


if __name__ == '__main__':
    main()
