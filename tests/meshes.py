"""Test-only closed triangle meshes (spheres and ellipsoids).

Used by the tests of the mesh sampling builder and of the runtime
``MeshSampler``.
"""
import numpy as np


def icosphere(subdivisions: int = 3,
              noise: float = 0.01,
              axes=(1.0, 0.8, 0.6),
              seed: int = 0):
    """Subdivided icosahedron scaled to an ellipsoid, with radial noise.

    Args:
        subdivisions (int): Loop subdivisions of the icosahedron.
        noise (float): Relative radial noise amplitude.
        axes (tuple): Semi-axes of the ellipsoid.
        seed (int): Noise seed.

    Returns:
        tuple: vertices ``(V, 3)`` float64 and faces ``(F, 3)`` int64 with
        outward normals; ``V = 10 * 4**s + 2`` (642 for ``s = 3``).
    """
    t = (1.0 + 5.0**0.5) / 2.0
    verts = [[-1, t, 0], [1, t, 0], [-1, -t, 0], [1, -t, 0], [0, -1, t],
             [0, 1, t], [0, -1, -t], [0, 1, -t], [t, 0, -1], [t, 0, 1],
             [-t, 0, -1], [-t, 0, 1]]
    faces = [[0, 11, 5], [0, 5, 1], [0, 1, 7], [0, 7, 10], [0, 10, 11],
             [1, 5, 9], [5, 11, 4], [11, 10, 2], [10, 7, 6], [7, 1, 8],
             [3, 9, 4], [3, 4, 2], [3, 2, 6], [3, 6, 8], [3, 8, 9], [4, 9, 5],
             [2, 4, 11], [6, 2, 10], [8, 6, 7], [9, 8, 1]]
    verts = [np.asarray(v, dtype=np.float64) / np.linalg.norm(v)
             for v in verts]
    for _ in range(subdivisions):
        cache = {}

        def midpoint(i, j):
            key = (min(i, j), max(i, j))
            if key not in cache:
                mid = verts[i] + verts[j]
                verts.append(mid / np.linalg.norm(mid))
                cache[key] = len(verts) - 1
            return cache[key]

        new_faces = []
        for a, b, c in faces:
            ab, bc, ca = midpoint(a, b), midpoint(b, c), midpoint(c, a)
            new_faces += [[a, ab, ca], [b, bc, ab], [c, ca, bc],
                          [ab, bc, ca]]
        faces = new_faces
    verts = np.stack(verts)
    rng = np.random.default_rng(seed)
    verts *= 1.0 + noise * rng.uniform(-1, 1, size=(len(verts), 1))
    verts *= np.asarray(axes)
    return verts, np.asarray(faces, dtype=np.int64)


def uv_sphere(num_segments: int = 82, num_rings: int = 84):
    """UV sphere (radius 1): ``num_segments * num_rings + 2`` vertices.

    The defaults give the SMPL counts, 6890 vertices and 13776 faces.
    """
    theta = np.pi * np.arange(1, num_rings + 1) / (num_rings + 1)
    phi = 2 * np.pi * np.arange(num_segments) / num_segments
    theta, phi = np.meshgrid(theta, phi, indexing='ij')
    ring = np.stack([np.sin(theta) * np.cos(phi), np.cos(theta),
                     np.sin(theta) * np.sin(phi)], axis=-1).reshape(-1, 3)
    verts = np.concatenate([[[0.0, 1.0, 0.0]], ring, [[0.0, -1.0, 0.0]]])
    bottom = len(verts) - 1
    seg = np.arange(num_segments)
    nxt = (seg + 1) % num_segments

    def idx(r, s):
        return 1 + r * num_segments + s

    faces = [
        np.stack([np.zeros_like(seg), idx(0, nxt), idx(0, seg)], 1),
        np.stack([np.full_like(seg, bottom), idx(num_rings - 1, seg),
                  idx(num_rings - 1, nxt)], 1)
    ]
    for r in range(num_rings - 1):
        a, b = idx(r, seg), idx(r, nxt)
        c, d = idx(r + 1, seg), idx(r + 1, nxt)
        faces += [np.stack([a, b, d], 1), np.stack([a, d, c], 1)]
    return verts, np.concatenate(faces).astype(np.int64)


def undirected_edges(faces):
    """Sorted unique undirected edges ``(E, 2)`` of ``faces`` ``(F, 3)``
    and how many faces hold each ``(E,)``."""
    edges = np.sort(faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1)
    return np.unique(edges, axis=0, return_counts=True)
