"""Build and write GraphCMR/METRO-style mesh sampling hierarchies.

This module re-implements the mesh hierarchy used by GraphCMR, METRO and
Mesh Graphormer (their ``mesh_downsampling.npz``, originally produced with
COMA's quadric mesh simplification, ``ds_factors=[4, 4]``):

* :func:`build_mesh_sampling` builds the hierarchy for any closed triangle
  mesh with quadric-error-metric (QEM) edge-collapse decimation where every
  coarse vertex is one of the fine vertices; with ``allow_boundary=True``
  also for manifold meshes with boundary loops, such as MANO's hand open at
  the wrist (its ``mano_downsampling.npz``, 778 -> 195 -> 49 -> 13 -> 4):
  boundary edges carry extra quadrics (planes through the edge, normal to
  its face) that penalise moving the loop, boundary vertices are never
  merged into interior ones and a loop keeps at least 3 edges.
* :func:`save_mesh_downsampling` writes the standard ``.npz`` layout (object
  arrays ``A``, ``D``, ``U``, ``F``); read files with
  :func:`mpt_plugin.body_models.io.load_mesh_downsampling` and apply them
  with :class:`mpt_plugin.body_models.mesh_sampler.MeshSampler`.

The sampling dict (keys ``'A'``, ``'D'``, ``'U'``, ``'F'``) is described in
:mod:`mpt_plugin.body_models.mesh_sampler`.
"""
import heapq
import math
import os
from typing import List, Sequence, Tuple, Union

import numpy as np
import scipy.sparse as sp
from scipy.spatial import cKDTree

from mpt_plugin.body_models.mesh_sampler import (MESH_SAMPLING_KEYS,
                                                 SamplingDict,
                                                 check_mesh_sampling)

__all__ = ['build_mesh_sampling', 'save_mesh_downsampling']

# A collapse is rejected when a surviving face's normal turns by more than
# ``arccos(_MIN_NORMAL_COS)`` (90 degrees: only fold-overs are rejected).
_MIN_NORMAL_COS = 0.0
# Faces whose doubled area falls below ``_MIN_REL_AREA * diag**2`` after a
# collapse count as degenerate and block the collapse.
_MIN_REL_AREA = 1e-12
# A collapse may not create a face less compact than this (``4 sqrt(3) area /
# sum of squared edge lengths``: 1 equilateral, 0 degenerate) unless the
# faces it moves were already worse. Relaxed to 0 if decimation gets stuck.
_MIN_COMPACTNESS = 0.2
# Weight of the boundary-edge quadrics relative to the area-weighted face
# quadrics (per squared edge length).
_BOUNDARY_WEIGHT = 10.0


# ---------------------------------------------------------------------------
# Input checks and small geometric helpers
# ---------------------------------------------------------------------------
def _as_mesh_arrays(vertices: np.ndarray,
                    faces: np.ndarray,
                    allow_boundary: bool = False
                    ) -> Tuple[np.ndarray, np.ndarray]:
    """Validate ``vertices (V, 3)`` and ``faces (F, 3)`` of a closed mesh.

    Args:
        vertices (np.ndarray): Vertex positions ``(V, 3)``, any unit.
        faces (np.ndarray): Triangle vertex indices ``(F, 3)``.
        allow_boundary (bool): Also accept boundary edges (edges of a
            single face).

    Returns:
        tuple: ``vertices`` as float64 ``(V, 3)`` and ``faces`` as int64
        ``(F, 3)``.

    Raises:
        ValueError: If shapes or indices are invalid, a vertex is unused, a
            face is degenerate or the mesh is not closed (every edge must be
            shared by exactly two faces; by one or two with
            ``allow_boundary``).
    """
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces)
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise ValueError(
            f'vertices must have shape (V, 3), got {vertices.shape}')
    if not np.all(np.isfinite(vertices)):
        raise ValueError('vertices contain NaN or inf')
    if faces.ndim != 2 or faces.shape[1] != 3 or faces.shape[0] == 0:
        raise ValueError(f'faces must have shape (F, 3), got {faces.shape}')
    if not np.issubdtype(faces.dtype, np.integer):
        raise ValueError(f'faces must be integers, got {faces.dtype}')
    faces = faces.astype(np.int64)
    num_verts = vertices.shape[0]
    if faces.min() < 0 or faces.max() >= num_verts:
        raise ValueError(f'faces index vertices outside [0, {num_verts})')
    if np.any((faces[:, 0] == faces[:, 1]) | (faces[:, 1] == faces[:, 2])
              | (faces[:, 0] == faces[:, 2])):
        raise ValueError('faces contain a repeated vertex (degenerate face)')
    if np.unique(faces).size != num_verts:
        raise ValueError('every vertex must belong to at least one face; '
                         f'{num_verts - np.unique(faces).size} are unused')
    edges = np.sort(faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1)
    _, counts = np.unique(edges, axis=0, return_counts=True)
    if allow_boundary:
        if np.any(counts > 2):
            raise ValueError(
                'mesh is not manifold: '
                f'{int(np.sum(counts > 2))} edges are shared by more than '
                'two faces')
    elif np.any(counts != 2):
        raise ValueError(
            'mesh is not closed and manifold: '
            f'{int(np.sum(counts != 2))} edges are not shared by exactly '
            'two faces')
    return vertices, faces


