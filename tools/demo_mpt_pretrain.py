"""The MPT pre-training demo: train on synthetic MoCap, evaluate, draw.

    .venv/bin/python tools/demo_mpt_pretrain.py [--config configs/mpt_pretrain_demo.py]
        [--work-dir work_dirs/mpt_pretrain_demo] [--cfg-options k=v ...]

Steps: build the Runner from the config; evaluate the freshly initialised
model on the held-out motions (the val split: sequences never seen in
training); train with the config's schedule; evaluate the trained model
(all joints visible, and with 30 % of joints masked at test time); save a
picture of predicted vs ground-truth meshes for a few held-out samples and a
``demo_results.json`` with every number, in the work dir.

``make demo`` runs this after generating the synthetic assets.
"""
import argparse
import json
import os
import os.path as osp
import time

import numpy as np
from mmengine.config import Config
from mmengine.runner import Runner

import mpt_plugin  # noqa: F401  (registers components)
from mpt_plugin.apis import evaluate_mocap_model, save_mocap_prediction_figure
from mpt_plugin.apis.tool_config import CfgOptionsAction
from mpt_plugin.body_models import MPTSMPL


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default='configs/mpt_pretrain_demo.py')
    parser.add_argument('--work-dir', default=None)
    parser.add_argument('--test-mask-ratio', type=float, default=0.3,
                        help='fraction of joints masked in the extra '
                        'evaluation (the MHM ablation protocol)')
    parser.add_argument('--num-figure-samples', type=int, default=4)
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction)
    return parser.parse_args()


def fmt(metrics: dict) -> str:
    return ', '.join(f'{k} {metrics[k]:.1f}'
                     for k in ('mpjpe', 'pa_mpjpe', 'pve'))


def run_demo(cfg: Config, test_mask_ratio: float = 0.3,
             num_figure_samples: int = 4) -> dict:
    """Train and evaluate as described in the module docstring; returns the
    results dict (also written to ``<work_dir>/demo_results.json``)."""
    t0 = time.time()
    runner = Runner.from_cfg(cfg)
    model = runner.model
    val_set = runner.val_dataloader.dataset
    model.init_weights()  # what runner.train() would do first
    before = evaluate_mocap_model(model, val_set)
    runner.logger.info(f'untrained model on held-out motions: {fmt(before)}')
    t_train = time.time()
    runner.train()
    train_s = time.time() - t_train
    after = evaluate_mocap_model(model, val_set)
    masked = evaluate_mocap_model(model, val_set,
                                  test_mask_ratio=test_mask_ratio)
    runner.logger.info(f'trained model on held-out motions: {fmt(after)}')
    runner.logger.info(f'trained, {test_mask_ratio:.0%} of joints masked: '
                       f'{fmt(masked)}')

    bm = cfg.model.body_model
    faces = MPTSMPL(**{k: v for k, v in bm.items() if k != 'type'}).faces
    step = max(len(val_set) // max(num_figure_samples, 1), 1)
    indices = list(range(0, step * num_figure_samples, step))[:len(val_set)]
    figure = save_mocap_prediction_figure(
        model, val_set, indices, np.asarray(faces, dtype=np.int64),
        osp.join(cfg.work_dir, 'demo_meshes.png'))
    results = dict(
        config=cfg.filename, work_dir=cfg.work_dir,
        train_samples=len(runner.train_dataloader.dataset),
        heldout_samples=len(val_set), train_seconds=round(train_s, 1),
        total_seconds=round(time.time() - t0, 1),
        untrained=before, trained=after,
        trained_masked=dict(masked, test_mask_ratio=test_mask_ratio),
        pa_mpjpe_ratio=after['pa_mpjpe'] / before['pa_mpjpe'],
        figure=figure)
    with open(osp.join(cfg.work_dir, 'demo_results.json'), 'w') as f:
        json.dump(results, f, indent=1)
    print('\n| model | MPJPE | PA-MPJPE | PVE |  (mm, held-out synthetic '
          'motions)\n|---|---|---|---|')
    for name, m in (('untrained', before), ('trained', after),
                    (f'trained, {test_mask_ratio:.0%} joints masked',
                     masked)):
        print(f"| {name} | {m['mpjpe']:.1f} | {m['pa_mpjpe']:.1f} | "
              f"{m['pve']:.1f} |")
    print(f'\ntrained / untrained PA-MPJPE = {results["pa_mpjpe_ratio"]:.2f}'
          f'; training took {train_s / 60:.1f} min; picture: {figure}')
    return results


def main():
    args = parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or osp.join(
        'work_dirs', osp.splitext(osp.basename(args.config))[0])
    os.makedirs(cfg.work_dir, exist_ok=True)
    run_demo(cfg, args.test_mask_ratio, args.num_figure_samples)


if __name__ == '__main__':
    main()
