"""Tests for FreiHAND's file reader: the official layout, streamed, checked."""
import json

import numpy as np
import pytest

from mpt_plugin.datasets import freihand_io
from mpt_plugin.datasets.freihand_io import (FREIHAND_ROW_SHAPES,
                                             FreiHANDFormatError,
                                             freihand_image_paths,
                                             load_freihand_annotations,
                                             read_json_rows)


def _write(path, rows):
    path.write_text(json.dumps(rows))
    return path


def _split(root, split='training', n=5, seed=0, skip=()):
    """Official-layout annotation files with random values."""
    rng = np.random.default_rng(seed)
    arrays = {k: rng.normal(size=(n, ) + shape)
              for k, shape in FREIHAND_ROW_SHAPES.items() if k not in skip}
    for key, value in arrays.items():
        _write(root / f'{split}_{key}.json', value.tolist())
    return arrays


def test_round_trip_of_every_file(tmp_path):
    arrays = _split(tmp_path)
    out = load_freihand_annotations(tmp_path, 'training')
    assert set(out) == set(FREIHAND_ROW_SHAPES)
    for key, value in arrays.items():
        expected = value[:, 0] if key == 'mano' else value
        assert out[key].dtype == np.float32
        np.testing.assert_array_equal(out[key], expected.astype(np.float32))
    assert out['mano'].shape == (5, 61) and out['scale'].shape == (5, )


@pytest.mark.parametrize('window', [1, 3, 7, 64])
def test_rows_and_numbers_cut_by_the_window(tmp_path, monkeypatch, window):
    """Rows, and single numbers, split across reads decode exactly."""
    monkeypatch.setattr(freihand_io, '_WINDOW', window)
    values = [0.123456789, -1e-7, 12345.5, 3.0, 0.5]
    path = tmp_path / 's.json'
    path.write_text('[ ' + ' ,\n'.join(repr(v) for v in values) + ' ]')
    np.testing.assert_array_equal(read_json_rows(path, (), np.float64),
                                  values)
    rows = np.arange(24, dtype=np.float64).reshape(4, 2, 3) / 7
    _write(tmp_path / 'r.json', rows.tolist())
    np.testing.assert_array_equal(
        read_json_rows(tmp_path / 'r.json', (2, 3), np.float64), rows)


def test_many_rows_are_stacked_in_blocks(tmp_path):
    rows = np.arange(3 * 5000, dtype=np.float64).reshape(5000, 3)
    out = read_json_rows(_write(tmp_path / 'a.json', rows.tolist()), (3, ))
    np.testing.assert_array_equal(out, rows.astype(np.float32))
    assert read_json_rows(_write(tmp_path / 'e.json', []), (3, )).shape == \
        (0, 3)


@pytest.mark.parametrize('text,match', [
    ('{"a": 1}', "must start with '\\['"),
    ('', "must start with '\\['"),
    ('[[1, 2, 3], [4, 5', 'row 1 is not valid JSON'),
    ('[[1, 2, 3], [4, 5, 6]', 'after row 1, got the end of the file'),
    ('[[1, 2, 3], ', 'ends inside the array after 1 rows'),
    ('[[1, 2, 3] [4, 5, 6]]', "expected ',' or '\\]' after row 0"),
    ('[[1, 2, 3], [4, 5]]', r'row 1 has shape \(2,\), expected \(3,\)'),
    ('[[1, 2, 3], [[4], [5], [6]]]', r'row 1 has shape \(3, 1\)'),
    ('[[1, 2, 3], [4, [5], 6]]', 'row 1 is not a numeric array'),
    ('[[1, NaN, 3]]', 'row 0 holds a non-finite value'),
    ('[[1, Infinity, 3]]', 'row 0 holds a non-finite value'),
    ('[[1, 1e999, 3]]', 'row 0 holds a non-finite value'),
    ('[[1, null, 3]]', 'row 0 holds a non-finite value'),
    ('[[1, true, 3]]', 'row 0 holds a boolean or a string'),
    ('[[1, "2", 3]]', 'row 0 holds a boolean or a string'),
    ('[[1, 2, 3]] x', 'data after the closing bracket'),
])
def test_broken_files_are_named(tmp_path, text, match):
    path = tmp_path / 'training_xyz.json'
    path.write_text(text)
    with pytest.raises(FreiHANDFormatError, match=match) as info:
        read_json_rows(path, (3, ))
    assert str(path) in str(info.value)


