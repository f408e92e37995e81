# MPT for hands tested on the FreiHAND evaluation split with FreiHAND's
# official evaluation (PA-MPJPE / PA-MPVPE in mm, F@5 mm / F@15 mm, AUC):
# a fine-tuned checkpoint, or a hand pre-training checkpoint on the frozen
# stock pose network ("testing without fine-tuning", as the body's
# configs/mpt_test_no_finetune_h36m_p2.py).
#
#   tools/test.py configs/mpt_hand_test_freihand.py CHECKPOINT \
#       --cfg-options model.backbone.checkpoint=checkpoints/hrnetv2_w18_onehand10k_256x256-30bc9c6b_20210330.pth
#
# Test-time augmentation of the released code (5 scales x 19 rotations,
# each prediction Procrustes-aligned onto the unaugmented one, averaged;
# 95 forward passes per image):
#   --cfg-options model.test_cfg.tta.scales='(0.7,0.8,0.9,1.0,1.1)' \
#       model.test_cfg.tta.rotations='(-90,-80,-70,-60,-50,-40,-30,-20,-10,0,10,20,30,40,50,60,70,80,90)'
# The official submission file: test_evaluator.pred_json=work_dirs/pred.json
_base_ = [
    './_base_/default_runtime.py',
    './_base_/models/mpt_hand_finetune_hrnetv2_w18.py',
    './_base_/datasets/freihand_images.py',
    './_base_/schedules/hand_adam_step_200e.py'
]

load_from = None  # the checkpoint comes from the command line
train_dataloader = None
train_cfg = None
optim_wrapper = None
param_scheduler = None
model = dict(backbone=dict(freeze=True))  # TTA off unless set (see above)
