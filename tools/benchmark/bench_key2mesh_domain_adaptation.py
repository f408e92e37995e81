"""Key2Mesh WGAN domain adaptation on a synthetic domain shift (CPU).

    .venv/bin/python tools/benchmark/bench_key2mesh_domain_adaptation.py \\
        [--assets data/synthetic] [--pretrain-iters 1500] \\
        [--adapt-iters 400] [--adapt-lr 1e-3] [--encoder-mode train] \\
        [--hidden-dim 256] [--critic-dim 128] [--critic-steps 5] \\
        [--adapt-lr-decay 1.0] \\
        [--feature-reg-weights 20 ...] [--feature-reg-mode source|target] \\
        [--reduction mean|weight_normalized] \\
        [--target-rot-x 30 60] [--target-bias-scale 1] \\
        [--rows reprojection domain full full-target] \\
        [--adapt-seeds 0 1 2] [--pretrained-cache FILE] \\
        [--threads 2]

1. Source domain: synthetic AMASS-format motions seen through Key2Mesh's
   training keypoints (fixed camera, integer 1-px jitter, 20 % occlusion).
   A small Key2Mesh (feature width 256) is pre-trained on it (Adam 1e-3;
   L1 on the SMPL pose and shape only, so that no body-model call is
   needed in the pre-training loop: that keeps it to seconds on a CPU).
2. Target domain: other motions (the validation split of the sequence
   split) seen from a different viewpoint (:data:`TARGET_ROTATION`: a
   30-60 degree tilt the pre-training never saw) by a different "detector"
   (:data:`TARGET_SHIFT`): hips and neck defined elsewhere, a systematic
   per-joint pixel offset, stronger Gaussian jitter, more occlusion. The
   adaptation set has **no 3D label**
   (``return_3d=False``); a disjoint evaluation set keeps them for the
   metric only.
3. PA-MPJPE / MPJPE (mm, :class:`MPTMeshMetric`: 17 H3.6M-regressor joints ->
   LSP-14, pelvis-centred) of the pre-trained model on the target
   evaluation set, then after :class:`MPTWGANDomainAdaptation` with
   (a) the re-projection loss only, (b) + the domain (critic) loss,
   (c) + the feature regularisation (the full method; released weights
   0.1 / 10 / 20, gradient penalty 50), each from the same pre-trained
   weights and seed. Row ``full`` uses ``--feature-reg-mode`` (default
   ``'source'``: MSE(E_t(x_s), E_s(x_s))); row ``full-target`` is the
   full method with the other reading of the lost Eq. 7,
   MSE(E_t(x_t), E_s(x_t)).

The re-projection term is :class:`Key2MeshLoss`'s joint-weighted L1 with
``--reduction`` (default ``'mean'``, LGD's mean over all elements;
``'weight_normalized'`` is the normalisation by ``C sum(w)`` used before
2026-12-05). The pre-training uses the pose and shape L1 only, which the
reduction does not touch. ``--pretrained-cache FILE`` saves the
pre-trained weights on the first run and loads them (``weights_only``) on
later runs with the same pre-training options, so that seeds can run as
separate invocations without pre-training again.

Prints a markdown table and the command line. The defaults are a fast
setting (feature width 256, critic width 128, constant rate) that fits
about 10 minutes on 2 busy CPU cores. The shipped configuration's
extractor, critic and schedule (``configs/key2mesh_da_3dpw.py``) are::

    --hidden-dim 1024 --critic-dim 1024 --critic-steps 10 \
    --adapt-lr-decay 0.8

(about 3 minutes per adaptation run on 2 cores).
"""
import argparse
import copy
import os
import os.path as osp
import sys
import time
from typing import Dict, List

import numpy as np
import torch
from mmengine.dataset import pseudo_collate
from mmengine.registry import DefaultScope

import mpt_plugin  # noqa: F401
from mpt_plugin.datasets.key2mesh_amass_pairs_dataset import \
    Key2MeshAMASSPairsDataset
from mpt_plugin.engine.optim_wrappers import MPTMultiOptimWrapperConstructor
from mpt_plugin.evaluation.metrics.mesh_metric import MPTMeshMetric
from mpt_plugin.models.data_preprocessors.key2mesh_data_preprocessor import \
    Key2MeshDataPreprocessor  # noqa: F401 (registers it)
