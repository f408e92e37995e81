"""Canonical triangle mesh of the synthetic body, and refitting it.

Step 3 of the generator (:mod:`mpt_plugin.synthetic.smpl_model`): one mesh
topology shared by all genders and seeds. A coarse quad cage is box-modelled
by extruding faces of a box (torso -> neck/head, legs -> feet, arms -> hands
-> thumbs; extrusion keeps a closed genus-0 surface), subdivided twice
(Catmull-Clark), triangulated, projected onto the implicit surface
(:class:`~mpt_plugin.synthetic.body_sdf.BodySDF`) and refined isotropically
(edge splits, valence-improving flips, tangential relaxation) to exactly 6890
vertices and 13776 faces; the vertices are then permuted so that the
SMPL(-H) landmark ids used by :mod:`smplx` sit at their places.
:func:`fit_body` carries that mesh to another body's proportions.
"""
from typing import Dict, List, Sequence, Tuple

import numpy as np
import scipy.sparse as sp
import torch

from mpt_plugin.geometry.rotations import rotation_between_vectors

from .body_proportions import bone_params, bone_segments, unit
from .body_sdf import BodySDF, norm3, thumb_axis

__all__ = [
    'SMPL_NUM_VERTICES', 'SMPL_NUM_FACES', 'SMPLH_LANDMARK_VERTEX_IDS',
    'build_body_mesh', 'fit_body', 'adjacency', 'vertex_normals'
]

SMPL_NUM_VERTICES = 6890
SMPL_NUM_FACES = 13776

#: SMPL(-H) vertex ids that smplx selects as extra joints (its
#: ``vertex_ids['smplh']`` table); the generator puts these vertices there.
SMPLH_LANDMARK_VERTEX_IDS = {
    'nose': 332, 'reye': 6260, 'leye': 2800, 'rear': 4071, 'lear': 583,
    'rthumb': 6191, 'rindex': 5782, 'rmiddle': 5905, 'rring': 6016,
    'rpinky': 6133, 'lthumb': 2746, 'lindex': 2319, 'lmiddle': 2445,
    'lring': 2556, 'lpinky': 2673, 'LBigToe': 3216, 'LSmallToe': 3226,
    'LHeel': 3387, 'RBigToe': 6617, 'RSmallToe': 6624, 'RHeel': 6787,
}


