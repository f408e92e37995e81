"""One optimiser wrapper per sub-module: an ``OptimWrapperDict``."""
from typing import Dict, Optional

from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapperDict
from torch import nn

from mpt_plugin.registry import OPTIM_WRAPPER_CONSTRUCTORS

__all__ = ['MPTMultiOptimWrapperConstructor']


def _unwrap(module: nn.Module) -> nn.Module:
    return module.module if is_model_wrapper(module) else module


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class MPTMultiOptimWrapperConstructor:
    """Builds an ``OptimWrapperDict`` keyed by sub-module names.

    Config (what ``Runner`` passes as ``optim_wrapper_cfg``)::

        optim_wrapper = dict(
            constructor='MPTMultiOptimWrapperConstructor',
            estimator=dict(type='OptimWrapper',
                           optimizer=dict(type='Adam', lr=1e-4)),
            critic=dict(optimizer=dict(type='Adam', lr=1e-4)),
            paramwise_cfg=None)  # optional default for every entry

    Every key names a sub-module of the model (a dotted path, e.g.
    ``'estimator.regressor'``, is allowed; the wrapper entry may instead
    give ``module='path'`` and use any key). Each entry is built with
    MMEngine's ``DefaultOptimWrapperConstructor`` on that sub-module (its
    own ``paramwise_cfg`` overrides the shared one; ``type`` defaults to
    ``'OptimWrapper'``). A model wrapper (DDP) around the model or the
    sub-modules is looked through. Trainable parameters that no entry
    covers are reported (they would never be updated); a parameter in two
    entries is an error.

    Args:
        optim_wrapper_cfg (dict): ``name -> optimiser wrapper config``.
        paramwise_cfg (dict, optional): Shared parameter-wise options.
    """

    def __init__(self,
                 optim_wrapper_cfg: dict,
                 paramwise_cfg: Optional[dict] = None) -> None:
        if not isinstance(optim_wrapper_cfg, dict) or not optim_wrapper_cfg:
            raise TypeError('MPTMultiOptimWrapperConstructor: optim_wrapper '
                            'must be a non-empty dict of sub-module name -> '
                            'optimiser wrapper config, got '
                            f'{optim_wrapper_cfg!r}')
        for key, cfg in optim_wrapper_cfg.items():
            if not isinstance(cfg, dict) or 'optimizer' not in cfg:
                raise KeyError(
                    f"optim_wrapper[{key!r}] must be a dict with 'optimizer'"
                    f' (one entry per sub-module), got {cfg!r}; top-level '
                    "keys such as 'type' or 'loss_scale' belong inside each "
                    'entry')
        self.optim_wrapper_cfg = {
            k: dict(v)
            for k, v in optim_wrapper_cfg.items()
        }
        self.paramwise_cfg = paramwise_cfg

    @staticmethod
    def _submodule(model: nn.Module, path: str) -> nn.Module:
        module = _unwrap(model)
        for part in path.split('.'):
            children = dict(_unwrap(module).named_children())
            if part not in children:
                raise KeyError(
                    f'MPTMultiOptimWrapperConstructor: {type(model).__name__}'
                    f' has no sub-module {path!r} (children at '
                    f'{part!r}: {sorted(children)})')
            module = children[part]
        return _unwrap(module)

    def __call__(self, model: nn.Module) -> OptimWrapperDict:
        """Build the wrappers for ``model``.

        Args:
            model (nn.Module): The model (or a model wrapper around it).

        Returns:
            OptimWrapperDict: ``name -> OptimWrapper``.
        """
        wrappers: Dict[str, object] = {}
        owner: Dict[int, str] = {}
        for key, cfg in self.optim_wrapper_cfg.items():
            cfg = dict(cfg)
            path = cfg.pop('module', key)
            paramwise = cfg.pop('paramwise_cfg', self.paramwise_cfg)
            cfg.setdefault('type', 'OptimWrapper')
            sub = self._submodule(model, path)
            for param in sub.parameters():
                if id(param) in owner:
                    raise ValueError(
                        f'optim_wrapper entries {owner[id(param)]!r} and '
                        f'{key!r} share parameters')
                owner[id(param)] = key
            wrappers[key] = DefaultOptimWrapperConstructor(cfg,
                                                           paramwise)(sub)
        uncovered = [
            name for name, p in _unwrap(model).named_parameters()
            if p.requires_grad and id(p) not in owner
        ]
        if uncovered:
            print_log(
                f'MPTMultiOptimWrapperConstructor: {len(uncovered)} '
                f'trainable parameter(s) have no optimiser and will not be '
                f'updated, e.g. {uncovered[:3]}',
                logger='current',
                level=30)
        return OptimWrapperDict(**wrappers)
