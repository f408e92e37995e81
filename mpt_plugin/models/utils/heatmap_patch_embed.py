"""Heatmap patch tokens for the MPT mesh regression transformer.

MPT (Sec. 3.1.1) feeds the transformer with one Gaussian heatmap per joint,

    ``S_j(p) = w_j * exp(-||p - x_j||^2 / sigma^2)``,  ``sigma = 3``

(the paper divides by ``sigma^2``, not ``2 * sigma^2`` as mmpose does), on a
``224 x 224`` grid, split into ``8 x 8`` patches (``28 x 28 = 784`` tokens of
``8 * 8 * C`` values) that a linear layer maps to the hidden size.

Conventions (used by every function here):

- Pixel coordinates ``*_px`` are continuous with **pixel centres at integer
  coordinates** ``0 .. size - 1``: column ``x`` (left to right), row ``y``
  (top to bottom). Pixel ``(row=i, col=j)`` of a map holds the Gaussian
  evaluated at ``p = (x=j, y=i)``. ``joints_px[..., 0]`` is ``x``.
- Shapes: ``B`` batch, ``K`` (= ``C``) joints / channels, ``H = W = size``,
  ``P`` patch size, ``G = size // P`` patches per side, ``N = G * G``
  tokens, ``D`` embedding size, ``T`` patches per side of a joint window.
- Tokens are ordered row-major over the patch grid: token ``n`` is patch
  ``(row n // G, col n % G)``, exactly as ``Conv2d(...).flatten(2)``.
- ``weights`` (B, K) scale each Gaussian; ``0`` removes the joint (masked or
  invisible; its coordinates may then be anything, even NaN). Joints outside
  the image are allowed: their Gaussian is simply clipped at the border.

The dense path (:meth:`HeatmapPatchEmbed.forward`) is a ``Conv2d(C, D, P,
stride=P)``, i.e. a ``Linear(P * P * C, D)`` on unfolded patches whose input
vector is ordered ``(channel, row, col)``: ``proj.weight.flatten(1)``. The
sparse path (:meth:`HeatmapPatchEmbed.forward_joints`) uses the same
``proj.weight``/``proj.bias``, so checkpoints do not depend on the path.

Sparse path: a Gaussian is separable, ``exp(-(dx^2 + dy^2) / s^2) =
g_x(dx) * g_y(dy)``, and is numerically zero a few sigma away. For each joint
we take the ``T x T`` window of patches covering ``[x - R, x + R] x [y - R, y
+ R]`` (``R`` = support radius, ``T = 5`` by default), evaluate the two
8-vectors ``g_y``, ``g_x`` per window row / column (``2 * T * P``
exponentials per joint), and per touched patch contract their outer product
(P, P) with the weight slice ``W[:, j]`` (D, P, P): one batched matmul
``(K, B * T * T, P * P) @ (K, P * P, D)``, i.e. ``T^2 * P^2 * D`` (1.6 M)
multiply-adds per joint instead of ``N * P^2 * D`` (51 M) for its dense map.
(Contracting the two 8-vectors one after the other needs fewer multiply-adds
but a ``(K, B, T, P, D)`` intermediate; on a memory-bound CPU it was slower.)
The per-window results are added into the tokens with one ``index_add``
(deterministic on CUDA under ``torch.use_deterministic_algorithms``). No
Python loop over samples or joints; CPU and CUDA alike.

Gaussian modes (``gaussian`` argument of :func:`render_heatmaps` and
:class:`HeatmapPatchEmbed`):

- ``'exact'`` (default): the paper's untruncated Gaussian above, sub-pixel
  centres.
- ``'mmpose'``: reproduces MMPose 1.3.2's
  ``mmpose.codecs.utils.generate_gaussian_heatmaps`` (called per sample with
  ``sigma_m = sigma / sqrt(2)``, so ``sigma`` keeps meaning ``exp(-d^2 /
  sigma^2)``), for matching MMPose-generated heatmaps. Per axis, with
  ``r = 3 * sigma_m``: centre ``mu = int(x + 0.5)`` (truncation towards
  zero), window ``[left, right) = [int(mu - r), int(mu + r + 1))``, peak at
  ``left + (2 * r + 1) // 2`` (one pixel up-left of ``mu`` when ``r`` is not
  an integer and ``mu - r >= 0``), value ``exp(-(p - peak)^2 / (2 *
  sigma_m^2))`` inside the window and exactly 0 outside; joints whose window
  lies fully outside the map vanish. The map is the product of the two axis
  factors (MMPose evaluates the 2-D exponent; the difference is float32
  rounding, < 1e-6). ``weights`` scale the map (MMPose's visibility, 0/1).
  The rounded centre makes the map piecewise constant in ``joints_px``: no
  gradient flows to the joints in this mode.
"""
import math
from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn
from torch import Tensor

