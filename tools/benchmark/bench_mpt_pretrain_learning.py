"""Does MoCap pre-training learn? Demo schedule, one run per variant.

    .venv/bin/python tools/benchmark/bench_mpt_pretrain_learning.py \
        [--config configs/mpt_pretrain_demo.py] [--work-dir work_dirs/bench_learning] \
        [--variant NAME [KEY=VALUE ...]] ... [--seed N]

Without ``--variant`` it trains the demo config twice from the same seed:
Masked Heatmap Modeling on (the config's MHM) and off (no masking, jitter or
noise). Each ``--variant NAME KEY=VALUE ...`` instead adds one run of the
config with those ``--cfg-options``-style overrides (no override = the
config as shipped; ``mhm_off`` is a reserved name for the MHM-off run), e.g.

    --variant shipped --variant flatten model.head.global_feature=flatten \
    --variant no_pixel_noise model.data_preprocessor.mhm.pixel_noise_std=0.0

Each run reports held-out MPJPE / PA-MPJPE / PVE (mm) of the untrained
model, the trained model, and the trained model with 30 % of the joints
masked at test time (the same joints for every run), and keeps its
checkpoints in ``<work-dir>/<name>``. Prints a markdown table for
docs/benchmarks.md.
"""
import argparse
import copy
import importlib.util
import json
import os.path as osp
import sys

from mmengine.config import Config, DictAction

HERE = osp.dirname(osp.abspath(__file__))
spec = importlib.util.spec_from_file_location(
    'demo_mpt_pretrain', osp.join(HERE, '..', 'demo_mpt_pretrain.py'))
demo = importlib.util.module_from_spec(spec)
spec.loader.exec_module(demo)

MHM_OFF = dict(type='MPTMaskedHeatmapModeling', mask_mode='none',
               jitter_std_px=0.0, amplitude_noise_std=0.0,
               pixel_noise_std=0.0)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--config', default='configs/mpt_pretrain_demo.py')
    parser.add_argument('--work-dir', default='work_dirs/bench_learning')
    parser.add_argument('--test-mask-ratio', type=float, default=0.3)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='overrides applied to every run')
    parser.add_argument('--variant', nargs='+', action='append',
                        metavar=('NAME', 'KEY=VALUE'),
                        help='one run: a name and its overrides')
    parser.add_argument('--seed', type=int, default=None,
                        help='randomness.seed of every run (default: the '
                        "config's)")
    args = parser.parse_args()
    variants = {'mhm_on': {}, 'mhm_off': {}}
    if args.variant:
        variants = {}
        for name, *items in args.variant:
            action = DictAction(option_strings=[], dest='v')
            ns = argparse.Namespace()
            action(parser, ns, items or [])
            variants[name] = getattr(ns, 'v', None) or {}
    rows = {}
    for name, overrides in variants.items():
        cfg = Config.fromfile(args.config)
        if args.cfg_options:
            cfg.merge_from_dict(args.cfg_options)
        cfg.merge_from_dict(overrides)
        if args.seed is not None:
            cfg.randomness = dict(cfg.get('randomness', {}), seed=args.seed)
        if name == 'mhm_off':
            cfg.model.data_preprocessor.mhm = copy.deepcopy(MHM_OFF)
        cfg.work_dir = osp.join(args.work_dir, name)
        cfg.experiment_name = f'bench_learning_{name}'
        rows[name] = demo.run_demo(cfg, args.test_mask_ratio)
        with open(osp.join(args.work_dir, 'results.json'), 'w') as f:
            json.dump(rows, f, indent=1)  # after every run
    print(f'\ncommand: {" ".join(sys.argv)}')
    print('| run | model | MPJPE | PA-MPJPE | PVE |\n|---|---|---|---|---|')
    for name, r in rows.items():
        for label, key in (('untrained', 'untrained'),
                           ('trained', 'trained'),
                           (f'trained, {args.test_mask_ratio:.0%} joints '
                            'masked at test', 'trained_masked')):
            m = r[key]
            print(f"| {name} | {label} | {m['mpjpe']:.1f} | "
                  f"{m['pa_mpjpe']:.1f} | {m['pve']:.1f} |")
    for name, r in rows.items():
        print(f"{name}: trained/untrained PA-MPJPE = "
              f"{r['pa_mpjpe_ratio']:.2f}, training {r['train_seconds']:.0f}"
              ' s')


if __name__ == '__main__':
    main()
