"""WGAN-GP (WDGRL) domain adaptation of any protocol estimator.

Key2Mesh adapts its pre-trained feature extractor to unlabelled target
keypoints (paper sec. 3.4-3.6, released hyper-parameters). With the frozen
pre-trained encoder ``E_s``, the adapted copy ``E_t`` (the estimator's own
encoder, initialised from ``E_s``), the critic ``D`` and the rest of the
estimator frozen, every training iteration on a batch ``(x_s, x_t)`` does:

1. features ``h_s = E_s(x_s)``, ``h_t = E_t(x_t)`` (no gradient; ``E_s``
   in ``E_t``'s mode, see below), then
   ``critic_steps`` critic updates (critic optimiser) minimising
   ``-W + GP`` with ``W = mean D(h_s) - mean D(h_t)`` and the gradient
   penalty on per-sample interpolates (:class:`MPTGradientPenalty`,
   which carries its weight, 50 in Key2Mesh);
2. one update of ``E_t`` (estimator optimiser) with the critic fixed::

       domain_loss_weight * (-mean D(E_t(x_t)))          loss_domain
     + sum_k target_loss_weights[k] * L_k(x_t)           e.g. loss_reprojection
     + feature_reg_weight * MSE(E_t(x_s), E_s(x_s))     loss_feature_reg
     + source_loss_weight * sum(supervised losses on x_s)  (optional)

   ``-mean D(E_t(x_t))`` has the gradient of ``W`` (the source term does
   not depend on ``E_t``). The source supervised loss is off by default
   (Key2Mesh's loop has none).

   **The feature regulariser's input is an assumption.** The paper's Eq. 7
   is lost from its text ("we apply a regularization term on [the
   domain-adapted features]") and the release only defines
   ``feature_loss = MSELoss()`` without a training loop. Two readings fit:
   ``feature_reg_mode='source'`` (the default), ``MSE(E_t(x_s),
   E_s(x_s))``, keeps the adapted encoder equal to the frozen one on the
   MoCap inputs the frozen head was trained on; ``'target'``,
   ``MSE(E_t(x_t), E_s(x_t))``, keeps the adapted target features near
   the pre-trained ones. Both are compared on the synthetic
   domain-adaptation benchmark (``tools/benchmark/
   bench_key2mesh_domain_adaptation.py --rows full full-target``;
   docs/benchmarks.md). The default stays ``'source'`` unless
   ``'target'`` wins by more than the seed spread: on that benchmark
   (fast setting, 3 seeds, 2026-12-05) ``'source'`` gives 80.5 ± 0.2 mm
   target PA-MPJPE and ``'target'`` 81.5 ± 0.2 mm.

   ``E_s`` always runs in the mode of ``E_t`` (dropout and batch statistics
   when ``encoder_train_mode``; its running statistics never change).
   Otherwise the critic would separate dropout-noised from clean features
   instead of the two domains, and the regulariser would have a noise floor
   of about ``p / (1 - p) * mean(h^2)`` whose gradient shrinks the features
   the frozen head reads. For the regulariser ``E_s`` also replays the
   dropout masks of the ``E_t`` pass (saved random state), so the term is
   exactly 0 while ``E_t == E_s`` and penalises weight changes only. The
   source pass through ``E_t`` leaves its batch-norm running statistics
   untouched: they follow the target domain, the only one ``E_t`` sees at
   test time.

The estimator must implement :class:`DomainAdaptationProtocol`; its data
preprocessor handles both domains unless ``data_preprocessor`` (an
:class:`MPTDomainAdaptationPreprocessor`) names one per domain. Batches come
from :class:`MPTDomainAdaptationDataset` as ``dict(source=..., target=...)``;
validation/test batches are plain target batches, predicted by the
estimator. The optimisers are an ``OptimWrapperDict`` with keys
``'estimator'`` and ``'critic'`` (:class:`MPTMultiOptimWrapperConstructor`).

Distributed training: use ``model_wrapper_cfg=dict(
type='MMSeparateDistributedDataParallel', broadcast_buffers=False,
find_unused_parameters=False)``. The trainable children (``estimator``,
``critic``) are then separate DDP modules, always called through
``__call__`` (protocol ``mode=`` strings, the critic's ``mode='loss'`` /
``'score'``), so gradients are synchronised. The frozen source encoder has
no trainable parameter and stays unwrapped. Batch-norm running statistics
of the adapted encoder are per process (``broadcast_buffers=False``).

The frozen copy is taken lazily, on the first training iteration, i.e.
after ``init_weights`` (which loads ``source_checkpoint``) and after the
Runner's ``load_from``. It is a registered sub-module, so checkpoints hold
it; the persistent flag ``source_initialised`` makes a resumed run keep the
saved copy instead of copying the already adapted weights.
"""
import contextlib
import copy
from collections import OrderedDict
from typing import Dict, Iterator, Optional, Union

