"""Test (evaluate) a checkpoint with MMEngine's Runner (MMPose 1.x CLI).

Same arguments and behaviour as MMPose 1.x ``tools/test.py``; in addition
it imports ``mpt_plugin``, reads the checkpoint with ``weights_only=True``
whatever ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` says
(:mod:`mpt_plugin.utils.safe_checkpoint`; a refused or broken file ends
with ``test.py: error: <ErrorClass>: <message naming the file>`` and
status 1), checks ``--cfg-options`` items and runs distributed on CPU-only
machines.

Examples::

    python tools/test.py CONFIG CHECKPOINT [--out metrics.json]
    bash tools/dist_test.sh CONFIG CHECKPOINT NPROC [ARGS]
"""
import argparse
import os
import os.path as osp
import sys
from typing import List, Optional

from mmengine.config import Config
from mmengine.hooks import Hook

try:
    import mpt_plugin  # noqa: F401
except ImportError:  # running from a checkout that is not installed
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
    import mpt_plugin  # noqa: F401
from mpt_plugin.engine.distributed import (setup_distributed,
                                           teardown_distributed)
from mpt_plugin.apis.tool_config import (CfgOptionsAction, ToolArgumentError,
                                         build_runner, enable_visualization,
                                         set_work_dir)
from mpt_plugin.utils.safe_checkpoint import (CheckpointLoadError,
                                              install_safe_checkpoint_loaders)

OUT_EXTENSIONS = ('.json', '.yaml', '.yml', '.pkl', '.pickle')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line (MMPose 1.x ``tools/test.py`` options).

    Args:
        argv (list[str], optional): Arguments; ``sys.argv[1:]`` if None.

    Returns:
        argparse.Namespace: The parsed arguments.
    """
    parser = argparse.ArgumentParser(
        description='Evaluate a checkpoint on the test set of a config')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file (path or URL)')
    parser.add_argument(
        '--work-dir', help='the directory to save evaluation logs')
    parser.add_argument(
        '--out',
        help=f'file to save the metrics to ({", ".join(OUT_EXTENSIONS)})')
    parser.add_argument(
        '--dump',
        help='file (.pkl) to dump all predictions to, for offline '
        'evaluation')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=CfgOptionsAction,
        help='override config settings, `key=value` pairs merged into the '
        'config; lists as key="[a,b]" or key=a,b, no spaces inside a value')
    parser.add_argument(
        '--show-dir', help='directory where visualised predictions are saved')
    parser.add_argument(
        '--show', action='store_true', help='display predictions')
    parser.add_argument(
        '--interval',
        type=int,
        default=1,
        help='visualise every this many samples')
    parser.add_argument(
        '--wait-time',
        type=float,
        default=1,
        help='seconds each shown image stays on screen')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    parser.add_argument(
        '--badcase',
        action='store_true',
        help='save bad cases (needs a `badcase` hook in `default_hooks`)')
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    if args.out is not None and not args.out.endswith(OUT_EXTENSIONS):
        parser.error(f'--out must end with one of {OUT_EXTENSIONS}, got '
                     f'{args.out!r}')
    if args.dump is not None and not args.dump.endswith(('.pkl', '.pickle')):
        parser.error(f'--dump must end with .pkl or .pickle, got '
                     f'{args.dump!r}')
    if '://' not in args.checkpoint and not osp.isfile(args.checkpoint):
        parser.error(f'checkpoint file not found: {args.checkpoint}')
    return args


def merge_args(cfg: Config, args: argparse.Namespace) -> Config:
    """Merge the command line into ``cfg`` (``--cfg-options`` last).

    Args:
        cfg (Config): Config loaded from ``args.config``.
        args (argparse.Namespace): Output of :func:`parse_args`.

    Returns:
        Config: The same config, updated.

    Raises:
        ToolArgumentError: If an option cannot be applied to this config.
    """
    cfg.launcher = args.launcher
    cfg.load_from = args.checkpoint
    set_work_dir(cfg, args)

    for key in ('test_dataloader', 'test_cfg', 'test_evaluator'):
        if cfg.get(key, None) is None:
            raise ToolArgumentError(f'the config has no `{key}`, so it '
                                    'cannot be tested')

    hooks = cfg.get('default_hooks', None) or {}
    if args.show or args.show_dir is not None:
        enable_visualization(cfg, args)

    if args.badcase:
        if 'badcase' not in hooks:
            raise ToolArgumentError(
                '--badcase needs a `badcase` hook in `default_hooks` (e.g. '
                "badcase=dict(type='BadCaseAnalysisHook', enable=False)), "
                'which this config does not have')
        badcase = cfg.default_hooks.badcase
        badcase.enable = True
        badcase.setdefault('out_dir', 'badcase')

    if args.dump is not None:
        dump_metric = dict(type='DumpResults', out_file_path=args.dump)
        evaluator = cfg.test_evaluator
        if isinstance(evaluator, (list, tuple)):
            cfg.test_evaluator = [*evaluator, dump_metric]
        elif 'metrics' in evaluator:  # an Evaluator config
            metrics = evaluator.metrics
            if not isinstance(metrics, (list, tuple)):
                metrics = [metrics]
            evaluator.metrics = [*metrics, dump_metric]
        else:
            cfg.test_evaluator = [evaluator, dump_metric]

    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    return cfg


class SaveMetricsHook(Hook):
    """Write the test metrics to a file (``--out``) on the main process.

    Args:
        out_file (str): ``.json``, ``.yaml``/``.yml`` or ``.pkl`` path.
    """

    priority = 'LOWEST'

    def __init__(self, out_file: str) -> None:
        self.out_file = out_file

    def after_test_epoch(self, runner, metrics: Optional[dict] = None) -> None:
        """Dump ``metrics`` (name -> value)."""
        from mmengine.dist import is_main_process
        from mmengine.fileio import dump
        if metrics is None or not is_main_process():
            return
        out_dir = osp.dirname(osp.abspath(self.out_file))
        os.makedirs(out_dir, exist_ok=True)
        dump({k: _to_builtin(v) for k, v in metrics.items()}, self.out_file)


def _to_builtin(value):
    """Convert numpy/torch scalars to Python numbers for json/yaml."""
    if hasattr(value, 'item') and getattr(value, 'ndim', 0) == 0:
        return value.item()
    if hasattr(value, 'tolist'):
        return value.tolist()
    return value


def main(argv: Optional[List[str]] = None) -> dict:
    """Entry point: parse, merge, set up distribution, test.

    Returns:
        dict: The metrics returned by ``runner.test()``.
    """
    args = parse_args(argv)
    install_safe_checkpoint_loaders()
    cfg = Config.fromfile(args.config)
    try:
        cfg = merge_args(cfg, args)
    except ToolArgumentError as err:
        sys.exit(f'{osp.basename(__file__)}: error: {err}')
    setup_distributed(cfg)
    success = False
    try:
        runner = build_runner(cfg)
        if args.out is not None:
            runner.register_hook(SaveMetricsHook(args.out), 'LOWEST')
        metrics = runner.test()
        success = True
    except CheckpointLoadError as err:
        sys.exit(f'{osp.basename(__file__)}: error: {type(err).__name__}: '
                 f'{err}')
    finally:
        teardown_distributed(success)
    return metrics


if __name__ == '__main__':
    main()
