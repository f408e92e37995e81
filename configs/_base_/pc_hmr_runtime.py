# Runtime of the PC-HMR configs: the default runtime, the module that
# registers PCHMREstimator and its streams (also when the package's
# __init__ does not import them) and the best-checkpoint selection on the
# validation PVE (held-out training data; the paper does not say how its
# checkpoints were chosen).
_base_ = ['./default_runtime.py']

custom_imports = dict(
    imports=['mpt_plugin', 'mpt_plugin.models.estimators.pc_hmr_estimator'],
    allow_failed_imports=False)
default_hooks = dict(
    checkpoint=dict(interval=5, max_keep_ckpts=3, save_best='mesh/PVE',
                    rule='less'))
