import time

import numpy as np
import pytest

from mpt_plugin.geometry.cameras import project_points
from mpt_plugin.visualization.rasterizer import (compose_image, face_normals,
                                                 lambert_shade,
                                                 rasterize_triangles,
                                                 render_mesh)
from tests.test_visualization.test_mesh_figure import (make_box,
                                                       make_icosphere)

make_cube = make_box  # closed box (8 vertices, 12 outward faces)


def test_project_points_formula():
    pts = np.array([[0.2, -0.1, 2.0], [0.0, 0.0, 1.0]])
    px = project_points(pts, (100.0, 120.0), (50.0, 40.0))
    np.testing.assert_allclose(px, [[60.0, 34.0], [50.0, 40.0]])
    # Batched cameras broadcast over (B, K, 2).
    px_b = project_points(np.stack([pts, pts]), np.array([[[100., 100.]],
                                                          [[200., 200.]]]),
                          np.zeros((2, 1, 2)))
    np.testing.assert_allclose(px_b[1], 2 * px_b[0])
    with pytest.raises(ValueError, match='`points`'):
        project_points(np.zeros((3, 2)), 1.0, (0, 0))
    with pytest.raises(ValueError, match='`principal_point`'):
        project_points(pts, 1.0, (0, 0, 0))


def test_triangle_pixels_and_depth():
    # Projects to (2, 2), (8, 2), (2, 8) px: the pixel centres (j, i) with
    # j, i >= 2 and i + j <= 10 are covered (edges included).
    z = 2.0
    verts = np.array([[-3, -3, 0], [3, -3, 0], [-3, 3, 0]], float) / 100 * z
    verts[:, 2] = z
    tri_px = project_points(verts, 100.0, (5.0, 5.0))[None]
    face_id, depth = rasterize_triangles(tri_px, np.full((1, 3), z),
                                         (11, 11), perspective_correct=True)
    jj, ii = np.meshgrid(np.arange(11), np.arange(11))
    expected = (jj >= 2) & (ii >= 2) & (ii + jj <= 10)
    np.testing.assert_array_equal(face_id >= 0, expected)
    assert expected.sum() == 28
    np.testing.assert_allclose(depth[expected], z)
    assert np.isinf(depth[~expected]).all()


def test_perspective_correct_depth_on_tilted_plane():
    # Plane z = 3 + 0.5 * x seen by a pinhole camera: the depth at each
    # pixel is where its ray meets the plane, z = 3 / (1 - 0.5 x_px / f).
    f, c = 40.0, 20.0
    verts = np.array([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]], float)
    verts[:, 2] = 3 + 0.5 * verts[:, 0]
    faces = np.array([[0, 1, 2], [0, 2, 3]])
    out = render_mesh(verts, faces, f, (41, 41), (c, c), cull_backfaces=False)
    i, j = np.nonzero(out.mask)
    xr = (j - c) / f
    np.testing.assert_allclose(out.depth[i, j], 3 / (1 - 0.5 * xr),
                               rtol=1e-9)
    # Linear interpolation of z (orthographic mode) differs from it.
    tri_px = project_points(verts, f, (c, c))[faces]
    _, lin = rasterize_triangles(tri_px, verts[faces][:, :, 2], (41, 41))
    assert np.abs(lin[i, j] - out.depth[i, j]).max() > 1e-3


def test_cube_front_face_pixels_depth_and_shading():
    # Unit cube 3 m ahead: only the z = 2.5 face is front-facing; it spans
    # 0.5 / 2.5 * 50 = 10 px either side of the centre.
    verts, faces = make_cube((0., 0., 3.), 0.5)
    out = render_mesh(verts, faces, 50.0, (41, 41), color=(1.0, 0.0, 0.0),
                      background=(0.0, 0.0, 1.0), light_dir=(0, 0, -1),
                      ambient=0.0)
    assert out.image.shape == (41, 41, 3) and out.image.dtype == np.uint8
    expected = np.zeros((41, 41), bool)
    expected[10:31, 10:31] = True
    np.testing.assert_array_equal(out.mask, expected)
    np.testing.assert_allclose(out.depth[expected], 2.5)
    front = np.nonzero(verts[faces][:, :, 2].max(axis=1) < 2.6)[0]
    assert set(np.unique(out.face_id[expected])) == set(front)
    assert (out.face_id[~expected] == -1).all()
    # Lit head-on, no ambient: pure red; background blue.
    assert (out.image[expected] == [255, 0, 0]).all()
    assert (out.image[~expected] == [0, 0, 255]).all()
    # Lit from behind: ambient only, 40 % of the colour.
    dark = render_mesh(verts, faces, 50.0, (41, 41), color=(1.0, 0.0, 0.0),
                       light_dir=(0, 0, 1), ambient=0.4)
    assert tuple(dark.image[20, 20]) == (102, 0, 0)


