"""Collate ``dict(source=sample, target=sample)`` items domain by domain."""
from typing import Callable, Sequence, Union

from mpt_plugin.registry import FUNCTIONS

__all__ = ['mpt_domain_adaptation_collate']


def _collate_fn(spec: Union[str, Callable]) -> Callable:
    if callable(spec):
        return spec
    # MMPose has no FUNCTIONS registry: collate functions live in
    # MMEngine's, where the Runner looks them up
    fn = FUNCTIONS.get(spec)
    if fn is None:
        raise KeyError(f'unknown collate function {spec!r}')
    return fn


@FUNCTIONS.register_module()
def mpt_domain_adaptation_collate(
        data_batch: Sequence[dict],
        source: Union[str, Callable] = 'default_collate',
        target: Union[str, Callable] = 'default_collate') -> dict:
    """Collate the two domains of :class:`MPTDomainAdaptationDataset` items
    with their own functions, e.g. MoCap tensors with ``default_collate``
    and image samples (``PoseDataSample``) with ``pseudo_collate``.

    Args:
        data_batch (Sequence[dict]): Items ``dict(source=..., target=...)``.
        source (str | Callable): Collate function (registered name) of the
            source items. Defaults to ``'default_collate'``.
        target (str | Callable): Same for the target items.

    Returns:
        dict: ``dict(source=collated, target=collated)``.
    """
    try:
        sources = [item['source'] for item in data_batch]
        targets = [item['target'] for item in data_batch]
    except (KeyError, TypeError) as e:
        raise KeyError('mpt_domain_adaptation_collate expects items '
                       "dict(source=..., target=...) (MPTDomainAdaptationDataset)"
                       ) from e
    return dict(source=_collate_fn(source)(sources),
                target=_collate_fn(target)(targets))
