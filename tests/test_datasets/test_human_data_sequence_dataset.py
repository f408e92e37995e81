"""MPTHumanDataSequenceDataset: 2D windows of one sequence, centred on the
sample, edge-padded at the sequence ends, at the stated stride."""
import numpy as np
import pytest

from mpt_plugin.body_models.conventions import convert_keypoints
from mpt_plugin.datasets import (HumanDataFormatError,
                                 MPTHumanDataSequenceDataset, save_human_data)
from mpt_plugin.datasets.human_data_sequence_dataset import (
    parse_sequence_frame_ids, sequence_windows)

#: sequence folder -> number of stored frames (ids 1, 6, 11, ...: every 5th
#: frame, as mmhuman3d's h36m files)
SEQUENCES = {
    'S1_Walking.54138969': 7,
    'S5_Eating.55011271': 4,
    'S6_Posing_1.58860488': 11,
}


def _h36m_name(folder, frame_id):
    subject = folder.split('_')[0]
    return f'{subject}/images/{folder}/{folder}_{frame_id:06d}.jpg'


def _code(seq, frame_id):
    """x of joint 0 encodes (sequence, frame) so windows can be checked."""
    return 1000.0 * seq + frame_id


def make_sequences(seed=0, paths=None, step=5):
    """Rows of three sequences in shuffled order; keypoints2d joint 0 x =
    ``_code(seq, frame_id)``."""
    rows = []
    for s, (folder, num) in enumerate(SEQUENCES.items()):
        rows += [(s, folder, 1 + step * f) for f in range(num)]
    rng = np.random.default_rng(seed)
    rows = [rows[i] for i in rng.permutation(len(rows))]
    num = len(rows)
    k2d = np.concatenate([rng.uniform(0, 1000, (num, 17, 2)),
                          np.ones((num, 17, 1))], -1)
    k2d[:, 0, 0] = [_code(s, f) for s, _, f in rows]
    k3d = np.concatenate([rng.normal(0, 0.5, (num, 17, 3)),
                          np.ones((num, 17, 1))], -1)
    full2d, mask2d = convert_keypoints(k2d, 'h36m', 'human_data')
    full3d, mask3d = convert_keypoints(k3d, 'h36m', 'human_data')
    xy = rng.uniform(0, 500, (num, 2))
    wh = rng.uniform(50, 300, (num, 2))
    data = dict(
        image_path=np.array(paths if paths is not None else
                            [_h36m_name(folder, f) for _, folder, f in rows]),
        bbox_xywh=np.concatenate([xy, wh, np.ones((num, 1))], 1),
        keypoints2d=full2d, keypoints2d_mask=mask2d,
        keypoints3d=full3d, keypoints3d_mask=mask3d, config='h36m')
    return data, rows


def _dataset(tmp_path, data, **kwargs):
    path = tmp_path / 'seq.npz'
    save_human_data(path, data)
    kwargs.setdefault('seq_len', 5)
    return MPTHumanDataSequenceDataset(ann_file=str(path), dataset_name='h36m',
                                    **kwargs)


