"""Masked Heatmap Modeling (MPT, Sec. 3.1.2) as a batched on-device step.

The paper masks random joints of the MoCap-generated heatmaps during
pre-training and augments them with Gaussian noise and joint coordinate
jittering; it gives no values, so every knob here is configurable and the
defaults are our choice. Heatmaps are never drawn here: the step edits the
2D joints ``joints_px`` (B, K, 2) (pixels of the heatmap frame, pixel
centres at integers) and the per-joint Gaussian amplitudes
``joint_weights`` (B, K) that ``HeatmapPatchEmbed.forward_joints`` turns into
tokens, so masking and jitter cost nothing.

The paper's "Gaussian noise" is *additive* noise on the heatmap pixels
(``pixel_noise_std``); the paper gives no std. ``configs/mpt_pretrain_amass.py``
turns it on (std 0.05 of the unit peak, exact dense mode, cheap on a GPU); the
constructor default stays 0 so that a bare module is noise-free. The
multiplicative amplitude noise below is **our addition**, not in the paper.

Noise design (dense pixel noise would need the dense maps and kill the sparse
speed-up):

- ``amplitude_noise_std`` (our addition): each Gaussian's amplitude is
  multiplied by ``max(0, 1 + N(0, std^2))`` -- free on the sparse path.
- ``pixel_noise_mode='sparse'`` (default): i.i.d. ``N(0, pixel_noise_std^2)``
  pixel noise on each joint's own channel, restricted to the ``T x T`` window
  of patches the sparse path touches for that joint, returned as
  ``pixel_noise`` (B, K, T, T, P, P); the embedding adds it before the
  projection, exactly as if it were added to the dense map. Windows of
  masked / invisible joints (weight 0) and tiles outside the image get no
  noise (noise around a masked joint would reveal where it is).
- ``pixel_noise_mode='dense'``: exact i.i.d. noise on every pixel of every
  channel; this needs dense maps, so the data preprocessor renders them and
  calls :meth:`MPTMaskedHeatmapModeling.add_dense_pixel_noise` (dense path,
  ~30x slower on CPU, cheap on a GPU).

Randomness: with ``seed=None`` all draws use torch's global RNG of the data's
device (so mmengine's ``randomness=dict(seed=...)`` makes runs repeatable);
with an integer ``seed`` the module owns one ``torch.Generator`` per device,
seeded with ``seed + rank`` on first use (distinct streams per distributed
rank; the state is not checkpointed). Draws happen on the
data's device, with no host round-trip.

Test time (``training=False``): no jitter or noise; if ``test_mask_ratio >
0`` exactly ``round(test_mask_ratio * K)`` joints per sample are masked
(visible joints first), chosen by an integer hash of the sample's quantised
joints and ``test_mask_seed``: the same sample always loses the same joints,
whatever the batch composition, order, world size or device.
"""
import math
from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.dist import get_rank
from torch import Tensor

from mpt_plugin.registry import MODELS

__all__ = ['MPTMaskedHeatmapModeling']

_MASK_MODES = ('uniform', 'fixed', 'bernoulli', 'none')
_PIXEL_NOISE_MODES = ('sparse', 'dense')
_U32 = 0xFFFFFFFF


def _num_fixed(ratio: float, num_joints: int) -> int:
    """``round(ratio * K)`` with halves rounded up."""
    return int(math.floor(ratio * num_joints + 0.5))


def _mix32(h: Tensor) -> Tensor:
    """Integer avalanche mix of non-negative int64 values below 2**32 (no
    intermediate exceeds 2**59, so no overflow on any device)."""
    h = ((h >> 16) ^ h) * 0x45D9F3B & _U32
    h = ((h >> 16) ^ h) * 0x45D9F3B & _U32
    return (h >> 16) ^ h