__all__ = [
    'HeatmapPatchEmbed', 'render_heatmaps', 'default_support_radius',
    'num_window_patches', 'joint_window_origins', 'mmpose_support_radius'
]

#: Default support radius in sigmas (see :func:`default_support_radius`).
SUPPORT_RADIUS_SIGMAS = 5.0

#: Gaussian modes, see the module docstring.
GAUSSIAN_MODES = ('exact', 'mmpose')


def _check_gaussian(gaussian: str) -> None:
    if gaussian not in GAUSSIAN_MODES:
        raise ValueError(f'gaussian must be one of {GAUSSIAN_MODES}, got '
                         f'{gaussian!r}')


def mmpose_support_radius(sigma: float) -> float:
    """Smallest support radius (px) covering MMPose's window.

    With ``r = 3 * sigma / sqrt(2)``, ``mu = int(x + 0.5)`` lies in ``[x -
    0.5, x + 1.5)`` (truncation towards zero for negative ``x``) and the
    window ``[int(mu - r), int(mu + r + 1))`` within ``(mu - r - 1, mu +
    r]``, so every non-zero pixel is closer than ``r + 1.5`` to ``x``.

    Args:
        sigma (float): Gaussian width (px) as in ``exp(-d^2 / sigma^2)``.

    Returns:
        float: ``3 * sigma / sqrt(2) + 1.5`` pixels.
    """
    return 3.0 * float(sigma) / math.sqrt(2.0) + 1.5


def default_support_radius(sigma: float, gaussian: str = 'exact') -> float:
    """Support radius (px) used when none is given: ``5 * sigma``.

    In ``'mmpose'`` mode it is at least :func:`mmpose_support_radius` (which
    ``5 * sigma`` already is for ``sigma >= 0.52``); the window then holds
    MMPose's whole truncated Gaussian and the sparse path is exact.

    Truncation error bound. Outside the window every skipped pixel is at
    distance ``> R`` along ``x`` or ``y`` from the joint, so its value is below
    ``exp(-R^2 / sigma^2)``. With ``G1 = sum_d exp(-d^2 / sigma^2) <= 1 +
    sqrt(pi) * sigma`` (one axis, all integer offsets) and the one-axis tail
    ``tau = sum_{|d| > R} exp(-d^2 / sigma^2) <= 2 * exp(-R^2 / sigma^2) /
    (1 - exp(-2 R / sigma^2))``, the skipped mass of one Gaussian is at most
    ``2 * G1 * tau``. For ``sigma = 3, R = 15``: ``tau <= 2.9e-11``, skipped
    mass ``<= 3.7e-10`` against a total mass of ``pi * sigma^2 ~= 28.3``, a
    relative error ``~1.3e-11`` (any token error is bounded by ``max|W| *
    w_j * 3.7e-10`` per joint), i.e. six orders of magnitude below the 1e-5
    target and below float32 resolution. ``R = 4 * sigma`` (12 px, 4 x 4
    patches instead of 5 x 5) would still give ``~1e-7`` relative.

    Args:
        sigma (float): Gaussian width (px) as in ``exp(-d^2 / sigma^2)``.
        gaussian (str): ``'exact'`` or ``'mmpose'``. Defaults to 'exact'.

    Returns:
        float: The support radius in pixels.
    """
    _check_gaussian(gaussian)
    radius = SUPPORT_RADIUS_SIGMAS * float(sigma)
    if gaussian == 'mmpose':
        radius = max(radius, mmpose_support_radius(sigma))
    return radius