from mpt_plugin.models.estimators.key2mesh_estimator import \
    Key2MeshEstimator
from mpt_plugin.models.estimators.wgan_domain_adaptation import \
    MPTWGANDomainAdaptation
from mpt_plugin.models.losses.key2mesh_loss import KEY2MESH_REDUCTIONS

#: The target "detector" (OpenPose-18: 0 nose, 1 neck, 8/11 hips, 9/12
#: knees). Pixels of the fixed 256-px camera at 6 m (a 1.7 m body is about
#: 75 px tall).
TARGET_SHIFT = dict(
    jitter_std=2.5,
    round_jitter=False,
    occlusion_prob=0.3,
    bias_px=[[0.0, 1.5], [0.0, -1.0], [1.0, 0.0], [1.5, 1.0], [2.0, 1.0],
             [-1.0, 0.0], [-1.5, 1.0], [-2.0, 1.0], [1.5, -1.5], [1.0, 0.0],
             [0.5, 1.0], [-1.5, -1.5], [-1.0, 0.0], [-0.5, 1.0], [0.5, 1.0],
             [-0.5, 1.0], [1.0, 0.5], [-1.0, 0.5]],
    joint_blend=[(8, 9, 0.25), (11, 12, 0.25), (1, 0, 0.2)])
#: The target camera looks at the subjects from higher up (or they lean
#: more): root tilt about x in [30, 60] degrees instead of [-20, 20].
TARGET_ROTATION = dict(rot_x_range=(30.0, 60.0))
SOURCE_KEYPOINTS = dict(jitter_std=1.0, round_jitter=True, occlusion_prob=0.2)

#: name -> MPTWGANDomainAdaptation overrides
VARIANTS = {
    'DA: re-projection only': dict(domain_loss_weight=0.0,
                                   feature_reg_weight=0.0),
    'DA: + domain loss': dict(domain_loss_weight=0.1,
                              feature_reg_weight=0.0),
}


def variants(feature_reg_weights, feature_reg_mode='source',
             rows_wanted=('reprojection', 'domain', 'full')
             ) -> Dict[str, dict]:
    """The ablation rows; one full-method row per feature-reg weight (and
    per reading: ``'full'`` with ``feature_reg_mode``, ``'full-target'``
    with ``'target'``)."""
    rows = {
        name: cfg
        for (name, cfg), key in zip(VARIANTS.items(), ('reprojection',
                                                        'domain'))
        if key in rows_wanted
    }
    modes = []
    if 'full' in rows_wanted:
        modes.append(feature_reg_mode)
    if 'full-target' in rows_wanted and 'target' not in modes:
        modes.append('target')
    for mode in modes:
        for w in feature_reg_weights:
            name = f'DA: + feature regularisation (full, weight {w:g}'
            name += ')' if mode == 'source' else f', mode {mode})'
            rows[name] = dict(domain_loss_weight=0.1,
                              feature_reg_weight=float(w),
                              feature_reg_mode=mode)
    return rows


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--assets', default='data/synthetic',
                        help='synthetic assets (tools/make_synthetic_'
                        'assets.py): body_models/ and amass/')
    parser.add_argument('--hidden-dim', type=int, default=256)
    parser.add_argument('--pretrain-iters', type=int, default=1500)
    parser.add_argument('--pretrain-batch', type=int, default=128)
    parser.add_argument('--adapt-iters', type=int, default=400)
    parser.add_argument('--adapt-batch', type=int, default=64)
    # Key2Mesh: 1e-4 over 5 epochs of millions of samples; 400 steps here
    parser.add_argument('--adapt-lr', type=float, default=1e-3)
    parser.add_argument('--critic-steps', type=int, default=5)
    parser.add_argument('--critic-dim', type=int, default=128,
                        help='hidden width of the critic (Key2Mesh: 1024)')
    parser.add_argument('--adapt-lr-decay', type=float, default=1.0,
                        help='StepLR factor on the adapted extractor every '
                        'fifth of the adaptation (Key2Mesh: 0.8 per epoch '
                        'over 5 epochs); 1 keeps the rate constant')
    parser.add_argument('--encoder-mode', choices=('train', 'eval'),
                        default='train',
                        help='mode of the adapted extractor during the '
                        'adaptation (MPTWGANDomainAdaptation.encoder_train_mode)')
    parser.add_argument('--num-source', type=int, default=4000)
    parser.add_argument('--num-target', type=int, default=1024)
    parser.add_argument('--num-eval', type=int, default=384)
    parser.add_argument('--feature-reg-weights', type=float, nargs='+',
                        default=[20.0],
                        help='one full-method run per weight (released: 20)')
    parser.add_argument('--feature-reg-mode', choices=('source', 'target'),
                        default='source',
                        help="MPTWGANDomainAdaptation.feature_reg_mode of the "
                        "'full' rows ('full-target' is always 'target')")
    parser.add_argument('--reduction', choices=KEY2MESH_REDUCTIONS,
                        default='mean',
                        help="Key2MeshLoss.reduction of the adaptation's "
                        're-projection loss')
    parser.add_argument('--pretrained-cache', default=None,
                        help='file of pre-trained weights: written if '
                        'absent, loaded if present and made with the same '
                        'pre-training options')
    parser.add_argument('--target-rot-x', type=float, nargs=2,
                        default=TARGET_ROTATION['rot_x_range'],
                        metavar=('LOW', 'HIGH'),
                        help='root tilt range (degrees) of the target '
                        'domain; the source uses [-20, 20]')
    parser.add_argument('--target-bias-scale', type=float, default=1.0,
                        help="factor on the target detector's per-joint "
                        'pixel offsets (TARGET_SHIFT bias_px)')
    parser.add_argument('--adapt-seeds', type=int, nargs='+', default=[0],
                        help='one adaptation run per seed (batch order, '
                        'dropout, critic init) from the same pre-trained '
                        'weights; the table gives mean and spread')
    parser.add_argument('--rows', nargs='+',
                        choices=('reprojection', 'domain', 'full',
                                 'full-target'),
                        default=['reprojection', 'domain', 'full'],
                        help='ablation rows to run (the pre-trained row '
                        'is always evaluated)')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args(argv)


