# Runtime of the Key2Mesh domain-adaptation configs: the default runtime,
# the modules that register the adaptation components, the hook that
# redraws the source/target pairs and the best-checkpoint selection on the
# validation PA-MPJPE (labelled data the adaptation never sees).
_base_ = ['./default_runtime.py']

custom_imports = dict(
    imports=[
        'mpt_plugin',
        'mpt_plugin.engine.optim_wrappers',
        'mpt_plugin.datasets.domain_adaptation_dataset',
        'mpt_plugin.models.estimators.key2mesh_estimator',
        'mpt_plugin.models.estimators.wgan_domain_adaptation',
        'mpt_plugin.models.data_preprocessors.key2mesh_data_preprocessor',
        'mpt_plugin.models.data_preprocessors.domain_adaptation_preprocessor',
    ],
    allow_failed_imports=False)
# new source/target pairs every epoch, seeded by (seed, epoch, index), so a
# resumed run sees the same pairs (MPTDomainAdaptationDataset.set_epoch)
custom_hooks = [dict(type='MPTDatasetEpochHook')]
# keep the epoch with the best validation PA-MPJPE
default_hooks = dict(
    checkpoint=dict(interval=1, max_keep_ckpts=3, save_best='mesh/PA-MPJPE',
                    rule='less'))
