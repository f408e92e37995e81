import time

import matplotlib.image as mpimg
import numpy as np
import pytest

from mpt_plugin.visualization import (compute_view_fit, render_mesh_image,
                                      save_mesh_comparison, view_rotation)

BG = (255, 255, 255)


def _orient_outward(verts: np.ndarray, faces: np.ndarray,
                    centre: np.ndarray) -> np.ndarray:
    """Flip faces of a convex part so (b - a) x (c - a) points outwards."""
    tri = verts[faces]
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    inward = (n * (tri.mean(axis=1) - centre)).sum(axis=1) < 0
    faces = faces.copy()
    faces[inward] = faces[inward][:, ::-1]
    return faces


def make_box(centre, half):
    """Closed box: (8, 3) vertices and (12, 3) outward faces."""
    centre, half = np.asarray(centre, float), np.asarray(half, float)
    signs = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1)
                      for z in (-1, 1)], dtype=float)
    verts = centre + signs * half
    quads = [[0, 1, 3, 2], [4, 5, 7, 6], [0, 1, 5, 4], [2, 3, 7, 6],
             [0, 2, 6, 4], [1, 3, 7, 5]]
    faces = np.array([[q[0], q[1], q[2]] for q in quads] +
                     [[q[0], q[2], q[3]] for q in quads])
    return verts, _orient_outward(verts, faces, centre)


def make_icosphere(subdiv=2, radius=1.0, centre=(0., 0., 0.)):
    """Closed icosphere with outward faces."""
    t = (1 + 5**0.5) / 2
    verts = [[-1, t, 0], [1, t, 0], [-1, -t, 0], [1, -t, 0], [0, -1, t],
             [0, 1, t], [0, -1, -t], [0, 1, -t], [t, 0, -1], [t, 0, 1],
             [-t, 0, -1], [-t, 0, 1]]
    faces = [[0, 11, 5], [0, 5, 1], [0, 1, 7], [0, 7, 10], [0, 10, 11],
             [1, 5, 9], [5, 11, 4], [11, 10, 2], [10, 7, 6], [7, 1, 8],
             [3, 9, 4], [3, 4, 2], [3, 2, 6], [3, 6, 8], [3, 8, 9],
             [4, 9, 5], [2, 4, 11], [6, 2, 10], [8, 6, 7], [9, 8, 1]]
    verts = [np.array(v, float) / np.linalg.norm(v) for v in verts]
    for _ in range(subdiv):
        cache, new_faces = {}, []

        def mid(i, j):
            key = (min(i, j), max(i, j))
            if key not in cache:
                m = verts[i] + verts[j]
                verts.append(m / np.linalg.norm(m))
                cache[key] = len(verts) - 1
            return cache[key]

        for a, b, c in faces:
            ab, bc, ca = mid(a, b), mid(b, c), mid(c, a)
            new_faces += [[a, ab, ca], [b, bc, ab], [c, ca, bc],
                          [ab, bc, ca]]
        faces = new_faces
    verts = np.array(verts) * radius + np.asarray(centre)
    faces = np.array(faces)
    return verts, _orient_outward(verts, faces, np.asarray(centre, float))


def merge(*meshes):
    verts, faces, off = [], [], 0
    for v, f in meshes:
        verts.append(v)
        faces.append(f + off)
        off += len(v)
    return np.concatenate(verts), np.concatenate(faces)


def make_box_body():
    """Crude upright body from boxes, camera frame (y down, facing -z)."""
    # SMPL-like frame first: y up, the body faces +z, its left at +x.
    parts = [
        make_box([0, 0.25, 0], [0.18, 0.28, 0.10]),  # torso
        make_box([0, 0.68, 0.01], [0.10, 0.12, 0.11]),  # head
        make_box([0.09, -0.45, 0], [0.07, 0.42, 0.07]),  # left leg
        make_box([-0.09, -0.45, 0], [0.07, 0.42, 0.07]),  # right leg
        make_box([0.09, -0.88, 0.06], [0.06, 0.03, 0.12]),  # left foot
        make_box([-0.09, -0.88, 0.06], [0.06, 0.03, 0.12]),  # right foot
        make_box([0.25, 0.22, 0], [0.05, 0.30, 0.05]),  # left arm
        make_box([-0.25, 0.22, 0], [0.05, 0.30, 0.05]),  # right arm
    ]
    verts, faces = merge(*parts)
    # 180 deg about x into the camera frame (a proper rotation keeps the
    # outward winding), 3 m in front of the camera.
    verts = verts * np.array([1., -1., -1.]) + np.array([0., 0., 3.])
    return verts, faces


def nonbg(img):
    return (img != np.array(BG, np.uint8)).any(axis=-1)


