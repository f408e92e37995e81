"""Key2Mesh's 2D keypoints: synthesis from 3D joints and normalisation.

:func:`synthesize_keypoints_2d` is Key2Mesh's synthetic detector (fixed
camera, integer-pixel jitter, random occlusion), used by the pairs
preprocessor (torch random numbers, per batch on the device) and by the
AMASS pairs dataset's target-domain mode (numpy random numbers, per item):
the random draws are arguments, so both keep their own generator while the
synthesis is written once.

Normalisation (``normalize_p2d``):

The keypoints are shifted and scaled isotropically so that the bounding box
of the confident joints is centred at ``(0.5, 0.5)`` and its longer side
spans ``[0, 1]``; joints below the confidence threshold are set to ``0.5``.
Batched torch code, differentiable w.r.t. the keypoints, so that the loss
can normalise re-projected predictions; datasets call it on CPU tensors.
"""
from typing import Optional, Tuple

import torch
from torch import Tensor

from .cameras import project_fixed_camera

__all__ = ['normalize_keypoints_2d', 'synthesize_keypoints_2d']


def synthesize_keypoints_2d(joints3d: Tensor,
                            focal: float,
                            distance: float,
                            normal: Optional[Tensor] = None,
                            uniform: Optional[Tensor] = None,
                            jitter_std: float = 1.0,
                            round_jitter: bool = True,
                            occlusion_prob: float = 0.2,
                            bias_px: Optional[Tensor] = None
                            ) -> Tuple[Tensor, Tensor, Tensor]:
    """Key2Mesh's synthetic 2D keypoints of 3D joints (paper sec. 3.2).

    ``clean = project_fixed_camera(joints3d) + bias_px``;
    ``px = clean + round(jitter_std * normal)`` (no rounding with
    ``round_jitter=False``); ``conf = uniform >= occlusion_prob``.

    Args:
        joints3d (Tensor): (..., K, 3) metres, untranslated SMPL (y up).
        focal (float): Fixed camera focal length, px.
        distance (float): Fixed camera distance, metres.
        normal (Tensor, optional): (..., K, 2) standard normal draws; None
            (or ``jitter_std == 0``): no jitter.
        uniform (Tensor, optional): (..., K) uniform [0, 1) draws; None (or
            ``occlusion_prob == 0``): every joint kept.
        jitter_std (float): Jitter std before rounding, px.
        round_jitter (bool): Integer-pixel jitter (Key2Mesh's).
        occlusion_prob (float): Per-joint drop probability.
        bias_px (Tensor, optional): (2,) or (K, 2) px added to every
            projection (a systematic detector offset).

    Returns:
        tuple: ``clean`` (..., K, 2) px (principal point 0, x right, y
        down), ``px`` (..., K, 2) after jitter, ``conf`` (..., K) 1 for kept
        joints, 0 for occluded ones; dtype and device of ``joints3d``.
    """
    clean = project_fixed_camera(joints3d, focal, distance)
    if bias_px is not None:
        clean = clean + bias_px.to(clean)
    px = clean
    if normal is not None and jitter_std > 0:
        noise = normal.to(clean) * jitter_std
        px = clean + (torch.round(noise) if round_jitter else noise)
    conf = clean.new_ones(clean.shape[:-1])
    if uniform is not None and occlusion_prob > 0:
        conf = (uniform >= occlusion_prob).to(clean.dtype)
    return clean, px, conf


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
