"""Hostile and broken detection files for Key2MeshKeypointsDataset (issue
12): values are judged after the cast to float32, JSON holds only numbers,
scores are never broadcast, deep nesting is refused naming the file."""
import json

import numpy as np
import pytest
import torch

from mpt_plugin.body_models.conventions import get_keypoint_names
from mpt_plugin.datasets.human_data_io import (HumanDataFormatError,
                                               save_human_data)
from mpt_plugin.datasets.key2mesh_keypoints_dataset import (
    Key2MeshKeypointsDataset, Key2MeshKeypointsFormatError)

HD = get_keypoint_names('human_data')
HD_OPENPOSE18 = [HD.index(n) for n in get_keypoint_names('openpose_coco18')]


def instance(seed=0, score=0.9, bbox=(0., 0., 300., 400.)):
    rng = np.random.default_rng(seed)
    inst = dict(keypoints=rng.uniform(10, 290, size=(17, 2)).tolist(),
                keypoint_scores=[score] * 17)
    if bbox is not None:
        inst['bbox'] = [list(bbox)]
    return inst


def write_json(tmp_path, obj, name='det.json'):
    path = tmp_path / name
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return str(path)


def load_json(path, **kwargs):
    return Key2MeshKeypointsDataset(path, data_format='mmpose_json',
                                    verbose=False, **kwargs)


# ---------------------------------------------------------------------------
# Values judged after the float32 cast
# ---------------------------------------------------------------------------


@pytest.mark.parametrize('mutate, key, reason', [
    (lambda i: i['keypoints'][3].__setitem__(0, 1e39), 'keypoints',
     'non_finite'),
    (lambda i: i['keypoints'][0].__setitem__(1, -1e39), 'keypoints',
     'non_finite'),
    (lambda i: i['keypoint_scores'].__setitem__(5, 1e39), 'keypoint_scores',
     'non_finite'),
    (lambda i: i.__setitem__('bbox', [[0., 0., 1e39, 10.]]), 'bbox',
     'bad_value'),
    (lambda i: i.__setitem__('bbox', [[50., 0., 10., 10.]]), 'bbox',
     'bad_value'),  # x2 < x1
    (lambda i: i.__setitem__('bbox', [0., 10., 20., 10.]), 'bbox',
     'bad_value'),  # y2 == y1
    (lambda i: i.__setitem__('bbox', [[None, 0., 10., 10.]]), 'bbox',
     'bad_value'),  # JSON null in a given box
])
def test_json_bad_value_skipped_or_raised(tmp_path, mutate, key, reason):
    bad = instance(1)
    mutate(bad)
    path = write_json(tmp_path, [instance(0), bad, instance(2)])
    ds = load_json(path)
    assert ds.filter_stats['total'] == 3 and ds.filter_stats['kept'] == 2
    assert ds.filter_stats[reason] == 1
    assert ds.bad_value_counts == {key: 1}
    assert ds.instance_index.tolist() == [0, 2]
    assert torch.isfinite(ds.keypoints2d_norm).all()
    assert torch.isfinite(ds.bbox_xyxy).all()
    with pytest.raises(Key2MeshKeypointsFormatError) as info:
        load_json(path, on_bad_sample='raise')
    assert str(info.value).startswith(
        f"{path}: det.json instance 1: key '{key}': bad value; expected ")


def test_json_missing_box_is_not_bad(tmp_path):
    path = write_json(tmp_path, [instance(0, bbox=None), instance(1)])
    ds = load_json(path, on_bad_sample='raise')
    assert len(ds) == 2 and ds.has_bbox.tolist() == [False, True]


def test_raise_names_the_file_of_a_folder(tmp_path):
    folder = tmp_path / 'preds'
    folder.mkdir()
    write_json(folder, [instance(0)], name='a.json')
    bad = instance(1)
    bad['keypoints'][2][0] = float('nan')
    path = write_json(folder, {'instance_info': [
        {'frame_id': 7, 'instances': [instance(2), bad]}]}, name='b.json')
    ds = load_json(str(folder))
    assert ds.filter_stats['non_finite'] == 1 and len(ds) == 2
    with pytest.raises(Key2MeshKeypointsFormatError,
                       match=f"^{path}: b.json frame 7 instance 1: key "
                       "'keypoints'"):
        load_json(str(folder), on_bad_sample='raise')


