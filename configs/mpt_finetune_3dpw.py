# MPT fine-tuned on 3DPW training data, evaluated on the 3DPW test set
# (Lin et al., section 4.1: "we follow prior works and fine-tune with 3DPW
# training data"), starting from the mixed-dataset model.
#
#   tools/dist_train.sh configs/mpt_finetune_3dpw.py 16
#
# Files: data/preprocessed_datasets/{pw3d_train,pw3d_test}.npz,
# images under data/datasets/pw3d/imageFiles/. The schedule length on 3DPW is
# not given by the paper; 10 epochs with the same warm-up/decay is our choice.
#
# Model selection (a deviation from the released code): METRO's 3DPW
# fine-tuning, which MPT follows, validates every epoch on the 3DPW TEST
# split (its --val_yaml) and keeps the best PA-MPJPE epoch. Here validation
# reads four HELD-OUT 3DPW TRAINING sequences (`pw3d_split` of
# _base_/datasets/pw3d_images.py), removed from training by the same split
# (part='train' vs part='val'); pw3d_test.npz is read by test_dataloader
# only. The official 3DPW validation sequences would be the natural
# choice, but mmhuman3d 0.11.0's Pw3dConverter converts only the train and
# test splits (ACCEPTED_MODES), so no HumanData file of them exists. The
# four (of 24: about 15 % of the person-frames) mix courtyard and outdoor
# scenes, one- and two-person sequences and different motions (carrying a
# backpack, dancing, shaking hands, climbing); whole sequences, never
# frames, are held out. To reproduce METRO's practice (selection on the
# test set; never report such a number as a test result), one line:
#   --cfg-options train_dataloader.dataset.split=None val_dataloader.dataset.ann_file=pw3d_test.npz val_dataloader.dataset.split=None
_base_ = [
    './_base_/mpt_image_runtime.py',
    './_base_/models/mpt_finetune_higherhrnet_w48.py',
    './_base_/datasets/pw3d_images.py',
    './_base_/schedules/mpt_adam_warmup_decay_10e.py'
]

# the best epoch of configs/mpt_finetune_mixed.py on its held-out subject S8
# (MMEngine names it best_mesh_PA-MPJPE_epoch_<N>.pth): set <N>, e.g.
#   --cfg-options load_from=work_dirs/mpt_finetune_mixed/best_mesh_PA-MPJPE_epoch_45.pth
load_from = 'work_dirs/mpt_finetune_mixed/best_mesh_PA-MPJPE_epoch_<N>.pth'
# validated every epoch (10-epoch schedule): a checkpoint every epoch
default_hooks = dict(checkpoint=dict(interval=1))
