# Evaluate a fine-tuned MPT on Human3.6M protocol 2 (S9, S11, camera
# 60457274, every 5th frame) with mmhuman3d 0.11.0's metric definitions.
#
#   tools/test.py configs/mpt_test_h36m_p2.py CHECKPOINT [--dump preds.pkl]
#   tools/dist_test.sh configs/mpt_test_h36m_p2.py CHECKPOINT 8
#
# Needs data/preprocessed_datasets/h36m_valid_protocol2.npz (mmhuman3d's
# H36mConverter, protocol=2) and its images under data/datasets/h36m/.
# The other settings are those of configs/mpt_finetune_mixed.py, the run
# whose checkpoint this evaluates.
_base_ = [
    './_base_/mpt_image_runtime.py',
    './_base_/models/mpt_finetune_higherhrnet_w48.py',
    './_base_/datasets/mixed_images_h36m.py',
    './_base_/schedules/mpt_adam_warmup_decay_80e.py'
]

load_from = None  # the checkpoint comes from the command line
model = dict(backbone=dict(checkpoint=None))  # weights are in CHECKPOINT
test_evaluator = dict(
    type='MPTMeshMetric',
    metric=['mpjpe', 'pa-mpjpe', '3dpck', 'pa-3dpck', '3dauc', 'pa-3dauc'])