def test_humandata_1e39_float64_keypoints(tmp_path):
    rng = np.random.default_rng(0)
    kp2d = np.zeros((3, 190, 3))  # float64, as converters write
    kp2d[:, HD_OPENPOSE18, :2] = rng.uniform(0, 500, size=(3, 18, 2))
    kp2d[:, HD_OPENPOSE18, 2] = 0.9
    kp2d[1, HD_OPENPOSE18[4], 1] = 1e39  # finite in float64
    mask = np.zeros(190, np.uint8)
    mask[HD_OPENPOSE18] = 1
    path = str(tmp_path / 'det.npz')
    save_human_data(path, dict(keypoints2d=kp2d, keypoints2d_mask=mask))
    ds = Key2MeshKeypointsDataset(path, verbose=False)
    assert ds.filter_stats['non_finite'] == 1 and len(ds) == 2
    assert ds.bad_value_counts == {'keypoints2d': 1}
    assert torch.isfinite(ds.keypoints2d_norm).all()
    with pytest.raises(HumanDataFormatError,
                       match=rf"^{path}: sample 1: key 'keypoints2d': bad "
                       'value'):
        Key2MeshKeypointsDataset(path, verbose=False, on_bad_sample='raise')


def make_humandata(path, mutate):
    rng = np.random.default_rng(1)
    num = 4
    kp2d = np.zeros((num, 190, 3))
    kp2d[:, HD_OPENPOSE18, :2] = rng.uniform(0, 500, size=(num, 18, 2))
    kp2d[:, HD_OPENPOSE18, 2] = 0.9
    mask = np.zeros(190, np.uint8)
    mask[HD_OPENPOSE18] = 1
    k3 = np.zeros((num, 190, 4))
    k3[:, :24, :3] = rng.normal(size=(num, 24, 3))
    k3[:, :24, 3] = 1.0
    m3 = np.zeros(190, np.uint8)
    m3[:24] = 1
    data = dict(
        image_path=np.array([f'img_{i}.jpg' for i in range(num)]),
        bbox_xywh=np.tile([10., 20., 100., 200.], (num, 1)),
        keypoints2d=kp2d, keypoints2d_mask=mask,
        keypoints3d=k3, keypoints3d_mask=m3,
        smpl=dict(global_orient=rng.normal(size=(num, 3)),
                  body_pose=rng.normal(size=(num, 69)),
                  betas=rng.normal(size=(num, 10))),
        has_smpl=np.ones(num),
        meta=dict(gender=np.array(['m', 'f', 'n', 'f'])))
    mutate(data)
    save_human_data(str(path), data)
    return str(path)


@pytest.mark.parametrize('mutate, key', [
    (lambda d: d['smpl']['betas'].__setitem__((2, 3), np.nan), 'smpl.betas'),
    (lambda d: d['smpl']['body_pose'].__setitem__((2, 0), 1e39),
     'smpl.body_pose'),
    (lambda d: d['has_smpl'].__setitem__(2, 3.0), 'has_smpl'),
    (lambda d: d['meta']['gender'].__setitem__(2, 'q'), 'meta.gender'),
    (lambda d: d['keypoints3d'].__setitem__((2, 0, 1), np.inf),
     'keypoints3d'),
    (lambda d: d['bbox_xywh'].__setitem__((2, 3), -5.0), 'bbox_xywh'),
    (lambda d: d['bbox_xywh'].__setitem__((2, 0), np.nan), 'bbox_xywh'),
])
def test_humandata_bad_labels_and_boxes(tmp_path, mutate, key):
    path = make_humandata(tmp_path / 'target.npz', mutate)
    ds = Key2MeshKeypointsDataset(path, verbose=False)
    assert ds.filter_stats['bad_value'] == 1 and len(ds) == 3
    assert ds.bad_value_counts == {key: 1}
    assert ds.sources[int(ds.source_index[2])] == 'img_3.jpg'
    for value in ds.eval_gt.values():
        if value.is_floating_point():
            assert torch.isfinite(value).all()
    with pytest.raises(HumanDataFormatError,
                       match=rf"^{path}: sample 2: key '{key}': bad value"):
        Key2MeshKeypointsDataset(path, verbose=False, on_bad_sample='raise')
    if key != 'bbox_xywh':  # labels are neither read nor checked
        no_gt = Key2MeshKeypointsDataset(path, verbose=False, load_gt=False)
        assert len(no_gt) == 4 and no_gt.bad_value_counts == {}


# ---------------------------------------------------------------------------
# JSON that is not numbers, not the right shape, or too deep
# ---------------------------------------------------------------------------


def _with(key, value):
    inst = instance(0)
    inst[key] = value
    return [inst]


