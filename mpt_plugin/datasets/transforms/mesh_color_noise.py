"""SPIN-style per-channel multiplicative colour noise."""
import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness

from mpt_plugin.registry import TRANSFORMS

__all__ = ['MPTMeshColorNoise']


@TRANSFORMS.register_module()
class MPTMeshColorNoise(BaseTransform):
    """Multiplies every colour channel by its own ``U[1 - nf, 1 + nf]``.

    The result is rounded, clipped to ``[0, 255]`` and cast back to the
    input dtype (uint8 stays uint8). The draw is stored in
    ``results['color_noise']`` ((C,) float32) for inspection.

    Randomness comes from numpy's global RNG (``np.random``), which
    MMEngine seeds (``randomness=dict(seed=...)`` and its data loader
    ``worker_init_fn``), so seeded runs are reproducible.

    Required keys: ``img`` (H, W, C) uint8 (or float in [0, 255]).
    Modified keys: ``img``. Added keys: ``color_noise``.

    Args:
        noise_factor (float): ``nf`` in ``[0, 1]``. Defaults to 0.4 (SPIN).
    """

    def __init__(self, noise_factor: float = 0.4) -> None:
        super().__init__()
        if not 0 <= noise_factor <= 1:
            raise ValueError(
                f'noise_factor must be in [0, 1], got {noise_factor}')
        self.noise_factor = float(noise_factor)

    @cache_randomness
    def _draw(self, channels: int) -> np.ndarray:
        nf = self.noise_factor
        return np.random.uniform(1 - nf, 1 + nf, size=channels)

    def transform(self, results: dict) -> dict:
        """Applies the noise to ``results['img']``.

        Args:
            results (dict): Sample dict with ``img``.

        Returns:
            dict: ``results``.
        """
        if 'img' not in results:
            raise KeyError('MPTMeshColorNoise needs `img`; got keys '
                           f'{sorted(results)}')
        img = np.asarray(results['img'])
        if img.ndim != 3:
            raise ValueError('img must have shape (H, W, C), got '
                             f'{img.shape}')
        noise = self._draw(img.shape[2])
        out = np.clip(np.rint(img * noise.astype(np.float32)), 0, 255)
        results['img'] = out.astype(img.dtype)
        results['color_noise'] = noise.astype(np.float32)
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(noise_factor={self.noise_factor})'
