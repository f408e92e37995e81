"""Time ``build_mesh_sampling`` on an SMPL-sized closed mesh.

A UV sphere with 82 segments x 84 rings plus two poles has exactly the SMPL
counts (6890 vertices, 13776 faces); it is decimated 6890 -> 1723 -> 431 as
GraphCMR's ``mesh_downsampling.npz``. Also times ``MeshSampler`` on the
result and reports the up-sampling error.

Usage::

    python tools/benchmark/bench_mesh_sampling.py [--repeat 3] [--out x.npz]
"""
import argparse
import time

import numpy as np
import torch

from mpt_plugin.body_models.mesh_sampler import MeshSampler
from mpt_plugin.synthetic.mesh_downsampling import (build_mesh_sampling,
                                                    save_mesh_downsampling)


def uv_sphere(num_segments: int = 82, num_rings: int = 84):
    """UV sphere of radius 1 (``num_segments * num_rings + 2`` vertices).

    Args:
        num_segments (int): Vertices per ring.
        num_rings (int): Rings between the poles.

    Returns:
        tuple: vertices ``(V, 3)`` float64 and outward faces ``(F, 3)``
        int64 with ``F = 2 * V - 4``.
    """
    theta = np.pi * np.arange(1, num_rings + 1) / (num_rings + 1)
    phi = 2 * np.pi * np.arange(num_segments) / num_segments
    theta, phi = np.meshgrid(theta, phi, indexing='ij')
    ring = np.stack([
        np.sin(theta) * np.cos(phi),
        np.cos(theta),
        np.sin(theta) * np.sin(phi)
    ], axis=-1).reshape(-1, 3)
    verts = np.concatenate([[[0.0, 1.0, 0.0]], ring, [[0.0, -1.0, 0.0]]])
    bottom = len(verts) - 1
    seg = np.arange(num_segments)
    nxt = (seg + 1) % num_segments

    def idx(r, s):
        return 1 + r * num_segments + s

    faces = [
        np.stack([np.zeros_like(seg), idx(0, nxt), idx(0, seg)], 1),
        np.stack([
            np.full_like(seg, bottom),
            idx(num_rings - 1, seg),
            idx(num_rings - 1, nxt)
        ], 1)
    ]
    for r in range(num_rings - 1):
        a, b = idx(r, seg), idx(r, nxt)
        c, d = idx(r + 1, seg), idx(r + 1, nxt)
        faces += [np.stack([a, b, d], 1), np.stack([a, d, c], 1)]
    return verts, np.concatenate(faces).astype(np.int64)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeat', type=int, default=3,
                        help='number of timed builds')
    parser.add_argument('--verbose', action='store_true',
                        help='log decimation progress')
    parser.add_argument('--out', default=None,
                        help='optionally save the sampling to this .npz')
    return parser.parse_args()


def main():
    args = parse_args()
    torch.set_num_threads(1)
    verts, faces = uv_sphere()
    print(f'mesh: {len(verts)} vertices, {len(faces)} faces')
    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        sampling = build_mesh_sampling(verts, faces, verbose=args.verbose)
        times.append(time.perf_counter() - start)
    counts = [a.shape[0] for a in sampling['A']]
    print(f'levels: {counts} vertices, '
          f"{[len(f) for f in sampling['F']]} faces")
    print(f'build_mesh_sampling: min {min(times):.2f} s, '
          f'mean {np.mean(times):.2f} s over {args.repeat} run(s)')
    fine = verts
    for level, (d_mat, u_mat) in enumerate(zip(sampling['D'],
                                              sampling['U'])):
        coarse = d_mat @ fine
        err = np.linalg.norm(u_mat @ coarse - fine, axis=1)
        print(f'U[{level}] error on the unit sphere: mean {err.mean():.5f},'
              f' max {err.max():.5f}')
        fine = coarse

    sampler = MeshSampler.from_matrices(sampling)
    x = torch.randn(64, 6890, 3)
    start = time.perf_counter()
    for _ in range(10):
        coarse = sampler.downsample(x)
        sampler.upsample(coarse)
    per_call = (time.perf_counter() - start) / 20 * 1e3
    print(f'MeshSampler down/up (B=64, CPU, 1 thread): {per_call:.2f} ms '
          'per call')
    if args.out:
        save_mesh_downsampling(args.out, sampling)
        print(f'saved to {args.out}')


if __name__ == '__main__':
    main()
