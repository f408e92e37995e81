# MPT pre-training model (Lin et al., sections 3.1-3.4, appendices A, B,
# E): the mesh regression transformer on MoCap-generated heatmaps, with
# Masked Heatmap Modeling drawn on the device.
_base_ = ['./smpl.py', './mpt_mesh_transformer.py']

model = dict(
    type='MPTPretrainEstimator',
    data_preprocessor=dict(
        type='MPTMoCapDataPreprocessor',
        # poses each batch's AMASS bodies (the subject's gender), views them
        # through its virtual cameras and builds the targets, on the device
        body_model=_base_.mocap_body_model,
        crop_padding=1.2,
        # The paper's "Gaussian noise" on the heatmaps: additive, std 0.05
        # of the unit peak (the paper gives no value: our choice, measured in
        # docs/benchmarks.md), on every pixel ('dense': exact, cheap on a
        # GPU). Masking up to 30 % of the joints and 1 px jitter as in
        # MPTMaskedHeatmapModeling's defaults; its multiplicative amplitude
        # noise (0.1) is our addition.
        mhm=dict(type='MPTMaskedHeatmapModeling', pixel_noise_std=0.05,
                 pixel_noise_mode='dense')),
    head=_base_.mpt_mesh_transformer,
    body_model=_base_.body_model,
    mesh_sampler=_base_.mesh_sampler)