def build_data(args) -> Dict[str, Key2MeshAMASSPairsDataset]:
    body_model = dict(type='MPTSMPL',
                      model_path=osp.join(args.assets, 'body_models'),
                      gender='neutral')
    amass = dict(data_root=osp.join(args.assets, 'amass'), verbose=False)
    source_kp = dict(SOURCE_KEYPOINTS, body_model=body_model)
    target_kp = dict(TARGET_SHIFT, body_model=body_model)
    target_kp['bias_px'] = (np.asarray(TARGET_SHIFT['bias_px']) *
                            args.target_bias_scale).tolist()
    target_rot = dict(rot_x_range=tuple(args.target_rot_x))
    return dict(
        source=Key2MeshAMASSPairsDataset(split='train',
                                         num_samples=args.num_source,
                                         keypoints2d=source_kp, **amass),
        # label-free adaptation set: no 3D label at all
        target=Key2MeshAMASSPairsDataset(split='val',
                                         num_samples=args.num_target,
                                         seed=1, keypoints2d=target_kp,
                                         return_3d=False, **target_rot,
                                         **amass),
        # evaluation: other frames of the target motions, deterministic
        target_eval=Key2MeshAMASSPairsDataset(split='val',
                                              num_samples=args.num_eval,
                                              seed=2, test_mode=True,
                                              keypoints2d=target_kp,
                                              **target_rot, **amass),
        source_eval=Key2MeshAMASSPairsDataset(split='val',
                                              num_samples=args.num_eval,
                                              seed=3, test_mode=True,
                                              keypoints2d=source_kp,
                                              **amass))


def estimator_cfg(args) -> dict:
    body_model = dict(type='MPTSMPL',
                      model_path=osp.join(args.assets, 'body_models'),
                      gender='neutral')
    return dict(
        type='Key2MeshEstimator',
        regressor=dict(type='Key2MeshRegressor', hidden_dim=args.hidden_dim,
                       body_model=body_model),
        joint_regressor=osp.join(args.assets, 'body_models',
                                 'J_regressor_h36m.npy'),
        loss=dict(type='Key2MeshLoss', keypoints2d_weight=0.0,
                  keypoints3d_weight=0.0),
        target_loss=dict(type='Key2MeshLoss', pose_weight=0.0,
                         betas_weight=0.0, keypoints2d_weight=1.0,
                         keypoints3d_weight=0.0,
                         reduction=getattr(args, 'reduction', 'mean')),
        data_preprocessor=dict(type='Key2MeshDataPreprocessor',
                               body_model=body_model))