@pytest.mark.parametrize('content, match', [
    (_with('keypoints', [['1.5', '2']] * 17),
     r'det\.json instance 0 key "keypoints": expected JSON numbers or null, '
     r"got a str \('1\.5'\)"),
    (_with('keypoints', [[True, 2.0]] * 17),
     r'det\.json instance 0 key "keypoints": expected JSON numbers or null, '
     r'got a bool \(True\)'),
    (_with('keypoint_scores', [False] * 17),
     r'key "keypoint_scores": expected JSON numbers or null, got a bool'),
    (_with('keypoints', [{'x': 1}] * 17),
     r'key "keypoints": expected JSON numbers or null, got a dict'),
    (_with('keypoints', [[[[1.0, 2.0]]]] * 17),
     r'key "keypoints": expected numbers in at most 3 nested lists'),
    (_with('keypoints', [[1.0, 2.0]] * 16 + [[1.0]]),
     r'key "keypoints": expected numbers in regular \(rectangular\) lists'),
    (_with('keypoints', [[10 ** 400, 1.0]] * 17),
     r'key "keypoints": expected numbers .*within the float64 range'),
    (_with('bbox', ['0', 0, 10, 10]),
     r'key "bbox": expected JSON numbers or null, got a str'),
    (_with('keypoints', [[1.0, 2.0]] * 18),
     r'key "keypoints": expected shape \(17, 2\), got shape \(18, 2\)'),
    ({'pred_instances': {'keypoints': [[[1.0, 2.0]] * 17] * 2,
                         'keypoint_scores': [0.9] * 17}},
     r'det\.json key "pred_instances\.keypoint_scores": expected shape '
     r'\(M, 17\) with M = 2 instances \(one row per instance, never '
     r'broadcast\), got shape \(17,\)'),
    ({'pred_instances': {'keypoints': [[[1.0, 2.0]] * 17] * 2,
                         'keypoint_scores': [[0.9] * 17] * 3}},
     r'"pred_instances\.keypoint_scores": expected shape \(M, 17\) with '
     r'M = 2'),
    ({'instance_info': {'instance_info': [instance(0)]}},
     r'det\.json: top level: expected a list, or a dict with '
     r'"instance_info"'),
    ('[' * 100000 + ']' * 100000,
     r'det\.json: JSON nested too deeply for the parser'),
    ('{"a":' * 50000 + '1' + '}' * 50000,
     r'det\.json: JSON nested too deeply for the parser'),
    ('[' + '9' * 5000 + ']', r'det\.json: not valid JSON'),
])
def test_malformed_json(tmp_path, content, match):
    path = write_json(tmp_path, content)
    with pytest.raises(Key2MeshKeypointsFormatError) as info:
        load_json(path)
    assert str(info.value).startswith(f'{path}: ')
    assert info.match(match)


def test_single_instance_with_1d_scores_is_accepted(tmp_path):
    path = write_json(tmp_path, {'pred_instances': {
        'keypoints': instance(0)['keypoints'],
        'keypoint_scores': [0.9] * 17}})
    ds = load_json(path)
    assert len(ds) == 1
    assert torch.all(ds.keypoint_scores[0, [0, 2, 3]] == 0.9)


def test_json_nan_and_infinity_literals_are_filtered(tmp_path):
    bad = instance(1)
    bad['keypoints'][0][0] = float('inf')
    path = write_json(tmp_path, [instance(0), bad])  # writes Infinity
    assert 'Infinity' in open(path).read()
    ds = load_json(path)
    assert ds.filter_stats['non_finite'] == 1 and len(ds) == 1


def test_bad_option_value(tmp_path):
    with pytest.raises(ValueError, match="on_bad_sample must be 'skip' or "
                       "'raise', got 'warn'"):
        Key2MeshKeypointsDataset(str(tmp_path), on_bad_sample='warn')


def test_summary_line_names_file_and_counts_per_key(tmp_path, monkeypatch):
    from mmengine.logging import MMLogger
    bad = instance(1)
    bad['keypoints'][0][0] = 1e39
    bad['keypoint_scores'][1] = float('nan')
    boxed = instance(2, bbox=(5., 5., 1., 50.))
    path = write_json(tmp_path, [instance(0), bad, boxed])
    calls = []
    logger = MMLogger.get_current_instance()
    monkeypatch.setattr(logger, 'warning', calls.append)
    ds = Key2MeshKeypointsDataset(path, data_format='mmpose_json')
    assert ds.bad_value_counts == {'keypoints': 1, 'keypoint_scores': 1,
                                   'bbox': 1}
    assert len(calls) == 1
    assert calls[0].startswith(f'Key2MeshKeypointsDataset: kept 1 of 3 '
                               f'detections from {path} ')
    assert 'dropped: non_finite 1, bad_value 1, no_joints 0' in calls[0]
    assert calls[0].endswith('; bad values per key: keypoints 1, '
                             'keypoint_scores 1, bbox 1')
