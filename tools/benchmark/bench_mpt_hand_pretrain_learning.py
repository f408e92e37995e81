"""Does hand pre-training learn? Held-out hand poses before and after the
demo schedule.

    .venv/bin/python tools/benchmark/bench_mpt_hand_pretrain_learning.py \
        [--config configs/mpt_hand_pretrain_demo.py] \
        [--work-dir work_dirs/bench_hand_learning] [--cfg-options k=v ...]

Builds the Runner from the config, evaluates the freshly initialised model
on the validation set (held-out poses of ``hand_poses/val.npz``, seen from
other viewpoints than training) with the config's ``val_evaluator``
(FreiHAND's evaluation: MPJPE / MPVPE wrist-relative, PA-MPJPE / PA-MPVPE
after FreiHAND's alignment, mm), trains with the config's schedule, and
evaluates again. Prints a markdown table for docs/benchmarks.md and writes
``<work-dir>/results.json``. Acceptance of issue 15: trained held-out
PA-MPJPE <= 50 % of the untrained model's.
"""
import argparse
import json
import os
import os.path as osp
import sys
import time

import torch
from mmengine.config import Config
from mmengine.runner import Runner

_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import mpt_plugin  # noqa: E402,F401  (registers components)
from mpt_plugin.apis.tool_config import CfgOptionsAction  # noqa: E402
from mpt_plugin.utils.file_io import write_atomic  # noqa: E402

#: The reported numbers (the metric's keys without its prefix).
KEYS = ('MPJPE', 'PA-MPJPE', 'MPVPE', 'PA-MPVPE')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default='configs/mpt_hand_pretrain_demo.py')
    parser.add_argument('--work-dir', default='work_dirs/bench_hand_learning')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction)
    return parser.parse_args(argv)


@torch.no_grad()
def evaluate(runner: Runner) -> dict:
    """The val evaluator's numbers of ``runner.model`` on its val set."""
    loader = runner.val_dataloader
    evaluator = runner.build_evaluator(runner.cfg.val_evaluator)
    evaluator.dataset_meta = getattr(loader.dataset, 'metainfo', {})
    model = runner.model
    was_training = model.training
    model.eval()
    for batch in loader:
        evaluator.process(model.val_step(batch), batch)
    model.train(was_training)
    out = evaluator.evaluate(len(loader.dataset))
    return {k.split('/')[-1]: float(v) for k, v in out.items()}


def main(argv=None) -> dict:
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    cfg.work_dir = args.work_dir
    os.makedirs(cfg.work_dir, exist_ok=True)
    t0 = time.time()
    runner = Runner.from_cfg(cfg)
    runner.model.init_weights()  # what runner.train() does first
    before = evaluate(runner)
    t_train = time.time()
    runner.train()
    train_s = time.time() - t_train
    after = evaluate(runner)
    results = dict(
        config=args.config, cfg_options=args.cfg_options or {},
        train_samples=len(runner.train_dataloader.dataset),
        heldout_samples=len(runner.val_dataloader.dataset),
        train_seconds=round(train_s, 1),
        total_seconds=round(time.time() - t0, 1),
        untrained=before, trained=after,
        pa_mpjpe_ratio=after['PA-MPJPE'] / before['PA-MPJPE'])
    def write(tmp: str) -> None:
        with open(tmp, 'w') as f:
            json.dump(results, f, indent=1)

    write_atomic(osp.join(cfg.work_dir, 'results.json'), write)
    print(f'\ncommand: {" ".join(sys.argv)}')
    print('| model | ' + ' | '.join(KEYS) + ' |  (mm, held-out poses)')
    print('|---' * (len(KEYS) + 1) + '|')
    for name, m in (('untrained', before), ('trained', after)):
        print(f'| {name} | ' + ' | '.join(f'{m[k]:.1f}' for k in KEYS)
              + ' |')
    print(f'\ntrained / untrained PA-MPJPE = {results["pa_mpjpe_ratio"]:.2f}'
          f'; {results["train_samples"]} training samples, '
          f'{results["heldout_samples"]} held out; training took '
          f'{train_s / 60:.1f} min')
    return results


if __name__ == '__main__':
    main()