def test_sphere_centre_shaded_corners_background():
    verts, faces = make_icosphere(2, radius=0.3, centre=(1., -2., 5.))
    img = render_mesh_image(verts, faces, size=(64, 80))
    assert img.shape == (64, 80, 3) and img.dtype == np.uint8
    mask = nonbg(img)
    assert mask[32, 40]
    for i, j in [(0, 0), (0, -1), (-1, 0), (-1, -1)]:
        assert not mask[i, j]
    # Auto-fit: the sphere spans ~90% of the smaller side and is centred.
    rows = np.nonzero(mask.any(axis=1))[0]
    cols = np.nonzero(mask.any(axis=0))[0]
    assert 52 <= rows[-1] - rows[0] + 1 <= 60
    assert abs((rows[0] + rows[-1]) / 2 - 31.5) <= 1.5
    assert abs((cols[0] + cols[-1]) / 2 - 39.5) <= 1.5
    # Disc area ~ pi r^2 with r ~ 0.9 * 32 px.
    assert abs(mask.sum() / (np.pi * 28.8**2) - 1) < 0.1


def test_colour_and_background():
    verts, faces = make_icosphere(1, radius=0.5)
    img = render_mesh_image(verts, faces, size=(32, 32), color=(1., 0., 0.),
                            background=(0., 0., 1.), light_dir=(0, 0, -1),
                            ambient=0.0)
    assert tuple(img[0, 0]) == (0, 0, 255)
    # Facing the light head-on: full brightness, pure red.
    r, g, b = img[16, 16]
    assert r > 240 and g == 0 and b == 0


def test_front_vs_side_elongated_box():
    # 0.2 wide (x), 1.0 tall (y), 0.6 deep (z).
    verts, faces = make_box([0, 0, 2], [0.1, 0.5, 0.3])
    front = nonbg(render_mesh_image(verts, faces, size=(100, 100)))
    side = nonbg(render_mesh_image(verts, faces, size=(100, 100),
                                   view='side'))

    def width(mask):
        cols = np.nonzero(mask.any(axis=0))[0]
        return cols[-1] - cols[0] + 1

    assert abs(width(front) - 18) <= 2  # 0.2 m at 90 px / m
    assert abs(width(side) - 54) <= 2  # 0.6 m
    assert not np.array_equal(front, side)
    # A matrix view equals the named one.
    side_mat = render_mesh_image(verts, faces, size=(100, 100),
                                 view=view_rotation('side'))
    np.testing.assert_array_equal(
        side_mat, render_mesh_image(verts, faces, size=(100, 100),
                                    view='side'))


def test_side_view_shows_plus_x_face():
    # Unit cube, only the +x face has a distinct colour after culling:
    # check that 'side' looks at +x by rendering with the +x half only.
    verts, faces = make_box([0, 0, 0], [0.5, 0.5, 0.5])
    tri = verts[faces]
    plus_x = np.all(tri[:, :, 0] > 0, axis=1)
    img = render_mesh_image(verts, faces[plus_x], size=(20, 20), view='side',
                            half_extent=0.5, center=(0, 0), margin=0.0)
    assert nonbg(img).mean() > 0.95
    img = render_mesh_image(verts, faces[plus_x], size=(20, 20), view='front',
                            half_extent=0.5, center=(0, 0), margin=0.0)
    assert nonbg(img).sum() == 0  # seen edge-on


def test_fit_uses_both_image_axes():
    verts, faces = make_box([0, 0, 3], [0.1, 0.5, 0.2])  # tall
    mask = nonbg(render_mesh_image(verts, faces, size=(100, 50)))
    rows = np.nonzero(mask.any(axis=1))[0]
    cols = np.nonzero(mask.any(axis=0))[0]
    assert abs(len(rows) - 90) <= 1  # height fills 90% of 100 px
    assert abs(len(cols) - 18) <= 1  # same px/m: 0.2 m -> 18 px
    assert abs((cols[0] + cols[-1]) / 2 - 24.5) <= 1
    # A flat square seen face-on at the image centre, explicit scale.
    sq = np.array([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0.]])
    sq_f = np.array([[0, 2, 1], [0, 3, 2]])
    mask = nonbg(render_mesh_image(sq, sq_f, size=(40, 40), center=(0, 0),
                                   half_extent=2.0, margin=0.0))
    assert mask.sum() == 20 * 20 and mask[10:30, 10:30].all()