# ---------------------------------------------------------------------------
# Quad cage (box modelling by extrusion) and Catmull-Clark subdivision
# ---------------------------------------------------------------------------
class _Cage:
    """A closed, outward-oriented quad mesh grown by face extrusion."""

    def __init__(self) -> None:
        self.verts: List[np.ndarray] = []
        self.faces: Dict[int, List[int]] = {}
        self._next = 0

    def _add_vert(self, p: Sequence[float]) -> int:
        self.verts.append(np.asarray(p, dtype=np.float64))
        return len(self.verts) - 1

    def _add_face(self, quad: Sequence[int]) -> int:
        self.faces[self._next] = list(quad)
        self._next += 1
        return self._next - 1

    def normal(self, fid: int) -> np.ndarray:
        a, b, c, d = (self.verts[i] for i in self.faces[fid])
        n = np.cross(c - a, d - b)
        return n / np.linalg.norm(n)

    def add_box(self, xs: Sequence[float], ys: Sequence[float],
                zs: Sequence[float]) -> Dict[Tuple[str, int, int], int]:
        """Surface of a box subdivided at the given coordinates.

        Returns:
            dict: ``(side, i, j) -> face id`` with ``side`` in ``'-x', '+x',
            '-y', '+y', '-z', '+z'`` and ``(i, j)`` the cell indices along
            the two other axes in x, y, z order.
        """
        grid = [np.asarray(xs), np.asarray(ys), np.asarray(zs)]
        ids: Dict[Tuple[int, int, int], int] = {}

        def vid(i: int, j: int, k: int) -> int:
            if (i, j, k) not in ids:
                ids[(i, j, k)] = self._add_vert(
                    (grid[0][i], grid[1][j], grid[2][k]))
            return ids[(i, j, k)]

        lookup = {}
        for axis in range(3):
            u, w = [a for a in range(3) if a != axis]
            for end, sign in ((0, '-'), (len(grid[axis]) - 1, '+')):
                outward = np.zeros(3)
                outward[axis] = 1.0 if sign == '+' else -1.0
                for i in range(len(grid[u]) - 1):
                    for j in range(len(grid[w]) - 1):
                        corners = []
                        for di, dj in ((0, 0), (1, 0), (1, 1), (0, 1)):
                            idx = [0, 0, 0]
                            idx[axis], idx[u], idx[w] = end, i + di, j + dj
                            corners.append(vid(*idx))
                        fid = self._add_face(corners)
                        if self.normal(fid) @ outward < 0:
                            self.faces[fid] = corners[::-1]
                        lookup[(sign + 'xyz'[axis], i, j)] = fid
        return lookup

    def extrude(self, fid: int, center: Sequence[float], axes: Sequence[
            Sequence[float]], halves: Sequence[float]) -> Tuple[int, list]:
        """Extrude face ``fid`` to a rectangle.

        The new corner of each old corner ``p`` is ``center + sum_k s_k *
        halves[k] * axes[k]`` with ``s_k`` the sign of ``(p - c_old) .
        axes[k]``, so the rectangle must be roughly aligned with the face.

        Returns:
            tuple: ``(cap face id, side face ids)``.
        """
        quad = self.faces.pop(fid)
        c_old = np.mean([self.verts[i] for i in quad], axis=0)
        center = np.asarray(center, dtype=np.float64)
        axes = [unit(a) for a in axes]
        new = []
        for i in quad:
            rel = self.verts[i] - c_old
            pos = center.copy()
            for ax, h in zip(axes, halves):
                pos += np.sign(rel @ ax) * h * ax
            new.append(self._add_vert(pos))
        if len(set(tuple(self.verts[i]) for i in new)) != 4:
            raise RuntimeError('degenerate extrusion')
        sides = []
        for k in range(4):
            a, b = quad[k], quad[(k + 1) % 4]
            sides.append(self._add_face([a, b, new[(k + 1) % 4], new[k]]))
        cap = self._add_face(new)
        return cap, sides

    def side_facing(self, sides: Sequence[int], direction: Sequence[float]
                    ) -> int:
        """The face of ``sides`` whose normal is closest to ``direction``."""
        d = unit(direction)
        return max(sides, key=lambda f: self.normal(f) @ d)

    def arrays(self) -> Tuple[np.ndarray, np.ndarray]:
        """``(V, 3)`` vertices and ``(Q, 4)`` quads (face-id order)."""
        quads = np.array([self.faces[k] for k in sorted(self.faces)],
                         dtype=np.int64)
        return np.stack(self.verts), quads