def _adjacency_matrix(num_verts: int, faces: np.ndarray) -> sp.csr_matrix:
    """Symmetric edge adjacency with the real file's value convention.

    Args:
        num_verts (int): Number of vertices ``V``.
        faces (np.ndarray): Faces ``(F, 3)``.

    Returns:
        sp.csr_matrix: ``(V, V)`` float64; entry ``(j, k)`` counts the faces
        containing edge ``j-k`` (2 on a closed manifold mesh).
    """
    rows = faces[:, [0, 1, 2]].ravel()
    cols = faces[:, [1, 2, 0]].ravel()
    data = np.ones(rows.size, dtype=np.float64)
    mat = sp.coo_matrix((data, (rows, cols)), shape=(num_verts, num_verts))
    mat = (mat + mat.T).tocsr()
    mat.sum_duplicates()
    mat.sort_indices()
    return mat


def _selection_matrix(keep: np.ndarray, num_fine: int) -> sp.csr_matrix:
    """``(len(keep), num_fine)`` matrix with a single 1.0 per row."""
    num_coarse = keep.size
    return sp.csr_matrix(
        (np.ones(num_coarse), keep.astype(np.int32),
         np.arange(num_coarse + 1, dtype=np.int32)),
        shape=(num_coarse, num_fine))


