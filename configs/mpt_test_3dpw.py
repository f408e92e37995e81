# Evaluate a 3DPW-fine-tuned MPT on the 3DPW test set with mmhuman3d 0.11.0's
# metric definitions (GT from the gendered SMPL; PVE without alignment).
#
#   tools/test.py configs/mpt_test_3dpw.py CHECKPOINT [--dump preds.pkl]
#   tools/dist_test.sh configs/mpt_test_3dpw.py CHECKPOINT 8
#
# Needs data/preprocessed_datasets/pw3d_test.npz (mmhuman3d's Pw3dConverter)
# and its images under data/datasets/pw3d/imageFiles/.
_base_ = ['./mpt_finetune_3dpw.py']

load_from = None  # the checkpoint comes from the command line
model = dict(backbone=dict(checkpoint=None))  # weights are in CHECKPOINT
test_evaluator = dict(
    type='MeshMetric',
    metric=['mpjpe', 'pa-mpjpe', 'pve', '3dpck', 'pa-3dpck', '3dauc',
            'pa-3dauc'])