def test_hostile_sizes_and_nesting_stay_bounded(tmp_path):
    # one row far longer than a (3, 3) row can be: refused once the window
    # holds more than the limit, without decoding it
    path = tmp_path / 'long.json'
    path.write_text('[[' + ', '.join(['1.0'] * 200_000) + ']]')
    with pytest.raises(FreiHANDFormatError, match='row 0 is longer than'):
        read_json_rows(path, (3, 3))
    deep = tmp_path / 'deep.json'
    deep.write_text('[' + '[' * 200_000 + ']' * 200_000 + ']')
    with pytest.raises(FreiHANDFormatError, match='row 0 is'):
        read_json_rows(deep, (3, ))
    bad = tmp_path / 'bin.json'
    bad.write_bytes(b'[[1, 2, \xff\xfe]]')
    with pytest.raises(FreiHANDFormatError, match='not UTF-8'):
        read_json_rows(bad, (3, ))
    many = _write(tmp_path / 'many.json', [[1.0, 2.0, 3.0]] * 10)
    with pytest.raises(FreiHANDFormatError, match='more than 4 rows'):
        read_json_rows(many, (3, ), max_rows=4)


def test_split_consistency(tmp_path):
    _split(tmp_path, n=5)
    _write(tmp_path / 'training_scale.json', [0.1] * 4)
    with pytest.raises(FreiHANDFormatError, match=r"different numbers of "
                       r"samples: .*'training_K.json': 5.*"
                       r"'training_scale.json': 4"):
        load_freihand_annotations(tmp_path)
    (tmp_path / 'training_verts.json').unlink()
    with pytest.raises(FileNotFoundError, match='training_verts.json'):
        load_freihand_annotations(tmp_path)
    # evaluation: K and scale required, the rest read when present
    _split(tmp_path, 'evaluation', n=3, skip=('xyz', 'verts', 'mano'))
    out = load_freihand_annotations(tmp_path, 'evaluation')
    assert set(out) == {'K', 'scale'} and len(out['K']) == 3
    with pytest.raises(KeyError, match='unknown FreiHAND files'):
        load_freihand_annotations(tmp_path, 'evaluation', keys=['uv'])
    with pytest.raises(ValueError, match='split must be one of'):
        load_freihand_annotations(tmp_path, 'test')


def test_image_paths_version_major_and_checked(tmp_path):
    rgb = tmp_path / 'training' / 'rgb'
    rgb.mkdir(parents=True)
    for i in range(3 * 4):
        (rgb / f'{i:08d}.jpg').write_bytes(b'')
    paths = freihand_image_paths(tmp_path, 'training', 3)
    assert [p[-12:] for p in paths[[0, 2, 3, 11]]] == [
        '00000000.jpg', '00000002.jpg', '00000003.jpg', '00000011.jpg']
    paths = freihand_image_paths(tmp_path, 'training', 3, versions=[2])
    assert [p[-12:] for p in paths] == ['00000006.jpg', '00000007.jpg',
                                        '00000008.jpg']
    (rgb / '00000007.jpg').unlink()
    with pytest.raises(FileNotFoundError,
                       match=r"1 of 12 FreiHAND images missing.*00000007"):
        freihand_image_paths(tmp_path, 'training', 3)
    assert len(freihand_image_paths(tmp_path, 'training', 3,
                                    check=False)) == 12
    with pytest.raises(ValueError, match='versions 0..0'):
        freihand_image_paths(tmp_path, 'evaluation', 3, versions=[1])