def _vertex_quadrics(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted plane quadrics summed per vertex.

    Args:
        vertices (np.ndarray): ``(V, 3)`` float64.
        faces (np.ndarray): ``(F, 3)`` int64.

    Returns:
        np.ndarray: ``(V, 4, 4)`` quadrics ``Q`` such that
        ``[x, 1] Q [x, 1]^T`` is the area-weighted sum of squared distances
        of ``x`` to the planes of the faces around the vertex.
    """
    tri = vertices[faces]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    dbl_area = np.linalg.norm(normal, axis=1)
    unit = normal / np.maximum(dbl_area, np.finfo(np.float64).tiny)[:, None]
    plane = np.concatenate(
        [unit, -np.sum(unit * tri[:, 0], axis=1, keepdims=True)], axis=1)
    face_q = 0.5 * dbl_area[:, None, None] * (
        plane[:, :, None] * plane[:, None, :])
    num_faces = faces.shape[0]
    incidence = sp.csr_matrix(
        (np.ones(3 * num_faces), (faces.ravel(),
                                  np.repeat(np.arange(num_faces), 3))),
        shape=(vertices.shape[0], num_faces))
    return np.asarray(incidence @ face_q.reshape(num_faces, 16)).reshape(
        -1, 4, 4)


def _boundary_quadrics(vertices: np.ndarray, faces: np.ndarray,
                       weight: float) -> np.ndarray:
    """Quadrics ``(V, 4, 4)`` that keep boundary edges in place.

    Each boundary edge (an edge of a single face) adds, to both of its
    vertices, ``weight * |edge|^2`` times the quadric of the plane through
    the edge perpendicular to its face; zero for a closed mesh.
    """
    src = faces.reshape(-1)
    dst = np.roll(faces, -1, axis=1).reshape(-1)
    num_verts = vertices.shape[0]
    key = np.minimum(src, dst) * num_verts + np.maximum(src, dst)
    uniq, inverse, counts = np.unique(key, return_inverse=True,
                                      return_counts=True)
    out = np.zeros((num_verts, 4, 4))
    bnd = np.flatnonzero(counts[inverse] == 1)
    if bnd.size == 0:
        return out
    tri = vertices[faces[bnd // 3]]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    edge = vertices[dst[bnd]] - vertices[src[bnd]]
    perp = np.cross(edge, normal)
    perp /= np.maximum(np.linalg.norm(perp, axis=1, keepdims=True),
                       np.finfo(np.float64).tiny)
    plane = np.concatenate(
        [perp, -np.sum(perp * vertices[src[bnd]], axis=1, keepdims=True)],
        axis=1)
    quad = (weight * np.sum(edge**2, axis=1))[:, None, None] * (
        plane[:, :, None] * plane[:, None, :])
    np.add.at(out, src[bnd], quad)
    np.add.at(out, dst[bnd], quad)
    return out


def _compactness(tri: np.ndarray, dbl_area: np.ndarray) -> np.ndarray:
    """Triangle compactness ``4 sqrt(3) area / sum of squared edges``.

    Args:
        tri (np.ndarray): ``(K, 3, 3)`` triangle corners.
        dbl_area (np.ndarray): ``(K,)`` twice the triangle areas.

    Returns:
        np.ndarray: ``(K,)`` values in ``[0, 1]`` (1 = equilateral).
    """
    sq_len = np.sum((tri - np.roll(tri, 1, axis=1))**2, axis=(1, 2))
    return 2.0 * math.sqrt(3.0) * dbl_area / np.maximum(sq_len, 1e-300)


def _closest_points_on_triangles(
        points: np.ndarray,
        tri: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Closest point of each point on its paired triangle (vectorised).

    Classifies the point into the Voronoi regions of the triangle (3
    vertices, 3 edges, interior) and projects it there.

    Args:
        points (np.ndarray): ``(P, 3)`` query points.
        tri (np.ndarray): ``(P, 3, 3)`` triangle corners ``a, b, c``.

    Returns:
        tuple: squared distances ``(P,)`` and barycentric weights ``(P, 3)``
        of the closest points w.r.t. ``(a, b, c)`` (non-negative, summing
        to 1).
    """
    a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]
    ab, ac = b - a, c - a

    def dot(u, v):
        return np.einsum('ij,ij->i', u, v)

    ap, bp, cp = points - a, points - b, points - c
    d1, d2 = dot(ab, ap), dot(ac, ap)
    d3, d4 = dot(ab, bp), dot(ac, bp)
    d5, d6 = dot(ab, cp), dot(ac, cp)
    va = d3 * d6 - d5 * d4
    vb = d5 * d2 - d1 * d6
    vc = d1 * d4 - d3 * d2

    def safe_div(num, den):
        with np.errstate(divide='ignore', invalid='ignore'):
            out = num / den
        return np.where(np.isfinite(out), out, 0.0)

    num = points.shape[0]
    bary = np.empty((num, 3))
    # Interior (lowest priority); overwritten by the region tests below,
    # applied from the lowest to the highest priority.
    den = va + vb + vc
    v_in, w_in = safe_div(vb, den), safe_div(vc, den)
    bary[:] = np.stack([1.0 - v_in - w_in, v_in, w_in], axis=1)
    # Edge b-c.
    e1, e2 = d4 - d3, d5 - d6
    mask = (va <= 0) & (e1 >= 0) & (e2 >= 0)
    t = safe_div(e1, e1 + e2)
    bary[mask] = np.stack([np.zeros_like(t), 1.0 - t, t], axis=1)[mask]
    # Edge a-c.
    mask = (vb <= 0) & (d2 >= 0) & (d6 <= 0)
    t = safe_div(d2, d2 - d6)
    bary[mask] = np.stack([1.0 - t, np.zeros_like(t), t], axis=1)[mask]
    # Vertex c.
    mask = (d6 >= 0) & (d5 <= d6)
    bary[mask] = (0.0, 0.0, 1.0)
    # Edge a-b.
    mask = (vc <= 0) & (d1 >= 0) & (d3 <= 0)
    t = safe_div(d1, d1 - d3)
    bary[mask] = np.stack([1.0 - t, t, np.zeros_like(t)], axis=1)[mask]
    # Vertex b.
    mask = (d3 >= 0) & (d4 <= d3)
    bary[mask] = (0.0, 1.0, 0.0)
    # Vertex a.
    mask = (d1 <= 0) & (d2 <= 0)
    bary[mask] = (1.0, 0.0, 0.0)
    bary = np.clip(bary, 0.0, 1.0)
    bary /= bary.sum(axis=1, keepdims=True)
    closest = np.einsum('pk,pkd->pd', bary, tri)
    return np.sum((points - closest)**2, axis=1), bary