import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from mmengine.model import BaseModel, is_model_wrapper
from mmengine.optim import OptimWrapperDict
from torch import Tensor, nn

from mpt_plugin.registry import MODELS
from mpt_plugin.utils.safe_checkpoint import load_estimator_weights
from ..data_preprocessors.domain_adaptation_preprocessor import \
    MPTDomainAdaptationPreprocessor
from ..losses.wasserstein_critic_loss import WassersteinCriticLoss
from .domain_adaptation_protocol import DomainAdaptationProtocol

__all__ = [
    'MPTWGANDomainAdaptation'
]

_FEATURE_REG_MODES = ('source', 'target')


def _unwrap(module: nn.Module) -> nn.Module:
    return module.module if is_model_wrapper(module) else module


@contextlib.contextmanager
def _frozen(module: nn.Module) -> Iterator[None]:
    """No gradient for ``module``'s parameters, and no DDP gradient sync."""
    params = [p for p in module.parameters() if p.requires_grad]
    sync = module.no_sync() if hasattr(module, 'no_sync') else \
        contextlib.nullcontext()
    for param in params:
        param.requires_grad_(False)
    try:
        with sync:
            yield
    finally:
        for param in params:
            param.requires_grad_(True)



@contextlib.contextmanager
def _running_stats_kept(module: nn.Module) -> Iterator[None]:
    """Batch-norm layers of ``module`` in training mode normalise with batch
    statistics as usual but leave their running statistics unchanged."""
    layers = [
        m for m in module.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training
        and m.track_running_stats
    ]
    saved = [(m.momentum, m.num_batches_tracked.clone()) for m in layers]
    for layer in layers:
        layer.momentum = 0.0  # running = 1 * running + 0 * batch
    try:
        yield
    finally:
        for layer, (momentum, tracked) in zip(layers, saved):
            layer.momentum = momentum
            layer.num_batches_tracked.copy_(tracked)


