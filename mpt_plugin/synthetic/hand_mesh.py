"""Canonical triangle mesh of the synthetic MANO-format hand.

Step 2 of the hand generator (:mod:`mpt_plugin.synthetic.hand_model`): a
closed polygon cage is box-modelled around the skeleton of
:mod:`~mpt_plugin.synthetic.hand_proportions` (a palm swept through rings of
8 and 10 vertices, closed at the wrist by one octagon; four fingers extruded
from the knuckle cap and the thumb from the radial side, each through square
rings), subdivided once (Catmull-Clark, any polygon), triangulated with the
8 quads around the wrist octagon's centre split through it (a pole of
degree 16), and cut open by deleting that pole: one boundary loop of 16
edges (``V - E + F = 1``). Longest interior edges are then split until the
mesh has MANO's 778 vertices, hence 1538 faces, and the vertices are
permuted so that the fingertips (the centres of the fingertip caps) sit at
FreiHAND's fingertip ids.
"""
from typing import Dict, List, Sequence, Tuple

import numpy as np

from mpt_plugin.body_models.mano import FINGERTIP_VERTEX_IDS

from .body_proportions import unit
from .hand_proportions import FINGERS, FINGERTIP_ORDER, hand_skeleton

__all__ = [
    'MANO_NUM_VERTICES', 'MANO_NUM_FACES', 'WRIST_BOUNDARY_EDGES',
    'build_hand_mesh', 'boundary_loops'
]

MANO_NUM_VERTICES = 778
MANO_NUM_FACES = 1538
WRIST_BOUNDARY_EDGES = 16

# One Catmull-Clark step pulls a square ring of half-size h to about 0.95 h.
_CC_SHRINK = 0.95


# ---------------------------------------------------------------------------
# Polygon cage
# ---------------------------------------------------------------------------
class _HandCage:
    """A closed, consistently oriented polygon mesh grown by extrusion."""

    def __init__(self) -> None:
        self.verts: List[np.ndarray] = []
        self.faces: List[List[int]] = []

    def ring(self, points: np.ndarray) -> List[int]:
        start = len(self.verts)
        self.verts.extend(np.asarray(points, dtype=np.float64))
        return list(range(start, start + len(points)))

    def bridge(self, lower: Sequence[int], upper: Sequence[int],
               match: Sequence[int]) -> None:
        """Faces between two rings; ``lower[i]`` is joined to
        ``upper[match[i]]`` (``match`` increasing, fewer or as many lower
        vertices), faces ``(A_i, A_i+1, B_m(i+1), ..., B_m(i))``."""
        n, m = len(lower), len(upper)
        for i in range(n):
            j0, j1 = match[i], match[(i + 1) % n] + (m if i == n - 1 else 0)
            self.faces.append([lower[i], lower[(i + 1) % n]] +
                              [upper[j % m] for j in range(j1, j0 - 1, -1)])

    def extrude(self, face: List[int], centers: np.ndarray,
                axes: Sequence[np.ndarray],
                halves: np.ndarray) -> Tuple[List[int], int]:
        """Extrude the quad ``face`` (removed from the cage) through square
        rings ``center + s_1 h_1 a_1 + s_2 h_2 a_2`` (``s_k`` the sign of
        the old corner's offset along ``a_k``).

        Returns:
            tuple: The cap quad (last ring) and its index in ``faces``.
        """
        self.faces.remove(face)
        quad = list(face)
        for center, (h1, h2) in zip(centers, halves):
            rel = np.stack([self.verts[i] for i in quad])
            rel = rel - rel.mean(0)
            signs = np.sign(rel @ np.stack(axes).T)
            if len({tuple(s) for s in signs}) != 4:
                raise RuntimeError('degenerate extrusion')
            new = self.ring(center + signs[:, :1] * h1 * axes[0] +
                            signs[:, 1:] * h2 * axes[1])
            for k in range(4):
                self.faces.append(
                    [quad[k], quad[(k + 1) % 4], new[(k + 1) % 4], new[k]])
            quad = new
        self.faces.append(quad)
        return quad, len(self.faces) - 1


def _palm_ring(y: Sequence[float], xs: Sequence[float], zs: Tuple[float,
                                                                  float]
               ) -> np.ndarray:
    """Ring of the palm: dorsal vertices (z = ``zs[0]``) by increasing x,
    then palmar ones (z = ``zs[1]``) by decreasing x."""
    xs = np.asarray(xs)
    y = np.broadcast_to(np.asarray(y, dtype=np.float64), xs.shape)
    dorsal = np.stack([xs, y, np.full_like(xs, zs[0])], 1)
    palmar = np.stack([xs, y, np.full_like(xs, zs[1])], 1)[::-1]
    return np.concatenate([dorsal, palmar])


