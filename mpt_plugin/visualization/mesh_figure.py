"""Dependency-free mesh pictures (numpy z-buffer + matplotlib Agg).

Frames:
    - Vertices are in metres in the camera-like frame in which MPT predicts
      meshes: x right, y DOWN, z forward (away from the viewer). This frame is
      right-handed, so the outward normal of a face ``(a, b, c)`` is
      ``(b - a) x (c - a)`` (the SMPL winding, preserved by rotations).
    - The *view frame* is ``vertices @ R.T`` for the view rotation ``R``; it
      is projected orthographically along +z: the viewer sits at ``z = -inf``
      and a face is visible when its outward normal has ``n_z < 0``.
    - Image pixels ``*_px``: x right, y down, pixel ``(i, j)`` covers
      ``[j, j + 1) x [i, i + 1)`` with its centre at ``(j + 0.5, i + 0.5)``.

Views:
    - ``'front'``: identity. An upright SMPL body rotated into the camera
      frame (180 deg about x) appears upright and faces the viewer.
    - ``'side'``: +90 deg about the vertical (y) axis: the camera-frame +x
      side (the subject's left for a body facing the camera) faces the viewer
      and the body looks towards image left.
    - any (3, 3) rotation matrix ``R`` (vertices_view = vertices @ R.T).
"""
import os
import os.path as osp
from typing import Optional, Sequence, Tuple, Union

import numpy as np

from .rasterizer import (DEFAULT_LIGHT_DIR, MAX_CANDIDATES, _check_faces,
                         _check_vertices, _to_numpy, compose_image,
                         face_normals, lambert_shade, rasterize_triangles)

__all__ = [
    'view_rotation', 'compute_view_fit', 'render_mesh_image',
    'save_mesh_comparison'
]

ViewSpec = Union[str, np.ndarray]

GT_COLOR = (0.62, 0.80, 0.55)
PRED_COLOR = (0.55, 0.70, 0.98)
# Candidate (face, pixel) pairs rasterised per chunk: bounds peak memory.
_MAX_CANDIDATES = MAX_CANDIDATES


def _check_size(size) -> Tuple[int, int]:
    try:
        h, w = (int(s) for s in size)
    except (TypeError, ValueError) as e:
        raise ValueError(
            f'`size` must be (height, width) in pixels, got {size!r}') from e
    if h <= 0 or w <= 0:
        raise ValueError(f'`size` must be positive (height, width), '
                         f'got {size!r}')
    return h, w


def _check_color(color, name: str) -> np.ndarray:
    c = _to_numpy(color, name)
    if c.shape != (3, ):
        raise ValueError(f'`{name}` must be an (r, g, b) triple with values '
                         f'in [0, 1], got shape {tuple(c.shape)}')
    if c.min() < 0 or c.max() > 1:
        raise ValueError(f'`{name}` values must lie in [0, 1], got {c}')
    return c


def view_rotation(view: ViewSpec) -> np.ndarray:
    """Rotation matrix of a view.

    Args:
        view: ``'front'``, ``'side'`` or a (3, 3) rotation matrix.

    Returns:
        np.ndarray: (3, 3) rotation ``R``; view-frame points are
        ``vertices @ R.T``.
    """
    if isinstance(view, str):
        if view == 'front':
            return np.eye(3)
        if view == 'side':
            # +90 deg about y: camera +x -> -z (towards the viewer).
            return np.array([[0., 0., 1.], [0., 1., 0.], [-1., 0., 0.]])
        raise ValueError(
            f"`view` must be 'front', 'side' or a (3, 3) rotation matrix, "
            f'got {view!r}')
    rot = _to_numpy(view, 'view')
    if rot.shape != (3, 3):
        raise ValueError("`view` must be 'front', 'side' or a (3, 3) "
                         f'rotation matrix, got shape {tuple(rot.shape)}')
    if not np.allclose(rot @ rot.T, np.eye(3), atol=1e-4) \
            or np.linalg.det(rot) < 0:
        raise ValueError('`view` matrix must be a proper rotation '
                         '(R @ R.T = I, det(R) = +1)')
    return rot


