"""The critic and its WGAN-GP loss as one module (WDGRL, used by
:class:`MPTWGANDomainAdaptation` for Key2Mesh's and MPT's domain
adaptation)."""
from typing import Optional

import torch
from torch import Tensor, nn

from .gradient_penalty import wasserstein_estimate

__all__ = ['WassersteinCriticLoss']


class WassersteinCriticLoss(nn.Module):
    """The critic and its WGAN-GP loss as one module.

    One ``forward`` call computes the whole critic loss, so that a DDP
    wrapper around this module sees a single forward per backward.

    Args:
        net (nn.Module): Critic, (B, C) features -> (B, 1) scores.
        gradient_penalty (nn.Module): e.g. :class:`MPTGradientPenalty`
            (called as ``gp(net, source, target, generator=...)``).
    """

    def __init__(self, net: nn.Module, gradient_penalty: nn.Module) -> None:
        super().__init__()
        self.net = net
        self.gradient_penalty = gradient_penalty

    def forward(self,
                source: Tensor,
                target: Optional[Tensor] = None,
                mode: str = 'loss',
                generator: Optional[torch.Generator] = None):
        """``mode='score'``: (B, 1) scores of ``source``. ``mode='loss'``:
        the critic loss on (B_s, C) source and (B_t, C) target features.

        Returns:
            Tensor | dict: scores, or ``loss_critic`` (``-W + GP``, with
            gradients), ``wasserstein``, ``gradient_penalty`` and
            ``critic_grad_norm`` (mean input-gradient norm on the
            interpolates), detached.
        """
        if mode == 'score':
            return self.net(source)
        if mode != 'loss':
            raise ValueError(f"mode must be 'loss' or 'score', got {mode!r}")
        if target is None:
            raise ValueError("mode='loss' needs source and target features")
        wdist = wasserstein_estimate(self.net(source), self.net(target))
        num = min(source.shape[0], target.shape[0])
        gp = self.gradient_penalty(self.net, source[:num], target[:num],
                                   generator=generator)
        return dict(loss_critic=gp['gradient_penalty'] - wdist,
                    wasserstein=wdist.detach(),
                    gradient_penalty=gp['gradient_penalty'].detach(),
                    critic_grad_norm=gp['grad_norm'].detach())
