# MPT for hands fine-tuned on FreiHAND (Lin et al., table 6: pre-trained on
# synthetic hand poses, then fine-tuned), settings of the released hand mesh
# code (shared/reference/hand_spec.md).
#
#   tools/dist_train.sh configs/mpt_hand_finetune_freihand.py 8 \
#       --cfg-options load_from=work_dirs/mpt_hand_pretrain/epoch_10.pth \
#       model.backbone.checkpoint=checkpoints/hrnetv2_w18_onehand10k_256x256-30bc9c6b_20210330.pth
#
# Files: data/freihand (official layout), the MANO files of
# _base_/models/mano.py, the hand pre-training checkpoint (load_from: its
# head.* weights load into the same head), the HRNetV2-W18 hand checkpoint
# (_base_/models/hrnetv2_w18_hand.py). Model selection: none (the released
# code keeps the last epoch; FreiHAND's evaluation split is the test set,
# scored by configs/mpt_hand_test_freihand.py or the benchmark server).
_base_ = [
    './_base_/default_runtime.py',
    './_base_/models/mpt_hand_finetune_hrnetv2_w18.py',
    './_base_/datasets/freihand_images.py',
    './_base_/schedules/hand_adam_step_200e.py'
]

load_from = 'work_dirs/mpt_hand_pretrain/epoch_10.pth'
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=3))
