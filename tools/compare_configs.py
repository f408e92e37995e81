"""Compare the resolved experiment configs of two ``configs/`` trees.

Every ``*.py`` directly under each tree's ``configs/`` (the experiments and
demos users run; ``_base_/`` fragments are only resolved through them) is
loaded with MMEngine's ``Config.fromfile`` (inheritance and ``{{_base_.x}}``
resolved, ``custom_imports`` not imported) and compared key by key with
the same file of the other tree. Both trees are resolved from temporary
copies, so nothing is written into either ``configs/``.

Top-level keys fall in two groups:

- settings: what MMEngine's Runner, ``tools/*.py`` and the tests read
  (:data:`RUNNER_KEYS`, any key ending in one of :data:`RUNNER_SUFFIXES`,
  and the helper variables in :data:`READ_HELPERS` that a test reads). A
  difference in one of them, a config that fails to load, or a config
  that exists only in the old tree (a user's command would break) is a
  failure: exit status 1.
- helper variables (``body_model``, ``input_size``, ``train_pipeline``, ...):
  they only serve to build the settings, so a helper that is added,
  removed or changed is listed as information, not a failure.

Values are compared exactly and with their types (a tuple is not a list,
``1`` is not ``1.0``); the order of dict keys is ignored. A ``type`` that
names a renamed component by its old name (``DEPRECATED_NAMES`` of
``mpt_plugin/registry.py``: the same class) counts as its current name.

Examples::

    # the working tree against the last commit
    python tools/compare_configs.py --base HEAD
    # two directories that each hold experiment configs (and their _base_/)
    python tools/compare_configs.py --old OLD/configs --new NEW/configs
"""
import argparse
import glob
import io
import os.path as osp
import shutil
import subprocess
import sys
import tarfile
import tempfile
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from mmengine.config import Config

from mpt_plugin.registry import DEPRECATED_NAMES

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))

# Top-level keys read by MMEngine's Runner (Runner.from_cfg) and by
# tools/train.py, tools/test.py and mpt_plugin.apis.tool_config.
RUNNER_KEYS = frozenset({
    'model', 'model_wrapper_cfg', 'data_preprocessor', 'optim_wrapper',
    'param_scheduler', 'auto_scale_lr', 'default_hooks', 'custom_hooks',
    'env_cfg', 'randomness', 'custom_imports', 'default_scope',
    'log_processor', 'log_level', 'visualizer', 'load_from', 'resume',
    'launcher', 'work_dir', 'experiment_name', 'compile', 'strategy', 'cfg',
    'backend_args'
})
# train/val/test dataloaders, evaluators, loops (train_cfg, ...), hooks,
# schedulers and optimiser wrappers, whatever their prefix
RUNNER_SUFFIXES = ('_dataloader', '_evaluator', '_cfg', '_hooks',
                   '_scheduler', '_wrapper')
# helper variables that something outside the config reads
# (tests/test_tools/test_pc_hmr_configs.py: ``cfg.seq_len``)
READ_HELPERS = frozenset({'seq_len'})

_MISSING = object()


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Compare the resolved configs of two configs/ trees')
    old = parser.add_mutually_exclusive_group(required=True)
    old.add_argument(
        '--base', metavar='REV',
        help='old tree: configs/ of this git revision of the repository '
        '(read with `git archive`, nothing is checked out)')
    old.add_argument('--old', metavar='DIR', help='old tree: a directory')
    parser.add_argument(
        '--new', metavar='DIR', default=osp.join(REPO, 'configs'),
        help='new tree (default: configs/ of the working tree)')
    return parser.parse_args(argv)


def is_setting(key: str) -> bool:
    """Whether a top-level key is a setting (a difference fails) rather
    than a helper variable (a difference is listed)."""
    return (key in RUNNER_KEYS or key in READ_HELPERS
            or key.endswith(RUNNER_SUFFIXES))


def extract_revision(rev: str, dest: str) -> str:
    """Write ``configs/`` of git revision ``rev`` under ``dest``.

    Returns:
        str: The path of the extracted ``configs`` directory.
    """
    tar = subprocess.run(
        ['git', '-C', REPO, 'archive', '--format=tar', rev, 'configs'],
        check=True, stdout=subprocess.PIPE).stdout
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        archive.extractall(dest, filter='data')
    return osp.join(dest, 'configs')


