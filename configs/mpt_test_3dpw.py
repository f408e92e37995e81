# Evaluate a 3DPW-fine-tuned MPT on the 3DPW test set with mmhuman3d 0.11.0's
# metric definitions (GT from the gendered SMPL; PVE without alignment).
#
#   tools/test.py configs/mpt_test_3dpw.py CHECKPOINT [--dump preds.pkl]
#   tools/dist_test.sh configs/mpt_test_3dpw.py CHECKPOINT 8
#
# Needs data/preprocessed_datasets/pw3d_test.npz (mmhuman3d's Pw3dConverter)
# and its images under data/datasets/pw3d/imageFiles/. The other settings
# are those of configs/mpt_finetune_3dpw.py, the run whose checkpoint this
# evaluates.
_base_ = [
    './_base_/mpt_image_runtime.py',
    './_base_/models/mpt_finetune_higherhrnet_w48.py',
    './_base_/datasets/pw3d_images.py',
    './_base_/schedules/mpt_adam_warmup_decay_10e.py'
]

load_from = None  # the checkpoint comes from the command line
model = dict(backbone=dict(checkpoint=None))  # weights are in CHECKPOINT
test_evaluator = dict(
    type='MPTMeshMetric',
    metric=['mpjpe', 'pa-mpjpe', 'pve', '3dpck', 'pa-3dpck', '3dauc',
            'pa-3dauc'])
default_hooks = dict(checkpoint=dict(interval=1))  # as the 3DPW run
