# HRNet-W32 top-down heatmap estimator of 17 joints (MMPose's
# TopdownPoseEstimator, the td-hm_hrnet-w32 architecture) on 224x224 crops,
# heatmaps at 1/4 resolution (56 x 56): the PC-HMR mesh stream's pose
# network (the 17 COCO joints, the MPT fine-tuning input) and the parallel
# image variant's 2D pose estimator (the 17 H3.6M joints,
# ../../pc_hmr_parallel_image_mpt_h36m.py).
hrnet_w32 = dict(
    type='HRNet',
    in_channels=3,
    extra=dict(
        stage1=dict(num_modules=1, num_branches=1, block='BOTTLENECK',
                    num_blocks=(4, ), num_channels=(64, )),
        stage2=dict(num_modules=1, num_branches=2, block='BASIC',
                    num_blocks=(4, 4), num_channels=(32, 64)),
        stage3=dict(num_modules=4, num_branches=3, block='BASIC',
                    num_blocks=(4, 4, 4), num_channels=(32, 64, 128)),
        stage4=dict(num_modules=3, num_branches=4, block='BASIC',
                    num_blocks=(4, 4, 4, 4),
                    num_channels=(32, 64, 128, 256))))
heatmap_codec = dict(
    type='MSRAHeatmap', input_size=(224, 224), heatmap_size=(56, 56),
    sigma=2)
heatmap_estimator = dict(
    type='TopdownPoseEstimator',
    backbone=hrnet_w32,
    head=dict(
        type='HeatmapHead',
        in_channels=32,
        out_channels=17,
        deconv_out_channels=None,
        loss=dict(type='KeypointMSELoss', use_target_weight=True),
        decoder=heatmap_codec))
