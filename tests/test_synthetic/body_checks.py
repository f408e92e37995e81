"""Geometric checks shared by the tests of the synthetic body model."""
import numpy as np


def winding_numbers(points, verts, faces):
    """Generalised winding number of each point ``(P,)`` (1 inside a closed
    outward-oriented mesh, 0 outside)."""
    a, b, c = (verts[faces[:, k]][None] - points[:, None] for k in range(3))
    la, lb, lc = (np.linalg.norm(x, axis=2) for x in (a, b, c))
    det = np.einsum('pfk,pfk->pf', a, np.cross(b, c))
    den = (la * lb * lc + np.einsum('pfk,pfk->pf', a, b) * lc +
           np.einsum('pfk,pfk->pf', b, c) * la +
           np.einsum('pfk,pfk->pf', c, a) * lb)
    return 2.0 * np.arctan2(det, den).sum(axis=1) / (4.0 * np.pi)


def face_normals(verts, faces):
    """Face normals ``(F, 3)``, not normalised (length: twice the area)."""
    return np.cross(verts[faces[:, 1]] - verts[faces[:, 0]],
                    verts[faces[:, 2]] - verts[faces[:, 0]])


def height(verts):
    """Height ``y_max - y_min`` of ``(V, 3)`` vertices (metres)."""
    return verts[:, 1].max() - verts[:, 1].min()
