"""Stacking per-sample loader fields into batch tensors on the device."""
from typing import Any, Dict, Mapping, Tuple

import numpy as np
import torch
from torch import Tensor

__all__ = ['stack_fields']


def _stack_one(value: Any, name: str, shape: Tuple[int, ...],
               where: str) -> Tensor:
    """A (B, *shape) tensor from a (B, *shape) tensor / array or a list of
    B (*shape) tensors / arrays / numbers."""
    if isinstance(value, (list, tuple)):
        if len(value) == 0:
            raise ValueError(f"{where}[{name!r}] is an empty list")
        value = torch.stack([torch.as_tensor(v) for v in value])
    elif isinstance(value, np.ndarray):
        value = torch.from_numpy(value)
    if not isinstance(value, Tensor):
        raise TypeError(f"{where}[{name!r}] must be a tensor, an "
                        f'array or a list of them, got {type(value).__name__}')
    if value.ndim != 1 + len(shape) or tuple(value.shape[1:]) != shape:
        want = ', '.join(['B'] + [str(s) for s in shape])
        raise ValueError(f"{where}[{name!r}] must have shape "
                         f'({want}), got {tuple(value.shape)}')
    return value


def stack_fields(inputs: Any, shapes: Mapping[str, Tuple[int, ...]],
                 optional: Tuple[str, ...] = (),
                 where: str = "data['inputs']") -> Dict[str, Tensor]:
    """Batch tensors of the named fields of a loader's ``inputs``.

    Args:
        inputs: a dict of fields, each a stacked (B, ...) tensor / array or a
            list of B per-sample values (``default_collate`` /
            ``pseudo_collate``), or a list of B per-sample dicts.
        shapes: field name -> per-sample shape, e.g. ``{'pose_aa': (72,),
            'gender': ()}``.
        optional: fields that may be missing (left out of the result).
        where: how error messages name ``inputs``.

    Returns:
        dict[str, Tensor]: field -> (B, *shape) tensor, on the input's
        device, dtype unchanged.

    Raises:
        TypeError / KeyError / ValueError: not a dict, a missing field, a
        wrong shape or mismatched batch sizes; the message names the field.
    """
    if isinstance(inputs, (list, tuple)) and inputs and \
            isinstance(inputs[0], Mapping):
        inputs = {k: [item[k] for item in inputs]
                  for k in shapes if k in inputs[0]}
    if not isinstance(inputs, Mapping):
        raise TypeError(f'{where} must be a dict with '

                        + ', '.join(f'{k!r} (B, {", ".join(map(str, s))})'
                                    for k, s in shapes.items())
                        + f', got {type(inputs).__name__}')
    out = {}
    for key, shape in shapes.items():
        if key not in inputs:
            if key in optional:
                continue
            raise KeyError(f'{where} lacks {key!r} (keys: '
                           f'{sorted(inputs)})')
        out[key] = _stack_one(inputs[key], key, tuple(shape), where)
    sizes = {k: v.shape[0] for k, v in out.items()}
    if len(set(sizes.values())) > 1:
        raise ValueError(f'{where} fields differ in batch size: '
                         f'{sizes}')
    return out