def test_back_face_culling_and_occlusion():
    verts, faces = make_box([0, 0, 0], [0.5, 0.5, 0.5])
    tri = verts[faces]
    back = np.all(tri[:, :, 2] > 0, axis=1)  # z = +0.5, faces away
    kw = dict(size=(16, 16), center=(0, 0), half_extent=0.5, margin=0.0)
    assert nonbg(render_mesh_image(verts, faces[back], **kw)).sum() == 0
    visible = nonbg(
        render_mesh_image(verts, faces[back], cull_backfaces=False, **kw))
    assert visible.all()
    # A near sphere in front of a far box: the sphere is drawn on top.
    sphere = make_icosphere(2, radius=0.2, centre=(0., 0., -2.))
    scene = merge((verts, faces), sphere)
    img = render_mesh_image(*scene, size=(50, 50), color=(0.2, 0.9, 0.2),
                            light_dir=(0, 0, -1), ambient=0.0)
    # Box front face is lit head-on (pure colour); the sphere centre too,
    # but its rim is darker: the centre pixel belongs to the sphere and a
    # pixel near the sphere rim (inside the box) is darker than the box.
    box_px = img[3, 3].astype(int)
    assert np.abs(box_px - np.array([51, 230, 51])).max() <= 2
    rim = img[25, 25 + 7].astype(int)  # ~0.16 m from the centre
    assert rim[1] < box_px[1] - 40


def test_shading_brighter_towards_light():
    verts, faces = make_icosphere(3, radius=1.0)
    img = render_mesh_image(verts, faces, size=(64, 64),
                            light_dir=(1., 0., -0.3), ambient=0.1)
    lum = img.astype(float).sum(axis=-1)
    right = lum[28:36, 44:52].mean()
    left = lum[28:36, 12:20].mean()
    assert right > left + 150
    # Light from above (-y is up in this frame): top brighter than bottom.
    img = render_mesh_image(verts, faces, size=(64, 64),
                            light_dir=(0., -1., -0.3), ambient=0.1)
    lum = img.astype(float).sum(axis=-1)
    assert lum[12:20, 28:36].mean() > lum[44:52, 28:36].mean() + 150


