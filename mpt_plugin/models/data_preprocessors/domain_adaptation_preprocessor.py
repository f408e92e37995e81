"""Data preprocessor of paired source/target domain-adaptation batches."""
from typing import Optional, Union

from mmengine.model import BaseDataPreprocessor
from torch import nn

from mpt_plugin.registry import MODELS

__all__ = ['MPTDomainAdaptationPreprocessor']


def _build(cfg: Optional[Union[dict, nn.Module]]) -> Optional[nn.Module]:
    if cfg is None or isinstance(cfg, nn.Module):
        return cfg
    return MODELS.build(cfg)


@MODELS.register_module()
class MPTDomainAdaptationPreprocessor(BaseDataPreprocessor):
    """Preprocess ``dict(source=batch, target=batch)`` per domain.

    Used by :class:`MPTWGANDomainAdaptation`. A batch with both ``source`` and
    ``target`` keys (from :class:`MPTDomainAdaptationDataset`) gives
    ``dict(source=pre_s(batch['source']), target=pre_t(batch['target']))``;
    any other batch (validation/test on the target domain) gives
    ``pre_t(batch)``. A domain without its own preprocessor uses the
    fallback set by the owner model (the estimator's preprocessor, kept as
    a plain reference, not a sub-module, so it is neither duplicated in the
    ``state_dict`` nor moved twice).

    Args:
        source (dict | nn.Module, optional): Source-domain preprocessor.
            Defaults to None (the fallback).
        target (dict | nn.Module, optional): Target-domain preprocessor.
            Defaults to None (the fallback).
        non_blocking (bool): Unused here (each domain's preprocessor copies
            its own data). Defaults to False.
    """

    def __init__(self,
                 source: Optional[Union[dict, nn.Module]] = None,
                 target: Optional[Union[dict, nn.Module]] = None,
                 non_blocking: bool = False) -> None:
        super().__init__(non_blocking=non_blocking)
        self.source = _build(source)
        self.target = _build(target)
        self._fallback = None

    def set_fallback(self, preprocessor: nn.Module) -> None:
        """The preprocessor of a domain configured as None."""
        # a list hides it from nn.Module's sub-module registration
        self._fallback = [preprocessor]

    def _get(self, domain: str) -> nn.Module:
        module = getattr(self, domain)
        if module is not None:
            return module
        if self._fallback is None:
            raise KeyError(f'MPTDomainAdaptationPreprocessor: no {domain} '
                           'preprocessor configured and no fallback set')
        return self._fallback[0]

    def forward(self, data: dict, training: bool = False) -> dict:
        """Preprocess a paired batch or a plain target batch.

        Args:
            data (dict): ``dict(source=..., target=...)`` or a target batch.
            training (bool): Passed to the domain preprocessors.

        Returns:
            dict: ``dict(source=..., target=...)`` of preprocessed batches,
            or one preprocessed target batch.
        """
        if isinstance(data, dict) and 'source' in data and 'target' in data:
            return dict(source=self._get('source')(data['source'], training),
                        target=self._get('target')(data['target'], training))
        return self._get('target')(data, training)