@MODELS.register_module()
class MPTMaskedHeatmapModeling(nn.Module):
    """Joint masking, jitter and noise for MoCap heatmap tokens.

    Args:
        mask_mode (str): How many joints a training sample loses:
            ``'uniform'``: ``m ~ U{0, ..., floor(mask_ratio * K)}`` per sample
            ("up to ``mask_ratio``"); ``'fixed'``: ``m = round(mask_ratio *
            K)``; ``'bernoulli'``: each joint independently with probability
            ``mask_ratio``; ``'none'``. In the first two modes the ``m`` joints
            are a uniformly random subset of the visible ones (weight != 0;
            all of them if fewer). Defaults to ``'uniform'``.
        mask_ratio (float): See ``mask_mode``, in [0, 1]. Defaults to 0.3.
        jitter_std_px (float): Std (px) of the Gaussian added to every joint
            coordinate in training. Defaults to 1.0.
        amplitude_noise_std (float): Std of the multiplicative amplitude
            noise ``max(0, 1 + N(0, std^2))`` (our addition; the paper's
            noise is ``pixel_noise_std``). Defaults to 0.1.
        pixel_noise_std (float): Std of the additive Gaussian pixel noise
            (the paper's "Gaussian noise"), in heatmap units (peak = 1).
            0 disables it. Defaults to 0.0; the paper config uses 0.05.
        pixel_noise_mode (str): ``'sparse'`` (noise on the joint windows only,
            keeps the sparse path) or ``'dense'`` (exact, every pixel; forces
            dense maps). Defaults to ``'sparse'``.
        test_mask_ratio (float): Fraction of joints masked at test time
            (``round(test_mask_ratio * K)`` per sample, deterministic).
            Defaults to 0.0 (off).
        test_mask_seed (int): Salt of the test-time hash. Defaults to 0.
        seed (int, optional): Seed of the module's own generators (plus the
            distributed rank); None uses torch's global RNG.
            Defaults to None.
    """

    def __init__(self,
                 mask_mode: str = 'uniform',
                 mask_ratio: float = 0.3,
                 jitter_std_px: float = 1.0,
                 amplitude_noise_std: float = 0.1,
                 pixel_noise_std: float = 0.0,
                 pixel_noise_mode: str = 'sparse',
                 test_mask_ratio: float = 0.0,
                 test_mask_seed: int = 0,
                 seed: Optional[int] = None) -> None:
        super().__init__()
        if mask_mode not in _MASK_MODES:
            raise ValueError(f'mask_mode must be one of {_MASK_MODES}, got '
                             f'{mask_mode!r}')
        if pixel_noise_mode not in _PIXEL_NOISE_MODES:
            raise ValueError(f'pixel_noise_mode must be one of '
                             f'{_PIXEL_NOISE_MODES}, got {pixel_noise_mode!r}')
        for name, value in (('mask_ratio', mask_ratio), ('test_mask_ratio',
                                                         test_mask_ratio)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f'{name} must be in [0, 1], got {value}')
        for name, value in (('jitter_std_px', jitter_std_px),
                            ('amplitude_noise_std', amplitude_noise_std),
                            ('pixel_noise_std', pixel_noise_std)):
            if value < 0:
                raise ValueError(f'{name} must be >= 0, got {value}')
        self.mask_mode = mask_mode
        self.mask_ratio = float(mask_ratio)
        self.jitter_std_px = float(jitter_std_px)
        self.amplitude_noise_std = float(amplitude_noise_std)
        self.pixel_noise_std = float(pixel_noise_std)
        self.pixel_noise_mode = pixel_noise_mode
        self.test_mask_ratio = float(test_mask_ratio)
        self.test_mask_seed = int(test_mask_seed)
        self.seed = seed
        self._generators: Dict[str, torch.Generator] = {}

    def extra_repr(self) -> str:
        return (f'mask_mode={self.mask_mode!r}, mask_ratio={self.mask_ratio}, '
                f'jitter_std_px={self.jitter_std_px}, amplitude_noise_std='
                f'{self.amplitude_noise_std}, pixel_noise_std='
                f'{self.pixel_noise_std}, pixel_noise_mode='
                f'{self.pixel_noise_mode!r}, test_mask_ratio='
                f'{self.test_mask_ratio}, seed={self.seed}')

    # ------------------------------------------------------------------ RNG
    def generator(self, device: torch.device) -> Optional[torch.Generator]:
        """The generator used on ``device`` (None = torch's global RNG)."""
        if self.seed is None:
            return None
        device = torch.device(device)
        if device.type == 'cuda' and device.index is None:
            device = torch.device('cuda', torch.cuda.current_device())
        key = str(device)
        if key not in self._generators:
            gen = torch.Generator(device=device)
            gen.manual_seed(self.seed + get_rank())
            self._generators[key] = gen
        return self._generators[key]

    def reset_generators(self) -> None:
        """Forget the own generators; the next draws restart from ``seed``."""
        self._generators.clear()

    # ------------------------------------------------------------ helpers
    def uses_dense_noise(self, training: bool) -> bool:
        """Whether this step needs dense maps (exact dense pixel noise)."""
        return (training and self.pixel_noise_mode == 'dense'
                and self.pixel_noise_std > 0)

    @staticmethod
    def _select(priority: Tensor, num: Tensor) -> Tensor:
        """Mask the ``num[b]`` joints of lowest priority in each sample.

        Args:
            priority (Tensor): (B, K) float or int priorities.
            num (Tensor): (B,) int64 counts.

        Returns:
            Tensor: (B, K) bool mask.
        """
        order = torch.argsort(priority, dim=1, stable=True)
        ranks = torch.argsort(order, dim=1)
        return ranks < num[:, None]

    def _random_mask(self, weights: Tensor,
                     gen: Optional[torch.Generator]) -> Tensor:
        B, K = weights.shape
        device = weights.device
        if self.mask_mode == 'none' or self.mask_ratio == 0:
            return torch.zeros(B, K, dtype=torch.bool, device=device)
        scores = torch.rand(B, K, generator=gen, device=device)
        if self.mask_mode == 'bernoulli':
            return scores < self.mask_ratio
        if self.mask_mode == 'fixed':
            num = torch.full((B, ), _num_fixed(self.mask_ratio, K),
                             dtype=torch.long, device=device)
        else:  # uniform: up to floor(ratio * K)
            high = int(math.floor(self.mask_ratio * K + 1e-9))
            num = torch.randint(
                0, high + 1, (B, ), generator=gen, device=device)
        # Invisible joints (weight 0) go last so visible ones are masked.
        priority = scores + 2.0 * (weights == 0).to(scores.dtype)
        return self._select(priority, num)

    def _test_mask(self, joints_px: Tensor, weights: Tensor) -> Tensor:
        """Deterministic content-hash mask of ``round(ratio * K)`` joints."""
        B, K = weights.shape
        device = weights.device
        visible = weights != 0
        joints = torch.where(visible[..., None], joints_px,
                             torch.zeros_like(joints_px))
        # Quantise to 1/64 px; clamp so the int64 cast is always defined.
        q = torch.round(joints.double().clamp(-1e6, 1e6) * 64).long() & _U32
        jid = torch.arange(K, device=device, dtype=torch.long)
        salt = _mix32(jid + (self.test_mask_seed & _U32) * 131 & _U32)
        per_joint = _mix32(q[..., 0] ^ _mix32(q[..., 1] ^ salt))  # (B, K)
        per_joint = per_joint * visible.long()
        key = _mix32(per_joint.sum(dim=1) & _U32)  # (B,)
        scores = _mix32(key[:, None] ^ salt[None])  # (B, K) in [0, 2**32)
        priority = scores + (~visible).long() * (1 << 33)
        num = torch.full((B, ), _num_fixed(self.test_mask_ratio, K),
                         dtype=torch.long, device=device)
        return self._select(priority, num)

    # ------------------------------------------------------------ forward
    def forward(self,
                joints_px: Tensor,
                joint_weights: Tensor,
                training: bool = True,
                noise_window: Optional[Tuple[int, int]] = None
                ) -> Dict[str, Tensor]:
        """Apply MHM to a batch of joints.

        Args:
            joints_px (Tensor): (B, K, 2) joints ``(x, y)`` in pixels.
            joint_weights (Tensor): (B, K) Gaussian amplitudes (0 = absent).
            training (bool): Training-time augmentation if True, else the
                deterministic test-time masking. Defaults to True.
            noise_window (tuple, optional): ``(T, P)`` window tiles per side
                and patch size of the sparse embedding; needed for sparse
                pixel noise. Defaults to None.

        Returns:
            dict: ``joints_px`` (B, K, 2) (jittered), ``joint_weights``
            (B, K) (0 for masked joints, amplitude noise applied),
            ``masked_joints`` (B, K) bool (joints this step masked), and
            ``pixel_noise`` (B, K, T, T, P, P) when sparse pixel noise is on.
        """
        if joints_px.dim() != 3 or joints_px.shape[-1] != 2:
            raise ValueError('joints_px must have shape (B, K, 2), got '
                             f'{tuple(joints_px.shape)}')
        if tuple(joint_weights.shape) != tuple(joints_px.shape[:2]):
            raise ValueError(f'joint_weights must have shape (B, K) = '
                             f'{tuple(joints_px.shape[:2])}, got '
                             f'{tuple(joint_weights.shape)}')
        B, K, _ = joints_px.shape
        device = joints_px.device
        if not training:
            if self.test_mask_ratio > 0:
                mask = self._test_mask(joints_px, joint_weights)
                mask = mask & (joint_weights != 0)
                joint_weights = joint_weights.masked_fill(mask, 0)
            else:
                mask = torch.zeros(B, K, dtype=torch.bool, device=device)
            return dict(
                joints_px=joints_px,
                joint_weights=joint_weights,
                masked_joints=mask)

        gen = self.generator(device)
        dtype = joints_px.dtype
        mask = self._random_mask(joint_weights, gen) & (joint_weights != 0)
        joint_weights = joint_weights.masked_fill(mask, 0)
        if self.jitter_std_px > 0:
            joints_px = joints_px + self.jitter_std_px * torch.randn(
                B, K, 2, generator=gen, device=device, dtype=dtype)
        if self.amplitude_noise_std > 0:
            scale = 1 + self.amplitude_noise_std * torch.randn(
                B, K, generator=gen, device=device, dtype=dtype)
            joint_weights = joint_weights * scale.clamp(min=0)
        out = dict(
            joints_px=joints_px, joint_weights=joint_weights,
            masked_joints=mask)
        if self.pixel_noise_std > 0 and self.pixel_noise_mode == 'sparse':
            if noise_window is None:
                raise ValueError('sparse pixel noise needs noise_window='
                                 '(T, P) of the sparse patch embedding')
            T, P = noise_window
            out['pixel_noise'] = self.pixel_noise_std * torch.randn(
                B, K, T, T, P, P, generator=gen, device=device, dtype=dtype)
        return out

    def add_dense_pixel_noise(self, heatmaps: Tensor) -> Tensor:
        """Exact dense mode: add i.i.d. ``N(0, pixel_noise_std^2)`` to every
        pixel of (B, K, H, W) heatmaps (training only)."""
        if self.pixel_noise_std == 0:
            return heatmaps
        gen = self.generator(heatmaps.device)
        noise = torch.randn(
            heatmaps.shape,
            generator=gen,
            device=heatmaps.device,
            dtype=heatmaps.dtype)
        return heatmaps + self.pixel_noise_std * noise
