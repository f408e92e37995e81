"""Tests for Key2MeshKeypointsDataset (target-domain 2D detections)."""
import json

import numpy as np
import pytest
import torch
from mmengine.dataset import default_collate
from mmengine.logging import MMLogger

from mpt_plugin.body_models.conventions import get_keypoint_names
from mpt_plugin.datasets.human_data_io import (HumanDataFormatError,
                                               save_human_data)
from mpt_plugin.datasets.key2mesh_keypoints_dataset import (
    Key2MeshKeypointsDataset, Key2MeshKeypointsFormatError)
from mpt_plugin.geometry.keypoints import normalize_keypoints_2d
from mpt_plugin.registry import DATASETS

#: OpenPose-18 <- COCO-17 (MMPose order); the neck (1) has no source.
OP18_FROM_COCO = [0, None, 6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, 2, 1, 4,
                  3]
HD = get_keypoint_names('human_data')
#: human_data columns of the 18 OpenPose joints (``*_openpose`` names).
HD_OPENPOSE18 = [HD.index(n) for n in get_keypoint_names('openpose_coco18')]


def coco_instance(rng, score=0.9, bbox=(0., 0., 300., 400.)):
    kps = rng.uniform(10, 290, size=(17, 2))
    inst = dict(keypoints=kps.tolist(), keypoint_scores=[score] * 17)
    if bbox is not None:
        inst['bbox'] = [list(bbox)]  # the inferencer's nesting
        inst['bbox_score'] = 0.95
    return inst


def write_json(path, obj):
    path.write_text(json.dumps(obj))
    return str(path)


# ---------------------------------------------------------------------------
# MMPose JSON
# ---------------------------------------------------------------------------


def test_mmpose_json_coco_to_openpose18_and_normalisation(tmp_path):
    rng = np.random.default_rng(0)
    insts = [coco_instance(rng), coco_instance(rng, bbox=None)]
    insts[1]['keypoint_scores'][5] = 0.05  # left shoulder below 0.1
    folder = tmp_path / 'preds'
    folder.mkdir()
    write_json(folder / 'img_001.json', insts)
    write_json(folder / 'img_000.json', [])  # an image without a person
    ds = DATASETS.build(dict(type='Key2MeshKeypointsDataset',
                             ann_file=str(folder),
                             data_format='mmpose_json'))
    assert len(ds) == 2 and ds.sources == ['img_000.json', 'img_001.json']
    assert ds.filter_stats == dict(total=2, kept=2, non_finite=0,
                                   bad_value=0, no_joints=0, few_joints=0,
                                   not_selected=0, no_instances=1)
    item = ds[0]
    kp_px = item['data_samples']['keypoints2d_px']
    assert kp_px.shape == (18, 2) and kp_px.dtype == torch.float32
    coco = np.asarray(insts[0]['keypoints'], np.float32)
    for op, src in enumerate(OP18_FROM_COCO):
        if src is not None:
            np.testing.assert_allclose(kp_px[op].numpy(), coco[src])
    # neck = midpoint of the shoulders (COCO 5 and 6)
    np.testing.assert_allclose(kp_px[1].numpy(), 0.5 * (coco[5] + coco[6]),
                               rtol=1e-6)
    scores = item['data_samples']['keypoint_scores']
    assert torch.allclose(scores, torch.full((18, ), 0.9))
    # normalisation = normalize_keypoints_2d(px, scores, 0.1)
    norm, mask = normalize_keypoints_2d(kp_px[None], scores[None], 0.1)
    torch.testing.assert_close(item['inputs']['keypoints2d_norm'], norm[0])
    assert item['inputs']['keypoints2d_mask'].all()
    kp_norm = item['inputs']['keypoints2d_norm']
    assert kp_norm.min() >= -1e-6 and kp_norm.max() <= 1 + 1e-6
    side = (kp_norm.max(0).values - kp_norm.min(0).values).max()
    assert abs(float(side) - 1.0) < 1e-5  # the longer side spans [0, 1]
    torch.testing.assert_close(item['data_samples']['bbox_xyxy'],
                               torch.tensor([0., 0., 300., 400.]))
    assert bool(item['data_samples']['has_bbox'])
    assert int(item['data_samples']['source_index']) == 1
    assert 'eval_gt' not in item['data_samples']
    # second instance: one shoulder missing -> neck invalid (score 0, 0.5)
    second = ds[1]
    assert int(second['data_samples']['instance_index']) == 1
    assert not bool(second['data_samples']['has_bbox'])
    assert float(second['data_samples']['keypoint_scores'][1]) == 0.0
    mask = second['inputs']['keypoints2d_mask']
    assert not mask[1] and not mask[5] and int(mask.sum()) == 16
    assert torch.all(second['inputs']['keypoints2d_norm'][[1, 5]] == 0.5)


