# MPT for hands: pre-training the mesh regression transformer on hand poses
# seen by virtual cameras (Lin et al., table 6; settings of the released
# METRO / Mesh Graphormer hand networks, shared/reference/hand_spec.md).
#
#   tools/dist_train.sh configs/mpt_hand_pretrain.py 8
#
# Paper: "pre-trained on synthetic hand poses" (MobRecon's Complement), then
# fine-tuned on FreiHAND (configs/mpt_hand_finetune_freihand.py). The paper
# gives no hand pre-training schedule: we use the body's (Adam 2e-4,
# warm-up over 10 % of the steps then linear decay, 10 epochs, our choice).
# Transformer: 3 blocks x 4 layers x 4 heads, hidden 1024/256/64, 8x8
# patches of 224x224 heatmaps of the 21 hand joints (784 tokens), 21 + 195
# queries, 195 -> 778 vertices; no Masked Vertex Modeling (released hand
# code), Masked Heatmap Modeling on.
_base_ = [
    './_base_/default_runtime.py',
    './_base_/models/mpt_hand_pretrain_estimator.py',
    './_base_/datasets/hand_pose_heatmaps.py',
    './_base_/schedules/mpt_adam_warmup_decay_10e.py'
]

default_hooks = dict(
    # no best-epoch selection: the last pre-training checkpoint is the
    # model (the held-out poses are monitored only)
    checkpoint=dict(interval=1, max_keep_ckpts=3))
