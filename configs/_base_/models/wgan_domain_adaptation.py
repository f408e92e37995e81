# WGAN-GP domain adaptation (WDGRL-style, Key2Mesh paper sec. 3.4-3.6) with
# Key2Mesh's released hyper-parameters (configs/eval_3dpw.yaml): per
# iteration 10 critic steps (gradient penalty weight 50) on frozen-source
# features of the labelled source domain vs adapted features of the
# unlabelled target domain, then one step of the adapted extractor on 0.1
# domain + 10 re-projection + 20 feature-regularisation losses (the loop
# itself is inferred; see
# mpt_plugin/models/estimators/wgan_domain_adaptation.py). The critic
# reads 1024-d features (Key2Mesh's extractor, MPT's mean patch token).
# A model config wraps its estimator: dict(wgan_domain_adaptation,
# estimator=..., source_checkpoint=...).
wgan_domain_adaptation = dict(
    type='MPTWGANDomainAdaptation',
    critic=dict(
        type='MPTDomainCritic', in_dim=1024, hidden_dim=1024,
        dropout=0.2),
    critic_steps=10,
    gradient_penalty=dict(type='MPTGradientPenalty', loss_weight=50.0),
    domain_loss_weight=0.1,
    target_loss_weights=dict(loss_reprojection=10.0),
    feature_reg_weight=20.0,
    # ASSUMPTION: Eq. 7 is lost from the paper's text. 'source' =
    # MSE(E_t(x_s), E_s(x_s)); 'target' = MSE(E_t(x_t), E_s(x_t)) fits the
    # words as well. Compared on Key2Mesh's synthetic DA benchmark
    # (docs/benchmarks.md, rows full / full-target, 3 seeds): 'source'
    # 80.5 +- 0.2 mm PA-MPJPE, 'target' 81.5 +- 0.2, so 'source' stays (the
    # rule: 'target' only if it wins by more than the seed spread). Not
    # measured for MPT.
    feature_reg_mode='source',
    source_loss_weight=0.0,
    data_preprocessor=dict(type='MPTDomainAdaptationPreprocessor'))
# the estimator and the critic have their own optimisers
model_wrapper_cfg = dict(
    type='MMSeparateDistributedDataParallel',
    broadcast_buffers=False,
    find_unused_parameters=False)