def test_mmpose_json_layouts_agree(tmp_path):
    rng = np.random.default_rng(1)
    a, b, c = (coco_instance(rng) for _ in range(3))

    def pred(instances):
        return dict(pred_instances=dict(
            keypoints=[i['keypoints'] for i in instances],
            keypoint_scores=[i['keypoint_scores'] for i in instances],
            bboxes=[i['bbox'][0] for i in instances]))

    layouts = {
        'video': [dict(frame_id=0, instances=[a, b]),
                  dict(frame_id=1, instances=[c])],
        'demo': dict(meta_info=dict(dataset_name='coco'),
                     instance_info=[dict(frame_id=0, instances=[a, b]),
                                    dict(frame_id=1, instances=[c])]),
        'pred_list': [dict(img_path='x.jpg', **pred([a, b])), pred([c])],
        'per_image_lists': [[a, b], [c]],
    }
    ref = None
    for name, obj in layouts.items():
        ds = Key2MeshKeypointsDataset(
            write_json(tmp_path / f'{name}.json', obj),
            data_format='mmpose_json', verbose=False)
        assert len(ds) == 3, name
        assert ds.source_index.tolist() == [0, 0, 1], name
        assert ds.instance_index.tolist() == [0, 1, 0], name
        if ref is None:
            ref = ds.keypoints2d_norm
        torch.testing.assert_close(ds.keypoints2d_norm, ref)
    single = Key2MeshKeypointsDataset(
        write_json(tmp_path / 'one.json', pred([a])),
        data_format='mmpose_json', verbose=False)
    torch.testing.assert_close(single.keypoints2d_norm, ref[:1])


def test_openpose18_input_and_coco_target(tmp_path):
    rng = np.random.default_rng(2)
    kps = rng.uniform(0, 100, size=(18, 2))
    path = write_json(tmp_path / 'op.json', [
        dict(keypoints=kps.tolist(), keypoint_scores=[1.0] * 18)
    ])
    ds = Key2MeshKeypointsDataset(path, data_format='mmpose_json',
                                  keypoint_convention='openpose_coco18',
                                  verbose=False)
    np.testing.assert_allclose(ds.keypoints2d_px[0].numpy(), kps, rtol=1e-6)
    # COCO-17 target (Key2MeshRegressor(input_convention='coco'))
    coco = rng.uniform(0, 100, size=(17, 2))
    path = write_json(tmp_path / 'coco.json', [
        dict(keypoints=coco.tolist(), keypoint_scores=[1.0] * 17)
    ])
    ds = Key2MeshKeypointsDataset(path, data_format='mmpose_json',
                                  target_convention='coco', verbose=False)
    assert ds[0]['inputs']['keypoints2d_norm'].shape == (17, 2)
    np.testing.assert_allclose(ds.keypoints2d_px[0].numpy(), coco,
                               rtol=1e-6)


def test_filtering_counts_each_reason(tmp_path, monkeypatch):
    rng = np.random.default_rng(3)
    good = coco_instance(rng)
    nan_xy = coco_instance(rng)
    nan_xy['keypoints'][4][0] = float('nan')
    inf_score = coco_instance(rng)
    inf_score['keypoint_scores'][7] = float('inf')
    null_xy = coco_instance(rng)
    null_xy['keypoints'][0][1] = None  # JSON null
    all_missing = coco_instance(rng, score=0.0)
    few = coco_instance(rng, score=0.05)
    for j in (0, 5, 6, 11, 12):  # 5 COCO joints -> 5 detected (< 6)
        few['keypoint_scores'][j] = 0.8
    six = coco_instance(rng, score=0.05)
    for j in (0, 1, 2, 3, 4, 9):  # exactly 6 detected joints: kept
        six['keypoint_scores'][j] = 0.8
    path = write_json(tmp_path / 'det.json', [
        good, nan_xy, inf_score, null_xy, all_missing, few, six
    ])
    calls = []
    logger = MMLogger.get_current_instance()
    monkeypatch.setattr(logger, 'warning', lambda msg: calls.append(msg))
    monkeypatch.setattr(logger, 'info', lambda msg: calls.append(msg))
    ds = Key2MeshKeypointsDataset(path, data_format='mmpose_json')
    assert ds.filter_stats == dict(total=7, kept=2, non_finite=3,
                                   bad_value=0, no_joints=1, few_joints=1,
                                   not_selected=0, no_instances=0)
    assert ds.instance_index.tolist() == [0, 6]
    assert len(calls) == 1 and 'non_finite 3' in calls[0]
    assert torch.isfinite(ds.keypoints2d_norm).all()
    # the synthesised neck does not count: 5 joints incl. both shoulders
    # would be 6 OpenPose joints but stays "few"
    strict = Key2MeshKeypointsDataset(path, data_format='mmpose_json',
                                      min_visible_joints=7, verbose=False)
    assert strict.filter_stats['few_joints'] == 2
    assert strict.filter_stats['kept'] == 1
    loose = Key2MeshKeypointsDataset(path, data_format='mmpose_json',
                                     min_visible_joints=0, verbose=False)
    assert loose.filter_stats['few_joints'] == 0
    assert loose.filter_stats['no_joints'] == 1  # still dropped


