# Key2Mesh domain adaptation to Human3.6M OpenPose detections (paper Tab. 1 /
# Tab. 4: adapted to the detections of all H3.6M training subjects, evaluated
# on S9/S11 camera 3 under protocol 2, frames with < 6 detected keypoints
# dropped). Same loop and hyper-parameters as configs/key2mesh_da_3dpw.py.
#
#   tools/dist_train.sh configs/key2mesh_da_h36m.py 1 \
#       --cfg-options model.source_checkpoint=<key2mesh_pretrain_amass ckpt>
_base_ = ['./key2mesh_da_3dpw.py']

target_root = 'data/preprocessed_datasets'

train_dataloader = dict(
    dataset=dict(
        target=dict(
            _delete_=True,
            type='Key2MeshKeypointsDataset',
            ann_file=f'{target_root}/h36m_train_openpose.npz',
            data_format='humandata',
            load_gt=False)))
_h36m_eval = dict(
    type='Key2MeshKeypointsDataset',
    ann_file=f'{target_root}/h36m_valid_protocol2_openpose.npz',
    data_format='humandata',
    test_mode=True)
val_dataloader = dict(dataset=dict(_delete_=True, **_h36m_eval))
test_dataloader = dict(dataset=dict(_delete_=True, **_h36m_eval))
val_evaluator = dict(type='MeshMetric', metric=('mpjpe', 'pa-mpjpe'))
test_evaluator = val_evaluator
