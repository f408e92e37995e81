# The stock MMPose top-down hand network HRNetV2-W18 as MPT's pose network
# for hands (Lin et al., table 6, FreiHAND): its 21 undecoded heatmaps are
# the pose feature maps read by the mesh regression transformer.
#
# Architecture: MMPose 1.x td-hm_hrnetv2-w18_8xb64-210e_onehand10k-256x256
# (the same model in ..._rhd2d-256x256 and
# ..._8xb32-210e_coco-wholebody-hand-256x256): HRNet at widths
# (18, 36, 72, 144) with all four stage-4 branches, the
# FeatureMapProcessor(concat=True) neck (270 channels at 1/4 resolution)
# and HeatmapHead(270 -> 1x1 conv 270 + BN + ReLU -> 1x1 conv 21).
# MMPose's released weights for it (MMPose 0.x format, which the loader
# converts; 1.x-format files load as they are), trained at 256x256:
#   hrnetv2_w18_onehand10k_256x256-30bc9c6b_20210330.pth
#   hrnetv2_w18_rhd2d_256x256-95b20dd8_20210330.pth
#   hrnetv2_w18_coco_wholebody_hand_256x256-1c028db7_20210908.pth
# (https://download.openmmlab.com/mmpose/hand/hrnetv2/; DARK and UDP
# variants exist too, same weights layout). MMPose has no HRNetV2 FreiHAND
# model: its FreiHAND config is a ResNet-50 (224x224). The released hand
# mesh code (METRO / Mesh Graphormer) uses an ImageNet HRNet-W64
# classification backbone instead; we follow the MPT paper's design of a
# stock MMPose pose network's heatmaps.
#
# Set `checkpoint` to the downloaded file (None: random weights, a warning
# when frozen). Input crops are 224 x 224 here (the network is fully
# convolutional; it was trained at 256): 56 x 56 native maps resized
# bilinearly to 224 x 224. Images: RGB, ImageNet mean/std on 0-255 values.
hand_pose_feature_maps = dict(
    type='MPTHRNetPoseFeatureMaps',
    arch='hrnetv2_w18',
    head_type='topdown',
    num_keypoints=21,
    output_size=224,
    checkpoint=None,
    freeze=True)
