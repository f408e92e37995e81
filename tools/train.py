"""Train a model with MMEngine's Runner (MMPose 1.x command line).

Same arguments and behaviour as MMPose 1.x ``tools/train.py``; in addition
it imports ``mpt_plugin`` (so its components register even without
``custom_imports``), reads every checkpoint (``--resume``, ``load_from``)
with ``weights_only=True`` whatever ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``
says (:mod:`mpt_plugin.utils.safe_checkpoint`; a refused or broken file
ends the run with ``train.py: error: <ErrorClass>: <message naming the
file>`` and status 1), checks ``--cfg-options`` items, and runs
distributed on CPU-only machines (gloo backend) when ``--launcher`` is not
``none``.

Examples::

    python tools/train.py CONFIG [--work-dir DIR] [--resume [auto|PATH]]
    bash tools/dist_train.sh CONFIG NPROC [ARGS]
"""
import argparse
import os
import os.path as osp
import sys
from typing import List, Optional

from mmengine.config import Config

try:
    import mpt_plugin  # noqa: F401
except ImportError:  # running from a checkout that is not installed
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
    import mpt_plugin  # noqa: F401
from mpt_plugin.engine.distributed import (accelerator_available,
                                           setup_distributed,
                                           teardown_distributed)
from mpt_plugin.apis.tool_config import (CfgOptionsAction,  # noqa: F401
                                         ToolArgumentError, build_runner,
                                         enable_visualization, set_work_dir)
from mpt_plugin.utils.safe_checkpoint import (CheckpointLoadError,
                                              install_safe_checkpoint_loaders)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line (MMPose 1.x ``tools/train.py`` options).

    Args:
        argv (list[str], optional): Arguments; ``sys.argv[1:]`` if None.

    Returns:
        argparse.Namespace: The parsed arguments.
    """
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from the given checkpoint; without a value, resume '
        'from the latest checkpoint in the work dir')
    parser.add_argument(
        '--amp',
        action='store_true',
        default=False,
        help='enable automatic-mixed-precision training (needs a GPU)')
    parser.add_argument(
        '--no-validate',
        action='store_true',
        help='do not evaluate checkpoints during training')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the learning rate by the actual total batch size '
        '(needs `auto_scale_lr` in the config)')
    parser.add_argument(
        '--show-dir',
        help='directory where visualised validation predictions are saved')
    parser.add_argument(
        '--show', action='store_true', help='display validation predictions')
    parser.add_argument(
        '--interval',
        type=int,
        default=1,
        help='visualise every this many validation samples')
    parser.add_argument(
        '--wait-time',
        type=float,
        default=1,
        help='seconds each shown image stays on screen')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=CfgOptionsAction,
        help='override config settings, `key=value` pairs merged into the '
        'config, e.g. `train_cfg.max_iters=100 optim_wrapper.optimizer.lr=0.1`'
        '; lists as key="[a,b]" or key=a,b, no spaces inside a value')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    # torch.distributed.launch passes --local-rank (older: --local_rank)
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    if args.amp and not accelerator_available():
        parser.error('--amp needs a GPU (CUDA, or an NPU/MLU/MUSA device) '
                     "and none is available: MMEngine's AmpOptimWrapper "
                     'cannot run on CPU. Drop --amp to train in float32.')
    return args


def _enable_amp(cfg: Config) -> None:
    """Switch the optimizer wrapper(s) of ``cfg`` to ``AmpOptimWrapper``.

    A single ``optim_wrapper`` (with an ``optimizer`` key) is switched
    directly; a dict of wrappers for a multi-optimizer constructor has each
    sub-wrapper switched, since top-level keys would be read as submodule
    names there.
    """
    allowed = ('OptimWrapper', 'AmpOptimWrapper')

    def switch(wrapper_cfg, where: str) -> None:
        wrapper_type = wrapper_cfg.get('type', 'OptimWrapper')
        if not isinstance(wrapper_type, str):
            wrapper_type = wrapper_type.__name__
        if wrapper_type not in allowed:
            raise ToolArgumentError(
                f'--amp supports {allowed} only, but {where}.type is '
                f'{wrapper_type!r}')
        wrapper_cfg.type = 'AmpOptimWrapper'
        wrapper_cfg.setdefault('loss_scale', 'dynamic')

    optim_wrapper = cfg.get('optim_wrapper', None)
    if optim_wrapper is None:
        raise ToolArgumentError('--amp needs `optim_wrapper` in the config')
    if 'optimizer' in optim_wrapper:
        switch(optim_wrapper, 'optim_wrapper')
        return
    subs = [(k, v) for k, v in optim_wrapper.items()
            if isinstance(v, dict) and 'optimizer' in v]
    if not subs:
        raise ToolArgumentError('--amp: `optim_wrapper` has no `optimizer` '
                                'and no sub-wrappers with one')
    for key, sub in subs:
        switch(sub, f'optim_wrapper.{key}')


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
    set_work_dir(cfg, args)

    if args.no_validate:
        cfg.val_cfg = None
        cfg.val_dataloader = None
        cfg.val_evaluator = None

    if args.amp:
        _enable_amp(cfg)

    if args.auto_scale_lr:
        auto_scale_lr = cfg.get('auto_scale_lr', None)
        if not auto_scale_lr or 'base_batch_size' not in auto_scale_lr:
            raise ToolArgumentError(
                '--auto-scale-lr needs `auto_scale_lr = dict('
                'base_batch_size=..., enable=False)` in the config')
        cfg.auto_scale_lr.enable = True

    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume

    if args.show or args.show_dir is not None:
        enable_visualization(cfg, args)

    # legacy name of the data preprocessor config
    if cfg.get('preprocess_cfg', None) is not None:
        model = cfg.get('model', None)
        if model is not None and 'data_preprocessor' not in model:
            model.data_preprocessor = cfg.preprocess_cfg
        cfg.pop('preprocess_cfg')

    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    return cfg


def main(argv: Optional[List[str]] = None) -> None:
    """Entry point: parse, merge, set up distribution, train."""
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
        runner.train()
        success = True
    except CheckpointLoadError as err:
        sys.exit(f'{osp.basename(__file__)}: error: {type(err).__name__}: '
                 f'{err}')
    finally:
        teardown_distributed(success)


if __name__ == '__main__':
    main()