def compute_view_fit(vertices: Union[np.ndarray, Sequence[np.ndarray]],
                     view: ViewSpec = 'front') -> Tuple[np.ndarray, float]:
    """Square region that holds one or several meshes in a view.

    Args:
        vertices: (V, 3) or (N, V, 3) metres, or a sequence of (V_i, 3)
            arrays (e.g. the GT and the predicted mesh of one sample).
        view: see :func:`view_rotation`.

    Returns:
        tuple: ``centre`` (2,) metres, the view-frame (x, y) centre of the
        bounding box, and ``half_extent`` (float, metres), half of its
        larger side (1.0 for a single point).
    """
    centre, half_xy = _view_box(vertices, view)
    return centre, float(half_xy.max())


def _view_box(vertices: Union[np.ndarray, Sequence[np.ndarray]],
              view: ViewSpec) -> Tuple[np.ndarray, np.ndarray]:
    """View-frame (x, y) box centre (2,) and half sizes (2,), metres.

    Zero half sizes (a point, a flat mesh seen edge-on) become the other
    axis' half size, or 1.0 when both are zero.
    """
    if isinstance(vertices, (list, tuple)):
        pts = np.concatenate(
            [_check_vertices(v, 'vertices', 2) for v in vertices], axis=0)
    else:
        pts = _to_numpy(vertices, 'vertices')
        if pts.shape[-1:] != (3, ) or pts.size == 0:
            raise ValueError('`vertices` must have shape (V, 3) or '
                             f'(N, V, 3) metres, got {tuple(pts.shape)}')
        pts = pts.reshape(-1, 3)
    xy = (pts @ view_rotation(view).T)[:, :2]
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    half = (hi - lo) / 2
    big = half.max()
    half = np.where(half > 1e-12, half, big if big > 1e-12 else 1.0)
    return (lo + hi) / 2, half


def _rasterize(tri_px: np.ndarray, tri_z: np.ndarray, height: int,
               width: int) -> Tuple[np.ndarray, np.ndarray]:
    """Z-buffer rasterisation in this module's pixel convention.

    Args:
        tri_px: (F, 3, 2) vertex pixel positions (x right, y down, pixel
            ``(i, j)`` centred at ``(j + 0.5, i + 0.5)``).
        tri_z: (F, 3) view-frame depths (smaller = closer).
        height: image height in pixels.
        width: image width in pixels.

    Returns:
        tuple: ``face_id`` (H*W,) int64, the nearest face per pixel (-1 for
        background), and ``zbuf`` (H*W,) float64 depths (inf for background).
    """
    # The rasteriser puts pixel centres at integer coordinates.
    face_id, zbuf = rasterize_triangles(
        np.asarray(tri_px) - 0.5, tri_z, (height, width),
        max_candidates=_MAX_CANDIDATES)
    return face_id.reshape(-1), zbuf.reshape(-1)


