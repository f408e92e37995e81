"""The one masked L1 (or squared error) of the plugin's losses (MPT,
Key2Mesh, PC-HMR)."""
from typing import Optional

import torch
from torch import Tensor

__all__ = ['masked_l1', 'L1_NORMALIZATIONS']

#: ``normalize`` values of :func:`masked_l1`.
L1_NORMALIZATIONS = ('samples', 'weights')


def masked_l1(pred: Tensor,
              target: Tensor,
              weight: Tensor,
              normalize: str = 'samples',
              sample_valid: Optional[Tensor] = None,
              coord_reduction: str = 'mean',
              squared: bool = False) -> Tensor:
    """Weighted L1 of (B, N, C) points, NaN-safe for ignored entries.

    ``d = |pred - target|`` (``(pred - target) ** 2`` with ``squared``:
    the MSE of the released hand code) reduced over the C coordinates
    (mean, or sum with ``coord_reduction='sum'``), times ``weight``,
    summed, divided by:

    - ``'samples'``: ``B_valid * N``, the points of the valid samples
      (masked points stay in the denominator): MPT's losses and LGD's
      ``weighted_L1_loss`` (Key2Mesh ``reduction='mean'``);
    - ``'weights'``: ``sum(weight)``, the weighted mean over the points
      that count (Key2Mesh ``'weight_normalized'``, PC-HMR).

    Args:
        pred (Tensor): (B, N, C).
        target (Tensor): (B, N, C); entries whose weight is 0 may be
            NaN/inf (replaced before the difference, so nothing non-finite
            reaches the value or the gradient).
        weight (Tensor): (B, N) or (B,) non-negative weights, 0 = ignore
            (joint weights times point masks times sample flags).
        normalize (str): One of :data:`L1_NORMALIZATIONS`.
        sample_valid (Tensor, optional): (B,) bool, the samples counted by
            ``'samples'``; defaults to the samples with any positive
            weight.
        coord_reduction (str): ``'mean'`` or ``'sum'`` over C.
        squared (bool): Squared differences instead of absolute ones.
            Defaults to False.

    Returns:
        Tensor: scalar, attached to ``pred``'s graph; 0 when no weight is
        positive.
    """
    if normalize not in L1_NORMALIZATIONS:
        raise ValueError(f'normalize must be one of {L1_NORMALIZATIONS}, '
                         f'got {normalize!r}')
    if coord_reduction not in ('mean', 'sum'):
        raise ValueError("coord_reduction must be 'mean' or 'sum', got "
                         f'{coord_reduction!r}')
    weight = weight.to(pred.dtype)
    if weight.dim() == 1:
        weight = weight[:, None].expand(pred.shape[:2])
    keep = (weight > 0)[..., None]
    target = torch.where(keep, target.to(pred.dtype), pred.detach())
    err = (pred - target)
    err = err.square() if squared else err.abs()
    err = err.mean(-1) if coord_reduction == 'mean' else err.sum(-1)
    total = (err * weight).sum()
    if normalize == 'weights':
        return total / weight.sum().clamp_min(torch.finfo(pred.dtype).tiny)
    if sample_valid is None:
        sample_valid = (weight > 0).any(dim=1)
    return total / (sample_valid.sum() * pred.shape[1]).clamp_min(1)
