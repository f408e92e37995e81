"""Key2Mesh 2D keypoint normalisation and COCO-17 -> OpenPose-18 mapping.

``normalize_keypoints_2d`` follows Key2Mesh's ``normalize_p2d``: the
keypoints are shifted and scaled isotropically so that the bounding box of
the confident joints is centred at ``(0.5, 0.5)`` and its longer side spans
``[0, 1]``; joints below the confidence threshold are set to ``0.5``.
Both functions are batched torch code (differentiable w.r.t. the keypoints,
so the loss can normalise re-projected predictions).
"""
from typing import Optional, Tuple

import torch
from torch import Tensor

__all__ = [
    'normalize_keypoints_2d', 'coco17_to_openpose18', 'COCO17_TO_OPENPOSE18'
]

#: Source COCO-17 (MMPose order) index of every OpenPose BODY_COCO-18 joint
#: (nose, neck, RSho, REl, RWr, LSho, LEl, LWr, RHip, RKnee, RAnk, LHip,
#: LKnee, LAnk, REye, LEye, REar, LEar); -1 is the neck, which COCO lacks and
#: which is synthesised as the midpoint of the shoulders.
COCO17_TO_OPENPOSE18 = (0, -1, 6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, 2, 1,
                        4, 3)


def normalize_keypoints_2d(keypoints: Tensor,
                           conf: Tensor,
                           threshold: float = 0.1,
                           eps: float = 1e-8) -> Tuple[Tensor, Tensor]:
    """Normalises 2D keypoints to the unit box of their confident joints.

    ``mask = conf >= threshold``; the bbox ``[lo, hi]`` is taken over the
    masked joints, ``scale = max(hi - lo)`` (the longer side),
    ``offset = (lo + hi) / 2`` and ``out = (kp - offset) / scale + 0.5``.
    Masked-out joints are set to ``0.5``. Degenerate cases: a sample with no
    confident joint is all ``0.5``; a bbox with ``scale <= eps`` (e.g. one
    confident joint) uses ``scale = 1`` (its joints map to ``0.5``).

    Args:
        keypoints (Tensor): (B, K, 2) keypoints in any unit (pixels, or the
            fixed-camera image plane), ``x`` right, ``y`` down.
        conf (Tensor): (B, K) confidences (or a 0/1 visibility mask).
        threshold (float): Minimum confidence of a used joint. Defaults to
            0.1 (Key2Mesh).
        eps (float): Smallest bbox side treated as non-degenerate.
            Defaults to 1e-8.

    Returns:
        tuple:
        - keypoints_norm (Tensor): (B, K, 2), same dtype as ``keypoints``;
          the confident joints lie in ``[0, 1]``, the longer bbox side spans
          exactly ``[0, 1]``.
        - mask (Tensor): (B, K) bool, ``conf >= threshold``.
    """
    if keypoints.ndim != 3 or keypoints.shape[-1] != 2:
        raise ValueError('keypoints must have shape (B, K, 2), got '
                         f'{tuple(keypoints.shape)}')
    if tuple(conf.shape) != tuple(keypoints.shape[:2]):
        raise ValueError(f'conf must have shape {tuple(keypoints.shape[:2])}'
                         f' (B, K), got {tuple(conf.shape)}')
    mask = conf >= threshold  # (B, K)
    m = mask[..., None]  # (B, K, 1)
    inf = torch.full_like(keypoints, float('inf'))
    lo = torch.where(m, keypoints, inf).amin(dim=1, keepdim=True)  # (B,1,2)
    hi = torch.where(m, keypoints, -inf).amax(dim=1, keepdim=True)
    any_valid = mask.any(dim=1)[:, None, None]  # (B, 1, 1)
    zero = torch.zeros_like(lo)
    lo = torch.where(any_valid, lo, zero)
    hi = torch.where(any_valid, hi, zero)
    scale = (hi - lo).amax(dim=-1, keepdim=True)  # (B, 1, 1)
    scale = torch.where(scale > eps, scale, torch.ones_like(scale))
    offset = 0.5 * (lo + hi)
    out = (keypoints - offset) / scale + 0.5
    out = torch.where(m, out, torch.full_like(out, 0.5))
    return out, mask


def coco17_to_openpose18(
        keypoints: Tensor,
        mask: Optional[Tensor] = None) -> Tuple[Tensor, Optional[Tensor]]:
    """Reorders COCO-17 (MMPose) keypoints to OpenPose COCO-18.

    The neck is the midpoint of the two shoulders and is valid only when
    both shoulders are. Where it is invalid (``mask`` given) the neck is set
    to ``0.5``, the value :func:`normalize_keypoints_2d` gives dropped
    joints. The midpoint commutes with the normalisation (an isotropic
    affine map; the neck lies inside the shoulders' bbox), so this may be
    applied before or after normalising.

    Args:
        keypoints (Tensor): (B, 17, C) COCO-17 keypoints (any unit, any
            number of coordinates ``C``).
        mask (Tensor, optional): (B, 17) bool (or 0/1) validity.

    Returns:
        tuple:
        - keypoints (Tensor): (B, 18, C) OpenPose-18 keypoints.
        - mask (Tensor | None): (B, 18) bool validity, None if not given.
    """
    if keypoints.ndim != 3 or keypoints.shape[1] != 17:
        raise ValueError('COCO-17 keypoints must have shape (B, 17, C), got '
                         f'{tuple(keypoints.shape)}')
    idx = torch.tensor([max(i, 0) for i in COCO17_TO_OPENPOSE18],
                       device=keypoints.device)
    out = keypoints.index_select(1, idx)
    neck = 0.5 * (keypoints[:, 5] + keypoints[:, 6])  # (B, C)
    out_mask = None
    if mask is not None:
        if tuple(mask.shape) != tuple(keypoints.shape[:2]):
            raise ValueError('mask must have shape (B, 17), got '
                             f'{tuple(mask.shape)}')
        mask = mask.bool()
        neck_ok = mask[:, 5] & mask[:, 6]  # (B,)
        neck = torch.where(neck_ok[:, None], neck, torch.full_like(neck, 0.5))
        out_mask = mask.index_select(1, idx).clone()
        out_mask[:, 1] = neck_ok
    out = torch.cat([out[:, :1], neck[:, None], out[:, 2:]], dim=1)
    return out, out_mask