def test_all_filtered_gives_empty_dataset(tmp_path):
    rng = np.random.default_rng(4)
    path = write_json(tmp_path / 'bad.json',
                      [coco_instance(rng, score=0.0)])
    ds = Key2MeshKeypointsDataset(path, data_format='mmpose_json')
    assert len(ds) == 0 and ds.filter_stats['no_joints'] == 1
    with pytest.raises(IndexError):
        ds[0]


def test_largest_instance_selection(tmp_path):
    rng = np.random.default_rng(5)
    small = coco_instance(rng, bbox=(0, 0, 10, 10))
    big = coco_instance(rng, bbox=(0, 0, 100, 100))
    bad_big = coco_instance(rng, score=0.0, bbox=(0, 0, 500, 500))
    nobox = coco_instance(rng, bbox=None)
    nobox_small = coco_instance(rng, bbox=None)
    nobox_small['keypoints'] = (np.asarray(nobox_small['keypoints']) *
                                0.1).tolist()
    path = write_json(tmp_path / 'multi.json',
                      [[small, big, bad_big], [nobox_small, nobox]])
    ds = Key2MeshKeypointsDataset(path, data_format='mmpose_json',
                                  instance_selection='largest',
                                  verbose=False)
    assert len(ds) == 2
    assert ds.instance_index.tolist() == [1, 1]
    assert ds.filter_stats['not_selected'] == 2
    assert ds.filter_stats['no_joints'] == 1


@pytest.mark.parametrize('content, match', [
    ('{not json', r'bad\.json: not valid JSON'),
    (json.dumps([{'keypoints': [[0, 0]] * 17}]),
     r'bad\.json: bad\.json instance 0 key "keypoint_scores"'),
    (json.dumps([{'keypoints': [[0, 0]] * 16, 'keypoint_scores': [1] * 16}]),
     r'bad\.json: .*key "keypoints": expected shape \(17, 2\)'),
    (json.dumps([{'keypoints': [[0, 0]] * 17, 'keypoint_scores': [1] * 3}]),
     r'key "keypoint_scores": expected shape \(17,\)'),
    (json.dumps({'predictions': []}),
     r'bad\.json: top level: .*"instance_info"'),
    (json.dumps([{'keypoints': [['a', 'b']] * 17,
                  'keypoint_scores': [1] * 17}]), r'key "keypoints"'),
    (json.dumps([{'pred_instances': {'keypoints': [[[0, 0]] * 17]}}]),
     r'key "pred_instances.keypoint_scores"'),
    (json.dumps([1, 2]), r'bad\.json: element 0'),
])
def test_malformed_json_errors(tmp_path, content, match):
    path = tmp_path / 'bad.json'
    path.write_text(content)
    with pytest.raises(Key2MeshKeypointsFormatError, match=match):
        Key2MeshKeypointsDataset(str(path), data_format='mmpose_json')


