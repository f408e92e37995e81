"""Vectorised CPU triangle rasteriser: numpy z-buffer, pinhole camera.

No GPU, OpenGL or extra dependency: projected triangles are rasterised in
chunks of (face, pixel) candidate pairs (bounding boxes x barycentric edge
tests), and the nearest face per pixel is found with one sort per chunk.

Frames and units:
    - Camera frame (metres): x right, y DOWN, z forward (OpenCV's camera
      frame and MPT's camera-aligned frame). The camera sits at the origin
      and looks along +z; points must have ``z > near`` to be drawn.
    - The frame is right-handed, so the outward normal of a face
      ``(a, b, c)`` is ``(b - a) x (c - a)`` (SMPL winding, preserved by
      rotations such as SMPL -> camera, 180 deg about x).
    - Pixels ``*_px``: x right, y down, pixel CENTRES at integer
      coordinates (OpenCV / MMPose): pixel ``(i, j)`` (row, column) covers
      ``[j - 0.5, j + 0.5) x [i - 0.5, i + 0.5)`` and is drawn when its
      centre ``(j, i)`` lies inside a triangle.
    - Pinhole projection (:func:`mpt_plugin.geometry.cameras.project_points`):
      ``x_px = fx * X / Z + cx``, ``y_px = fy * Y / Z + cy``; the default
      principal point is the image centre ``((W - 1) / 2, (H - 1) / 2)``.
    - Colours are triples in [0, 1] in the caller's channel order (RGB by
      default); images come back as uint8 in that same order.

Public API: :func:`rasterize_triangles`,
:func:`face_normals`, :func:`lambert_shade`, :func:`compose_image`,
:func:`render_mesh` (returns a :class:`RasterOutput`).
"""
from typing import NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np

from mpt_plugin.geometry.cameras import project_points

__all__ = [
    'MAX_CANDIDATES', 'DEFAULT_LIGHT_DIR', 'RasterOutput',
    'rasterize_triangles', 'face_normals', 'lambert_shade', 'compose_image',
    'render_mesh'
]

#: Candidate (face, pixel) pairs tested per chunk: bounds peak memory
#: (about 200 bytes per pair).
MAX_CANDIDATES = 2_000_000

#: Direction from the surface towards the light in the camera frame:
#: upper right (y is down) and towards the camera (-z).
DEFAULT_LIGHT_DIR = (0.4, -0.6, -1.0)

ArrayLike = Union[np.ndarray, Sequence[float]]


class RasterOutput(NamedTuple):
    """Result of :func:`render_mesh`.

    Attributes:
        image: (H, W, 3) uint8 picture (channel order of the colours).
        face_id: (H, W) int64 index into ``faces`` of the face seen at each
            pixel centre, -1 for background.
        depth: (H, W) float64 camera-frame z (metres) at each pixel centre,
            ``inf`` for background.
        mask: (H, W) bool, ``face_id >= 0``.
    """
    image: np.ndarray
    face_id: np.ndarray
    depth: np.ndarray
    mask: np.ndarray


def _to_numpy(x, name: str, dtype=np.float64) -> np.ndarray:
    """Array-like or (CPU/GPU) tensor -> numpy array of ``dtype``."""
    if hasattr(x, 'detach'):  # torch.Tensor without importing torch
        x = x.detach().cpu().numpy()
    try:
        return np.asarray(x, dtype=dtype)
    except (TypeError, ValueError) as e:
        raise ValueError(
            f'`{name}` must be convertible to a {np.dtype(dtype).name} '
            f'array, got {type(x).__name__}: {e}') from e


def _check_image_size(image_size) -> Tuple[int, int]:
    try:
        h, w = (int(s) for s in image_size)
    except (TypeError, ValueError) as e:
        raise ValueError('`image_size` must be (height, width) in pixels, '
                         f'got {image_size!r}') from e
    if h <= 0 or w <= 0:
        raise ValueError('`image_size` must be positive (height, width), '
                         f'got {image_size!r}')
    return h, w


def _pair(value, name: str) -> np.ndarray:
    """Scalar or (2,) -> (2,) float64 (x, y)."""
    arr = _to_numpy(value, name)
    if arr.ndim == 0:
        arr = np.array([arr, arr], dtype=np.float64)
    if arr.shape != (2, ) or not np.isfinite(arr).all():
        raise ValueError(f'`{name}` must be a finite scalar or an (x, y) '
                         f'pair in pixels, got {value!r}')
    return arr