class _RNGState:
    """Snapshot of the generators dropout draws from (CPU, and the CUDA
    device of ``device``), to replay the same masks in a second pass."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.cpu = torch.get_rng_state()
        self.cuda = (torch.cuda.get_rng_state(device)
                     if device.type == 'cuda' else None)

    def restore(self) -> None:
        torch.set_rng_state(self.cpu)
        if self.cuda is not None:
            torch.cuda.set_rng_state(self.cuda, self.device)

@MODELS.register_module()
class MPTWGANDomainAdaptation(BaseModel):
    """WDGRL domain adaptation of an estimator's encoder (see module doc).

    Args:
        estimator (dict): Config of an estimator implementing
            :class:`DomainAdaptationProtocol` (e.g.
            :class:`Key2MeshEstimator`), with its data preprocessor.
        critic (dict): Critic config, e.g. ``dict(type=
            'MPTDomainCritic', in_dim=1024, hidden_dim=1024)``.
        critic_steps (int): Critic updates per iteration (Key2Mesh: 10).
            0 disables the critic updates (the critic is only evaluated for
            the logs). Defaults to 10.
        gradient_penalty (dict): Penalty config. Defaults to
            ``dict(type='MPTGradientPenalty', loss_weight=50.)``.
        domain_loss_weight (float): Weight of ``-mean D(E_t(x_t))``.
            Defaults to 0.1.
        target_loss_weights (dict, optional): Weight of each label-free
            target loss the estimator returns (``da_target_loss``); losses
            not listed get weight 1. Defaults to
            ``dict(loss_reprojection=10.)`` (Key2Mesh).
        feature_reg_weight (float): Weight of the feature regularisation.
            Defaults to 20.
        feature_reg_mode (str): ``'source'`` (MSE(E_t(x_s), E_s(x_s))) or
            ``'target'`` (MSE(E_t(x_t), E_s(x_t))); both are readings of
            the lost Eq. 7 (see the module doc). Defaults to ``'source'``
            (an assumption; see the module doc).
        source_loss_weight (float): Weight of the estimator's supervised
            losses on the source batch (``da_source_loss``); 0 skips them.
            Defaults to 0.
        source_checkpoint (str, optional): Pre-trained weights loaded into
            the estimator in :meth:`init_weights` (an estimator checkpoint,
            or a checkpoint of this model: ``estimator.`` keys). Defaults to
            None (use ``load_from`` or the estimator's own init).
        encoder_train_mode (bool): Run the adapted encoder in training mode
            (dropout, batch statistics) during adaptation. The frozen
            encoder and the rest of the estimator are always in eval mode.
            Defaults to True.
        seed (int): Seed of the interpolation weights of the gradient
            penalty; the generator is re-seeded from ``(seed, iteration)``
            every iteration, so a resumed run draws the same numbers.
            Defaults to 0.
        data_preprocessor (dict, optional): An
            :class:`MPTDomainAdaptationPreprocessor` config; a domain
            without its own preprocessor uses the estimator's. Defaults to
            None (both use the estimator's).
        init_cfg (dict, optional): MMEngine init config.
    """

    def __init__(self,
                 estimator: dict,
                 critic: dict,
                 critic_steps: int = 10,
                 gradient_penalty: Optional[dict] = None,
                 domain_loss_weight: float = 0.1,
                 target_loss_weights: Optional[Dict[str, float]] = None,
                 feature_reg_weight: float = 20.0,
                 feature_reg_mode: str = 'source',
                 source_loss_weight: float = 0.0,
                 source_checkpoint: Optional[str] = None,
                 encoder_train_mode: bool = True,
                 seed: int = 0,
                 data_preprocessor: Optional[Union[dict, nn.Module]] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(type='MPTDomainAdaptationPreprocessor')
        if isinstance(data_preprocessor, dict):
            # built from mmpose's registry whatever the default scope
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        if not isinstance(self.data_preprocessor,
                          MPTDomainAdaptationPreprocessor):
            raise TypeError('MPTWGANDomainAdaptation: data_preprocessor must be '
                            'an MPTDomainAdaptationPreprocessor, got '
                            f'{type(self.data_preprocessor).__name__}')
        if int(critic_steps) != critic_steps or critic_steps < 0:
            raise ValueError('critic_steps must be a non-negative integer, '
                             f'got {critic_steps!r}')
        if feature_reg_mode not in _FEATURE_REG_MODES:
            raise ValueError(f'feature_reg_mode must be one of '
                             f'{_FEATURE_REG_MODES}, got {feature_reg_mode!r}')
        self.estimator = MODELS.build(estimator)
        if not isinstance(self.estimator, DomainAdaptationProtocol):
            raise TypeError(
                f'MPTWGANDomainAdaptation: {type(self.estimator).__name__} does '
                'not implement DomainAdaptationProtocol')
        encoder = self.estimator.da_encoder
        # the frozen source encoder: same architecture, weights copied on
        # the first training iteration
        self.source_encoder = copy.deepcopy(encoder)
        for param in self.source_encoder.parameters():
            param.requires_grad_(False)
        # everything of the estimator but the encoder is frozen
        adapted = {id(p) for p in encoder.parameters()}
        for param in self.estimator.parameters():
            if id(param) not in adapted:
                param.requires_grad_(False)
        gp_cfg = gradient_penalty or dict(type='MPTGradientPenalty',
                                          loss_weight=50.0)
        self.critic = WassersteinCriticLoss(MODELS.build(critic),
                                            MODELS.build(gp_cfg))
        self.data_preprocessor.set_fallback(self.estimator.data_preprocessor)

        self.critic_steps = int(critic_steps)
        self.domain_loss_weight = float(domain_loss_weight)
        self.target_loss_weights = dict(
            dict(loss_reprojection=10.0) if target_loss_weights is None else
            target_loss_weights)
        self.feature_reg_weight = float(feature_reg_weight)
        self.feature_reg_mode = feature_reg_mode
        self.source_loss_weight = float(source_loss_weight)
        self.source_checkpoint = source_checkpoint
        self.encoder_train_mode = bool(encoder_train_mode)
        self.seed = int(seed)
        self.register_buffer('source_initialised',
                             torch.zeros((), dtype=torch.uint8))
        self.register_buffer('num_iters', torch.zeros((), dtype=torch.int64))

    # --------------------------------------------------------------- set-up
    def init_weights(self) -> None:
        """Default init, then ``source_checkpoint`` into the estimator."""
        super().init_weights()
        if self.source_checkpoint:
            load_estimator_weights(_unwrap(self.estimator),
                                   self.source_checkpoint)
            print_log('MPTWGANDomainAdaptation: loaded source weights from '
                      f'{self.source_checkpoint}', logger='current')

    def train(self, mode: bool = True) -> 'MPTWGANDomainAdaptation':
        """Frozen parts stay in eval mode; the adapted encoder follows
        ``mode`` (and ``encoder_train_mode``)."""
        super().train(mode)
        estimator = _unwrap(self.estimator)
        if mode:
            estimator.eval()
            estimator.da_encoder.train(self.encoder_train_mode)
        self.source_encoder.eval()
        return self

    @torch.no_grad()
    def init_source_encoder(self, force: bool = False) -> bool:
        """Copy the estimator's encoder into the frozen source encoder.

        Done once (``source_initialised`` flag, saved in checkpoints).

        Args:
            force (bool): Copy even if already initialised.

        Returns:
            bool: Whether a copy was made.
        """
        if bool(self.source_initialised) and not force:
            return False
        encoder = _unwrap(self.estimator).da_encoder
        self.source_encoder.load_state_dict(encoder.state_dict())
        self.source_encoder.eval()
        self.source_initialised.fill_(1)
        return True

    # ---------------------------------------------------------------- train
    def _generator(self) -> torch.Generator:
        gen = torch.Generator()
        gen.manual_seed(self.seed * 1_000_003 + int(self.num_iters))
        return gen

    def _weighted_target_losses(self, losses: Dict[str, Tensor]
                                ) -> Dict[str, Tensor]:
        unknown = set(self.target_loss_weights) - set(losses)
        if unknown:
            raise KeyError(
                f'target_loss_weights names {sorted(unknown)}, but the '
                f'estimator returns only {sorted(losses)}')
        return {
            name: self.target_loss_weights.get(name, 1.0) * value
            for name, value in losses.items()
        }

    def train_step(self, data: dict,
                   optim_wrapper: OptimWrapperDict) -> Dict[str, Tensor]:
        """Critic steps, then one adaptation step (see the module doc).

        Args:
            data (dict): ``dict(source=batch, target=batch)`` from
                :class:`MPTDomainAdaptationDataset` (collated).
            optim_wrapper (OptimWrapperDict): With keys ``'estimator'``
                and ``'critic'``.

        Returns:
            dict[str, Tensor]: Detached log values: ``loss`` (the
            adaptation objective), ``loss_critic``, ``wasserstein``,
            ``gradient_penalty``, ``critic_grad_norm``, ``loss_domain``,
            the weighted target losses, ``loss_feature_reg`` and, with a
            source loss, ``source_*``.
        """
        if not isinstance(optim_wrapper, OptimWrapperDict) or not {
                'estimator', 'critic'
        } <= set(optim_wrapper.keys()):
            raise KeyError(
                'MPTWGANDomainAdaptation needs an OptimWrapperDict with keys '
                "'estimator' and 'critic' (optim_wrapper=dict(constructor="
                "'MPTMultiOptimWrapperConstructor', estimator=..., "
                'critic=...)), got ' + (str(list(optim_wrapper.keys()))
                                        if isinstance(optim_wrapper,
                                                      OptimWrapperDict) else
                                        type(optim_wrapper).__name__))
        if self.init_source_encoder():
            print_log('MPTWGANDomainAdaptation: froze a copy of the estimator '
                      'encoder as the source encoder', logger='current')
        batch = self.data_preprocessor(data, True)
        if 'source' not in batch:
            raise KeyError('MPTWGANDomainAdaptation.train_step needs '
                           'dict(source=..., target=...) batches '
                           '(MPTDomainAdaptationDataset)')
        src, tgt = batch['source'], batch['target']
        protocol = _unwrap(self.estimator)
        gen = self._generator()
        log: Dict[str, Tensor] = OrderedDict()

        # ---- 1. critic: features without gradient, critic_steps updates
        h_s = self._source_features(src)
        with torch.no_grad():
            h_t = self.estimator(tgt['inputs'], tgt['data_samples'],
                                 mode='da_features')
        c_s = protocol.da_critic_input(h_s).detach()
        c_t = protocol.da_critic_input(h_t).detach()
        critic_wrapper = optim_wrapper['critic']
        if self.critic_steps == 0:
            critic_out = self.critic(c_s, c_t, mode='loss', generator=gen)
        else:
            critic_wrapper.zero_grad()
        for _ in range(self.critic_steps):
            with critic_wrapper.optim_context(self.critic):
                critic_out = self.critic(c_s, c_t, mode='loss',
                                         generator=gen)
            critic_wrapper.update_params(critic_out['loss_critic'])
        log['loss_critic'] = critic_out['loss_critic'].detach()
        for key in ('wasserstein', 'gradient_penalty', 'critic_grad_norm'):
            log[key] = critic_out[key]

        # ---- 2. adaptation of the encoder, critic fixed
        est_wrapper = optim_wrapper['estimator']
        encoder_t = protocol.da_encoder
        device = next(encoder_t.parameters()).device
        with est_wrapper.optim_context(self.estimator):
            reg_target = (self.feature_reg_weight
                          and self.feature_reg_mode == 'target')
            rng_t = _RNGState(device) if reg_target else None
            feats_t = self.estimator(tgt['inputs'], tgt['data_samples'],
                                     mode='da_features')
            ref = self._source_features(tgt, rng_t) if reg_target else None
            with _frozen(self.critic):
                score_t = self.critic(protocol.da_critic_input(feats_t),
                                      mode='score')
            losses = OrderedDict(loss_domain=self.domain_loss_weight *
                                 (-score_t.mean()))
            losses.update(
                self._weighted_target_losses(
                    self.estimator(tgt['inputs'], tgt['data_samples'],
                                   mode='da_target_loss', feats=feats_t)))
            feats_ts = None
            reg_source = (self.feature_reg_weight
                          and self.feature_reg_mode == 'source')
            if self.source_loss_weight or reg_source:
                rng_s = _RNGState(device)
                with _running_stats_kept(encoder_t):
                    feats_ts = self.estimator(src['inputs'],
                                              src['data_samples'],
                                              mode='da_features')
                if reg_source:
                    ref = self._source_features(src, rng_s)
            if self.feature_reg_weight:
                reg = F.mse_loss(feats_ts if reg_source else feats_t, ref)
                losses['loss_feature_reg'] = self.feature_reg_weight * reg
            else:
                losses['loss_feature_reg'] = feats_t.sum() * 0.0
            if self.source_loss_weight:
                source = self.estimator(src['inputs'], src['data_samples'],
                                        mode='da_source_loss',
                                        feats=feats_ts)
                for name, value in source.items():
                    losses[f'source_{name}'] = self.source_loss_weight * value
            total = sum(losses.values())
        est_wrapper.update_params(total)
        self.num_iters += 1

        log['loss'] = total.detach()
        for name, value in losses.items():
            log[name] = value.detach()
        return log

    @torch.no_grad()
    def _source_features(self, batch: dict,
                         rng: Optional[_RNGState] = None) -> Tensor:
        """``E_s`` features of ``batch``, in the adapted encoder's mode.

        The frozen encoder runs in the mode ``E_t`` has (dropout and batch
        statistics when ``encoder_train_mode``) without touching its running
        statistics, so that neither the critic nor the regulariser can tell
        the two encoders apart by dropout. With ``rng`` (the random state
        taken before an ``E_t`` pass) it replays that pass's dropout masks,
        and the random state afterwards is what it was before the call.
        """
        after = _RNGState(rng.device) if rng is not None else None
        training = _unwrap(self.estimator).da_encoder.training
        self.source_encoder.train(training)
        try:
            if rng is not None:
                rng.restore()
            with _running_stats_kept(self.source_encoder):
                return self.estimator(batch['inputs'], batch['data_samples'],
                                      mode='da_features',
                                      encoder=self.source_encoder)
        finally:
            self.source_encoder.eval()
            if after is not None:
                after.restore()

    # ------------------------------------------------------ val/test/forward
    def forward(self,
                inputs,
                data_samples=None,
                mode: str = 'tensor'):
        """Prediction and tensor modes run the (adapted) estimator."""
        return self.estimator(inputs, data_samples, mode=mode)
