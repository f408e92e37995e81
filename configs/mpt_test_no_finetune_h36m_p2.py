# "Testing without fine-tuning" (Lin et al., section 3.2, table 2 row 5):
# the MoCap-pre-trained mesh regression transformer reads the pose feature
# maps of a stock COCO HigherHRNet-W48 on Human3.6M protocol 2 crops; no
# weight has seen an image-mesh pair.
#
#   tools/test.py configs/mpt_test_no_finetune_h36m_p2.py \
#       checkpoints/mpt_pretrain_amass.pth
#
# The checkpoint given on the command line is the PRE-TRAINING one: its
# `head.` weights load into the head; the backbone keeps the COCO weights
# loaded from `pose_checkpoint` (absent keys of a pre-training checkpoint are
# reported by MMEngine and left untouched). Test set and metrics as
# configs/mpt_test_h36m_p2.py.
_base_ = [
    './_base_/mpt_image_runtime.py',
    './_base_/models/mpt_finetune_higherhrnet_w48.py',
    './_base_/datasets/mixed_images_h36m.py',
    './_base_/schedules/mpt_adam_warmup_decay_80e.py'
]

load_from = None  # the checkpoint comes from the command line
model = dict(
    # Frozen stock HigherHRNet-W48, both heatmap stages aggregated as at its
    # inference (1/4 resized to 1/2, averaged, projected to the image):
    # 224x224 maps from 224 crops, the paper's setting (table 10). A COCO
    # blob is wider than the pre-training Gaussians (sigma 3 px at 224):
    # see docs/benchmarks.md, "pose feature map resolution".
    backbone=dict(
        head_type='higherhrnet',
        checkpoint='checkpoints/higher_hrnet48_coco_512x512.pth',
        freeze=True,
        output_size=224))
test_evaluator = dict(
    type='MPTMeshMetric',
    metric=['mpjpe', 'pa-mpjpe', '3dpck', 'pa-3dpck', '3dauc', 'pa-3dauc'])