def test_body_upright_front_view():
    verts, faces = make_box_body()
    img = render_mesh_image(verts, faces, size=(128, 128))
    mask = nonbg(img)
    rows = np.nonzero(mask.any(axis=1))[0]
    top, bottom = rows[0], rows[-1]
    # The head (narrow) is at the top of the image, the legs (two columns
    # with a gap) at the bottom.
    head_row = mask[top + 3]
    legs_row = mask[bottom - 20]
    assert head_row.sum() < 0.5 * mask[(top + bottom) // 2 - 15].sum()
    runs = np.diff(legs_row.astype(int))
    assert (runs == 1).sum() == 2  # two separate legs


def test_common_scale_and_supersample():
    verts, faces = make_icosphere(1, radius=0.5)
    big = render_mesh_image(verts * 2, faces, size=(40, 40), center=(0, 0),
                            half_extent=1.0)
    small = render_mesh_image(verts, faces, size=(40, 40), center=(0, 0),
                              half_extent=1.0)
    assert nonbg(big).sum() > 3 * nonbg(small).sum()
    aa = render_mesh_image(verts, faces, size=(40, 40), supersample=3)
    assert aa.shape == (40, 40, 3)
    # Anti-aliasing produces intermediate edge values.
    assert len(np.unique(aa.reshape(-1, 3), axis=0)) > \
        len(np.unique(render_mesh_image(verts, faces, size=(40, 40))
                      .reshape(-1, 3), axis=0))
    centre, half = compute_view_fit([verts, verts * 2 + 1], 'front')
    # x spans [-0.5, 2.0], y [-0.5, 2.0] (up to the icosphere's tips).
    assert half == pytest.approx(1.25, abs=0.03)
    assert centre == pytest.approx([0.75, 0.75], abs=0.03)


def test_many_faces_fast():
    verts, faces = make_icosphere(5, radius=1.0)  # 20480 faces
    render_mesh_image(verts, faces, size=(64, 64))  # warm-up
    t0 = time.perf_counter()
    img = render_mesh_image(verts, faces, size=(256, 256))
    assert time.perf_counter() - t0 < 1.0
    assert nonbg(img)[128, 128]


def test_large_triangles_are_chunked(monkeypatch):
    from mpt_plugin.visualization import mesh_figure
    verts, faces = make_box([0, 0, 0], [0.5, 0.5, 0.5])
    ref = render_mesh_image(verts, faces, size=(60, 60), view=view_rotation(
        'side') @ np.array([[1, 0, 0], [0, 0.8, -0.6], [0, 0.6, 0.8]]))
    monkeypatch.setattr(mesh_figure, '_MAX_CANDIDATES', 50)
    out = render_mesh_image(verts, faces, size=(60, 60), view=view_rotation(
        'side') @ np.array([[1, 0, 0], [0, 0.8, -0.6], [0, 0.6, 0.8]]))
    np.testing.assert_array_equal(ref, out)


def test_render_shape_errors():
    verts, faces = make_box([0, 0, 0], [0.5, 0.5, 0.5])
    with pytest.raises(ValueError, match=r'`vertices`.*\(V, 3\)'):
        render_mesh_image(verts[:, :2], faces)
    with pytest.raises(ValueError, match=r'`faces`.*\(F, 3\)'):
        render_mesh_image(verts, faces[:, :2])
    with pytest.raises(ValueError, match=r'`faces` indices.*\[0, 7\]'):
        render_mesh_image(verts, faces + 1)
    with pytest.raises(ValueError, match='`view`'):
        render_mesh_image(verts, faces, view='top')
    with pytest.raises(ValueError, match=r'`view`.*\(3, 3\)'):
        render_mesh_image(verts, faces, view=np.eye(2))
    with pytest.raises(ValueError, match='proper rotation'):
        render_mesh_image(verts, faces, view=np.diag([1., 1., -1.]))
    with pytest.raises(ValueError, match='`size`'):
        render_mesh_image(verts, faces, size=(0, 10))
    with pytest.raises(ValueError, match='`color`'):
        render_mesh_image(verts, faces, color=(255, 0, 0))
    with pytest.raises(ValueError, match='`light_dir`'):
        render_mesh_image(verts, faces, light_dir=(0, 0, 0))
    with pytest.raises(ValueError, match='non-finite'):
        render_mesh_image(np.full((8, 3), np.nan), faces)


def test_save_mesh_comparison(tmp_path):
    body_v, body_f = make_box_body()
    rng = np.random.default_rng(0)
    gt = np.stack([body_v, body_v + [0.1, 0, 0]])
    pred = gt + rng.normal(0, 0.01, gt.shape)
    joints = rng.uniform(0, 64, (2, 17, 2))
    joints[1, 3] = np.nan
    path = tmp_path / 'a' / 'b' / 'cmp.png'
    out = save_mesh_comparison(
        str(path), pred, gt, body_f, titles=['s0', 's1'],
        joints2d_hm=joints, errors_mm=np.array([12.3, 45.6]),
        panel_size_px=96, title_px=30, skeleton_links=[(0, 1), (2, 3)],
        hm_size=64)
    assert out == str(path) and path.is_file()
    png = mpimg.imread(str(path))
    assert png.shape[:2] == (2 * (96 + 30), 5 * 96)
    # Without joints: 4 columns; one view: 2 columns.
    p2 = save_mesh_comparison(str(tmp_path / 'c.png'), pred[:1], gt[:1],
                              body_f, panel_size_px=64, title_px=20)
    assert mpimg.imread(p2).shape[:2] == (84, 4 * 64)
    p3 = save_mesh_comparison(str(tmp_path / 'd.png'), pred, gt, body_f,
                              views=('front', ), panel_size_px=50,
                              title_px=0, supersample=1)
    png3 = mpimg.imread(p3)
    assert png3.shape[:2] == (100, 100)
    # GT and prediction panels are drawn in different colours.
    gt_panel = png3[:50, :50, :3].reshape(-1, 3)
    pred_panel = png3[:50, 50:, :3].reshape(-1, 3)
    gt_fg = gt_panel[(gt_panel < 0.99).any(axis=1)].mean(axis=0)
    pred_fg = pred_panel[(pred_panel < 0.99).any(axis=1)].mean(axis=0)
    assert pred_fg[2] > gt_fg[2] + 0.1  # prediction is bluer


def test_save_mesh_comparison_errors(tmp_path):
    v, f = make_box([0, 0, 0], [0.5, 0.5, 0.5])
    pred = np.stack([v, v])
    p = str(tmp_path / 'x.png')
    with pytest.raises(ValueError, match=r'`pred_vertices`.*\(N, V, 3\)'):
        save_mesh_comparison(p, v, v, f)
    with pytest.raises(ValueError, match='`gt_vertices`.*same'):
        save_mesh_comparison(p, pred, pred[:1], f)
    with pytest.raises(ValueError, match=r'`joints2d_hm`.*\(N=2, K, 2\)'):
        save_mesh_comparison(p, pred, pred, f, joints2d_hm=np.zeros((2, 5)))
    with pytest.raises(ValueError, match=r'`errors_mm`.*\(N=2,\)'):
        save_mesh_comparison(p, pred, pred, f, errors_mm=np.zeros(3))
    with pytest.raises(ValueError, match='`titles`'):
        save_mesh_comparison(p, pred, pred, f, titles=['only one'])
    with pytest.raises(ValueError, match='`faces`'):
        save_mesh_comparison(p, pred, pred, f.T)
    assert not (tmp_path / 'x.png').exists()
