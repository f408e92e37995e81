"""Down/up-sampling of SMPL-topology meshes (6890 -> 1723 -> 431 vertices).

:class:`MeshSampler` applies the sparse ``D``/``U`` matrices of the mesh
hierarchy used by GraphCMR, METRO and Mesh Graphormer (their
``mesh_downsampling.npz``) to batched per-vertex features with one sparse
matrix product per call. Read the files with
:func:`mpt_plugin.body_models.io.load_mesh_downsampling`; build and write
them with :mod:`mpt_plugin.synthetic.mesh_downsampling`.

The sampling dict used throughout has the keys (``L`` levels, level 0 the
finest, ``V_i`` vertices at level ``i``):

* ``'A'``: ``L`` symmetric adjacency matrices, ``scipy.sparse.csr_matrix``
  ``(V_i, V_i)``; entry ``(j, k)`` is the number of faces that contain the
  edge ``j-k`` (2 for every edge of a closed manifold mesh, as in the real
  file).
* ``'D'``: ``L - 1`` selection matrices ``(V_{i+1}, V_i)`` with exactly one
  1.0 per row.
* ``'U'``: ``L - 1`` up-sampling matrices ``(V_i, V_{i+1})`` with three
  stored barycentric weights per row (explicit zeros are kept).
* ``'F'``: ``L`` int64 face arrays ``(F_i, 3)`` indexing level ``i``.
"""
import os
from typing import Dict, List, Optional, Union

import numpy as np
import scipy.sparse as sp
import torch

from mpt_plugin.utils.value_checks import require_finite

__all__ = [
    'SamplingDict', 'MESH_SAMPLING_KEYS', 'check_mesh_sampling', 'MeshSampler'
]

SamplingDict = Dict[str, list]
#: Keys of a complete sampling dict (as written to ``mesh_downsampling.npz``).
MESH_SAMPLING_KEYS = ('A', 'D', 'U', 'F')


def check_mesh_sampling(sampling: SamplingDict) -> List[int]:
    """Check the keys and shapes of a sampling dict.

    Args:
        sampling (dict): Dict with ``'D'`` and ``'U'`` (and optionally
            ``'A'``, ``'F'``).

    Returns:
        list[int]: Vertex count per level.

    Raises:
        KeyError: If ``'D'`` or ``'U'`` is missing.
        ValueError: If the matrix shapes do not chain, a D/U entry is not
            finite in float32, or a face index is outside ``[0, V_i)``.
    """
    for key in ('D', 'U'):
        if key not in sampling:
            raise KeyError(f'mesh sampling dict has no key {key!r}; '
                           f'expected keys {MESH_SAMPLING_KEYS}')
    down, up = list(sampling['D']), list(sampling['U'])
    if not down or len(down) != len(up):
        raise ValueError('mesh sampling needs as many D as U matrices '
                         f'(>= 1), got {len(down)} D and {len(up)} U')
    num_vertices = [down[0].shape[1]] + [d.shape[0] for d in down]
    for i, (d_mat, u_mat) in enumerate(zip(down, up)):
        expected = (num_vertices[i + 1], num_vertices[i])
        if tuple(d_mat.shape) != expected:
            raise ValueError(f"D[{i}] has shape {tuple(d_mat.shape)}, "
                             f'expected {expected}')
        if tuple(u_mat.shape) != expected[::-1]:
            raise ValueError(f"U[{i}] has shape {tuple(u_mat.shape)}, "
                             f'expected {expected[::-1]}')
        for key, mat in (('D', d_mat), ('U', u_mat)):
            # NaN/inf in a sampling matrix gives NaN vertices downstream
            values = mat.data if sp.issparse(mat) else np.asarray(mat)
            require_finite(values, 'mesh sampling dict', f'{key}[{i}]',
                           expected=f'finite {key} matrix entries',
                           error_cls=ValueError)
    if 'A' in sampling:
        a_shapes = [tuple(a.shape) for a in sampling['A']]
        if a_shapes != [(n, n) for n in num_vertices]:
            raise ValueError(f'A shapes {a_shapes} do not match the vertex '
                             f'counts {num_vertices}')
    if 'F' in sampling:
        if len(sampling['F']) != len(num_vertices):
            raise ValueError(f"F has {len(sampling['F'])} levels, expected "
                             f'{len(num_vertices)}')
        for i, face in enumerate(sampling['F']):
            face = np.asarray(face)
            if face.ndim != 2 or face.shape[1] != 3 or (face.size and (
                    face.max() >= num_vertices[i] or face.min() < 0)):
                raise ValueError(f'F[{i}] must be (F, 3) indices below '
                                 f'{num_vertices[i]}, got shape {face.shape}')
    return num_vertices


# ---------------------------------------------------------------------------
# Torch module
# ---------------------------------------------------------------------------
def _scipy_to_torch_sparse(mat: sp.spmatrix) -> torch.Tensor:
    """Convert a scipy sparse matrix to a coalesced float32 COO tensor."""
    coo = sp.coo_matrix(mat)
    indices = torch.from_numpy(
        np.stack([coo.row, coo.col]).astype(np.int64))
    values = torch.from_numpy(coo.data.astype(np.float32))
    return torch.sparse_coo_tensor(
        indices, values, size=coo.shape, check_invariants=True).coalesce()