def test_occlusion_independent_of_face_order():
    near, far = make_cube((0.1, 0., 2.), 0.2), make_cube((0., 0., 4.), 1.0)
    verts = np.concatenate([far[0], near[0]])
    faces_a = np.concatenate([far[1], near[1] + 8])
    faces_b = np.concatenate([near[1] + 8, far[1]])
    a = render_mesh(verts, faces_a, 60.0, (48, 48))
    b = render_mesh(verts, faces_b, 60.0, (48, 48))
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.depth, b.depth)
    # The centre pixel sees the near cube's front face (z = 1.8).
    assert a.depth[24, 25] == pytest.approx(1.8)
    assert a.face_id[24, 25] >= 12


def test_chunking_gives_identical_result():
    verts, faces = make_cube((0.2, -0.1, 2.5), 0.6)
    ref = render_mesh(verts, faces, 70.0, (50, 60))
    small = render_mesh(verts, faces, 70.0, (50, 60), max_candidates=37)
    np.testing.assert_array_equal(ref.image, small.image)
    np.testing.assert_array_equal(ref.face_id, small.face_id)


def test_background_image_near_plane_and_supersample():
    verts, faces = make_cube((0., 0., 3.), 0.5)
    rng = np.random.default_rng(0)
    bg = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    out = render_mesh(verts, faces, 30.0, (30, 40), background=bg)
    np.testing.assert_array_equal(out.image[~out.mask], bg[~out.mask])
    assert out.mask.sum() > 50
    # Faces crossing the near plane are not drawn.
    behind = render_mesh(verts - [0, 0, 2.8], faces, 30.0, (30, 40))
    assert not behind.mask.any()
    # Supersampling: same size, smooth edges, face ids at pixel centres.
    verts = verts + [0.04, 0.03, 0.0]  # edges off the pixel boundaries
    plain = render_mesh(verts, faces, 30.0, (30, 40))
    ss = render_mesh(verts, faces, 30.0, (30, 40), supersample=3)
    assert ss.image.shape == (30, 40, 3)
    np.testing.assert_array_equal(ss.mask, plain.mask)
    np.testing.assert_array_equal(ss.face_id, plain.face_id)
    assert len(np.unique(plain.image.reshape(-1, 3), axis=0)) == 2
    assert len(np.unique(ss.image.reshape(-1, 3), axis=0)) > 2


def test_helpers_and_errors():
    verts, faces = make_cube((0., 0., 3.), 0.5)
    n = face_normals(verts, faces)
    assert n.shape == (12, 3)
    np.testing.assert_allclose(np.linalg.norm(n, axis=1), 1.0)  # 2 x area
    shade = lambert_shade(n, (0, 0, -1), 0.2)
    assert shade.min() == pytest.approx(0.2) and shade.max() == 1.0
    img = compose_image(np.array([[0, -1]]), np.array([[1., 0, 0]]),
                        (0., 1., 0.))
    np.testing.assert_array_equal(img, [[[1, 0, 0], [0, 1, 0]]])
    with pytest.raises(ValueError, match='`faces` indices'):
        render_mesh(verts, faces + 1, 10.0, (8, 8))
    with pytest.raises(ValueError, match='`vertices`'):
        render_mesh(verts[:, :2], faces, 10.0, (8, 8))
    with pytest.raises(ValueError, match='`image_size`'):
        render_mesh(verts, faces, 10.0, (0, 8))
    with pytest.raises(ValueError, match='`background`'):
        render_mesh(verts, faces, 10.0, (8, 8), background=np.zeros((4, 4)))
    with pytest.raises(ValueError, match='`color`'):
        render_mesh(verts, faces, 10.0, (8, 8), color=(2, 0, 0))
    with pytest.raises(ValueError, match='`focal_length`'):
        render_mesh(verts, faces, -1.0, (8, 8))
    with pytest.raises(ValueError, match='perspective_correct'):
        rasterize_triangles(np.zeros((1, 3, 2)), -np.ones((1, 3)), (4, 4),
                            perspective_correct=True)


def test_smpl_sized_mesh_is_fast():
    # ~20k faces at 256 x 256 (the SMPL mesh has 13776).
    verts, faces = make_icosphere(5, radius=0.8, centre=(0., 0., 3.))
    assert len(faces) == 20480
    render_mesh(verts, faces, 300.0, (64, 64))  # warm-up
    t0 = time.perf_counter()
    out = render_mesh(verts, faces, 300.0, (256, 256))
    assert time.perf_counter() - t0 < 1.5
    # A sphere of radius r at distance d: silhouette radius ~ f r / d.
    radius_px = np.sqrt(out.mask.sum() / np.pi)
    assert radius_px == pytest.approx(300 * 0.8 / np.sqrt(9 - 0.64), rel=0.03)
