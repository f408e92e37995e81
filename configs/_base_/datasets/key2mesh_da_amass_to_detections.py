# Key2Mesh domain-adaptation training set: labelled AMASS pairs (source,
# made into 2D keypoints by the preprocessor exactly as in pre-training)
# paired with unlabelled 2D detections (target: OpenPose-18 in a HumanData
# file, read without its labels; each config names its file).
source_dataset = dict(
    type='Key2MeshAMASSPairsDataset',
    data_root='data/amass',
    split='train',
    num_samples=2_000_000)

train_dataloader = dict(
    batch_size=256,  # per domain (released setting)
    num_workers=8,
    # MPTDatasetEpochHook redraws the pairing every epoch; persistent workers
    # would never see it
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type='MPTDomainAdaptationDataset',
        source=source_dataset,
        target=dict(
            type='Key2MeshKeypointsDataset',
            ann_file='data/preprocessed_datasets/pw3d_test.npz',
            data_format='humandata',
            load_gt=False),
        pairing='random'))
