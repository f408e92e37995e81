"""Config plumbing shared by ``tools/train.py`` and ``tools/test.py``."""
import argparse
import os.path as osp
import re
from typing import Any, Optional, Sequence, Union

from mmengine.config import Config, DictAction

__all__ = [
    'ToolArgumentError', 'CfgOptionsAction', 'set_work_dir',
    'enable_visualization', 'build_runner'
]

# dotted config key: non-empty names (or list indices) separated by dots
_CFG_KEY = re.compile(r'^[^\s.=]+(\.[^\s.=]+)*$')


class ToolArgumentError(ValueError):
    """A command-line option that the config or machine cannot honour."""


class CfgOptionsAction(DictAction):
    """``--cfg-options KEY=VALUE ...`` (MMEngine's ``DictAction``) with
    argparse errors instead of tracebacks.

    Each item must be ``KEY=VALUE`` with a dotted key (``a.b.c``, list
    indices as ``a.0``; no empty part, no spaces) and a value MMEngine can
    parse (balanced brackets); otherwise the parser exits with status 2 and
    ``argument --cfg-options: invalid item 'ITEM': ...``.
    """

    def __call__(self,
                 parser: argparse.ArgumentParser,
                 namespace: argparse.Namespace,
                 values: Union[str, Sequence[Any], None],
                 option_string: Optional[str] = None) -> None:
        items = [values] if isinstance(values, str) else list(values or [])
        for item in items:
            key, sep, value = str(item).partition('=')
            if not sep:
                raise argparse.ArgumentError(
                    self, f'invalid item {item!r}: expected KEY=VALUE '
                    '(e.g. train_cfg.max_iters=100), got no "="')
            if not _CFG_KEY.match(key):
                raise argparse.ArgumentError(
                    self, f'invalid item {item!r}: {key!r} is not a config '
                    'key (dotted names such as optim_wrapper.optimizer.lr)')
            try:
                self._parse_iterable(value)
            except Exception as exc:  # noqa: BLE001  (any parse failure)
                raise argparse.ArgumentError(
                    self, f'invalid item {item!r}: cannot parse the value '
                    f'{value!r} ({type(exc).__name__}: {exc})') from exc
        super().__call__(parser, namespace, items, option_string)


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
