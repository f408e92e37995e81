"""The interface an estimator implements to be domain-adapted.

:class:`MPTWGANDomainAdaptation` (WDGRL-style adversarial adaptation,
Key2Mesh sec. 3.4-3.6) adapts one sub-module of an estimator, the *encoder*, so
that its features on label-free target-domain inputs become
indistinguishable (to a Wasserstein critic) from the features the frozen
pre-trained encoder gives on the labelled source domain. It knows nothing
about keypoints or meshes: everything model-specific goes through the
methods below, which an estimator provides by inheriting
:class:`DomainAdaptationProtocol` (a mixin for an MMEngine ``BaseModel``).

Calls go through ``forward``: under ``MMSeparateDistributedDataParallel``
the estimator is wrapped in its own ``DistributedDataParallel``, which only
exposes ``forward``, and only a ``forward`` call synchronises gradients.
An estimator therefore routes the modes in :data:`DA_MODES` to
:meth:`DomainAdaptationProtocol.da_forward` from its ``forward``::

    def forward(self, inputs, data_samples=None, mode='tensor', **kwargs):
        if mode in DA_MODES:
            return self.da_forward(mode, inputs, data_samples, **kwargs)
        ...

and the adapter calls ``estimator(inputs, data_samples,
mode='da_features')`` etc. The methods (all take the *preprocessed* batch,
i.e. the output of the estimator's data preprocessor):

- ``da_encoder`` (property): the ``nn.Module`` to adapt. Everything else of
  the estimator is frozen during adaptation.
- ``da_features(inputs, data_samples, encoder=None)``: ``(B, D)`` or
  ``(B, N, D)`` features of ``encoder`` (default: ``da_encoder``); the
  adapter passes its frozen copy of the encoder to get source features.
- ``da_forward_from_features(feats, data_samples)``: the rest of the
  network applied to features, a dict of predictions.
- ``da_target_loss(inputs, data_samples, feats)``: dict of **label-free**
  losses (names start with ``loss_``) for target batches, e.g. a 2D
  re-projection loss against the input detections. It must not read any
  3D label, even when the target batch carries some for evaluation.
- ``da_source_loss(inputs, data_samples, feats)``: dict of supervised
  losses on a labelled source batch (optional in the adaptation).
- ``da_critic_input(feats)``: maps the features to the ``(B, C)`` critic
  input; default: ``(B, D)`` unchanged, ``(B, N, D)`` flattened to
  ``(B, N * D)`` (``da_critic_reduce = 'flatten'``) or averaged over the
  tokens (``'mean'``).
"""
from typing import Dict, Optional

from torch import Tensor, nn

__all__ = [
    'DA_MODES', 'DomainAdaptationProtocol', 'critic_features',
    'is_protocol_module'
]

#: ``forward`` modes reserved for the adaptation protocol.
DA_MODES = ('da_features', 'da_forward_from_features', 'da_target_loss',
            'da_source_loss')


def critic_features(feats: Tensor, reduce: str = 'flatten') -> Tensor:
    """``(B, D)`` or ``(B, N, D)`` features -> ``(B, C)`` critic input.

    Args:
        feats (Tensor): (B, D) or (B, N, D) encoder features.
        reduce (str): For token features: ``'flatten'`` -> ``(B, N * D)``,
            ``'mean'`` -> ``(B, D)``. Defaults to ``'flatten'``.

    Returns:
        Tensor: (B, C) features (a view where possible).
    """
    if feats.dim() == 2:
        return feats
    if feats.dim() != 3:
        raise ValueError('domain-adaptation features must have shape (B, D) '
                         f'or (B, N, D), got {tuple(feats.shape)}')
    if reduce == 'flatten':
        return feats.flatten(1)
    if reduce == 'mean':
        return feats.mean(dim=1)
    raise ValueError(f"reduce must be 'flatten' or 'mean', got {reduce!r}")


class DomainAdaptationProtocol:
    """Mixin declaring the domain-adaptation interface (see module doc).

    Subclasses implement :attr:`da_encoder`, :meth:`da_features`,
    :meth:`da_forward_from_features` and :meth:`da_target_loss`
    (:meth:`da_source_loss` if supervised source batches are used) and
    route :data:`DA_MODES` to :meth:`da_forward` in ``forward``.
    """

    #: How (B, N, D) token features become the critic input.
    da_critic_reduce: str = 'flatten'

    @property
    def da_encoder(self) -> nn.Module:
        """The sub-module adapted to the target domain."""
        raise NotImplementedError(
            f'{type(self).__name__} does not implement da_encoder')

    def da_features(self,
                    inputs,
                    data_samples=None,
                    encoder: Optional[nn.Module] = None) -> Tensor:
        """(B, D) or (B, N, D) features of ``encoder`` (default
        :attr:`da_encoder`) on a preprocessed batch."""
        raise NotImplementedError(
            f'{type(self).__name__} does not implement da_features')

    def da_forward_from_features(self,
                                 feats: Tensor,
                                 data_samples=None) -> Dict[str, Tensor]:
        """Predictions of the (frozen) rest of the network from features."""
        raise NotImplementedError(
            f'{type(self).__name__} does not implement '
            'da_forward_from_features')

    def da_target_loss(self, inputs, data_samples,
                       feats: Tensor) -> Dict[str, Tensor]:
        """Label-free losses on a target batch (names ``loss_*``)."""
        raise NotImplementedError(
            f'{type(self).__name__} does not implement da_target_loss')

    def da_source_loss(self, inputs, data_samples,
                       feats: Tensor) -> Dict[str, Tensor]:
        """Supervised losses on a labelled source batch (names
        ``loss_*``)."""
        raise NotImplementedError(
            f'{type(self).__name__} does not implement da_source_loss')

    def da_critic_input(self, feats: Tensor) -> Tensor:
        """(B, C) critic input from :meth:`da_features` output."""
        return critic_features(feats, self.da_critic_reduce)

    def da_forward(self, mode: str, inputs, data_samples=None, **kwargs):
        """Dispatches a :data:`DA_MODES` ``forward`` call.

        Args:
            mode (str): One of :data:`DA_MODES`.
            inputs: Preprocessed inputs (for ``da_forward_from_features``
                the features).
            data_samples: Preprocessed data samples.
            **kwargs: ``encoder`` for ``da_features``; ``feats`` for the
                loss modes.

        Returns:
            The method's result.
        """
        if mode == 'da_features':
            return self.da_features(inputs, data_samples, **kwargs)
        if mode == 'da_forward_from_features':
            return self.da_forward_from_features(inputs, data_samples)
        if mode == 'da_target_loss':
            return self.da_target_loss(inputs, data_samples, **kwargs)
        if mode == 'da_source_loss':
            return self.da_source_loss(inputs, data_samples, **kwargs)
        raise ValueError(f'unknown domain-adaptation mode {mode!r}, '
                         f'expected one of {DA_MODES}')


def is_protocol_module(module: nn.Module) -> bool:
    """Whether ``module`` (or the module a DDP wrapper holds) implements the
    protocol."""
    return isinstance(getattr(module, 'module', module),
                      DomainAdaptationProtocol)

