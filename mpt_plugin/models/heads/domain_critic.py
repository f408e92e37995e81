"""Key2Mesh domain critic for WDGRL domain adaptation (paper sec. 3.5).

Key2Mesh's ``DomainCritic(1024, 1024, norm_layer='')``: a ``BasicBlock2``
(Linear -> PReLU -> Dropout -> Linear -> PReLU -> Dropout, no residual)
followed by ``Linear(hidden, 1)``. It maps a ``(B, in_dim)`` feature of the
keypoint feature extractor to a ``(B, 1)`` unbounded critic score (the
Wasserstein-1 critic, no sigmoid).

There are deliberately no normalisation layers: the gradient penalty
(:class:`MPTGradientPenalty`) needs the gradient of each sample's score
with respect to that sample's input alone, which batch statistics would
couple across the batch.
"""
from typing import Optional, Union

from mmengine.model import BaseModule
from torch import Tensor, nn

from mpt_plugin.registry import MODELS

__all__ = ['MPTDomainCritic']


@MODELS.register_module()
class MPTDomainCritic(BaseModule):
    """Wasserstein critic on Key2Mesh features.

    Args:
        in_dim (int): Input feature width. Defaults to 1024.
        hidden_dim (int): Hidden width of both hidden layers.
            Defaults to 1024.
        dropout (float): Dropout probability after each PReLU, in
            ``[0, 1)``. Defaults to 0.2.
        init_cfg (dict | list, optional): MMEngine init config.
            Defaults to None (PyTorch's default initialisation).
    """

    def __init__(self,
                 in_dim: int = 1024,
                 hidden_dim: int = 1024,
                 dropout: float = 0.2,
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if int(in_dim) <= 0 or int(hidden_dim) <= 0:
            raise ValueError('MPTDomainCritic: in_dim and hidden_dim '
                             f'must be positive, got in_dim={in_dim}, '
                             f'hidden_dim={hidden_dim}')
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError('MPTDomainCritic: dropout must be in '
                             f'[0, 1), got {dropout}')
        self.in_dim = int(in_dim)
        self.hidden_dim = int(hidden_dim)
        self.block = nn.Sequential(
            nn.Linear(self.in_dim, self.hidden_dim),
            nn.PReLU(),
            nn.Dropout(float(dropout)),
            nn.Linear(self.hidden_dim, self.hidden_dim),
            nn.PReLU(),
            nn.Dropout(float(dropout)),
        )
        self.out = nn.Linear(self.hidden_dim, 1)

    def forward(self, feats: Tensor) -> Tensor:
        """Score features.

        Args:
            feats (Tensor): (B, in_dim) features.

        Returns:
            Tensor: (B, 1) critic scores (unbounded, higher = more
            source-like).
        """
        if feats.dim() != 2 or feats.shape[1] != self.in_dim:
            raise ValueError('MPTDomainCritic: feats must have shape '
                             f'(B, {self.in_dim}), got '
                             f'{tuple(feats.shape)}')
        return self.out(self.block(feats))