def resolve_tree(configs_dir: str) -> Dict[str, Any]:
    """Resolve every experiment config of a tree from a temporary copy.

    Returns:
        dict: File name -> resolved config as a plain dict, or the
        ``Exception`` raised while loading it.
    """
    resolved = {}
    with tempfile.TemporaryDirectory(prefix='compare_configs_') as tmp:
        copy = osp.join(tmp, 'configs')
        shutil.copytree(configs_dir, copy,
                        ignore=shutil.ignore_patterns('__pycache__'))
        for path in sorted(glob.glob(osp.join(copy, '*.py'))):
            try:
                cfg = Config.fromfile(path, import_custom_modules=False)
                resolved[osp.basename(path)] = cfg.to_dict()
            except Exception as exc:  # reported, not raised
                resolved[osp.basename(path)] = exc
    return resolved


def diff_values(old: Any, new: Any,
                path: str) -> Iterator[Tuple[str, Any, Any]]:
    """Yield ``(dotted path, old, new)`` for each differing leaf.

    A key present on one side only is yielded with :data:`_MISSING` on the
    other; lists and tuples of equal type and length are compared item by
    item, anything else exactly and with its type.
    """
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new), key=str):
            sub = f'{path}.{key}' if path else str(key)
            yield from diff_values(old.get(key, _MISSING),
                                   new.get(key, _MISSING), sub)
    elif (isinstance(old, (list, tuple)) and type(old) is type(new)
          and len(old) == len(new)):
        for i, (a, b) in enumerate(zip(old, new)):
            yield from diff_values(a, b, f'{path}.{i}')
    elif path.split('.')[-1] == 'type' and isinstance(old, str) and \
            isinstance(new, str):
        if DEPRECATED_NAMES.get(old, old) != DEPRECATED_NAMES.get(new, new):
            yield path, old, new
    elif type(old) is not type(new) or old != new:
        yield path, old, new


def _show(value: Any) -> str:
    return '<absent>' if value is _MISSING else repr(value)


def compare_trees(old: Dict[str, Any], new: Dict[str, Any]) -> bool:
    """Print the comparison of two resolved trees (:func:`resolve_tree`).

    Returns:
        bool: True when every setting of every old config is unchanged in
        the new tree (helper variables and added configs do not count).
    """
    ok = True
    helpers: List[str] = []
    for name in sorted(set(old) | set(new)):
        if name not in new:
            print(f'{name}: only in the old tree (removed)')
            ok = False
            continue
        if name not in old:
            print(f'{name}: only in the new tree (added)')
            continue
        a, b = old[name], new[name]
        if isinstance(a, Exception) or isinstance(b, Exception):
            for side, value in (('old', a), ('new', b)):
                if isinstance(value, Exception):
                    print(f'{name}: the {side} config does not load: '
                          f'{type(value).__name__}: {value}')
            ok = False
            continue
        settings, status = [], {}
        for path, va, vb in diff_values(a, b, ''):
            key = path.split('.')[0]
            if is_setting(key):
                settings.append(f'    {path}: {_show(va)} -> {_show(vb)}')
            elif key not in b:
                status[key] = 'removed'
            elif key not in a:
                status[key] = 'added'
            else:
                status[key] = 'changed'
        print(f'{name}: {"DIFFERENT" if settings else "equal"}')
        for line in settings:
            print(line)
        ok = ok and not settings
        if status:
            helpers.append(f'{name}: ' + ', '.join(
                f'{key} ({what})' for key, what in status.items()))
    if helpers:
        print('\nhelper variables (information, not failures):')
        for line in helpers:
            print(f'    {line}')
    print('\nsettings ' + ('unchanged' if ok else 'DIFFER'))
    return ok


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix='compare_configs_rev_') as tmp:
        old_dir = (extract_revision(args.base, tmp)
                   if args.base is not None else args.old)
        old = resolve_tree(old_dir)
    new = resolve_tree(args.new)
    return 0 if compare_trees(old, new) else 1


if __name__ == '__main__':
    sys.exit(main())
