import numpy as np
import pytest

from mpt_plugin.utils.value_checks import (BadValueError, bad_rows,
                                           cast_finite_mask, require_finite)


def test_cast_finite_mask_judges_after_float32_cast():
    arr = np.array([0.0, 1e38, 1e39, -1e39, np.nan, np.inf], np.float64)
    np.testing.assert_array_equal(cast_finite_mask(arr),
                                  [True, True, False, False, False, False])
    # float64 keeps 1e39
    assert cast_finite_mask(arr, np.float64)[2]


def test_cast_finite_mask_kinds():
    assert not cast_finite_mask(np.array([1 + 0j])).any()
    assert cast_finite_mask(np.array([True, False])).all()
    assert cast_finite_mask(np.array([2**62], np.int64), np.float64).all()
    with pytest.raises(TypeError, match='numeric'):
        cast_finite_mask(np.array(['a']))


def test_bad_rows_per_sample():
    arr = np.zeros((4, 2, 3))
    arr[1, 0, 2] = np.nan
    arr[3, 1, 1] = 1e200
    np.testing.assert_array_equal(bad_rows(arr), [False, True, False, True])
    # empty batches and empty rows are fine (no reshape error)
    assert bad_rows(np.zeros((0, 45))).shape == (0, )
    np.testing.assert_array_equal(bad_rows(np.zeros((3, 0))), [False] * 3)


def test_require_finite_names_file_key_index():
    arr = np.zeros((3, 2))
    arr[2, 1] = np.inf
    with pytest.raises(BadValueError) as e:
        require_finite(arr, '/x/model.pkl', 'v_template', '(V, 3) metres')
    msg = str(e.value)
    assert '/x/model.pkl' in msg and "'v_template'" in msg
    assert '(2, 1)' in msg and '1 value(s)' in msg and '(V, 3) metres' in msg


def test_require_finite_custom_error_and_bound():
    class MyError(ValueError):
        pass

    require_finite(np.ones(3), 'f', 'k', max_abs=1.0)
    with pytest.raises(MyError, match=r'\|x\| <= 1'):
        require_finite(np.array([0.5, 2.0]), 'f', 'k', error_cls=MyError,
                       max_abs=1.0)
    with pytest.raises(MyError, match='numeric'):
        require_finite(np.array(['s']), 'f', 'k', error_cls=MyError)