def _candidate_chunks(counts: np.ndarray, max_candidates: int):
    """Yield ``(start, stop)`` ranges of consecutive faces with at most
    ``max_candidates`` pixel candidates each (a huge face alone)."""
    cum = np.cumsum(counts)
    start = 0
    while start < len(counts):
        base = cum[start - 1] if start > 0 else 0
        stop = int(np.searchsorted(cum, base + max_candidates, 'right'))
        stop = max(stop, start + 1)
        yield start, stop
        start = stop


def rasterize_triangles(tri_px: np.ndarray,
                        tri_depth: np.ndarray,
                        image_size: Tuple[int, int],
                        perspective_correct: bool = False,
                        max_candidates: Optional[int] = None
                        ) -> Tuple[np.ndarray, np.ndarray]:
    """Z-buffer rasterisation of projected triangles.

    A pixel is covered by a triangle when its centre lies inside it or on
    its edges (barycentric weights >= -1e-9); among the covering triangles
    the one with the smallest interpolated depth wins (ties: the lowest
    triangle index). Degenerate (zero-area) triangles are skipped.

    Args:
        tri_px: (F, 3, 2) vertex pixel positions ``*_px`` (x right, y down,
            pixel centres at integers).
        tri_depth: (F, 3) depth per vertex (smaller = closer): camera-frame
            z in metres for perspective renders, any monotonic depth for
            orthographic ones.
        image_size: (height, width) in pixels.
        perspective_correct: interpolate ``1 / depth`` linearly in the image
            (exact depth for a pinhole projection; needs depth > 0) instead
            of ``depth`` (exact for orthographic projections).
        max_candidates: (face, pixel) pairs tested at once; None uses
            :data:`MAX_CANDIDATES`.

    Returns:
        tuple: ``face_id`` (H, W) int64, the index of the nearest triangle
        per pixel (-1 for background), and ``depth`` (H, W) float64, its
        interpolated depth (``inf`` for background).
    """
    height, width = _check_image_size(image_size)
    tri_px = _to_numpy(tri_px, 'tri_px')
    tri_depth = _to_numpy(tri_depth, 'tri_depth')
    if tri_px.ndim != 3 or tri_px.shape[1:] != (3, 2):
        raise ValueError('`tri_px` must have shape (F, 3, 2) pixels, got '
                         f'{tuple(tri_px.shape)}')
    if tri_depth.shape != tri_px.shape[:2]:
        raise ValueError(f'`tri_depth` must have shape ({len(tri_px)}, 3), '
                         f'got {tuple(tri_depth.shape)}')
    if perspective_correct and len(tri_depth) and tri_depth.min() <= 0:
        raise ValueError('`tri_depth` must be > 0 with '
                         'perspective_correct=True (clip at a near plane)')
    max_candidates = MAX_CANDIDATES if max_candidates is None else int(
        max_candidates)
    if max_candidates < 1:
        raise ValueError(f'`max_candidates` must be >= 1, got '
                         f'{max_candidates}')
    zbuf = np.full(height * width, np.inf)
    face_id = np.full(height * width, -1, dtype=np.int64)
    if len(tri_px) == 0:
        return face_id.reshape(height, width), zbuf.reshape(height, width)
    # Interpolated attribute: depth, or inverse depth (linear in screen
    # space under a pinhole projection).
    attr = 1.0 / tri_depth if perspective_correct else tri_depth
    a, b, c = tri_px[:, 0], tri_px[:, 1], tri_px[:, 2]
    area = ((b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) -
            (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0]))
    # Integer pixel-centre ranges covered by each bounding box.
    with np.errstate(invalid='ignore'):
        lo = np.ceil(tri_px.min(axis=1))
        hi = np.floor(tri_px.max(axis=1))
    finite = np.isfinite(lo).all(axis=1) & np.isfinite(hi).all(axis=1)
    lo = np.where(finite[:, None], lo, 0).clip(-1, max(height, width) + 1)
    hi = np.where(finite[:, None], hi, -1).clip(-2, max(height, width) + 1)
    lo, hi = lo.astype(np.int64), hi.astype(np.int64)
    j0 = np.clip(lo[:, 0], 0, width)
    j1 = np.clip(hi[:, 0], -1, width - 1)
    i0 = np.clip(lo[:, 1], 0, height)
    i1 = np.clip(hi[:, 1], -1, height - 1)
    bw = np.maximum(j1 - j0 + 1, 0)
    bh = np.maximum(i1 - i0 + 1, 0)
    keep = np.nonzero((bw * bh > 0) & (np.abs(area) > 1e-12) & finite)[0]
    counts = bw[keep] * bh[keep]
    eps = -1e-9
    for s, e in _candidate_chunks(counts, max_candidates):
        cnt = counts[s:e]
        fid = np.repeat(keep[s:e], cnt)
        starts = np.repeat(np.cumsum(cnt) - cnt, cnt)
        local = np.arange(int(cnt.sum()), dtype=np.int64) - starts
        w_rep = bw[fid]
        jj = j0[fid] + local % w_rep
        ii = i0[fid] + local // w_rep
        ax, ay = a[fid, 0] - jj, a[fid, 1] - ii
        bx, by = b[fid, 0] - jj, b[fid, 1] - ii
        cx, cy = c[fid, 0] - jj, c[fid, 1] - ii
        inv = 1.0 / area[fid]
        # Barycentric weights from signed edge functions.
        w0 = (bx * cy - by * cx) * inv
        w1 = (cx * ay - cy * ax) * inv
        w2 = 1.0 - w0 - w1
        inside = (w0 >= eps) & (w1 >= eps) & (w2 >= eps)
        if not inside.any():
            continue
        fid, w0, w1, w2 = fid[inside], w0[inside], w1[inside], w2[inside]
        pix = ii[inside] * width + jj[inside]
        z = attr[fid]
        depth = w0 * z[:, 0] + w1 * z[:, 1] + w2 * z[:, 2]
        if perspective_correct:
            depth = 1.0 / depth
        # Nearest candidate per pixel: sort by (pixel, depth, face).
        order = np.lexsort((fid, depth, pix))
        pix, depth, fid = pix[order], depth[order], fid[order]
        first = np.ones(len(pix), dtype=bool)
        first[1:] = pix[1:] != pix[:-1]
        pix, depth, fid = pix[first], depth[first], fid[first]
        closer = depth < zbuf[pix]
        zbuf[pix[closer]] = depth[closer]
        face_id[pix[closer]] = fid[closer]
    return face_id.reshape(height, width), zbuf.reshape(height, width)


