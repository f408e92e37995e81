import json
import numpy as np
import pytest

from mpt_plugin.geometry.virtual_cameras import (H36M_S1_CAMERAS,
                                                 build_virtual_cameras,
                                                 interpolate_cameras,
                                                 load_h36m_cameras)

CAM_FILE = H36M_S1_CAMERAS


def test_h36m_s1_cameras_look_at_origin():
    cams = load_h36m_cameras(CAM_FILE)
    assert len(cams) == 4
    idx = np.arange(4)
    origin = np.zeros((4, 1, 3))
    cam_pts = cams.world_to_camera(origin, idx)
    assert np.all((cam_pts[..., 2] > 4.0) & (cam_pts[..., 2] < 6.0))
    uv = cams.project(cam_pts, idx)[:, 0]
    assert np.all(np.abs(uv - cams.image_size / 2) < 150)
    # a point above the origin appears higher in the image (y down)
    up = cams.project(cams.world_to_camera(origin + [0, 0, 1.0], idx), idx)
    assert np.all(up[:, 0, 1] < uv[:, 1])
    # cameras stand above a body centred at the origin (head top ~0.8 m)
    assert np.all(cams.T[:, 2] > 1.0)


def test_interpolated_cameras():
    cams = build_virtual_cameras(CAM_FILE, num_views=8)
    assert len(cams) == 8
    assert np.allclose(cams.R @ cams.R.transpose(0, 2, 1), np.eye(3))
    assert np.allclose(np.linalg.det(cams.R), 1.0)
    az = np.sort(cams.azimuth_deg())
    gaps = np.diff(np.concatenate([az, az[:1] + 360]))
    assert gaps.max() < 120  # the 4 added views fill the largest gaps
    # every camera, old and new, sees the origin near its image centre
    origin = np.zeros((8, 1, 3))
    uv = cams.project(cams.world_to_camera(origin, np.arange(8)),
                      np.arange(8))[:, 0]
    assert np.all(np.abs(uv - cams.image_size / 2) < 150)
    # the original four are kept unchanged
    orig = load_h36m_cameras(CAM_FILE)
    for i, name in enumerate(orig.names):
        j = cams.names.index(name)
        assert np.allclose(cams.R[j], orig.R[i])
    assert len(build_virtual_cameras(CAM_FILE, num_views=2)) == 2
    with pytest.raises(ValueError, match='num_views'):
        build_virtual_cameras(CAM_FILE, num_views=5)


def test_bad_camera_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_h36m_cameras(tmp_path / 'missing.json')
    bad = tmp_path / 'bad.json'
    bad.write_text(json.dumps({'cameras': {'a': {'R': [[1, 0, 0]]}}}))
    with pytest.raises(ValueError, match=r'bad.json.*camera a.*"R"'):
        load_h36m_cameras(bad)


def test_interpolate_two_cameras_midpoint():
    from mpt_plugin.geometry.virtual_cameras import VirtualCameras, _look_at
    T = np.array([[5.0, 0, 1.5], [0, 5.0, 1.5]])
    R = np.stack([_look_at(t, np.eye(3)[[0, 2, 1]] * [1, -1, 1]) for t in T])
    cams = VirtualCameras(R=R, T=T, f=np.full((2, 2), 1000.),
                          c=np.full((2, 2), 500.),
                          image_size=np.full((2, 2), 1000.), names=['a', 'b'])
    both = interpolate_cameras(cams)
    assert len(both) == 4
    mid = both.T[1]
    assert np.allclose(np.degrees(np.arctan2(mid[1], mid[0])), 45)
    assert np.isclose(np.linalg.norm(mid[:2]), 5.0)