def _pretrain_key(args) -> dict:
    """The options a cached pre-trained model must have been made with."""
    return dict(hidden_dim=args.hidden_dim,
                pretrain_iters=args.pretrain_iters,
                pretrain_batch=args.pretrain_batch,
                num_source=args.num_source, seed=args.seed,
                assets=osp.abspath(args.assets))


def pretrain_cached(estimator: Key2MeshEstimator, data, args) -> float:
    """:func:`pretrain`, or load its result from ``--pretrained-cache``.

    Returns:
        float: Pre-training seconds (those of the run that made the file
        when loaded).
    """
    path = args.pretrained_cache
    if path and osp.isfile(path):
        # plain tensors, ints, floats and strings only
        ckpt = torch.load(path, map_location='cpu', weights_only=True)
        if ckpt.get('key') != _pretrain_key(args):
            raise ValueError(
                f'{path}: pre-trained with {ckpt.get("key")}, this run '
                f'asks for {_pretrain_key(args)}; use another file')
        estimator.load_state_dict(ckpt['state_dict'])
        return float(ckpt['seconds'])
    secs = pretrain(estimator, data, args)
    if path:
        # written whole, then renamed: a parallel run never reads half
        torch.save(dict(key=_pretrain_key(args), seconds=secs,
                        state_dict=estimator.state_dict()), path + '.part')
        os.replace(path + '.part', path)
    return secs


def batches(dataset, batch_size: int, rng: np.random.Generator):
    while True:
        idx = rng.permutation(len(dataset))
        for start in range(0, len(idx) - batch_size + 1, batch_size):
            yield pseudo_collate([dataset[int(i)]
                                  for i in idx[start:start + batch_size]])