class MeshSampler(torch.nn.Module):
    """Sparse down/up-sampling between the levels of a mesh hierarchy.

    Holds, for every pair of levels ``i < j``, the composed down-sampling
    ``D_{i->j} = D[j-1] @ ... @ D[i]`` ``(V_j, V_i)`` and up-sampling
    ``U_{j->i} = U[i] @ ... @ U[j-1]`` ``(V_i, V_j)`` as sparse COO buffers
    (non-persistent: they move with ``.to()`` but are not in the
    ``state_dict``), so every call is one sparse matrix product.

    Attributes:
        num_vertices (list[int]): Vertex count per level, finest first
            (``[6890, 1723, 431]`` for SMPL).
        num_levels (int): Number of levels.
        faces (list[torch.Tensor]): int64 CPU ``(F_i, 3)`` faces per level
            (empty if the sampling dict had no ``'F'``).

    Args:
        sampling (dict): Sampling dict with ``'D'`` and ``'U'`` lists of
            scipy sparse matrices (``'A'`` and ``'F'`` are kept if present).

    Example:
        >>> sampler = MeshSampler.from_file('mesh_downsampling.npz')
        >>> verts = torch.rand(2, 6890, 3)             # (B, V, 3) metres
        >>> coarse = sampler.downsample(verts)          # (2, 431, 3)
        >>> fine = sampler.upsample(coarse)             # (2, 6890, 3)
    """

    def __init__(self, sampling: SamplingDict) -> None:
        super().__init__()
        self.num_vertices: List[int] = check_mesh_sampling(sampling)
        self.num_levels = len(self.num_vertices)
        down = [sp.csr_matrix(d, dtype=np.float64) for d in sampling['D']]
        up = [sp.csr_matrix(u, dtype=np.float64) for u in sampling['U']]
        self._adjacency = [
            sp.csr_matrix(a, dtype=np.float64) for a in sampling.get('A', [])
        ]
        self.faces: List[torch.Tensor] = [
            torch.as_tensor(np.asarray(f, dtype=np.int64))
            for f in sampling.get('F', [])
        ]
        for i in range(self.num_levels):
            d_acc = None
            u_acc = None
            for j in range(i + 1, self.num_levels):
                d_acc = down[j - 1] if d_acc is None else down[j - 1] @ d_acc
                u_acc = up[j - 1] if u_acc is None else u_acc @ up[j - 1]
                self.register_buffer(
                    f'down_{i}_{j}', _scipy_to_torch_sparse(d_acc),
                    persistent=False)
                self.register_buffer(
                    f'up_{j}_{i}', _scipy_to_torch_sparse(u_acc),
                    persistent=False)
        self._up_single = up

    @classmethod
    def from_file(cls, path: Union[str, os.PathLike]) -> 'MeshSampler':
        """Build from a ``mesh_downsampling.npz`` file.

        Args:
            path (str | os.PathLike): File in the GraphCMR/METRO layout.

        Returns:
            MeshSampler: The sampler.
        """
        from .io import load_mesh_downsampling
        return cls(load_mesh_downsampling(path))

    @classmethod
    def from_matrices(cls, sampling: SamplingDict) -> 'MeshSampler':
        """Build from a sampling dict (e.g. :func:`mpt_plugin.synthetic.
        mesh_downsampling.build_mesh_sampling`).

        Args:
            sampling (dict): Dict with ``'D'``/``'U'`` (and ``'A'``/``'F'``).

        Returns:
            MeshSampler: The sampler.
        """
        return cls(sampling)

    def _check_levels(self, n1: int, n2: int) -> None:
        for level in (n1, n2):
            if not 0 <= level < self.num_levels:
                raise ValueError(f'mesh level {level} out of range '
                                 f'[0, {self.num_levels})')

    def _matmul(self, mat: torch.Tensor, x: torch.Tensor, n_in: int,
                name: str) -> torch.Tensor:
        """``mat (V_out, V_in)`` applied to ``x (B, V_in, C)`` or (V, C)."""
        if x.dim() not in (2, 3):
            raise ValueError(f'{name}: x must be (B, V, C) or (V, C), got '
                             f'shape {tuple(x.shape)}')
        squeeze = x.dim() == 2
        if squeeze:
            x = x.unsqueeze(0)
        if x.shape[1] != n_in:
            raise ValueError(
                f'{name}: x has {x.shape[1]} vertices, level expects {n_in} '
                f'(shape {tuple(x.shape)})')
        if not x.is_floating_point():
            raise ValueError(f'{name}: x must be floating point, got '
                             f'{x.dtype}')
        if mat.dtype != x.dtype or mat.device != x.device:
            mat = mat.to(device=x.device, dtype=x.dtype)
        batch, _, channels = x.shape
        flat = x.permute(1, 0, 2).reshape(n_in, batch * channels)
        out = torch.sparse.mm(mat, flat)
        out = out.reshape(mat.shape[0], batch, channels).permute(1, 0, 2)
        out = out.contiguous()
        return out[0] if squeeze else out

    def downsample(self, x: torch.Tensor, n1: int = 0,
                   n2: int = 2) -> torch.Tensor:
        """Down-sample per-vertex features from level ``n1`` to ``n2``.

        Args:
            x (torch.Tensor): ``(B, V_n1, C)`` (or ``(V_n1, C)``) float
                features, e.g. vertices in metres.
            n1 (int): Source level. Defaults to 0 (finest).
            n2 (int): Target level ``>= n1``. Defaults to 2.

        Returns:
            torch.Tensor: ``(B, V_n2, C)`` (or ``(V_n2, C)``), same dtype.
        """
        self._check_levels(n1, n2)
        if n2 < n1:
            raise ValueError(f'downsample needs n2 >= n1, got n1={n1}, '
                             f'n2={n2}')
        if n1 == n2:
            return self._matmul_identity(x, n1, 'downsample')
        return self._matmul(getattr(self, f'down_{n1}_{n2}'), x,
                            self.num_vertices[n1], 'downsample')

    def upsample(self, x: torch.Tensor, n1: int = 2,
                 n2: int = 0) -> torch.Tensor:
        """Up-sample per-vertex features from level ``n1`` to ``n2``.

        Args:
            x (torch.Tensor): ``(B, V_n1, C)`` (or ``(V_n1, C)``) float
                features.
            n1 (int): Source level. Defaults to 2 (coarsest of three).
            n2 (int): Target level ``<= n1``. Defaults to 0.

        Returns:
            torch.Tensor: ``(B, V_n2, C)`` (or ``(V_n2, C)``), same dtype.
        """
        self._check_levels(n1, n2)
        if n2 > n1:
            raise ValueError(f'upsample needs n2 <= n1, got n1={n1}, '
                             f'n2={n2}')
        if n1 == n2:
            return self._matmul_identity(x, n1, 'upsample')
        return self._matmul(getattr(self, f'up_{n1}_{n2}'), x,
                            self.num_vertices[n1], 'upsample')

    def _matmul_identity(self, x: torch.Tensor, level: int,
                         name: str) -> torch.Tensor:
        if x.dim() not in (2, 3) or x.shape[-2] != self.num_vertices[level]:
            raise ValueError(
                f'{name}: x must be (B, {self.num_vertices[level]}, C), got '
                f'shape {tuple(x.shape)}')
        return x

    def dense_upsampling_matrices(
            self,
            dtype: torch.dtype = torch.float32,
            device: Optional[torch.device] = None) -> List[torch.Tensor]:
        """Dense single-level up-sampling matrices.

        ``U[i]`` has shape ``(V_i, V_{i+1})``, which is exactly the
        ``weight`` shape of ``torch.nn.Linear(V_{i+1}, V_i)``, e.g.
        ``Linear(431, 1723).weight.data.copy_(mats[1])`` and
        ``Linear(1723, 6890).weight.data.copy_(mats[0])`` (bias 0).

        Args:
            dtype (torch.dtype): Output dtype. Defaults to float32.
            device (torch.device, optional): Output device; defaults to the
                buffers' device.

        Returns:
            list[torch.Tensor]: ``num_levels - 1`` dense matrices, finest
            first.
        """
        if device is None:
            device = self.up_1_0.device
        return [
            torch.as_tensor(u.toarray(), dtype=dtype, device=device)
            for u in self._up_single
        ]

    def adjacency(self,
                  level: int,
                  add_self_loops: bool = True,
                  row_normalize: bool = True) -> torch.Tensor:
        """Binary graph adjacency of one level as a sparse COO tensor.

        With the defaults this is the row-normalised ``(A + I)`` that
        Graphormer's graph convolution uses (for level 2 of SMPL: 431x431,
        3005 non-zeros).

        Args:
            level (int): Mesh level.
            add_self_loops (bool): Add the identity. Defaults to True.
            row_normalize (bool): Divide each row by its sum. Defaults to
                True.

        Returns:
            torch.Tensor: ``(V_level, V_level)`` float32 sparse COO tensor
            (CPU).

        Raises:
            ValueError: If the sampler was built without ``'A'`` or the
                level is out of range.
        """
        if not self._adjacency:
            raise ValueError('this MeshSampler was built without adjacency '
                             "matrices (no 'A' in the sampling dict)")
        self._check_levels(level, level)
        adj = self._adjacency[level].copy()
        adj.data = (adj.data != 0).astype(np.float64)
        adj.eliminate_zeros()
        if add_self_loops:
            adj = adj + sp.identity(adj.shape[0], format='csr')
        if row_normalize:
            sums = np.asarray(adj.sum(axis=1)).ravel()
            adj = sp.diags(1.0 / np.maximum(sums, 1e-12)) @ adj
        return _scipy_to_torch_sparse(adj)

    def extra_repr(self) -> str:
        return f'num_vertices={self.num_vertices}'