def face_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Unnormalised outward face normals ``(b - a) x (c - a)``.

    Args:
        vertices: (V, 3) metres.
        faces: (F, 3) vertex indices.

    Returns:
        np.ndarray: (F, 3) float64; the norm is twice the face area (m^2).
    """
    tri = vertices[faces]
    return np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])


def lambert_shade(unit_normals: np.ndarray,
                  light_dir: ArrayLike,
                  ambient: float,
                  two_sided: bool = False) -> np.ndarray:
    """Per-face brightness ``ambient + (1 - ambient) * max(0, n . l)``.

    Args:
        unit_normals: (F, 3) unit outward normals.
        light_dir: (3,) direction from the surface towards the light, in the
            normals' frame (normalised here).
        ambient: share of the colour present regardless of the light, in
            [0, 1].
        two_sided: use ``|n . l|`` (a back face seen through a hole is lit
            as its front).

    Returns:
        np.ndarray: (F,) float64 shade in [ambient, 1].
    """
    light = _to_numpy(light_dir, 'light_dir')
    if light.shape != (3, ) or np.linalg.norm(light) < 1e-12:
        raise ValueError('`light_dir` must be a non-zero (3,) direction, '
                         f'got {light}')
    if not 0.0 <= ambient <= 1.0:
        raise ValueError(f'`ambient` must lie in [0, 1], got {ambient}')
    cos = unit_normals @ (light / np.linalg.norm(light))
    lambert = np.abs(cos) if two_sided else np.clip(cos, 0.0, None)
    return ambient + (1.0 - ambient) * lambert


def _background_array(background, height: int, width: int) -> np.ndarray:
    """Colour triple or (H, W, 3) image -> (H, W, 3) float64 in [0, 1]."""
    if hasattr(background, 'detach'):
        background = background.detach().cpu().numpy()
    bg = np.asarray(background)
    if bg.shape == (3, ):
        bg = bg.astype(np.float64)
        if bg.min() < 0 or bg.max() > 1:
            raise ValueError('`background` colour values must lie in '
                             f'[0, 1], got {bg}')
        return np.broadcast_to(bg, (height, width, 3))
    if bg.shape != (height, width, 3):
        raise ValueError(
            '`background` must be a colour triple in [0, 1] or an image of '
            f'shape ({height}, {width}, 3), got shape {bg.shape}')
    if bg.dtype == np.uint8:
        return bg.astype(np.float64) / 255.0
    bg = bg.astype(np.float64)
    if bg.min() < 0 or bg.max() > 1:
        raise ValueError('a float `background` image must lie in [0, 1]')
    return bg


def compose_image(face_id: np.ndarray, face_rgb: np.ndarray,
                  background) -> np.ndarray:
    """Paint rasterised faces over a background.

    Args:
        face_id: (H, W) int64 from :func:`rasterize_triangles`.
        face_rgb: (F, 3) float colours in [0, 1] indexed by ``face_id``.
        background: colour triple in [0, 1], or an (H, W, 3) image (uint8,
            or float in [0, 1]).

    Returns:
        np.ndarray: (H, W, 3) float64 image in [0, 1].
    """
    height, width = face_id.shape
    img = _background_array(background, height, width).copy()
    hit = face_id >= 0
    img[hit] = face_rgb[face_id[hit]]
    return img


def _check_vertices(vertices, name: str, ndim: int = 2) -> np.ndarray:
    """(V, 3) (``ndim=2``) or (N, V, 3) (``ndim=3``) finite float64."""
    v = _to_numpy(vertices, name)
    expected = '(V, 3)' if ndim == 2 else '(N, V, 3)'
    if v.ndim != ndim or v.shape[-1] != 3 or v.shape[-2] == 0:
        raise ValueError(f'`{name}` must have shape {expected} (metres), '
                         f'got {tuple(v.shape)}')
    if not np.isfinite(v).all():
        raise ValueError(f'`{name}` contains non-finite values')
    return v


def _check_faces(faces, num_verts: int) -> np.ndarray:
    """(F, 3) integer vertex indices in [0, num_verts) -> int64."""
    if hasattr(faces, 'detach'):
        faces = faces.detach().cpu().numpy()
    f = np.asarray(faces)
    if f.ndim != 2 or f.shape[1] != 3:
        raise ValueError('`faces` must have shape (F, 3) (vertex indices), '
                         f'got {tuple(f.shape)}')
    if f.size and not np.issubdtype(f.dtype, np.integer):
        if not np.all(np.equal(np.mod(f, 1), 0)):
            raise ValueError('`faces` must hold integer vertex indices, '
                             f'got dtype {f.dtype}')
    f = f.astype(np.int64)
    if f.size and (f.min() < 0 or f.max() >= num_verts):
        raise ValueError(
            f'`faces` indices must lie in [0, {num_verts - 1}] for '
            f'{num_verts} vertices, got range [{f.min()}, {f.max()}]')
    return f


def _face_colors(color, num_faces: int) -> np.ndarray:
    c = _to_numpy(color, 'color')
    if c.shape not in ((3, ), (num_faces, 3)):
        raise ValueError('`color` must be an (r, g, b) triple or (F, 3) per '
                         f'face colours in [0, 1], got shape {c.shape}')
    if c.size and (c.min() < 0 or c.max() > 1):
        raise ValueError('`color` values must lie in [0, 1]')
    return np.broadcast_to(c, (num_faces, 3))


def render_mesh(vertices: np.ndarray,
                faces: np.ndarray,
                focal_length: Union[float, ArrayLike],
                image_size: Tuple[int, int],
                principal_point: Optional[ArrayLike] = None,
                color: ArrayLike = (0.55, 0.70, 0.98),
                background=(1.0, 1.0, 1.0),
                light_dir: ArrayLike = DEFAULT_LIGHT_DIR,
                ambient: float = 0.3,
                cull_backfaces: bool = True,
                near: float = 1e-3,
                supersample: int = 1,
                max_candidates: Optional[int] = None) -> RasterOutput:
    """Flat Lambert-shaded pinhole render of a triangle mesh.

    Faces with a vertex at ``z <= near`` are not drawn (no clipping). A face
    is front-facing when its outward normal points towards the camera
    (``n . a < 0`` for a vertex ``a``); with ``cull_backfaces`` the others
    are dropped, otherwise they are lit two-sided.

    Args:
        vertices: (V, 3) metres, camera frame (x right, y down, z forward).
        faces: (F, 3) vertex indices, ``(b - a) x (c - a)`` outwards.
        focal_length: ``f`` or ``(fx, fy)`` in pixels (at output size).
        image_size: (height, width) in pixels.
        principal_point: ``(cx, cy)`` px; None = ``((W - 1) / 2,
            (H - 1) / 2)``, the image centre.
        color: (3,) or per-face (F, 3) colours in [0, 1].
        background: colour triple in [0, 1] or an (H, W, 3) image (uint8 or
            float in [0, 1]) in the same channel order.
        light_dir: (3,) camera-frame direction towards the light.
        ambient: see :func:`lambert_shade`.
        cull_backfaces: drop faces turned away from the camera.
        near: near plane (metres, > 0).
        supersample: render at ``supersample`` times the resolution and
            average blocks (anti-aliasing of ``image``); ``face_id`` and
            ``depth`` are then taken at the sub-pixel ``(s // 2, s // 2)`` of
            each block (exactly the pixel centre for odd ``s``).
        max_candidates: see :func:`rasterize_triangles`.

    Returns:
        RasterOutput: ``image`` (H, W, 3) uint8, ``face_id`` (H, W) int64,
        ``depth`` (H, W) metres (``inf`` for background), ``mask`` (H, W).
    """
    verts = _check_vertices(vertices, 'vertices')
    faces = _check_faces(faces, len(verts))
    height, width = _check_image_size(image_size)
    focal = _pair(focal_length, 'focal_length')
    if (focal <= 0).any():
        raise ValueError(f'`focal_length` must be > 0 pixels, got {focal}')
    centre = (np.array([(width - 1) / 2.0, (height - 1) / 2.0])
              if principal_point is None else _pair(principal_point,
                                                    'principal_point'))
    ss = int(supersample)
    if ss < 1:
        raise ValueError(f'`supersample` must be >= 1, got {supersample}')
    if not near > 0:
        raise ValueError(f'`near` must be > 0 metres, got {near}')
    face_rgb = _face_colors(color, len(faces))
    bg = _background_array(background, height, width)

    normals = face_normals(verts, faces)
    norm = np.linalg.norm(normals, axis=1)
    tri_z = verts[faces][:, :, 2]
    valid = (norm > 1e-20) & (tri_z.min(axis=1) > near)
    facing = np.einsum('fc,fc->f', normals, verts[faces[:, 0]]) < 0
    if cull_backfaces:
        valid &= facing
    vis = np.nonzero(valid)[0]
    # Sub-pixel grid: output pixel centre x maps to ss * (x + 0.5) - 0.5.
    focal_ss = focal * ss
    centre_ss = ss * (centre + 0.5) - 0.5
    uv = project_points(verts, focal_ss, centre_ss)
    fid_vis, depth_ss = rasterize_triangles(
        uv[faces[vis]], tri_z[vis], (height * ss, width * ss),
        perspective_correct=True, max_candidates=max_candidates)
    fid_ss = (np.where(fid_vis >= 0, vis[np.maximum(fid_vis, 0)], -1)
              if len(vis) else fid_vis)

    unit_n = normals / np.maximum(norm, 1e-300)[:, None]
    shade = lambert_shade(unit_n, light_dir, ambient,
                          two_sided=not cull_backfaces)
    lit = np.clip(shade[:, None] * face_rgb, 0.0, 1.0)
    if ss > 1:
        bg_ss = np.repeat(np.repeat(bg, ss, axis=0), ss, axis=1)
        img = compose_image(fid_ss, lit, bg_ss)
        img = img.reshape(height, ss, width, ss, 3).mean(axis=(1, 3))
        k = ss // 2
        face_id = fid_ss[k::ss, k::ss]
        depth = depth_ss[k::ss, k::ss]
    else:
        img = compose_image(fid_ss, lit, bg)
        face_id, depth = fid_ss, depth_ss
    image = np.round(img * 255.0).astype(np.uint8)
    return RasterOutput(image, face_id, depth, face_id >= 0)
