# MPT pre-training for hands (Lin et al., table 6): the hand mesh regression
# transformer (./mpt_hand_mesh_transformer.py) on hand poses posed on the
# device and seen by virtual cameras, Masked Heatmap Modeling as for the
# body.
_base_ = ['./mano.py', './mpt_hand_mesh_transformer.py']

model = dict(
    type='MPTHandPretrainEstimator',
    data_preprocessor=dict(
        type='MPTMoCapDataPreprocessor',
        num_joints=21,
        # poses each batch's hands (MPTHandPoseDataset: MANO parameters
        # relative to the flat hand) on the device, views them through the
        # batch's virtual cameras, builds the 21 heatmap joints + targets
        hand_model=dict(_base_.hand_model, flat_hand_mean=True),
        # square crop = 1.2 x the 21 joints' box (the body's padding; our
        # choice: the paper gives none for hands)
        crop_padding=1.2,
        # MHM as for the body (the paper pre-trains hands the same way)
        mhm=dict(type='MPTMaskedHeatmapModeling', pixel_noise_std=0.05,
                 pixel_noise_mode='dense')),
    head=_base_.mpt_hand_mesh_transformer,
    hand_model=_base_.hand_model,
    mesh_sampler=_base_.hand_mesh_sampler)