def render_mesh_image(vertices: np.ndarray,
                      faces: np.ndarray,
                      size: Tuple[int, int] = (256, 256),
                      view: ViewSpec = 'front',
                      color: Sequence[float] = PRED_COLOR,
                      background: Sequence[float] = (1.0, 1.0, 1.0),
                      light_dir: Sequence[float] = DEFAULT_LIGHT_DIR,
                      ambient: float = 0.3,
                      center: Optional[Sequence[float]] = None,
                      half_extent: Optional[float] = None,
                      margin: float = 0.05,
                      cull_backfaces: bool = True,
                      supersample: int = 1) -> np.ndarray:
    """Flat Lambert-shaded orthographic picture of a triangle mesh.

    Args:
        vertices: (V, 3) metres, camera-like frame (x right, y down, z away
            from the viewer).
        faces: (F, 3) vertex indices, consistently wound so that
            ``(b - a) x (c - a)`` points outwards (SMPL winding).
        size: (height, width) of the output in pixels.
        view: ``'front'``, ``'side'`` or a (3, 3) rotation matrix (see
            :func:`view_rotation`).
        color: (r, g, b) in [0, 1], the mesh base colour.
        background: (r, g, b) in [0, 1].
        light_dir: (3,) direction from the surface towards the light in the
            *view* frame (a camera-attached light); the default lights from
            the upper right, in front of the mesh.
        ambient: share of the colour present regardless of the light;
            shade = ambient + (1 - ambient) * max(0, n . l).
        center: (2,) view-frame (x, y) metres at the image centre; None fits
            the mesh bounding box (see :func:`compute_view_fit`).
        half_extent: metres from the centre to the edge of the square
            that fills min(height, width) (minus ``margin``); None fits the
            mesh's bounding box to the image (both axes). Pass the same
            value for several meshes to draw them at the same scale.
        margin: empty border per side, as a fraction of the image side.
        cull_backfaces: drop faces whose outward normal points away from
            the viewer.
        supersample: render at ``supersample`` times the resolution and
            average down (anti-aliasing).

    Returns:
        np.ndarray: (H, W, 3) uint8 RGB image.
    """
    verts = _check_vertices(vertices, 'vertices', 2)
    faces = _check_faces(faces, len(verts))
    height, width = _check_size(size)
    color = _check_color(color, 'color')
    background = _check_color(background, 'background')
    lambert_shade(np.zeros((0, 3)), light_dir, ambient)  # checks inputs
    if not 0.0 <= margin < 0.5:
        raise ValueError(f'`margin` must lie in [0, 0.5), got {margin}')
    ss = int(supersample)
    if ss < 1:
        raise ValueError(f'`supersample` must be >= 1, got {supersample}')

    rot = view_rotation(view)
    verts_view = verts @ rot.T
    hs, ws = height * ss, width * ss
    fill = 1.0 - 2.0 * margin
    if center is None or half_extent is None:
        fit_c, fit_half = _view_box(verts, rot)
        center = fit_c if center is None else center
    if half_extent is None:
        # Fit both axes (a tall mesh fills a tall image).
        px_per_m = min(ws * fill / (2.0 * fit_half[0]),
                       hs * fill / (2.0 * fit_half[1]))
    else:
        if not half_extent > 0:
            raise ValueError(f'`half_extent` must be > 0 metres, '
                             f'got {half_extent}')
        px_per_m = min(hs, ws) * fill / (2.0 * half_extent)
    center = _to_numpy(center, 'center')
    if center.shape != (2, ):
        raise ValueError('`center` must be a (2,) view-frame (x, y) in '
                         f'metres, got shape {tuple(center.shape)}')

    uv_px = (verts_view[:, :2] - center) * px_per_m + \
        np.array([ws / 2.0, hs / 2.0])

    tri = verts_view[faces]  # (F, 3, 3)
    normals = face_normals(verts_view, faces)
    norm = np.linalg.norm(normals, axis=1)
    valid = norm > 1e-20
    if cull_backfaces:
        valid &= normals[:, 2] < 0
    vis = np.nonzero(valid)[0]
    face_id, _ = _rasterize(uv_px[faces[vis]], tri[vis, :, 2], hs, ws)

    unit_n = normals[vis] / norm[vis, None]
    # Without culling, a back face seen through a hole is lit as its
    # front (two-sided lighting).
    shade = lambert_shade(unit_n, light_dir, ambient,
                          two_sided=not cull_backfaces)  # (F_vis,)
    face_rgb = np.clip(shade[:, None] * color, 0.0, 1.0)
    img = compose_image(face_id.reshape(hs, ws), face_rgb, background)
    if ss > 1:
        img = img.reshape(height, ss, width, ss, 3).mean(axis=(1, 3))
    return np.round(img * 255.0).astype(np.uint8)


