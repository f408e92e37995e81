"""WGAN-GP gradient penalty and Wasserstein estimate (Key2Mesh sec. 3.5).

Key2Mesh adapts its feature extractor WDGRL-style. With critic ``D``,
source features ``h_s`` and target features ``h_t`` (both ``(B, D)``):

* ``W = mean D(h_s) - mean D(h_t)`` (:func:`wasserstein_estimate`), the
  critic's estimate of the Wasserstein-1 distance;
* ``GP = mean_i (||grad_h D(h_i)||_2 - 1)^2`` with interpolates
  ``h_i = a_i h_s,i + (1 - a_i) h_t,i``, ``a_i ~ U(0, 1)`` per sample
  (:class:`MPTGradientPenalty`).

The critic minimises ``-W + lambda * GP`` (lambda = 50 in Key2Mesh); the
target feature extractor minimises ``W`` (plus its task losses).
"""
from typing import Callable, Dict, Optional

import torch
from torch import Tensor, nn

from mpt_plugin.registry import MODELS

__all__ = ['MPTGradientPenalty', 'wasserstein_estimate']


def wasserstein_estimate(critic_source: Tensor,
                         critic_target: Tensor) -> Tensor:
    """Critic-based Wasserstein-1 estimate ``mean(source) - mean(target)``.

    Args:
        critic_source (Tensor): (B_s, 1) or (B_s,) critic scores of source
            features.
        critic_target (Tensor): (B_t, 1) or (B_t,) critic scores of target
            features.

    Returns:
        Tensor: Scalar estimate (differentiable w.r.t. both inputs).
    """
    for name, score in (('critic_source', critic_source),
                        ('critic_target', critic_target)):
        if score.dim() not in (1, 2) or (score.dim() == 2
                                         and score.shape[1] != 1):
            raise ValueError(f'wasserstein_estimate: {name} must have shape '
                             f'(B, 1) or (B,), got {tuple(score.shape)}')
        if score.shape[0] == 0:
            raise ValueError(f'wasserstein_estimate: {name} is empty')
    return critic_source.mean() - critic_target.mean()


@MODELS.register_module()
class MPTGradientPenalty(nn.Module):
    """Two-sided WGAN-GP gradient penalty on source/target interpolates.

    The source and target features are detached, so the penalty only
    trains the critic (its gradient reaches the critic's parameters through
    the double backward of ``torch.autograd.grad(create_graph=True)``).

    Args:
        loss_weight (float): Multiplier of ``gradient_penalty`` (e.g. 50 as
            in Key2Mesh). Defaults to 1.0.
        eps (float): Added under the square root of the squared gradient
            norm so that the penalty stays differentiable at a zero
            gradient. Defaults to 1e-12.
    """

    def __init__(self, loss_weight: float = 1.0, eps: float = 1e-12) -> None:
        super().__init__()
        self.loss_weight = float(loss_weight)
        self.eps = float(eps)

    def forward(self,
                critic: Callable[[Tensor], Tensor],
                source_feats: Tensor,
                target_feats: Tensor,
                generator: Optional[torch.Generator] = None
                ) -> Dict[str, Tensor]:
        """Compute the penalty.

        Args:
            critic (Callable): Maps (B, D) features to (B, 1) or (B,)
                scores, e.g. :class:`MPTDomainCritic`. It must treat
                samples independently (no batch normalisation).
            source_feats (Tensor): (B, D) source-domain features.
            target_feats (Tensor): (B, D) target-domain features.
            generator (torch.Generator, optional): RNG for the per-sample
                mixing weights ``a ~ U(0, 1)``. Defaults to None.

        Returns:
            dict: ``gradient_penalty`` (scalar, ``loss_weight *
            mean((||grad||_2 - 1)^2)``, differentiable w.r.t. the critic)
            and ``grad_norm`` (scalar, detached mean gradient norm on the
            interpolates).
        """
        if source_feats.dim() != 2 or source_feats.shape != \
                target_feats.shape:
            raise ValueError('MPTGradientPenalty: source_feats and '
                             'target_feats must both have shape (B, D), got '
                             f'{tuple(source_feats.shape)} and '
                             f'{tuple(target_feats.shape)}')
        bsz = source_feats.shape[0]
        if bsz == 0:
            raise ValueError('MPTGradientPenalty: empty batch')
        source = source_feats.detach()
        target = target_feats.detach().to(source.dtype)
        alpha = torch.rand((bsz, 1),
                           generator=generator,
                           device=source.device if generator is None
                           else generator.device,
                           dtype=source.dtype).to(source.device)
        interp = (alpha * source + (1.0 - alpha) * target).requires_grad_(True)
        with torch.enable_grad():
            scores = critic(interp)
            if scores.shape not in ((bsz, 1), (bsz, )):
                raise ValueError('MPTGradientPenalty: critic must return '
                                 f'(B, 1) or (B,) scores with B={bsz}, got '
                                 f'{tuple(scores.shape)}')
            grads, = torch.autograd.grad(
                outputs=scores.sum(),
                inputs=interp,
                create_graph=True,
                retain_graph=True)
        norms = torch.sqrt(grads.pow(2).sum(dim=1) + self.eps)  # (B,)
        penalty = (norms - 1.0).pow(2).mean()
        return dict(
            gradient_penalty=self.loss_weight * penalty,
            grad_norm=norms.detach().mean())