def _upsampling_matrix(fine_vertices: np.ndarray,
                       coarse_vertices: np.ndarray,
                       coarse_faces: np.ndarray,
                       chunk: int = 2048) -> sp.csr_matrix:
    """Barycentric up-sampling from a coarse mesh to fine vertices.

    Every fine vertex is projected onto the closest triangle of the coarse
    mesh (exact search: KD-tree on triangle centroids with a bounding-sphere
    bound); its row holds the barycentric weights of that projection on the
    triangle's three vertices. Ties go to the lowest face index.

    Args:
        fine_vertices (np.ndarray): ``(V_f, 3)`` positions.
        coarse_vertices (np.ndarray): ``(V_c, 3)`` positions.
        coarse_faces (np.ndarray): ``(F_c, 3)`` faces of the coarse mesh.
        chunk (int): Fine vertices processed per vectorised batch.

    Returns:
        sp.csr_matrix: ``(V_f, V_c)`` float64 with three stored entries per
        row (explicit zeros kept), rows summing to 1.
    """
    tri = coarse_vertices[coarse_faces]
    centroid = tri.mean(axis=1)
    radius = np.linalg.norm(tri - centroid[:, None], axis=2).max(axis=1)
    tree = cKDTree(centroid)
    num_fine, num_faces = fine_vertices.shape[0], coarse_faces.shape[0]
    best_face = np.empty(num_fine, dtype=np.int64)
    best_bary = np.empty((num_fine, 3))
    k = min(8, num_faces)
    for start in range(0, num_fine, chunk):
        pts = fine_vertices[start:start + chunk]
        num = pts.shape[0]
        # Upper bound of the distance from the k nearest centroids.
        _, cand = tree.query(pts, k=k)
        cand = cand.reshape(num, k)
        d2, _ = _closest_points_on_triangles(
            np.repeat(pts, k, axis=0), tri[cand.ravel()])
        bound = np.sqrt(d2.reshape(num, k).min(axis=1))
        # Every face whose bounding sphere is within the bound.
        lists = tree.query_ball_point(pts, bound + radius.max() + 1e-12)
        lengths = np.array([len(x) for x in lists])
        pt_idx = np.repeat(np.arange(num), lengths)
        face_idx = np.concatenate([np.asarray(x, dtype=np.int64)
                                   for x in lists])
        gap = np.linalg.norm(pts[pt_idx] - centroid[face_idx], axis=1)
        keep = gap - radius[face_idx] <= bound[pt_idx] + 1e-12
        pt_idx, face_idx = pt_idx[keep], face_idx[keep]
        d2, bary = _closest_points_on_triangles(pts[pt_idx], tri[face_idx])
        order = np.lexsort((face_idx, d2, pt_idx))
        first = order[np.searchsorted(pt_idx[order], np.arange(num))]
        best_face[start:start + num] = face_idx[first]
        best_bary[start:start + num] = bary[first]
    cols = coarse_faces[best_face]
    # Sort the three entries of each row by column (canonical CSR).
    col_order = np.argsort(cols, axis=1, kind='stable')
    cols = np.take_along_axis(cols, col_order, axis=1)
    data = np.take_along_axis(best_bary, col_order, axis=1)
    return sp.csr_matrix(
        (data.ravel(), cols.ravel().astype(np.int32),
         np.arange(0, 3 * num_fine + 1, 3, dtype=np.int32)),
        shape=(num_fine, coarse_vertices.shape[0]))