def _build_cage(skel: Dict[str, np.ndarray]) -> Tuple[_HandCage, int,
                                                      List[int]]:
    """The cage of the right hand.

    Returns:
        tuple: the cage, the index of the wrist octagon in ``cage.faces``
        and the indices of the five fingertip caps (:data:`FINGERS` order).
    """
    J, dirs, girth, tips = (skel['J'], skel['dirs'], skel['girth'],
                            skel['tips'])
    cage = _HandCage()
    # Palm: wrist octagon ring, three rings of 10 (the thenar widening at
    # the radial side), the knuckle ring under the finger bases.
    order = [FINGERS.index(f) for f in ('index', 'middle', 'ring', 'pinky')]
    base = J[[1, 4, 10, 7]]
    half_w = girth[order, 0] / 2 / _CC_SHRINK
    knuckle_x = np.concatenate([[base[0, 0] - half_w[0]],
                                0.5 * (base[:-1, 0] + base[1:, 0]),
                                [base[-1, 0] + half_w[-1]]])
    base_y = np.concatenate([[base[0, 1]], 0.5 * (base[:-1, 1] + base[1:, 1]),
                             [base[-1, 1]]])
    rings = [
        cage.ring(_palm_ring(-0.012, [-0.028, -0.0095, 0.0095, 0.028],
                             (0.013, -0.013))),
        cage.ring(_palm_ring(0.012, [-0.052, -0.024, 0.0, 0.022, 0.040],
                             (0.0145, -0.0155))),
        cage.ring(_palm_ring(0.042, [-0.047, -0.024, 0.0, 0.023, 0.044],
                             (0.014, -0.015))),
        cage.ring(_palm_ring(base_y - 0.014, knuckle_x * 1.04,
                             (0.012, -0.012))),
    ]
    cage.faces.append(rings[0][::-1])  # wrist octagon, facing -y
    wrist_face = 0
    cage.bridge(rings[0], rings[1], [0, 1, 3, 4, 5, 6, 8, 9])
    for lower, upper in zip(rings[1:-1], rings[2:]):
        cage.bridge(lower, upper, list(range(10)))
    top = rings[-1]
    caps = [[top[k], top[k + 1], top[8 - k], top[9 - k]] for k in range(4)]
    cage.faces.extend(caps)
    thumb_base = [rings[1][9], rings[1][0], rings[2][0], rings[2][9]]
    # Fingers: square rings along the bones, tapering to a round tip.
    tip_caps = [None] * len(FINGERS)
    for name in FINGERS:
        f = FINGERS.index(name)
        d = dirs[f]
        if name == 'thumb':
            base_face, root = thumb_base, J[13]
            thick = unit(np.array([0.0, 0.0, 1.0]) - d[2] * d)
            lateral = unit(np.cross(d, thick))
            ts = np.array([0.040, 0.052, 0.066, 0.080, 0.091, 0.097])
        else:
            base_face, root = caps[order.index(f)], J[{
                'index': 1, 'middle': 4, 'ring': 10, 'pinky': 7}[name]]
            lateral = unit(np.array([d[1], -d[0], 0.0]))
            thick = np.array([0.0, 0.0, 1.0])
        length = np.linalg.norm(tips[f] - root)
        if name != 'thumb':
            ts = length * np.array(
                [0.02, 0.25, 0.47, 0.60, 0.74, 0.85, 0.95])
        ts = np.concatenate([ts, [length]])
        taper = 1.0 - 0.22 * ts / length
        taper[-2] *= 0.85
        taper[-1] *= 0.45
        halves = (girth[f] / 2 / _CC_SHRINK)[None] * taper[:, None]
        centers = root + ts[:, None] * d
        # The tip ring sits on the tip; Catmull-Clark keeps the cap centre.
        tip_caps[f], _ = cage.extrude(base_face, centers, (lateral, thick),
                                      halves)
    return cage, wrist_face, [cage.faces.index(c) for c in tip_caps]