@pytest.mark.parametrize('seq_len,stride', [(5, 1), (9, 2), (3, 3)])
def test_windows_are_consecutive_frames_of_one_sequence(tmp_path, seq_len,
                                                        stride):
    data, rows = make_sequences()
    ds = _dataset(tmp_path, data, seq_len=seq_len, frame_stride=stride,
                  expected_frame_step=5)
    assert len(ds) == len(rows) and ds.num_sequences == 3
    half = seq_len // 2
    seen_pad = False
    for idx, (seq, folder, frame) in enumerate(rows):
        info = ds.get_data_info(idx)
        win = info['keypoints2d_seq']
        assert win.shape == (seq_len, 17, 2)
        assert info['keypoints2d_seq_visible'].shape == (seq_len, 17)
        # the centre frame is the sample itself
        np.testing.assert_array_equal(win[half], info['keypoints2d'])
        assert info['sequence_name'].endswith(folder)
        # every frame of the window belongs to the sample's sequence ...
        codes = win[:, 0, 0].astype(np.int64)
        assert (codes // 1000 == seq).all()
        np.testing.assert_array_equal(codes % 1000, info['seq_frame_ids'])
        # ... at the stated stride, clamped (edge replication) at the ends
        last = 1 + 5 * (SEQUENCES[folder] - 1)
        want = np.clip(frame + 5 * stride * (np.arange(seq_len) - half), 1,
                       last)
        np.testing.assert_array_equal(info['seq_frame_ids'], want)
        unclamped = frame + 5 * stride * (np.arange(seq_len) - half)
        np.testing.assert_array_equal(info['seq_padded'], want != unclamped)
        inner = ~info['seq_padded']
        assert len(np.unique(info['seq_frame_ids'][inner])) == inner.sum()
        assert (np.diff(info['seq_frame_ids'][inner]) == 5 * stride).all()
        seen_pad |= bool(info['seq_padded'].any())
    assert seen_pad


def test_last_frame_of_a_sequence_is_padded_with_itself(tmp_path):
    data, rows = make_sequences()
    ds = _dataset(tmp_path, data, seq_len=5)
    idx = rows.index((0, 'S1_Walking.54138969', 31))  # its last frame
    info = ds.get_data_info(idx)
    assert info['seq_frame_ids'].tolist() == [21, 26, 31, 31, 31]
    assert info['seq_padded'].tolist() == [False, False, False, True, True]
    np.testing.assert_array_equal(info['keypoints2d_seq'][3],
                                  info['keypoints2d_seq'][2])
    # a 4-frame sequence is shorter than the window: padded at both ends
    idx = rows.index((1, 'S5_Eating.55011271', 6))
    info = ds.get_data_info(idx)
    assert info['seq_frame_ids'].tolist() == [1, 1, 6, 11, 16]


def test_num_samples_thins_centres_not_windows(tmp_path):
    data, rows = make_sequences()
    ds = _dataset(tmp_path, data, seq_len=5, num_samples=4)
    assert len(ds) == 4
    for idx in range(4):
        info = ds.get_data_info(idx)
        ids = info['seq_frame_ids']
        inner = ~info['seq_padded']
        # neighbours come from the whole file, not from the 4 kept rows
        assert (np.diff(ids[inner]) == 5).all() and inner.sum() >= 3


def test_pw3d_and_regex_id_formats():
    paths = np.array(['imageFiles/downtown_bar_00/image_00002.jpg',
                      'imageFiles/downtown_bar_00/image_00001.jpg',
                      'imageFiles/office_phoneCall_00/image_00001.jpg'])
    seq, names, frames = parse_sequence_frame_ids(paths, 'pw3d')
    assert names.tolist() == ['imageFiles/downtown_bar_00',
                              'imageFiles/office_phoneCall_00']
    assert seq.tolist() == [0, 0, 1] and frames.tolist() == [2, 1, 1]
    seq, names, frames = parse_sequence_frame_ids(
        np.array(['clipA/f3.png', 'clipB/f10.png']),
        r'(?P<sequence>[^/]+)/f(?P<frame>\d+)\.png')
    assert names.tolist() == ['clipA', 'clipB'] and frames.tolist() == [3, 10]
    with pytest.raises(ValueError, match="groups 'sequence' and 'frame'"):
        parse_sequence_frame_ids(paths, r'(?P<sequence>.*)')


def test_sequence_windows_formula():
    rows, padded = sequence_windows(np.array([0, 0, 0, 1]),
                                    np.array([30, 10, 20, 5]), 3)
    # row 1 (frame 10) is first: its left neighbour is itself
    assert rows.tolist() == [[2, 0, 0], [1, 1, 2], [1, 2, 0], [3, 3, 3]]
    assert padded.tolist() == [[False, False, True], [True, False, False],
                               [False, False, False], [True, False, True]]


def test_files_without_sequence_ids_are_refused(tmp_path):
    num = sum(SEQUENCES.values())
    coco = [f'train2014/COCO_train2014_{i:012d}.jpg' for i in range(num)]
    data, _ = make_sequences(paths=coco)
    with pytest.raises(HumanDataFormatError,
                       match=r"seq\.npz: image_path\[0\] = "
                       r"'train2014/COCO_train2014_000000000000\.jpg' carries "
                       r"no sequence and frame id of format 'h36m'"):
        _dataset(tmp_path, data)


def test_bad_arguments_and_duplicate_frames(tmp_path):
    data, rows = make_sequences()
    with pytest.raises(ValueError, match='seq_len must be an odd'):
        _dataset(tmp_path, data, seq_len=4)
    with pytest.raises(ValueError, match='frame_stride must be a positive'):
        _dataset(tmp_path, data, frame_stride=0)
    # mmhuman3d's stock files advance by 5: a 50-fps expectation refuses them
    with pytest.raises(ValueError, match=r'from frame 1 to 6 \(step 5\), '
                       r'expected_frame_step=1'):
        _dataset(tmp_path, data, expected_frame_step=1)
    # two people in one frame of one sequence: no person id to split them
    paths = data['image_path'].copy()
    first = [i for i, r in enumerate(rows) if r[1] == 'S5_Eating.55011271']
    paths[first[1]] = paths[first[0]]
    data['image_path'] = paths
    with pytest.raises(ValueError, match='several people per frame'):
        _dataset(tmp_path, data)