def _draw_joints(ax, joints_hm: np.ndarray,
                 skeleton_links: Optional[Sequence[Tuple[int, int]]],
                 hm_size: Optional[float]) -> None:
    """Scatter (K, 2) heatmap-pixel joints (y down) on ``ax``."""
    ok = np.isfinite(joints_hm).all(axis=1)
    if skeleton_links is not None:
        for p, q in skeleton_links:
            if ok[p] and ok[q]:
                ax.plot(joints_hm[[p, q], 0], joints_hm[[p, q], 1], '-',
                        color='0.55', linewidth=1.0, zorder=1)
    ax.scatter(joints_hm[ok, 0], joints_hm[ok, 1], s=9, c='tab:red',
               zorder=2)
    if hm_size is not None:
        lo, hi = -0.5, float(hm_size) - 0.5
    elif ok.any():
        pts = joints_hm[ok]
        mid = (pts.min(axis=0) + pts.max(axis=0)) / 2
        half = max(float((pts.max(axis=0) - pts.min(axis=0)).max()) / 2,
                   1e-6) * 1.1
        lo, hi = mid - half, mid + half
    else:
        lo, hi = 0.0, 1.0
    lo, hi = np.broadcast_to(lo, (2, )), np.broadcast_to(hi, (2, ))
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(hi[1], lo[1])  # y down, as in the crop
    ax.set_aspect('equal', adjustable='box')
    ax.set_xticks([])
    ax.set_yticks([])