# ---------------------------------------------------------------------------
# Subdivision, triangulation, opening, exact counts
# ---------------------------------------------------------------------------
def catmull_clark(verts: np.ndarray, faces: Sequence[Sequence[int]]
                  ) -> Tuple[np.ndarray, np.ndarray]:
    """One Catmull-Clark step of a closed polygon mesh (any face sizes).

    Args:
        verts (np.ndarray): ``(V, 3)`` positions.
        faces (Sequence[Sequence[int]]): ``F`` consistently oriented
            polygons.

    Returns:
        tuple: ``(V + E + F, 3)`` positions (old vertices, edge points,
        face points: face ``f``'s point is vertex ``V + E + f``) and the
        quads ``(H, 4)``, one per corner (``H`` = number of half-edges),
        with the faces' orientation.
    """
    verts = np.asarray(verts, dtype=np.float64)
    sizes = np.array([len(f) for f in faces])
    nv, nf = len(verts), len(faces)
    start = np.concatenate([np.asarray(f) for f in faces])
    offset = np.repeat(np.cumsum(sizes) - sizes, sizes)
    local = np.arange(len(start)) - offset
    nxt = offset + (local + 1) % np.repeat(sizes, sizes)
    prv = offset + (local - 1) % np.repeat(sizes, sizes)
    end = start[nxt]
    face_of = np.repeat(np.arange(nf), sizes)
    face_pts = np.zeros((nf, 3))
    np.add.at(face_pts, face_of, verts[start])
    face_pts /= sizes[:, None]
    key = np.minimum(start, end) * nv + np.maximum(start, end)
    uniq, edge_of = np.unique(key, return_inverse=True)
    ne = len(uniq)
    e0, e1 = uniq // nv, uniq % nv
    fsum = np.zeros((ne, 3))
    np.add.at(fsum, edge_of, face_pts[face_of])
    edge_pts = (verts[e0] + verts[e1] + fsum) / 4.0
    n = np.bincount(np.concatenate([e0, e1]), minlength=nv)[:, None]
    favg = np.zeros((nv, 3))
    np.add.at(favg, start, face_pts[face_of])
    mids = 0.5 * (verts[e0] + verts[e1])
    ravg = np.zeros((nv, 3))
    np.add.at(ravg, e0, mids)
    np.add.at(ravg, e1, mids)
    new_verts = (favg / n + 2.0 * ravg / n + (n - 3.0) * verts) / n
    out = np.concatenate([new_verts, edge_pts, face_pts])
    quads = np.stack([start, nv + edge_of, nv + ne + face_of,
                      nv + edge_of[prv]], 1)
    return out, quads


def _triangulate(verts: np.ndarray, quads: np.ndarray,
                 pole: int) -> np.ndarray:
    """Split quads along the shorter diagonal, those around ``pole`` (at
    corner 2) through it; orientation kept."""
    d02 = np.linalg.norm(verts[quads[:, 0]] - verts[quads[:, 2]], axis=1)
    d13 = np.linalg.norm(verts[quads[:, 1]] - verts[quads[:, 3]], axis=1)
    use02 = (d02 <= d13) | (quads[:, 2] == pole)
    t1 = np.where(use02[:, None], quads[:, [0, 1, 2]], quads[:, [0, 1, 3]])
    t2 = np.where(use02[:, None], quads[:, [0, 2, 3]], quads[:, [1, 2, 3]])
    return np.concatenate([t1, t2])


def _remove_vertex(verts: np.ndarray, faces: np.ndarray,
                   vid: int) -> Tuple[np.ndarray, np.ndarray]:
    """Delete vertex ``vid`` and its faces; later ids shift down by one."""
    faces = faces[~np.any(faces == vid, axis=1)]
    return np.delete(verts, vid, axis=0), faces - (faces > vid)