def num_window_patches(support_radius: float, patch_size: int) -> int:
    """Patches per side ``T`` of a joint window.

    The integer pixels within ``R`` of a joint along one axis are at most
    ``n = floor(2 R) + 1`` consecutive ones; ``n`` consecutive pixels touch at
    most ``ceil((n - 1) / P) + 1`` patches.

    Args:
        support_radius (float): Support radius ``R`` in pixels.
        patch_size (int): Patch size ``P`` in pixels.

    Returns:
        int: ``T``.
    """
    return int(math.ceil(math.floor(2 * support_radius) / patch_size)) + 1


def _clamp_range(size: int, support_radius: float,
                 patch_size: int) -> Tuple[float, float]:
    # Beyond these coordinates a joint's window lies entirely outside the
    # image: clamping changes nothing on the sparse path (and dense values
    # by < exp(-(R + P + 2)^2 / sigma^2)) but avoids integer overflow.
    margin = support_radius + patch_size + 2.0
    return -margin, size - 1 + margin


def _sanitize(joints_px: Tensor, weights: Tensor, size: int,
              support_radius: float, patch_size: int) -> Tensor:
    """Zero the coordinates of removed joints (weight 0, maybe NaN) and clamp
    far-away ones; differentiable where it matters (weight != 0)."""
    keep = (weights != 0)[..., None]
    joints_px = torch.where(keep, joints_px, torch.zeros_like(joints_px))
    lo, hi = _clamp_range(size, support_radius, patch_size)
    return joints_px.clamp(lo, hi)


def joint_window_origins(joints_px: Tensor, support_radius: float,
                         patch_size: int, size: int) -> Tensor:
    """First patch (column, row) of each joint's ``T x T`` window.

    ``origin = floor(ceil(c - R) / P)`` per axis, so the window's first patch
    holds the first integer pixel within ``R`` of the joint; with ``T`` from
    :func:`num_window_patches` the window covers ``[c - R, c + R]``. Patch
    indices may fall outside ``[0, G)``; such window tiles are dropped.

    Args:
        joints_px (Tensor): (B, K, 2) sanitised joints ``(x, y)`` in pixels.
        support_radius (float): Support radius ``R`` in pixels.
        patch_size (int): Patch size ``P``.
        size (int): Map size in pixels (for the clamp range).

    Returns:
        Tensor: (B, K, 2) int64 ``(col, row)`` patch indices.
    """
    lo, hi = _clamp_range(size, support_radius, patch_size)
    first_px = torch.ceil(joints_px.detach().clamp(lo, hi) - support_radius)
    return torch.div(first_px.long(), patch_size, rounding_mode='floor')


def _gauss(pix: Tensor, centre: Tensor, sigma: float) -> Tensor:
    """``exp(-(pix - centre)^2 / sigma^2)``, shared by both paths so the
    per-axis factors are bitwise identical."""
    return torch.exp(-(pix - centre).square() / (sigma * sigma))


def _gauss_mmpose(pix: Tensor, centre: Tensor, sigma: float) -> Tensor:
    """One axis of MMPose 1.3.2's ``generate_gaussian_heatmaps`` (see the
    module docstring), same arithmetic: ``sigma_m = sigma / sqrt(2)``,
    ``radius = 3 * sigma_m``, rounding in the dtype of ``centre`` and window
    bounds in float64 as numpy does."""
    sigma_m = sigma / math.sqrt(2.0)
    radius = sigma_m * 3
    peak_off = (2 * radius + 1) // 2
    mu = torch.trunc(centre.detach() + 0.5).to(torch.float64)
    left = torch.trunc(mu - radius)
    right = torch.trunc(mu + radius + 1)
    peak = (left + peak_off).to(pix.dtype)
    g = torch.exp(-(pix - peak).square() / (2 * sigma_m**2))
    inside = (pix >= left.to(pix.dtype)) & (pix < right.to(pix.dtype))
    return g * inside.to(g.dtype)


def _axis_factors(pix: Tensor, centre: Tensor, sigma: float,
                  gaussian: str) -> Tensor:
    """Per-axis Gaussian factors of either mode (broadcast ``pix`` against
    ``centre``)."""
    if gaussian == 'mmpose':
        return _gauss_mmpose(pix, centre, sigma)
    return _gauss(pix, centre, sigma)