# ---------------------------------------------------------------------------
# Quadric edge-collapse decimation
# ---------------------------------------------------------------------------
class _Decimator:
    """QEM edge collapse onto existing vertices for manifold meshes.

    Each collapse merges an edge ``keep <- remove`` and leaves ``keep`` at
    its original position, so the surviving vertices are a subset of the
    input vertices. A collapse is allowed only if it satisfies the link
    condition (the two endpoints share exactly the two opposite vertices of
    the edge's faces, which keep at least 3 neighbours), which keeps the
    surface a closed 2-manifold of the same genus, and if no surviving face
    flips or degenerates.

    Meshes with boundary loops: a boundary edge (one face) may collapse when
    its endpoints share only the opposite vertex and its loop keeps at
    least 3 edges; an interior edge only when the removed vertex is
    interior (the loop never moves inwards, and no vertex pinches two loop
    parts together). Boundary edges add :func:`_boundary_quadrics`.

    Args:
        vertices (np.ndarray): ``(V, 3)`` float64 positions.
        faces (np.ndarray): ``(F, 3)`` int64 faces of a manifold mesh.
    """

    def __init__(self, vertices: np.ndarray, faces: np.ndarray) -> None:
        self.pos = vertices
        self.pos_h = np.concatenate(
            [vertices, np.ones((vertices.shape[0], 1))], axis=1)
        self.quadric = _vertex_quadrics(vertices, faces) + _boundary_quadrics(
            vertices, faces, _BOUNDARY_WEIGHT)
        self.faces = faces.tolist()
        self.face_alive = [True] * len(self.faces)
        num_verts = vertices.shape[0]
        self.vert_faces: List[set] = [set() for _ in range(num_verts)]
        for face_id, face in enumerate(self.faces):
            for vert in face:
                self.vert_faces[vert].add(face_id)
        edges = np.unique(
            np.sort(faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1),
            axis=0)
        self.neighbors: List[set] = [set() for _ in range(num_verts)]
        for a, b in edges.tolist():
            self.neighbors[a].add(b)
            self.neighbors[b].add(a)
        self.on_boundary = np.zeros(num_verts, dtype=bool)
        for a in range(num_verts):
            if any(self._is_boundary_edge(a, b) for b in self.neighbors[a]):
                self.on_boundary[a] = True
        self.alive = np.ones(num_verts, dtype=bool)
        self.num_alive = num_verts
        self.stamp = [0] * num_verts
        diag = np.linalg.norm(vertices.max(0) - vertices.min(0))
        self.min_dbl_area = _MIN_REL_AREA * max(diag, 1e-300)**2
        self.min_compactness = _MIN_COMPACTNESS

    # -- costs ------------------------------------------------------------
    def _costs(self, keep: np.ndarray, remove: np.ndarray) -> np.ndarray:
        """QEM cost of collapsing ``remove`` into ``keep`` (vectorised)."""
        quad = self.quadric[keep] + self.quadric[remove]
        pos_h = self.pos_h[keep]
        return np.einsum('ki,kij,kj->k', pos_h, quad, pos_h)

    def _entries(self, a: np.ndarray, b: np.ndarray) -> list:
        """Heap entries for both collapse directions of edges ``a-b``."""
        stamp = self.stamp
        a_list, b_list = a.tolist(), b.tolist()
        entries = []
        for keep, remove, costs in ((a_list, b_list, self._costs(a, b)),
                                    (b_list, a_list, self._costs(b, a))):
            entries.extend(
                (cost, k, r, stamp[k], stamp[r])
                for cost, k, r in zip(costs.tolist(), keep, remove))
        return entries

    def _all_entries(self) -> list:
        edges = [(a, b) for a in np.flatnonzero(self.alive).tolist()
                 for b in self.neighbors[a] if a < b]
        edges_arr = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
        return self._entries(edges_arr[:, 0], edges_arr[:, 1])

    # -- topology -----------------------------------------------------------
    def _is_boundary_edge(self, a: int, b: int) -> bool:
        return len(self.vert_faces[a] & self.vert_faces[b]) == 1

    def _boundary_neighbors(self, vert: int) -> set:
        return {b for b in self.neighbors[vert]
                if self._is_boundary_edge(vert, b)}

    def _is_valid(self, keep: int, remove: int) -> bool:
        """Link condition and no flipped/degenerate faces."""
        common = self.neighbors[keep] & self.neighbors[remove]
        if self.on_boundary[remove]:
            # Only along the loop, which must keep >= 3 edges.
            if not self._is_boundary_edge(keep, remove) or len(common) != 1:
                return False
            if (self._boundary_neighbors(keep) - {remove}) == (
                    self._boundary_neighbors(remove) - {keep}):
                return False
        elif len(common) != 2:
            return False
        # The opposite vertices lose a neighbour; keeping interior ones at
        # degree >= 3 stops a tetrahedron (component) from folding into a
        # pillow (boundary ones keep >= 2: one face).
        if any(len(self.neighbors[vert]) <= 2 + (not self.on_boundary[vert])
               for vert in common):
            return False
        moved = [
            self.faces[f] for f in self.vert_faces[remove]
            if keep not in self.faces[f]
        ]
        if not moved:
            return True
        tri_idx = np.asarray(moved, dtype=np.int64)
        tri = self.pos[tri_idx]
        normal_old = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        tri[tri_idx == remove] = self.pos[keep]
        normal_new = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        norm_old = np.linalg.norm(normal_old, axis=1)
        norm_new = np.linalg.norm(normal_new, axis=1)
        if np.any(norm_new <= self.min_dbl_area):
            return False
        cos = np.einsum('ij,ij->i', normal_old, normal_new)
        if not np.all(cos > _MIN_NORMAL_COS * norm_old * norm_new):
            return False
        if self.min_compactness > 0:
            q_new = _compactness(tri, norm_new).min()
            if q_new < self.min_compactness:
                # Allowed only if the moved faces were already worse.
                q_old = _compactness(self.pos[tri_idx], norm_old).min()
                return bool(q_new >= q_old)
        return True

    def _collapse(self, keep: int, remove: int) -> None:
        faces, vert_faces = self.faces, self.vert_faces
        for face_id in sorted(vert_faces[remove]):
            face = faces[face_id]
            if keep in face:
                self.face_alive[face_id] = False
                for vert in face:
                    if vert != remove:
                        vert_faces[vert].discard(face_id)
            else:
                face[face.index(remove)] = keep
                vert_faces[keep].add(face_id)
        vert_faces[remove] = set()
        neighbors = self.neighbors
        for vert in neighbors[remove]:
            neighbors[vert].discard(remove)
            if vert != keep:
                neighbors[vert].add(keep)
                neighbors[keep].add(vert)
        neighbors[remove] = set()
        self.quadric[keep] += self.quadric[remove]
        self.on_boundary[keep] |= self.on_boundary[remove]
        self.alive[remove] = False
        self.num_alive -= 1
        self.stamp[keep] += 1

    # -- main loop ----------------------------------------------------------
    def run(self, target: int, verbose: bool = False,
            level: int = 0) -> Tuple[np.ndarray, np.ndarray]:
        """Collapse edges until ``target`` vertices remain.

        Args:
            target (int): Number of vertices to keep (``>= 4``).
            verbose (bool): Log progress.
            level (int): Level index, only used in log messages.

        Returns:
            tuple: ``keep (target,)`` sorted int64 indices of the surviving
            input vertices, and ``faces (F', 3)`` int64 of the decimated mesh
            indexing ``keep`` (faces in their original order).

        Raises:
            RuntimeError: If no valid collapse is left before reaching
                ``target``.
        """
        start_count = self.num_alive
        heap = self._all_entries()
        heapq.heapify(heap)
        collapsed_since_refill = 0
        report_every = max(1, (start_count - target) // 5)
        while self.num_alive > target:
            if not heap:
                if collapsed_since_refill == 0 and self.min_compactness > 0:
                    # Only shape quality blocks progress: drop that check.
                    if verbose:
                        _log(f'level {level}: relaxing the face-quality '
                             f'check at {self.num_alive} vertices')
                    self.min_compactness = 0.0
                    collapsed_since_refill = 1
                if collapsed_since_refill == 0:
                    raise RuntimeError(
                        f'mesh decimation got stuck at {self.num_alive} '
                        f'vertices (target {target}): no edge collapse keeps '
                        'the mesh manifold without flipping faces')
                heap = self._all_entries()
                heapq.heapify(heap)
                collapsed_since_refill = 0
                continue
            _, keep, remove, stamp_k, stamp_r = heapq.heappop(heap)
            if (not self.alive[keep] or not self.alive[remove]
                    or self.stamp[keep] != stamp_k
                    or self.stamp[remove] != stamp_r
                    or remove not in self.neighbors[keep]):
                continue
            if not self._is_valid(keep, remove):
                continue
            self._collapse(keep, remove)
            collapsed_since_refill += 1
            nbrs = np.fromiter(sorted(self.neighbors[keep]), dtype=np.int64)
            for entry in self._entries(np.full_like(nbrs, keep), nbrs):
                heapq.heappush(heap, entry)
            done = start_count - self.num_alive
            if verbose and done % report_every == 0:
                _log(f'level {level}: {self.num_alive} vertices left '
                     f'(target {target})')
        keep_idx = np.flatnonzero(self.alive)
        remap = np.full(self.alive.size, -1, dtype=np.int64)
        remap[keep_idx] = np.arange(keep_idx.size)
        live_faces = np.asarray(
            [f for f, ok in zip(self.faces, self.face_alive) if ok],
            dtype=np.int64).reshape(-1, 3)
        return keep_idx, remap[live_faces]


def _log(msg: str) -> None:
    """Print a progress message through MMEngine's current logger."""
    from mmengine.logging import print_log
    print_log(f'[mesh_downsampling] {msg}', logger='current')


# ---------------------------------------------------------------------------
# Public API: building and saving
# ---------------------------------------------------------------------------
def build_mesh_sampling(vertices: np.ndarray,
                        faces: np.ndarray,
                        factors: Sequence[float] = (4, 4),
                        verbose: bool = False,
                        allow_boundary: bool = False) -> SamplingDict:
    """Build a GraphCMR/METRO-style mesh sampling hierarchy.

    Level ``i + 1`` keeps ``ceil(V_i / factors[i])`` of the vertices of level
    ``i`` (6890 -> 1723 -> 431 for SMPL with the default factors). The
    decimation is deterministic.

    Args:
        vertices (np.ndarray): ``(V, 3)`` positions of a closed triangle
            mesh (metres for SMPL; any unit works).
        faces (np.ndarray): ``(F, 3)`` integer faces; every edge must be
            shared by exactly two faces.
        factors (Sequence[float]): Down-sampling factor per level, each
            ``> 1``.
        verbose (bool): Log decimation progress. Defaults to False.
        allow_boundary (bool): Accept a mesh with boundary loops (edges of
            a single face), e.g. MANO's hand open at the wrist; the loops
            are kept (shortened by collapses along them when needed).
            Defaults to False: closed meshes only.

    Returns:
        dict: ``{'A', 'D', 'U', 'F'}`` as described in
        :mod:`mpt_plugin.body_models.mesh_sampler` (the same structure as
        ``load_mesh_downsampling`` returns).

    Raises:
        ValueError: If the mesh is not a valid closed triangle mesh or a
            factor would leave fewer than 4 vertices.
        RuntimeError: If decimation cannot reach a target count.
    """
    vertices, faces = _as_mesh_arrays(vertices, faces, allow_boundary)
    factors = list(factors)
    sampling: SamplingDict = {
        'A': [_adjacency_matrix(vertices.shape[0], faces)],
        'D': [],
        'U': [],
        'F': [faces.copy()],
    }
    cur_v, cur_f = vertices, faces
    for level, factor in enumerate(factors):
        if not factor > 1:
            raise ValueError(f'factors must be > 1, got {factors}')
        target = int(math.ceil(cur_v.shape[0] / factor))
        if target < 4:
            raise ValueError(
                f'factor {factor} at level {level} leaves {target} vertices '
                f'of {cur_v.shape[0]}; at least 4 are needed')
        if verbose:
            _log(f'level {level}: decimating {cur_v.shape[0]} -> {target} '
                 'vertices')
        keep, new_f = _Decimator(cur_v, cur_f).run(target, verbose, level)
        new_v = cur_v[keep]
        sampling['D'].append(_selection_matrix(keep, cur_v.shape[0]))
        sampling['U'].append(_upsampling_matrix(cur_v, new_v, new_f))
        sampling['A'].append(_adjacency_matrix(target, new_f))
        sampling['F'].append(new_f)
        cur_v, cur_f = new_v, new_f
    return sampling


def save_mesh_downsampling(path: Union[str, os.PathLike],
                           sampling: SamplingDict) -> None:
    """Write a sampling dict in the standard ``mesh_downsampling.npz`` layout.

    The file holds the object arrays ``A``, ``D``, ``U`` (lists of
    ``scipy.sparse.csc_matrix``, float64 data, int32 indices) and ``F``
    (uint32 face arrays), as GraphCMR's file does; the psbody ``M`` entry is
    not written. An optional ``V`` entry of the dict (float64 ``(V_i, 3)``
    vertices per level, as in ``mano_downsampling.npz``) is written too.
    Read it back with
    :func:`mpt_plugin.body_models.io.load_mesh_downsampling`.

    Args:
        path (str | os.PathLike): Output ``.npz`` path (numpy appends
            ``.npz`` if missing).
        sampling (dict): Dict with keys ``'A'``, ``'D'``, ``'U'``, ``'F'``
            (and optionally ``'V'``).

    Raises:
        KeyError: If a key is missing.
        ValueError: If the shapes do not chain.
    """
    for key in MESH_SAMPLING_KEYS:
        if key not in sampling:
            raise KeyError(f'mesh sampling dict has no key {key!r}; '
                           f'expected keys {MESH_SAMPLING_KEYS}')
    check_mesh_sampling(sampling)

    def to_csc(mat) -> sp.csc_matrix:
        mat = sp.csc_matrix(mat, dtype=np.float64)
        mat.indices = mat.indices.astype(np.int32)
        mat.indptr = mat.indptr.astype(np.int32)
        return mat

    def obj_array(items: list) -> np.ndarray:
        arr = np.empty(len(items), dtype=object)
        for i, item in enumerate(items):
            arr[i] = item
        return arr

    arrays = {key: obj_array([to_csc(m) for m in sampling[key]])
              for key in ('A', 'D', 'U')}
    arrays['F'] = obj_array(
        [np.ascontiguousarray(f, dtype=np.uint32) for f in sampling['F']])
    if 'V' in sampling:
        sizes = [a.shape[0] for a in sampling['A']]
        verts = [np.ascontiguousarray(v, dtype=np.float64)
                 for v in sampling['V']]
        if [v.shape for v in verts] != [(n, 3) for n in sizes]:
            raise ValueError('V must hold (V_i, 3) vertices per level, got '
                             f'{[v.shape for v in verts]} for {sizes}')
        arrays['V'] = obj_array(verts)
    np.savez(path, allow_pickle=True, **arrays)
