# MPT for hands on images (Lin et al., table 6, FreiHAND): the stock MMPose
# HRNetV2-W18 hand network's 21 pose feature maps at 224x224 from 224x224
# crops -> the (pre-trained) hand mesh regression transformer; fine-tuned
# end to end with the released hand losses. GT: FreiHAND's meshes and
# joints (MPTMeshDataPreprocessor with hand_model: wrist-centred targets).
_base_ = ['./mano.py', './mpt_hand_mesh_transformer.py',
          './hrnetv2_w18_hand.py']

input_size = 224  # side of the pose feature maps read by the head

model = dict(
    type='MPTHandFinetuneEstimator',
    data_preprocessor=dict(
        type='MPTMeshDataPreprocessor',
        hand_model=_base_.hand_model,
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True),
    backbone=dict(_base_.hand_pose_feature_maps,
                  freeze=False,  # end to end, as the body's fine-tuning
                  output_size=input_size),
    head=dict(_base_.mpt_hand_mesh_transformer, input_size=input_size),
    hand_model=_base_.hand_model,
    mesh_sampler=_base_.hand_mesh_sampler)