def _directed_edges(faces: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    return faces.reshape(-1), np.roll(faces, -1, axis=1).reshape(-1)


def _split_longest_interior_edge(verts: np.ndarray, faces: np.ndarray
                                 ) -> Tuple[np.ndarray, np.ndarray]:
    """Split the longest edge shared by two faces at its midpoint (ties:
    lowest vertex ids); adds one vertex and two faces."""
    nv = len(verts)
    src, dst = _directed_edges(faces)
    key = src * nv + dst
    twin = np.isin(dst * nv + src, key)
    inner = np.flatnonzero(twin & (src < dst))
    length = np.linalg.norm(verts[src[inner]] - verts[dst[inner]], axis=1)
    best = inner[np.lexsort((dst[inner], src[inner], -length))[0]]
    a, b = src[best], dst[best]
    f0 = best // 3
    f1 = np.flatnonzero(key == b * nv + a)[0] // 3
    c = faces[f0][(list(faces[f0]).index(a) + 2) % 3]
    d = faces[f1][(list(faces[f1]).index(b) + 2) % 3]
    m = nv
    verts = np.concatenate([verts, 0.5 * (verts[[a]] + verts[[b]])])
    faces = faces.copy()
    faces[f0] = (a, m, c)
    faces[f1] = (b, m, d)
    return verts, np.concatenate([faces, [(m, b, c), (m, a, d)]])


def boundary_loops(faces: np.ndarray) -> List[np.ndarray]:
    """The boundary loops of an oriented manifold triangle mesh.

    Args:
        faces (np.ndarray): ``(F, 3)`` faces.

    Returns:
        list[np.ndarray]: Vertex ids of each loop in the faces' direction.

    Raises:
        ValueError: If boundary vertices do not form simple loops.
    """
    src, dst = _directed_edges(np.asarray(faces, dtype=np.int64))
    nv = int(max(src.max(), dst.max())) + 1
    key = set((src * nv + dst).tolist())
    bnd = [(s, t) for s, t in zip(src.tolist(), dst.tolist())
           if t * nv + s not in key]
    succ = dict(bnd)
    if len(succ) != len(bnd):
        raise ValueError('boundary is not a set of simple loops')
    loops, seen = [], set()
    for s, _ in sorted(bnd):
        if s in seen:
            continue
        loop = [s]
        seen.add(s)
        while succ.get(loop[-1], s) != s:
            loop.append(succ[loop[-1]])
            if loop[-1] in seen:
                raise ValueError('boundary is not a set of simple loops')
            seen.add(loop[-1])
        if succ.get(loop[-1]) != s:
            raise ValueError('boundary is not a set of simple loops')
        loops.append(np.asarray(loop))
    return loops


def _permutation_to(ids: Sequence[int], targets: Sequence[int],
                    nv: int) -> np.ndarray:
    """``perm`` with ``perm[targets[k]] = ids[k]`` (new vertex ``i`` is old
    vertex ``perm[i]``); the other vertices keep their order."""
    perm = np.full(nv, -1, dtype=np.int64)
    perm[list(targets)] = ids
    rest = np.setdiff1d(np.arange(nv), ids)
    perm[perm < 0] = rest
    return perm


def build_hand_mesh() -> Dict[str, np.ndarray]:
    """The canonical right-hand mesh.

    Returns:
        dict: ``verts`` ``(778, 3)`` float64 (metres, frame of
        :mod:`~mpt_plugin.synthetic.hand_proportions`), ``faces``
        ``(1538, 3)`` int64 (outward, one 16-edge boundary loop at the
        wrist), ``wrist_loop`` ``(16,)`` its vertex ids, and ``tip_ids``
        ``(5,)`` the fingertip vertex ids (FreiHAND's, thumb, index,
        middle, ring, pinky).
    """
    skel = hand_skeleton()
    cage, wrist_face, tip_faces = _build_cage(skel)
    cverts = np.stack(cage.verts)
    verts, quads = catmull_clark(cverts, cage.faces)
    first_face_pt = len(verts) - len(cage.faces)
    pole = first_face_pt + wrist_face
    tips = [first_face_pt + f for f in tip_faces]
    faces = _triangulate(verts, quads, pole)
    if np.count_nonzero(np.any(faces == pole, axis=1)) != \
            WRIST_BOUNDARY_EDGES:
        raise RuntimeError('the wrist pole must have degree 16')
    verts, faces = _remove_vertex(verts, faces, pole)
    tips = [t - (t > pole) for t in tips]
    if len(verts) > MANO_NUM_VERTICES:
        raise RuntimeError(f'hand cage too fine: {len(verts)} vertices')
    while len(verts) < MANO_NUM_VERTICES:
        verts, faces = _split_longest_interior_edge(verts, faces)
    by_name = dict(zip(FINGERS, tips))
    tip_ids = [by_name[n] for n in FINGERTIP_ORDER]
    targets = FINGERTIP_VERTEX_IDS['freihand']
    perm = _permutation_to(tip_ids, targets, len(verts))
    inv = np.empty_like(perm)
    inv[perm] = np.arange(len(perm))
    verts, faces = verts[perm], inv[faces]
    loops = boundary_loops(faces)
    if len(faces) != MANO_NUM_FACES or len(loops) != 1:
        raise RuntimeError('hand mesh has the wrong topology')
    return {'verts': verts, 'faces': faces, 'wrist_loop': loops[0],
            'tip_ids': np.asarray(targets, dtype=np.int64)}