def _catmull_clark(verts: np.ndarray,
                   quads: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """One Catmull-Clark step of a closed quad mesh.

    Args:
        verts (np.ndarray): ``(V, 3)`` positions.
        quads (np.ndarray): ``(Q, 4)`` outward-oriented quads.

    Returns:
        tuple: ``(V + E + Q, 3)`` positions (old vertices, edge points, face
        points) and ``(4Q, 4)`` quads with the same orientation.
    """
    nv, nq = len(verts), len(quads)
    a = quads.reshape(-1)
    b = np.roll(quads, -1, axis=1).reshape(-1)
    key = np.minimum(a, b) * nv + np.maximum(a, b)
    uniq, edge_of = np.unique(key, return_inverse=True)
    ne = len(uniq)
    e0, e1 = uniq // nv, uniq % nv
    face_pts = verts[quads].mean(axis=1)
    face_of_he = np.repeat(np.arange(nq), 4)
    fsum = np.zeros((ne, 3))
    np.add.at(fsum, edge_of, face_pts[face_of_he])
    edge_pts = (verts[e0] + verts[e1] + fsum) / 4.0
    valence = np.bincount(np.concatenate([e0, e1]), minlength=nv)
    fvsum = np.zeros((nv, 3))
    np.add.at(fvsum, a, face_pts[face_of_he])
    mids = 0.5 * (verts[e0] + verts[e1])
    rsum = np.zeros((nv, 3))
    np.add.at(rsum, e0, mids)
    np.add.at(rsum, e1, mids)
    n = valence[:, None].astype(np.float64)
    new_verts = (fvsum / n + 2.0 * rsum / n + (n - 3.0) * verts) / n
    out = np.concatenate([new_verts, edge_pts, face_pts])
    ei = (nv + edge_of).reshape(nq, 4)  # edge k joins corner k and k+1
    fi = nv + ne + np.arange(nq)
    new_quads = []
    for k in range(4):
        new_quads.append(
            np.stack([quads[:, k], ei[:, k], fi, ei[:, (k - 1) % 4]], 1))
    return out, np.stack(new_quads, 1).reshape(-1, 4)


def _triangulate(verts: np.ndarray, quads: np.ndarray) -> np.ndarray:
    """Split each quad along its shorter diagonal (orientation kept)."""
    d02 = np.linalg.norm(verts[quads[:, 0]] - verts[quads[:, 2]], axis=1)
    d13 = np.linalg.norm(verts[quads[:, 1]] - verts[quads[:, 3]], axis=1)
    use02 = d02 <= d13
    t1 = np.where(use02[:, None], quads[:, [0, 1, 2]], quads[:, [0, 1, 3]])
    t2 = np.where(use02[:, None], quads[:, [0, 2, 3]], quads[:, [1, 2, 3]])
    return np.concatenate([t1, t2])


# ---------------------------------------------------------------------------
# Triangle-mesh helpers (closed manifold meshes)
# ---------------------------------------------------------------------------
def _edges(faces: np.ndarray, nv: int) -> Dict[str, np.ndarray]:
    """Undirected edges of a closed manifold mesh with their two faces.

    Returns:
        dict: ``v0, v1`` (E,) endpoints, ``f0, f1`` the faces that traverse
        the edge as ``v0 -> v1`` and ``v1 -> v0``, ``k0, k1`` the local index
        of the edge start in those faces, ``key`` sorted edge keys.

    Raises:
        ValueError: If an edge is not shared by exactly two faces with
            opposite directions.
    """
    src = faces.reshape(-1)
    dst = np.roll(faces, -1, axis=1).reshape(-1)
    fidx = np.repeat(np.arange(len(faces)), 3)
    kidx = np.tile(np.arange(3), len(faces))
    key = np.minimum(src, dst) * nv + np.maximum(src, dst)
    order = np.argsort(key * 2 + (src > dst), kind='stable')
    key_s = key[order]
    if len(key_s) % 2 or np.any(key_s[0::2] != key_s[1::2]) or np.any(
            key_s[1:-1:2] == key_s[2::2]):
        raise ValueError('mesh is not a closed 2-manifold')
    first, second = order[0::2], order[1::2]
    if np.any(src[first] > dst[first]) or np.any(src[second] < dst[second]):
        raise ValueError('mesh is not consistently oriented')
    return dict(v0=src[first], v1=dst[first], f0=fidx[first],
                f1=fidx[second], k0=kidx[first], k1=kidx[second],
                key=key_s[0::2])


def adjacency(faces: np.ndarray, nv: int) -> sp.csr_matrix:
    """Symmetric 0/1 vertex adjacency ``(V, V)``."""
    i = faces.reshape(-1)
    j = np.roll(faces, -1, axis=1).reshape(-1)
    adj = sp.coo_matrix((np.ones(len(i)), (i, j)), shape=(nv, nv)).tocsr()
    adj = ((adj + adj.T) > 0).astype(np.float64)
    return adj.tocsr()


def vertex_normals(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals ``(V, 3)``."""
    fn = np.cross(verts[faces[:, 1]] - verts[faces[:, 0]],
                  verts[faces[:, 2]] - verts[faces[:, 0]])
    vn = np.zeros_like(verts)
    for k in range(3):
        np.add.at(vn, faces[:, k], fn)
    return vn / np.maximum(np.linalg.norm(vn, axis=1, keepdims=True), 1e-12)


def _split_edges(verts: np.ndarray, faces: np.ndarray, sel: np.ndarray,
                 e: Dict[str, np.ndarray]) -> Tuple[np.ndarray, np.ndarray]:
    """Split the selected edges (no two in one face) at their midpoints.

    Each split adds one vertex and two faces and keeps the surface closed
    and consistently oriented.
    """
    v0, v1 = e['v0'][sel], e['v1'][sel]
    f0, f1, k0, k1 = e['f0'][sel], e['f1'][sel], e['k0'][sel], e['k1'][sel]
    c = faces[f0, (k0 + 2) % 3]  # opposite of v0 -> v1 in f0
    d = faces[f1, (k1 + 2) % 3]  # opposite of v1 -> v0 in f1
    m = len(verts) + np.arange(len(v0))
    verts = np.concatenate([verts, 0.5 * (verts[v0] + verts[v1])])
    faces = faces.copy()
    faces[f0] = np.stack([v0, m, c], 1)
    faces[f1] = np.stack([v1, m, d], 1)
    extra = np.concatenate([np.stack([m, v1, c], 1), np.stack([m, v0, d], 1)])
    return verts, np.concatenate([faces, extra])


def _flip_edges(verts: np.ndarray, faces: np.ndarray) -> Tuple[np.ndarray,
                                                               int]:
    """One pass of valence-improving edge flips (target valence 6).

    A flip is done when it lowers the summed squared valence deviation of
    the four vertices involved, the new edge does not exist yet, no vertex
    drops below valence 4 and the two new triangles keep the orientation of
    the old ones (no fold-over). Flips in one pass touch disjoint vertices, so
    every pass lowers the total deviation.

    Returns:
        tuple: ``(faces, number of flips)``.
    """
    nv = len(verts)
    e = _edges(faces, nv)
    val = np.bincount(np.concatenate([e['v0'], e['v1']]), minlength=nv)
    a, b = e['v0'], e['v1']
    c = faces[e['f0'], (e['k0'] + 2) % 3]
    d = faces[e['f1'], (e['k1'] + 2) % 3]
    before = ((val[[a, b, c, d]] - 6.0)**2).sum(0)
    after = ((val[a] - 7.0)**2 + (val[b] - 7.0)**2 + (val[c] - 5.0)**2 +
             (val[d] - 5.0)**2)
    gain = before - after
    ok = (gain > 0) & (val[a] > 4) & (val[b] > 4)
    new_key = np.minimum(c, d) * nv + np.maximum(c, d)
    ok &= ~np.isin(new_key, e['key'])

    def tri_n(p, q, r):
        return np.cross(verts[q] - verts[p], verts[r] - verts[p])

    n_old = tri_n(a, b, c) + tri_n(b, a, d)
    n_old /= np.maximum(np.linalg.norm(n_old, axis=1, keepdims=True), 1e-12)
    for n_new in (tri_n(c, a, d), tri_n(d, b, c)):
        n_new = n_new / np.maximum(
            np.linalg.norm(n_new, axis=1, keepdims=True), 1e-12)
        ok &= np.einsum('ij,ij->i', n_new, n_old) > 0.5
    cand = np.flatnonzero(ok)
    cand = cand[np.lexsort((cand, -gain[cand]))]
    used = np.zeros(nv, dtype=bool)
    chosen = []
    for i in cand:
        quad = (a[i], b[i], c[i], d[i])
        if used[a[i]] or used[b[i]] or used[c[i]] or used[d[i]]:
            continue
        used[list(quad)] = True
        chosen.append(i)
    chosen = np.asarray(chosen, dtype=np.int64)
    if len(chosen):
        faces = faces.copy()
        faces[e['f0'][chosen]] = np.stack([c[chosen], a[chosen], d[chosen]],
                                          1)
        faces[e['f1'][chosen]] = np.stack([d[chosen], b[chosen], c[chosen]],
                                          1)
    return faces, len(chosen)


# ---------------------------------------------------------------------------
# Canonical mesh
# ---------------------------------------------------------------------------
def _build_cage(sdf: BodySDF) -> _Cage:
    """Box-model the coarse quad cage of the body around the skeleton."""
    J, ends, s = sdf.J, sdf.ends, sdf.p.scale
    X, Y, Z = np.eye(3)
    cage = _Cage()
    w, c, d = 0.16 * s, 0.05 * s, 0.105 * s
    ys = [-0.375 * s, J[0, 1], 0.5 * (J[6, 1] + J[3, 1]), 0.135 * s,
          0.262 * s]
    box = cage.add_box([-w, -c, c, w], ys, [-d, d])
    # Legs: rings down the thigh and shin, then the heel block.
    for sign, col, hip, knee, ankle, toe in ((1, 2, 1, 4, 7, 'ltoe'),
                                             (-1, 0, 2, 5, 8, 'rtoe')):
        fid = box[('-y', col, 0)]
        hx = J[hip, 0] + sign * 0.02 * s
        ring = [(np.array([hx, -0.5 * s, 0.0]), 0.085),
                ((J[hip] + J[knee]) * 0.5 + [sign * 0.01 * s, -0.08 * s, 0],
                 0.07),
                (J[knee], 0.058), (J[knee] + 0.45 * (J[ankle] - J[knee]),
                                   0.052),
                (J[ankle] + [0.0, 0.045 * s, 0.0], 0.042)]
        for pos, h in ring:
            fid, _ = cage.extrude(fid, pos, (X, Z), (h * s, h * s))
        floor = J[ankle, 1] - sdf.p.ankle_height * s
        heel = np.array([J[ankle, 0], floor + 0.01 * s,
                         J[ankle, 2] - 0.012 * s])
        fid, sides = cage.extrude(fid, heel, (X, Z),
                                  (0.046 * s, 0.05 * s))
        front = cage.side_facing(sides, Z)
        fx = J[ankle, 0] + sign * 0.008 * s
        mid = np.array([fx, floor + 0.032 * s, J[ankle, 2] + 0.085 * s])
        fid, _ = cage.extrude(front, mid, (X, Y), (0.05 * s, 0.032 * s))
        tip = np.array([fx, floor + 0.022 * s, ends[toe][2] - 0.012 * s])
        cage.extrude(fid, tip, (X, Y), (0.047 * s, 0.02 * s))
    # Neck and head.
    fid = box[('+y', 1, 0)]
    top = sdf.p.head_top_y * s
    for y, zc, hx, hz in ((J[12, 1] + 0.035 * s, -0.012, 0.055, 0.055),
                          (J[15, 1] + 0.005 * s, 0.02, 0.068, 0.085),
                          (top - 0.1 * s, 0.01, 0.088, 0.105),
                          (top - 0.03 * s, 0.0, 0.06, 0.075)):
        fid, _ = cage.extrude(fid, (0.0, y, zc * s), (X, Z), (hx * s, hz * s))
    # Arms, hands and thumbs.
    for sign, side, sh, el, wr, hd, fe in ((1, '+x', 16, 18, 20, 22,
                                            'lfinger'),
                                           (-1, '-x', 17, 19, 21, 23,
                                            'rfinger')):
        fid = box[(side, 3, 0)]
        ring = [(J[sh] + [sign * 0.025 * s, 0.005 * s, 0.0], 0.058, 0.058),
                (J[sh] + 0.5 * (J[el] - J[sh]), 0.05, 0.05),
                (J[el], 0.043, 0.043),
                (J[el] + 0.5 * (J[wr] - J[el]), 0.038, 0.04),
                (J[wr], 0.027, 0.033)]
        for pos, hy, hz in ring:
            fid, _ = cage.extrude(fid, pos, (Y, Z), (hy * s, hz * s))
        knuck = J[hd] + [0.0, -0.003 * s, 0.0]
        fid, sides = cage.extrude(fid, knuck, (Y, Z), (0.02 * s, 0.048 * s))
        palm_side = cage.side_facing(sides, Z)
        tip = ends[fe] - [sign * 0.012 * s, 0.0, 0.0]
        cage.extrude(fid, tip, (Y, Z), (0.012 * s, 0.035 * s))
        base, tip = thumb_axis(J[wr], sign, s)
        t0 = base + 0.5 * (tip - base)
        t1 = tip - 0.004 * s * unit(tip - base)
        fid, _ = cage.extrude(palm_side, t0, (X, Y), (0.017 * s, 0.015 * s))
        cage.extrude(fid, t1, (X, Y), (0.01 * s, 0.009 * s))
    return cage


def _sizing(sdf: BodySDF, q: np.ndarray) -> np.ndarray:
    """Relative target edge length ``(N,)``: finer on the face, hands and
    feet (where the landmarks are), 1 elsewhere."""
    J, s = sdf.J, sdf.p.scale

    def sig(t):
        return 0.5 * (1.0 + np.tanh(t))

    hand = sig((np.abs(q[:, 0]) - J[20, 0] + 0.01 * s) / (0.015 * s))
    head = sig((q[:, 1] - J[15, 1] + 0.01 * s) / (0.015 * s))
    face = head * sig((q[:, 2] - 0.03 * s) / (0.02 * s))
    foot = sig((J[7, 1] + 0.02 * s - q[:, 1]) / (0.015 * s))
    return 1.0 - 0.6 * hand - 0.2 * head - 0.2 * face - 0.25 * foot


def _relax_project(verts: np.ndarray, faces: np.ndarray, sdf: BodySDF,
                   iters: int, lam: float = 0.5,
                   newton: int = 1) -> np.ndarray:
    """Tangential Laplacian relaxation alternated with projection."""
    nv = len(verts)
    adj = adjacency(faces, nv)
    deg = np.asarray(adj.sum(axis=1)).ravel()
    for _ in range(iters):
        lap = adj @ verts / deg[:, None] - verts
        n = vertex_normals(verts, faces)
        lap -= np.einsum('ij,ij->i', lap, n)[:, None] * n
        verts = sdf.project(verts + lam * lap, iters=newton)
    return verts


def _remesh(verts: np.ndarray, faces: np.ndarray, sdf: BodySDF,
            target: int) -> Tuple[np.ndarray, np.ndarray]:
    """Refine a closed mesh on ``sdf`` to exactly ``target`` vertices.

    Rounds of longest-edge splits (relative to :func:`_sizing`), valence
    flips and relaxation; each split adds one vertex and two faces.
    """
    if len(verts) > target:
        raise RuntimeError(f'the subdivided cage already has {len(verts)} '
                           f'vertices, more than the target {target}')
    while len(verts) < target:
        e = _edges(faces, len(verts))
        mid = 0.5 * (verts[e['v0']] + verts[e['v1']])
        length = np.linalg.norm(verts[e['v0']] - verts[e['v1']], axis=1)
        prio = length / _sizing(sdf, mid)
        budget = min(target - len(verts), max(1, len(length) // 8))
        order = np.lexsort((np.arange(len(prio)), -prio))
        used = np.zeros(len(faces), dtype=bool)
        sel = []
        for i in order:
            f0, f1 = e['f0'][i], e['f1'][i]
            if used[f0] or used[f1]:
                continue
            used[f0] = used[f1] = True
            sel.append(i)
            if len(sel) == budget:
                break
        verts, faces = _split_edges(verts, faces, np.asarray(sel), e)
        for _ in range(4):
            faces, nflip = _flip_edges(verts, faces)
            if not nflip:
                break
        verts = _relax_project(verts, faces, sdf, 2)
    for _ in range(30):
        faces, nflip = _flip_edges(verts, faces)
        if not nflip:
            break
    return verts, faces


def _ray_hits(sdf: BodySDF, origins: np.ndarray,
              directions: np.ndarray) -> np.ndarray:
    """First surface points along rays (sphere tracing), ``(N, 3)``."""
    d = directions / norm3(directions)[:, None]
    t = np.zeros(len(origins))
    for _ in range(500):
        f = sdf(origins + t[:, None] * d)
        if np.all(f < 1e-6):
            break
        t += np.where(f < 1e-6, 0.0, np.maximum(0.9 * f, 1e-5))
    else:
        raise RuntimeError('a landmark ray missed the body')
    return origins + t[:, None] * d


def _landmark_targets(sdf: BodySDF) -> Dict[str, np.ndarray]:
    """Surface points for the SMPL-H landmark vertex ids ``{name: (3,)}``."""
    J, ends, p, s = sdf.J, sdf.ends, sdf.p, sdf.p.scale
    top = p.head_top_y * s
    eye_y = top - 0.1 * s
    ear_y, ear_z = top - 0.118 * s, -0.008 * s
    rays = {  # name: (origin, direction)
        'nose': ((0.0, top - 0.13 * s, 0.5), (0, 0, -1)),
        'leye': ((0.032 * s, eye_y, 0.5), (0, 0, -1)),
        'reye': ((-0.032 * s, eye_y, 0.5), (0, 0, -1)),
        'lear': ((0.5, ear_y, ear_z), (-1, 0, 0)),
        'rear': ((-0.5, ear_y, ear_z), (1, 0, 0)),
    }
    hw = p.hand_half_width * s
    for side, sign, wr, fe in (('l', 1.0, 20, 'lfinger'),
                               ('r', -1.0, 21, 'rfinger')):
        y = ends[fe][1]
        for name, zf in (('index', 0.62), ('middle', 0.2), ('ring', -0.22),
                         ('pinky', -0.62)):
            rays[side + name] = ((sign * 1.5, y, J[wr, 2] + zf * hw),
                                 (-sign, 0, 0))
        t0, t1 = thumb_axis(J[wr], sign, s)
        axis = unit(t1 - t0)
        rays[side + 'thumb'] = (t1 + 0.2 * axis, -axis)
    fw = p.foot_half_width * s
    for side, sign, an in (('L', 1.0, 7), ('R', -1.0, 8)):
        floor = J[an, 1] - p.ankle_height * s
        x = J[an + 3, 0]
        rays[side + 'BigToe'] = ((x - sign * 0.45 * fw, floor + 0.016 * s,
                                  1.0), (0, 0, -1))
        rays[side + 'SmallToe'] = ((x + sign * 0.6 * fw, floor + 0.012 * s,
                                    1.0), (0, 0, -1))
        rays[side + 'Heel'] = ((J[an, 0], floor + 0.015 * s, -1.0),
                               (0, 0, 1))
    names = sorted(rays)
    hits = _ray_hits(sdf, np.array([rays[n][0] for n in names], dtype=float),
                     np.array([rays[n][1] for n in names], dtype=float))
    return dict(zip(names, hits))


def _landmark_permutation(verts: np.ndarray, sdf: BodySDF) -> np.ndarray:
    """``order`` with ``new_verts = verts[order]`` putting each SMPL-H
    landmark id at the vertex nearest to its target point."""
    targets = _landmark_targets(sdf)
    order = np.arange(len(verts))
    taken = set()
    for name in sorted(SMPLH_LANDMARK_VERTEX_IDS):
        dist = np.linalg.norm(verts - targets[name], axis=1)
        dist[list(taken)] = np.inf
        old = int(np.argmin(dist))
        taken.add(old)
        new_id = SMPLH_LANDMARK_VERTEX_IDS[name]
        pos = int(np.flatnonzero(order == old)[0])
        order[pos], order[new_id] = order[new_id], order[pos]
    return order


def build_body_mesh(sdf: BodySDF) -> Tuple[np.ndarray, np.ndarray]:
    """The canonical mesh on the surface of ``sdf``.

    Args:
        sdf (BodySDF): Body to mesh (the neutral, seed-0 body for the
            canonical topology).

    Returns:
        tuple: ``(6890, 3)`` vertices (metres) and ``(13776, 3)`` int64
        outward-oriented faces, landmark vertices at the SMPL(-H) ids.

    Raises:
        RuntimeError: If refinement does not end at SMPL's face count.
    """
    verts, quads = _build_cage(sdf).arrays()
    for _ in range(2):
        verts, quads = _catmull_clark(verts, quads)
    faces = _triangulate(verts, quads)
    verts = sdf.project(verts, iters=10)
    verts = _relax_project(verts, faces, sdf, 8)
    verts, faces = _remesh(verts, faces, sdf, SMPL_NUM_VERTICES)
    verts = _relax_project(verts, faces, sdf, 10, newton=2)
    order = _landmark_permutation(verts, sdf)
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    verts, faces = verts[order], inverse[faces]
    if faces.shape != (SMPL_NUM_FACES, 3):
        raise RuntimeError(f'canonical mesh has {len(faces)} faces, '
                           f'expected {SMPL_NUM_FACES}')
    return verts, faces


# ---------------------------------------------------------------------------
# Carrying the mesh to another body
# ---------------------------------------------------------------------------
def fit_body(verts: np.ndarray, faces: np.ndarray, weights: np.ndarray,
             src: BodySDF, dst: BodySDF) -> np.ndarray:
    """Carry the mesh from body ``src`` to body ``dst``.

    Each bone's vertices follow the bone (translation, the smallest
    rotation taking the old bone direction to the new one, and stretch
    along the bone, blended by the skinning weights), then the
    result is projected onto the new surface and lightly relaxed.

    Args:
        verts (np.ndarray): ``(V, 3)`` vertices on ``src`` (metres).
        faces (np.ndarray): ``(F, 3)`` int64 faces.
        weights (np.ndarray): ``(V, 24)`` skinning weights.
        src (BodySDF): Body the vertices lie on.
        dst (BodySDF): Body to carry them to.

    Returns:
        np.ndarray: ``(V, 3)`` vertices on ``dst`` (metres).
    """
    s0, e0 = bone_segments(src.J, src.ends)
    s1, e1 = bone_segments(dst.J, dst.ends)
    t, off = bone_params(verts, s0, e0)
    rot, _ = rotation_between_vectors(
        torch.as_tensor(e0 - s0, dtype=torch.float64),
        torch.as_tensor(e1 - s1, dtype=torch.float64))  # (24, 3, 3)
    rot = rot.numpy()
    moved = (s1[None] + t[..., None] * (e1 - s1)[None] +
             np.einsum('bij,vbj->vbi', rot, off))
    verts = np.einsum('vb,vbk->vk', weights, moved)
    verts = dst.project(verts, iters=6)
    return _relax_project(verts, faces, dst, 6, lam=0.3)