def pretrain(estimator: Key2MeshEstimator, data, args) -> float:
    """Pose/shape L1 pre-training without the body model in the loop."""
    body_model = estimator.regressor.body_model
    estimator.regressor.body_model = None
    opt = torch.optim.Adam(estimator.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.StepLR(
        opt, step_size=max(args.pretrain_iters // 5, 1), gamma=0.5)
    stream = batches(data, args.pretrain_batch,
                     np.random.default_rng(args.seed))
    estimator.train()
    start = time.time()
    for _ in range(args.pretrain_iters):
        batch = estimator.data_preprocessor(next(stream), True)
        losses = estimator(**batch, mode='loss')
        loss = losses['loss_pose'] + losses['loss_betas']
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    estimator.regressor.body_model = body_model
    return time.time() - start


@torch.no_grad()
def evaluate(model, dataset, batch_size: int = 128) -> Dict[str, float]:
    model.eval()
    metric = MPTMeshMetric(metric=('mpjpe', 'pa-mpjpe'))
    for start in range(0, len(dataset), batch_size):
        data = pseudo_collate([
            dataset[i]
            for i in range(start, min(start + batch_size, len(dataset)))
        ])
        preds = model.val_step(data)
        metric.process(data, [p.to_dict() for p in preds])
    return metric.compute_metrics(metric.results)


def adapt(pretrained: Key2MeshEstimator, data, args, seed: int,
          **overrides):
    torch.manual_seed(seed)
    model = MPTWGANDomainAdaptation(
        estimator=estimator_cfg(args),
        critic=dict(type='MPTDomainCritic', in_dim=args.hidden_dim,
                    hidden_dim=args.critic_dim),
        critic_steps=args.critic_steps,
        gradient_penalty=dict(type='MPTGradientPenalty',
                              loss_weight=50.0),
        target_loss_weights=dict(loss_reprojection=10.0),
        encoder_train_mode=args.encoder_mode == 'train',
        seed=seed,
        **overrides)
    model.estimator.load_state_dict(pretrained.state_dict())
    optim = MPTMultiOptimWrapperConstructor(
        dict(estimator=dict(optimizer=dict(type='Adam', lr=args.adapt_lr)),
             critic=dict(optimizer=dict(type='Adam',
                                        lr=args.adapt_lr))))(model)
    # the adapted extractor's rate decays like Key2Mesh's StepLR over its 5
    # epochs; the critic keeps its rate
    decay = torch.optim.lr_scheduler.StepLR(
        optim['estimator'].optimizer,
        step_size=max(args.adapt_iters // 5, 1), gamma=args.adapt_lr_decay)
    rng_s = np.random.default_rng(seed + 10)
    rng_t = np.random.default_rng(seed + 11)
    src = batches(data['source'], args.adapt_batch, rng_s)
    tgt = batches(data['target'], args.adapt_batch, rng_t)
    model.train()
    start = time.time()
    log = {}
    for _ in range(args.adapt_iters):
        log = model.train_step(dict(source=next(src), target=next(tgt)),
                               optim)
        decay.step()
    return model, time.time() - start, {k: float(v) for k, v in log.items()}


def _progress(msg: str, t0: float) -> None:
    print(f'[{time.time() - t0:6.0f} s] {msg}', file=sys.stderr, flush=True)


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    t0 = time.time()
    with DefaultScope.overwrite_default_scope('mmpose'):
        data = build_data(args)
        _progress('datasets built', t0)
        from mpt_plugin.registry import MODELS
        estimator = MODELS.build(estimator_cfg(args))
        pre_time = pretrain_cached(estimator, data['source'], args)
        _progress(f'pre-trained in {pre_time:.0f} s', t0)
        rows: List[tuple] = []
        wrap = MPTWGANDomainAdaptation(
            estimator=estimator_cfg(args),
            critic=dict(type='MPTDomainCritic', in_dim=args.hidden_dim))
        wrap.estimator.load_state_dict(estimator.state_dict())
        src_metrics = evaluate(wrap, data['source_eval'])
        base = evaluate(wrap, data['target_eval'])
        rows.append(('pre-trained', [base], pre_time, {}))
        _progress(f"pre-trained target PA-MPJPE {base['PA-MPJPE']:.1f}", t0)
        for name, overrides in variants(args.feature_reg_weights,
                                        args.feature_reg_mode,
                                        args.rows).items():
            runs = []
            for seed in args.adapt_seeds:
                # fresh datasets: their augmentation generators restart, so
                # a run does not depend on the runs before it
                model, secs, log = adapt(estimator, build_data(args), args,
                                         seed, **copy.deepcopy(overrides))
                runs.append((evaluate(model, data['target_eval']), secs,
                             log))
                _progress(f"{name}, seed {seed}: PA-MPJPE "
                          f"{runs[-1][0]['PA-MPJPE']:.1f} ({secs:.0f} s)", t0)
            rows.append((name, [r[0] for r in runs],
                         float(np.mean([r[1] for r in runs])), runs[-1][2]))
    total = time.time() - t0

    ref = base['PA-MPJPE']
    spread = len(args.adapt_seeds) > 1
    print('\n| model | target PA-MPJPE (mm) | change | target MPJPE (mm) '
          '| train time per run (s) |' + (' runs (PA-MPJPE) |'
                                           if spread else ''))
    print('|---|---:|---:|---:|---:|' + ('---|' if spread else ''))
    for name, metrics, secs, _ in rows:
        pa = np.array([m['PA-MPJPE'] for m in metrics])
        mp = np.array([m['MPJPE'] for m in metrics])
        change = 100.0 * (pa - ref) / ref
        if spread and len(pa) > 1:
            cells = (f'{pa.mean():.1f} ± {pa.std(ddof=1):.1f} | '
                     f'{change.mean():+.1f} % ± {change.std(ddof=1):.1f} | '
                     f'{mp.mean():.1f} | {secs:.0f} | '
                     + ', '.join(f'{v:.1f}' for v in pa) + ' |')
        else:
            cells = (f'{pa[0]:.1f} | {change[0]:+.1f} % | {mp[0]:.1f} | '
                     f'{secs:.0f} |' + (' |' if spread else ''))
        print(f'| {name} | {cells}')
    if spread:
        print(f'\nmean ± sample std over adaptation seeds '
              f'{args.adapt_seeds} (same pre-trained weights)')
    print(f"\nsource-domain evaluation of the pre-trained model: PA-MPJPE "
          f"{src_metrics['PA-MPJPE']:.1f} mm, MPJPE "
          f"{src_metrics['MPJPE']:.1f} mm")
    for name, _, _, log in rows[1:]:
        print(f'last log of {name}: ' +
              ', '.join(f'{k}={v:.4g}' for k, v in log.items()))
    print(f'\ntotal {total:.0f} s, {args.threads} threads; command: '
          f"{' '.join([osp.basename(sys.executable)] + sys.argv)}")


if __name__ == '__main__':
    main()