def _window_factors(joints_px: Tensor,
                    origins: Tensor,
                    num_tiles: int,
                    patch_size: int,
                    grid: int,
                    sigma: float,
                    gaussian: str = 'exact') -> Tuple[Tensor, Tensor, Tensor]:
    """Per-axis Gaussian factors on the window tiles.

    Returns:
        tuple: ``g`` (B, K, 2, T, P) factors (axis 0 = x/columns, axis 1 =
        y/rows; zero on tiles outside the grid), ``tiles`` (B, K, 2, T) int64
        patch indices, ``valid`` (B, K, 2, T) bool.
    """
    device = joints_px.device
    tiles = origins[..., None] + torch.arange(num_tiles, device=device)
    valid = (tiles >= 0) & (tiles < grid)
    offs = torch.arange(patch_size, device=device)
    pix = (tiles[..., None] * patch_size + offs).to(joints_px.dtype)
    g = _axis_factors(pix, joints_px[..., None, None], sigma, gaussian)
    g = g * valid[..., None].to(g.dtype)
    return g, tiles, valid


def render_heatmaps(joints_px: Tensor,
                    weights: Tensor,
                    size: int = 224,
                    sigma: float = 3.0,
                    pixel_noise: Optional[Tensor] = None,
                    patch_size: int = 8,
                    support_radius: Optional[float] = None,
                    gaussian: str = 'exact') -> Tensor:
    """Render dense MPT heatmaps, batched (tests, visualisation, dense path).

    ``maps[b, k, y, x] = weights[b, k] * exp(-((x - joints_px[b, k, 0])^2 +
    (y - joints_px[b, k, 1])^2) / sigma^2)``, untruncated, pixel centres at
    integer coordinates (``gaussian='exact'``); with ``gaussian='mmpose'``
    MMPose 1.3.2's rounded, truncated Gaussian times ``weights`` (see the
    module docstring), i.e. ``generate_gaussian_heatmaps((size, size),
    joints_px[b:b + 1], weights[b:b + 1], sigma / sqrt(2))[0]`` for 0/1
    weights. When ``pixel_noise`` is given it is added to each
    joint's window of patches exactly as :meth:`HeatmapPatchEmbed.
    forward_joints` does (tiles outside the image and joints with weight 0
    get none), so ``embed(render_heatmaps(j, w, pixel_noise=n)) ==
    embed.forward_joints(j, w, pixel_noise=n)``.

    Args:
        joints_px (Tensor): (B, K, 2) joints ``(x, y)`` in pixels.
        weights (Tensor): (B, K) Gaussian amplitudes (0 removes a joint).
        size (int): Map height and width in pixels. Defaults to 224.
        sigma (float): Gaussian width (px), ``exp(-d^2 / sigma^2)``.
            Defaults to 3.0.
        pixel_noise (Tensor, optional): (B, K, T, T, P, P) additive noise on
            each joint's window (rows of tiles, cols of tiles, pixel row,
            pixel col). Defaults to None.
        patch_size (int): Patch size ``P`` defining the noise windows.
            Defaults to 8.
        support_radius (float, optional): Window radius (px); defaults to
            :func:`default_support_radius`.
        gaussian (str): ``'exact'`` (paper) or ``'mmpose'`` (match
            MMPose-generated heatmaps). Defaults to 'exact'.

    Returns:
        Tensor: (B, K, size, size) heatmaps in the dtype of ``joints_px``.
    """
    _check_joints(joints_px, weights)
    _check_gaussian(gaussian)
    if support_radius is None:
        support_radius = default_support_radius(sigma, gaussian)
    dtype = joints_px.dtype if joints_px.is_floating_point() else \
        torch.get_default_dtype()
    joints_px = joints_px.to(dtype)
    weights = weights.to(dtype)
    joints = _sanitize(joints_px, weights, size, support_radius, patch_size)
    pix = torch.arange(size, device=joints.device, dtype=dtype)
    g = _axis_factors(pix, joints[..., None], sigma,
                      gaussian)  # (B, K, 2, size)
    gx, gy = g[:, :, 0], g[:, :, 1]
    maps = (weights[..., None, None] * gy[..., :, None]) * gx[..., None, :]
    if pixel_noise is None:
        return maps
    if size % patch_size:
        raise ValueError(f'size {size} is not a multiple of patch_size '
                         f'{patch_size}')
    B, K = weights.shape
    grid = size // patch_size
    T = num_window_patches(support_radius, patch_size)
    _check_noise(pixel_noise, B, K, T, patch_size)
    origins = joint_window_origins(joints, support_radius, patch_size, size)
    tiles = origins[..., None] + torch.arange(T, device=joints.device)
    valid = (tiles >= 0) & (tiles < grid)  # (B, K, 2, T)
    keep = (valid[:, :, 1, :, None] & valid[:, :, 0, None, :]
            & (weights != 0)[..., None, None])  # (B, K, Ty, Tx)
    noise = pixel_noise.to(dtype) * keep[..., None, None].to(dtype)
    offs = torch.arange(patch_size, device=joints.device)
    pix_idx = tiles.clamp(0, grid - 1)[..., None] * patch_size + offs
    rows = pix_idx[:, :, 1]  # (B, K, Ty, P)
    cols = pix_idx[:, :, 0]  # (B, K, Tx, P)
    flat = (rows[:, :, :, None, :, None] * size +
            cols[:, :, None, :, None, :])  # (B, K, Ty, Tx, P, P)
    # Tiles of one window are distinct, so valid pixels never collide;
    # invalid tiles carry zero noise wherever they are clamped to.
    maps = maps.reshape(B, K, size * size).scatter_add(
        2, flat.reshape(B, K, -1), noise.reshape(B, K, -1))
    return maps.reshape(B, K, size, size)


