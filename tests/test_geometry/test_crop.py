"""Tests for the square crops and their pixel / normalised coordinates."""
import numpy as np

from mpt_plugin.geometry.crop import (crop_to_norm, fit_square_crop,
                                      get_crop_affine, image_to_crop,
                                      norm_to_crop)


def test_crop_round_trip():
    joints = np.array([[[100., 200.], [300., 260.], [150., 600.]]])
    centre, side = fit_square_crop(joints, padding=1.0)
    assert np.allclose(centre, [[200., 400.]]) and np.allclose(side, [400.])
    hm = image_to_crop(joints, centre, side, size=224)
    # extreme joints land on the crop's outer edges (-0.5 and 223.5)
    assert np.isclose(hm[0, :, 1].min(), -0.5)
    assert np.isclose(hm[0, :, 1].max(), 223.5)
    norm = crop_to_norm(hm)
    assert np.allclose(norm[0, 2, 1], 1.0) and np.allclose(norm[0, 0, 1], -1)
    assert np.allclose(norm_to_crop(norm), hm, atol=1e-12, rtol=0)
    # pixel centres 0 and S-1 sit half a pixel inside the normalised edges
    assert np.allclose(norm_to_crop(np.array([-1.0, 1.0]), 224),
                       [-0.5, 223.5])
    # invisible joints are ignored when fitting
    vis = np.array([[1, 1, 0]])
    c2, s2 = fit_square_crop(joints, vis, padding=1.0)
    assert np.allclose(c2, [[200., 230.]]) and np.allclose(s2, [200.])


def test_affine_without_rotation_matches_crop_helper():
    center, scale, size = np.array([37.3, 51.9]), 83.0, 224
    aff = get_crop_affine(center, scale, 0.0, size)
    pts = np.random.default_rng(5).random((10, 2)) * 100
    np.testing.assert_allclose(
        pts @ aff[:, :2].T + aff[:, 2],
        image_to_crop(pts[None], center[None], np.array([scale]), size)[0],
        atol=1e-9)
    # the box corners land on the crop's outer pixel edges
    corner = center - scale / 2
    np.testing.assert_allclose(aff[:, :2] @ corner + aff[:, 2], [-0.5, -0.5])