def save_mesh_comparison(
        path: str,
        pred_vertices: np.ndarray,
        gt_vertices: np.ndarray,
        faces: np.ndarray,
        titles: Optional[Sequence[str]] = None,
        joints2d_hm: Optional[np.ndarray] = None,
        errors_mm: Optional[np.ndarray] = None,
        views: Sequence[ViewSpec] = ('front', 'side'),
        panel_size_px: int = 256,
        title_px: int = 40,
        dpi: int = 100,
        gt_color: Sequence[float] = GT_COLOR,
        pred_color: Sequence[float] = PRED_COLOR,
        skeleton_links: Optional[Sequence[Tuple[int, int]]] = None,
        hm_size: Optional[float] = None,
        supersample: int = 2) -> str:
    """Write a PNG grid of predicted vs ground-truth meshes.

    One row per sample; columns are ``[input 2D joints (if given), GT view0,
    prediction view0, GT view1, prediction view1, ...]``. GT and prediction
    are drawn in different colours; all panels of a row share one scale and,
    per view, one centre, so their sizes and offsets compare directly.

    The PNG is exactly ``(N * (panel_size_px + title_px),
    num_columns * panel_size_px)`` pixels (height, width).

    Args:
        path: output ``.png`` path; parent folders are created.
        pred_vertices: (N, V, 3) predicted vertices, metres, camera-like
            frame (x right, y down, z away from the viewer).
        gt_vertices: (N, V, 3) ground-truth vertices, same frame.
        faces: (F, 3) vertex indices (outward winding).
        titles: N row labels; None uses ``'sample i'``.
        joints2d_hm: (N, K, 2) input 2D joints in heatmap/crop pixels (y
            down) for an extra first panel; non-finite joints are skipped.
        errors_mm: (N,) per-sample PVE in mm, printed over the predictions.
        views: view specs, see :func:`view_rotation`.
        panel_size_px: side of each square panel in pixels.
        title_px: pixels above each panel for its title.
        dpi: figure resolution (sets the font size relative to the panels).
        gt_color: (r, g, b) in [0, 1] of the GT meshes.
        pred_color: (r, g, b) in [0, 1] of the predicted meshes.
        skeleton_links: optional (p, q) joint index pairs drawn as lines in
            the joints panel.
        hm_size: heatmap side S; the joints panel then spans the crop
            ``[-0.5, S - 0.5]``. None fits the joints.
        supersample: anti-aliasing factor passed to
            :func:`render_mesh_image`.

    Returns:
        str: ``path``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    pred = _check_vertices(pred_vertices, 'pred_vertices', 3)
    gt = _check_vertices(gt_vertices, 'gt_vertices', 3)
    if gt.shape != pred.shape:
        raise ValueError(
            '`gt_vertices` must have the same (N, V, 3) shape as '
            f'`pred_vertices` {tuple(pred.shape)}, got {tuple(gt.shape)}')
    num, num_verts = pred.shape[:2]
    if num == 0:
        raise ValueError('`pred_vertices` must hold at least one sample, '
                         'got shape (0, V, 3)')
    faces = _check_faces(faces, num_verts)
    if isinstance(views, (str, np.ndarray)):
        views = [views]
    views = list(views)
    if not views:
        raise ValueError('`views` must name at least one view')
    rots = [view_rotation(v) for v in views]
    view_names = [
        v if isinstance(v, str) else f'view {k}' for k, v in enumerate(views)
    ]
    if titles is None:
        titles = [f'sample {i}' for i in range(num)]
    elif isinstance(titles, str) or len(titles) != num:
        raise ValueError(f'`titles` must be a sequence of N={num} strings, '
                         f'got {titles!r}')
    if joints2d_hm is not None:
        joints2d_hm = _to_numpy(joints2d_hm, 'joints2d_hm')
        if joints2d_hm.ndim != 3 or joints2d_hm.shape[0] != num \
                or joints2d_hm.shape[2] != 2:
            raise ValueError(f'`joints2d_hm` must have shape (N={num}, K, 2) '
                             f'heatmap pixels, got {joints2d_hm.shape}')
        if skeleton_links is not None:
            links = np.asarray(skeleton_links, dtype=np.int64)
            k = joints2d_hm.shape[1]
            if links.size and (links.ndim != 2 or links.shape[1] != 2
                               or links.min() < 0 or links.max() >= k):
                raise ValueError(
                    '`skeleton_links` must be (p, q) pairs of joint indices '
                    f'in [0, {k - 1}], got {skeleton_links!r}')
    if errors_mm is not None:
        errors_mm = _to_numpy(errors_mm, 'errors_mm')
        if errors_mm.shape != (num, ):
            raise ValueError(f'`errors_mm` must have shape (N={num},) '
                             f'(PVE in mm), got {errors_mm.shape}')
    panel, tpx = int(panel_size_px), int(title_px)
    if panel <= 0 or tpx < 0 or dpi <= 0:
        raise ValueError('`panel_size_px` and `dpi` must be > 0 and '
                         '`title_px` >= 0, got '
                         f'{panel_size_px}, {title_px}, {dpi}')

    has_joints = joints2d_hm is not None
    ncols = int(has_joints) + 2 * len(views)
    fig_w, fig_h = ncols * panel, num * (panel + tpx)
    fig = Figure(figsize=(fig_w / dpi, fig_h / dpi), dpi=dpi)
    FigureCanvasAgg(fig)
    fontsize = max(5.0, min(10.0, panel / 28.0))

    def add_panel(row: int, col: int, title: str):
        ax = fig.add_axes([
            col * panel / fig_w, 1.0 - ((row + 1) * (panel + tpx)) / fig_h,
            panel / fig_w, panel / fig_h
        ])
        ax.set_title(title, fontsize=fontsize, pad=2)
        return ax

    for i in range(num):
        label = str(titles[i])
        err = '' if errors_mm is None else f'\nPVE {errors_mm[i]:.1f} mm'
        col = 0
        if has_joints:
            ax = add_panel(i, col, f'{label}\ninput 2D joints')
            _draw_joints(ax, joints2d_hm[i], skeleton_links, hm_size)
            col += 1
        # One scale per row (largest view extent), one centre per view.
        fits = [compute_view_fit([gt[i], pred[i]], r) for r in rots]
        half = max(h for _, h in fits)
        for (centre, _), rot, name in zip(fits, rots, view_names):
            for verts, rgb, kind in ((gt[i], gt_color, 'GT'),
                                     (pred[i], pred_color, 'pred')):
                img = render_mesh_image(
                    verts, faces, size=(panel, panel), view=rot, color=rgb,
                    center=centre, half_extent=half,
                    supersample=supersample)
                head = label if col == 0 else ''
                extra = err if kind == 'pred' else ''
                ax = add_panel(i, col, f'{head}\n{kind} {name}{extra}'
                               .strip('\n'))
                ax.imshow(img, interpolation='nearest')
                ax.set_axis_off()
                col += 1

    parent = osp.dirname(osp.abspath(path))
    os.makedirs(parent, exist_ok=True)
    fig.savefig(path, dpi=dpi, format='png', facecolor='white')
    return path