def test_missing_paths_and_bad_arguments(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.json'):
        Key2MeshKeypointsDataset(str(tmp_path / 'nope.json'),
                                 data_format='mmpose_json')
    with pytest.raises(FileNotFoundError, match='no .json file'):
        Key2MeshKeypointsDataset(str(tmp_path), data_format='mmpose_json')
    with pytest.raises(ValueError, match='data_format'):
        Key2MeshKeypointsDataset('x', data_format='csv')
    with pytest.raises(ValueError, match="always in the 'human_data'"):
        Key2MeshKeypointsDataset('x.npz', keypoint_convention='coco')
    with pytest.raises(KeyError, match='unknown keypoint convention'):
        Key2MeshKeypointsDataset('x', data_format='mmpose_json',
                                 keypoint_convention='body_25_wrong')


# ---------------------------------------------------------------------------
# HumanData
# ---------------------------------------------------------------------------


def make_humandata(path, rng, num=5, columns=HD_OPENPOSE18, smpl=True,
                   kp3d=True):
    """keypoints2d only in ``columns`` (mask), compressed on disk."""
    kp2d = np.zeros((num, 190, 3), np.float32)
    kp2d[:, columns, :2] = rng.uniform(0, 500, size=(num, len(columns), 2))
    kp2d[:, columns, 2] = 1.0
    mask = np.zeros(190, np.uint8)
    mask[columns] = 1
    data = dict(image_path=np.array([f'img_{i // 2}.jpg' for i in
                                     range(num)]),
                bbox_xywh=np.tile([10., 20., 100., 200., 1.], (num, 1)),
                keypoints2d=kp2d, keypoints2d_mask=mask)
    if smpl:
        data['smpl'] = dict(
            global_orient=rng.normal(size=(num, 3)).astype(np.float32),
            body_pose=rng.normal(size=(num, 23, 3)).astype(np.float32),
            betas=rng.normal(size=(num, 10)).astype(np.float32))
        data['has_smpl'] = np.array([1, 1, 0, 1, 1][:num])
        data['meta'] = dict(gender=np.array(['m', 'f', 'm', 'f', 'n'][:num]))
    if kp3d:
        k3 = np.zeros((num, 190, 4), np.float32)
        k3[:, :24, :3] = rng.normal(size=(num, 24, 3))
        k3[:, :24, 3] = 1.0
        m3 = np.zeros(190, np.uint8)
        m3[:24] = 1
        data['keypoints3d'] = k3
        data['keypoints3d_mask'] = m3
    save_human_data(str(path), data, compress_keypoints=True)
    return data


def test_humandata_openpose_columns_and_eval_gt(tmp_path):
    rng = np.random.default_rng(6)
    path = tmp_path / 'target.npz'
    data = make_humandata(path, rng)
    ds = DATASETS.build(dict(type='Key2MeshKeypointsDataset',
                             ann_file='target.npz', data_root=str(tmp_path)))
    assert len(ds) == 5 and ds.filter_stats['kept'] == 5
    np.testing.assert_allclose(
        ds.keypoints2d_px.numpy(),
        data['keypoints2d'][:, HD_OPENPOSE18, :2], rtol=1e-6)
    item = ds[2]
    torch.testing.assert_close(item['data_samples']['bbox_xyxy'],
                               torch.tensor([10., 20., 110., 220.]))
    assert ds.sources[int(item['data_samples']['source_index'])] == \
        'img_1.jpg'
    # evaluation labels live only under data_samples['eval_gt']
    assert set(item['inputs']) == {'keypoints2d_norm', 'keypoints2d_mask'}
    flat = set(item['data_samples'])
    assert not flat & {'pose_aa', 'betas', 'keypoints3d', 'has_smpl',
                       'gt_vertices', 'smpl_betas'}
    gt = item['data_samples']['eval_gt']
    assert set(gt) == {'pose_aa', 'betas', 'has_smpl', 'gender',
                       'keypoints3d', 'keypoints3d_mask'}
    expected = np.concatenate([data['smpl']['global_orient'][2],
                               data['smpl']['body_pose'][2].reshape(-1)])
    np.testing.assert_allclose(gt['pose_aa'].numpy(), expected)
    np.testing.assert_allclose(gt['betas'].numpy(), data['smpl']['betas'][2])
    assert not bool(gt['has_smpl']) and int(gt['gender']) == 0
    assert ds[4]['data_samples']['eval_gt']['gender'] == -1
    assert gt['keypoints3d'].shape == (17, 3)  # h36m
    # h36m joints that have an SMPL stand-in (pelvis, hips, knees, ...)
    assert 0 < int(gt['keypoints3d_mask'].sum()) < 17
    no_gt = Key2MeshKeypointsDataset(str(path), load_gt=False,
                                     verbose=False)
    assert 'eval_gt' not in no_gt[0]['data_samples']
    torch.testing.assert_close(no_gt.keypoints2d_norm, ds.keypoints2d_norm)


def test_humandata_without_neck_synthesises_it(tmp_path):
    rng = np.random.default_rng(7)
    # COCO-like columns (SMPL-X face landmarks + body joints), no neck
    coco_cols = [HD.index(n) for n in ('nose', 'left_eye_smplhf',
                                       'right_eye_smplhf', 'left_ear',
                                       'right_ear', 'left_shoulder',
                                       'right_shoulder', 'left_elbow',
                                       'right_elbow', 'left_wrist',
                                       'right_wrist', 'left_hip',
                                       'right_hip', 'left_knee',
                                       'right_knee', 'left_ankle',
                                       'right_ankle') if n in HD]
    path = tmp_path / 'coco_cols.npz'
    data = make_humandata(path, rng, num=3, columns=coco_cols, smpl=False,
                          kp3d=False)
    ds = Key2MeshKeypointsDataset(str(path), verbose=False)
    kp = data['keypoints2d']
    lsho, rsho = HD.index('left_shoulder'), HD.index('right_shoulder')
    np.testing.assert_allclose(ds.keypoints2d_px[:, 1].numpy(),
                               0.5 * (kp[:, lsho, :2] + kp[:, rsho, :2]),
                               rtol=1e-6)
    assert torch.all(ds.keypoint_scores[:, 1] == 1.0)
    assert ds.eval_gt is None and 'eval_gt' not in ds[0]['data_samples']


def test_humandata_filtering_and_errors(tmp_path):
    rng = np.random.default_rng(8)
    path = tmp_path / 'noisy.npz'
    kp2d = np.zeros((4, 190, 3), np.float32)
    kp2d[:, HD_OPENPOSE18, :2] = rng.uniform(0, 500, size=(4, 18, 2))
    kp2d[:, HD_OPENPOSE18, 2] = 0.9
    kp2d[1, HD_OPENPOSE18[3], 0] = np.inf  # non-finite
    kp2d[2, :, 2] = 0.0  # nothing detected
    kp2d[3, HD_OPENPOSE18[5:], 2] = 0.0  # 5 joints left
    kp2d[0, 100, 0] = np.nan  # a column outside the mask: ignored
    mask = np.zeros(190, np.uint8)
    mask[HD_OPENPOSE18] = 1
    save_human_data(str(path), dict(keypoints2d=kp2d, keypoints2d_mask=mask),
                    compress_keypoints=False)
    ds = Key2MeshKeypointsDataset(str(path), verbose=False)
    assert ds.filter_stats == dict(total=4, kept=1, non_finite=1,
                                   bad_value=0, no_joints=1, few_joints=1,
                                   not_selected=0, no_instances=0)
    assert ds.sources == ['0', '1', '2', '3']
    assert int(ds[0]['data_samples']['source_index']) == 0

    bad = tmp_path / 'no_kp.npz'
    save_human_data(str(bad), dict(bbox_xywh=np.zeros((2, 4))))
    with pytest.raises(HumanDataFormatError,
                       match=r"no_kp\.npz.*'keypoints2d'"):
        Key2MeshKeypointsDataset(str(bad))
    wrong = tmp_path / 'wrong.npz'
    np.savez(wrong, keypoints2d=np.zeros((2, 17, 3)))
    with pytest.raises(HumanDataFormatError,
                       match=r'wrong\.npz: key "keypoints2d"'):
        Key2MeshKeypointsDataset(str(wrong))
    with pytest.raises(FileNotFoundError, match='missing.npz'):
        Key2MeshKeypointsDataset(str(tmp_path / 'missing.npz'))


# ---------------------------------------------------------------------------
# Batches for the Key2Mesh preprocessor / regressor
# ---------------------------------------------------------------------------


class _FakeBodyModel(torch.nn.Module):
    joint_convention = 'smpl_45'


def test_batch_through_preprocessor_and_regressor(tmp_path):
    from mpt_plugin.models.data_preprocessors.key2mesh_data_preprocessor \
        import Key2MeshDataPreprocessor
    from mpt_plugin.models.heads.key2mesh_regressor import Key2MeshRegressor
    rng = np.random.default_rng(9)
    path = tmp_path / 'target.npz'
    make_humandata(path, rng)
    ds = Key2MeshKeypointsDataset(str(path), verbose=False)
    batch = default_collate([ds[i] for i in range(4)])
    pre = Key2MeshDataPreprocessor(body_model=_FakeBodyModel())
    out = pre(batch, training=True)
    torch.testing.assert_close(out['inputs'], ds.keypoints2d_norm[:4])
    samples = out['data_samples']
    assert samples['keypoints_mask'].shape == (4, 18)
    torch.testing.assert_close(samples['keypoints2d_norm'], out['inputs'])
    # eval labels stay nested, never where a loss looks for them
    assert 'pose_aa' not in samples and 'betas' not in samples
    assert samples['eval_gt']['pose_aa'].shape == (4, 72)
    regressor = Key2MeshRegressor().eval()
    with torch.no_grad():
        pred = regressor(out['inputs'], samples['keypoints_mask'])
    assert pred['pose_aa'].shape == (4, 72)
