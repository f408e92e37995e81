"""Config plumbing shared by ``tools/train.py`` and ``tools/test.py``."""
import argparse
import os.path as osp

from mmengine.config import Config

__all__ = [
    'ToolArgumentError', 'set_work_dir', 'enable_visualization',
    'build_runner'
]


class ToolArgumentError(ValueError):
    """A command-line option that the config or machine cannot honour."""


def set_work_dir(cfg: Config, args: argparse.Namespace) -> None:
    """``work_dir``: command line > config > ``./work_dirs/<config name>``.
    """
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])


def enable_visualization(cfg: Config, args: argparse.Namespace) -> None:
    """Turn on the ``visualization`` default hook for ``--show`` /
    ``--show-dir`` (with ``--interval`` and ``--wait-time``).

    Raises:
        ToolArgumentError: The config has no such hook.
    """
    hooks = cfg.get('default_hooks', None) or {}
    if 'visualization' not in hooks:
        raise ToolArgumentError(
            '--show/--show-dir need a `visualization` hook in '
            '`default_hooks` (e.g. visualization=dict(type='
            "'PoseVisualizationHook', enable=False)), which this config does "
            'not have')
    vis = cfg.default_hooks.visualization
    vis.enable = True
    vis.show = args.show
    if args.show:
        vis.wait_time = args.wait_time
    vis.out_dir = args.show_dir
    vis.interval = args.interval


def build_runner(cfg: Config):
    """Build the Runner: ``RUNNERS.build`` if ``runner_type`` is set.

    Args:
        cfg (Config): The merged config.

    Returns:
        mmengine.runner.Runner: The runner.
    """
    if 'runner_type' in cfg:
        from mmpose.registry import RUNNERS
        return RUNNERS.build(cfg)
    from mmengine.runner import Runner
    return Runner.from_cfg(cfg)