def _check_joints(joints_px: Tensor, weights: Tensor) -> None:
    if joints_px.dim() != 3 or joints_px.shape[-1] != 2:
        raise ValueError('joints_px must have shape (B, K, 2) = (x, y) in '
                         f'pixels, got {tuple(joints_px.shape)}')
    if tuple(weights.shape) != tuple(joints_px.shape[:2]):
        raise ValueError(f'weights must have shape (B, K) = '
                         f'{tuple(joints_px.shape[:2])}, got '
                         f'{tuple(weights.shape)}')


def _check_noise(pixel_noise: Tensor, B: int, K: int, T: int,
                 P: int) -> None:
    expected = (B, K, T, T, P, P)
    if tuple(pixel_noise.shape) != expected:
        raise ValueError(f'pixel_noise must have shape (B, K, T, T, P, P) = '
                         f'{expected} for this window geometry, got '
                         f'{tuple(pixel_noise.shape)}')


class HeatmapPatchEmbed(nn.Module):
    """Patch embedding of MPT heatmaps, dense or straight from 2D joints.

    Args:
        in_channels (int): Heatmap channels ``C`` (= joints ``K``).
            Defaults to 17 (COCO).
        input_size (int): Heatmap height and width in pixels. Defaults to 224.
        patch_size (int): Patch size ``P``. Defaults to 8.
        embed_dim (int): Token size ``D``. Defaults to 1024.
        sigma (float): Gaussian width (px) of the synthesised heatmaps,
            ``exp(-d^2 / sigma^2)``. Defaults to 3.0.
        support_radius (float, optional): Half-width (px) of the window of
            patches summed per joint by :meth:`forward_joints`; defaults to
            ``5 * sigma`` (see :func:`default_support_radius` for the
            truncation bound, ~1e-11 relative). In ``'mmpose'`` mode it must
            be at least :func:`mmpose_support_radius`.
        gaussian (str): ``'exact'`` (default): the paper's untruncated
            Gaussian with sub-pixel centres; ``'mmpose'``: MMPose 1.3.2's
            rounded, truncated Gaussian, the mode for matching
            MMPose-generated heatmaps (see the module docstring).

    Attributes:
        proj (nn.Conv2d): The linear patch projection, weight (D, C, P, P)
            and bias (D,), shared by both paths.
        num_patches (int): Tokens ``N = (input_size // P) ** 2`` (784).
        window_patches (int): Window tiles per side ``T`` (5 by default).
    """

    def __init__(self,
                 in_channels: int = 17,
                 input_size: int = 224,
                 patch_size: int = 8,
                 embed_dim: int = 1024,
                 sigma: float = 3.0,
                 support_radius: Optional[float] = None,
                 gaussian: str = 'exact') -> None:
        super().__init__()
        if input_size % patch_size:
            raise ValueError(f'input_size {input_size} must be a multiple of '
                             f'patch_size {patch_size}')
        if sigma <= 0:
            raise ValueError(f'sigma must be positive, got {sigma}')
        _check_gaussian(gaussian)
        if support_radius is None:
            support_radius = default_support_radius(sigma, gaussian)
        if support_radius <= 0:
            raise ValueError(
                f'support_radius must be positive, got {support_radius}')
        if gaussian == 'mmpose' and \
                support_radius < mmpose_support_radius(sigma):
            raise ValueError(
                f'support_radius {support_radius} does not cover MMPose\'s '
                f'Gaussian window in gaussian=\'mmpose\' mode; need >= '
                f'{mmpose_support_radius(sigma):.4f} for sigma {sigma}')
        self.in_channels = in_channels
        self.input_size = input_size
        self.patch_size = patch_size
        self.embed_dim = embed_dim
        self.sigma = float(sigma)
        self.gaussian = gaussian
        self.support_radius = float(support_radius)
        self.grid_size = input_size // patch_size
        self.num_patches = self.grid_size**2
        self.window_patches = num_window_patches(self.support_radius,
                                                 patch_size)
        self.proj = nn.Conv2d(
            in_channels, embed_dim, kernel_size=patch_size, stride=patch_size)

    def extra_repr(self) -> str:
        return (f'sigma={self.sigma}, gaussian={self.gaussian!r}, '
                f'support_radius={self.support_radius}, '
                f'num_patches={self.num_patches}, '
                f'window_patches={self.window_patches}')

    def pixel_noise_shape(self, batch_size: int) -> Tuple[int, ...]:
        """Shape (B, K, T, T, P, P) of the ``pixel_noise`` argument."""
        T, P = self.window_patches, self.patch_size
        return (batch_size, self.in_channels, T, T, P, P)

    def forward(self, maps: Tensor) -> Tensor:
        """Dense path: embed any (B, C, H, W) maps.

        Args:
            maps (Tensor): (B, C, input_size, input_size) float maps
                (synthesised heatmaps, or pose feature maps at fine-tuning).

        Returns:
            Tensor: (B, N, D) tokens, row-major over the patch grid.
        """
        expected = (self.in_channels, self.input_size, self.input_size)
        if maps.dim() != 4 or tuple(maps.shape[1:]) != expected:
            raise ValueError(f'maps must have shape (B, {expected[0]}, '
                             f'{expected[1]}, {expected[2]}), got '
                             f'{tuple(maps.shape)}')
        return self.proj(maps).flatten(2).transpose(1, 2)

    def forward_joints(self,
                       joints_px: Tensor,
                       weights: Tensor,
                       pixel_noise: Optional[Tensor] = None) -> Tensor:
        """Sparse path: tokens of the heatmaps of 2D joints, no dense maps.

        Equal (up to float rounding and the ~1e-11 truncation) to
        ``self.forward(render_heatmaps(joints_px, weights, input_size, sigma,
        pixel_noise, patch_size, support_radius, gaussian))`` (in
        ``'mmpose'`` mode without truncation error). Differentiable w.r.t.
        ``proj``, ``weights``, ``pixel_noise`` and, in ``'exact'`` mode,
        ``joints_px`` (the window placement itself is piecewise constant).

        Args:
            joints_px (Tensor): (B, K, 2) joints ``(x, y)`` in pixels, pixel
                centres at integers; may lie outside the image.
            weights (Tensor): (B, K) Gaussian amplitudes; 0 removes a joint.
            pixel_noise (Tensor, optional): (B, K, T, T, P, P) additive
                heatmap noise on each joint's window (see
                :meth:`pixel_noise_shape`); zeroed on tiles outside the image
                and for joints with weight 0. Defaults to None.

        Returns:
            Tensor: (B, N, D) tokens.
        """
        _check_joints(joints_px, weights)
        B, K, _ = joints_px.shape
        if K != self.in_channels:
            raise ValueError(f'joints_px has {K} joints but the embedding '
                             f'expects in_channels={self.in_channels}')
        weight = self.proj.weight  # (D, K, P, P) = [d, k, row v, col u]
        dtype, device = weight.dtype, weight.device
        D, P, G, T = self.embed_dim, self.patch_size, self.grid_size, \
            self.window_patches
        R = self.support_radius
        joints_px = joints_px.to(device=device, dtype=dtype)
        weights = weights.to(device=device, dtype=dtype)
        joints = _sanitize(joints_px, weights, self.input_size, R, P)
        origins = joint_window_origins(joints, R, P, self.input_size)
        g, tiles, valid = _window_factors(joints, origins, T, P, G,
                                          self.sigma, self.gaussian)
        # Window values in joint-major layout (K, B, Ty, Tx, P_v, P_u): the
        # outer product of the row and column factors (separable Gaussian).
        gx = g[:, :, 0].transpose(0, 1)  # (K, B, Tx, P): columns u
        gy = (g[:, :, 1] * weights[..., None, None]).transpose(0, 1)  # rows v
        vals = gy[:, :, :, None, :, None] * gx[:, :, None, :, None, :]
        if pixel_noise is not None:
            _check_noise(pixel_noise, B, K, T, P)
            keep = (valid[:, :, 1, :, None] & valid[:, :, 0, None, :]
                    & (weights != 0)[..., None, None])  # (B, K, Ty, Tx)
            noise = pixel_noise.to(device=device, dtype=dtype) * \
                keep[..., None, None].to(dtype)
            vals = vals + noise.transpose(0, 1)
        # Per joint channel k: (B * Ty * Tx, P * P) @ W[:, k] as (P * P, D).
        # On a memory-bound CPU this beats contracting the two 8-vectors one
        # after the other (whose (K, B, T, P, D) intermediate is larger).
        w_k = weight.reshape(D, K, P * P).permute(1, 2, 0)  # (K, P*P, D)
        src = torch.bmm(vals.reshape(K, B * T * T, P * P), w_k)

        # Token index of every (k, b, ty, tx) window tile; tiles outside the
        # grid carry exact zeros and are parked on a valid index.
        t = tiles.clamp(0, G - 1)
        flat = t[:, :, 1, :, None] * G + t[:, :, 0, None, :]  # (B,K,Ty,Tx)
        batch_off = torch.arange(B, device=device)[:, None, None, None] * \
            self.num_patches
        index = (flat + batch_off).transpose(0, 1).reshape(-1)
        tokens = self.proj.bias.expand(B * self.num_patches, D).clone()
        # (under autocast ``src`` may be half precision; accumulate in the
        # parameter dtype)
        tokens.index_add_(0, index, src.reshape(-1, D).to(tokens.dtype))
        return tokens.reshape(B, self.num_patches, D)

    def forward_inputs(self, inputs: Dict[str, Tensor]) -> Tensor:
        """Tokens from the ``inputs`` dict of ``MPTMoCapDataPreprocessor``.

        Uses the dense path when ``inputs`` holds ``heatmaps`` (B, C, H, W),
        else :meth:`forward_joints` on ``joints_px`` (B, K, 2),
        ``joint_weights`` (B, K) and the optional ``pixel_noise``.

        Args:
            inputs (dict): The preprocessor's ``inputs``.

        Returns:
            Tensor: (B, N, D) tokens.
        """
        if 'heatmaps' in inputs:
            return self.forward(inputs['heatmaps'])
        missing = [
            k for k in ('joints_px', 'joint_weights') if k not in inputs
        ]
        if missing:
            raise KeyError(f'inputs needs "heatmaps" or "joints_px" + '
                           f'"joint_weights"; missing {missing}, got keys '
                           f'{sorted(inputs)}')
        return self.forward_joints(inputs['joints_px'],
                                   inputs['joint_weights'],
                                   inputs.get('pixel_noise'))
