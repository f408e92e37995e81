"""A memory-mapped on-disk cache of posed MoCap meshes.

MPT pre-trains on millions of meshes sampled sparsely from AMASS. Posing them
is done once, in batches, by the body model; the vertices and joints are
written to ``.npy`` files that every epoch, every data-loader worker and every
rank memory-maps (zero copy, shared through the page cache).

Cache layout (one folder per fingerprint of its inputs)::

    CACHE_ROOT/mocap_<fingerprint>/
        meta.json          inputs, counts, dtypes, and the list of sequences
        vertices.npy       (N, V, 3)  metres, root-centred, AMASS world (z up)
        joints_smpl45.npy  (N, 45, 3) metres, same frame ('smpl_45' joints)
        joints_h36m.npy    (N, 17, 3) metres, same frame ('h36m' regressor)
        frames.npy         (N, 2) int64: sequence index, frame index

Meshes are centred on the H3.6M pelvis (joint 0 of the H3.6M regressor, the
pelvis every mmhuman3d metric aligns on) and keep their global orientation in
the z-up world, so the virtual cameras look at an upright body standing at the
origin.

Building survives interruption: it writes into ``mocap_<fp>.partial/``, records
progress after every batch and resumes from there; the folder is renamed into
place only when complete. Any change of the inputs (file list, sizes,
modification times, sampling, body model files, dtype) gives a new fingerprint
and therefore a rebuild.
"""
import hashlib
import json
import os
import os.path as osp
import shutil
import time
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch

from .amass_io import read_amass_sequence, scan_amass_tree

__all__ = ['MoCapMeshCache', 'select_frames']

CACHE_VERSION = 1
_ARRAYS = ('vertices', 'joints_smpl45', 'joints_h36m', 'frames')


def select_frames(num_frames: Sequence[int], fps: Sequence[float],
                  sample_fps: Optional[float] = None,
                  num_samples: Optional[int] = None) -> List[np.ndarray]:
    """Choose frames sparsely and deterministically.

    Args:
        num_frames: frames per sequence.
        fps: capture frame rate per sequence.
        sample_fps: keep about this many frames per second of motion.
        num_samples: keep about this many frames in total, spread uniformly
            over the concatenation of all sequences (the paper's "2 M meshes
            sparsely sampled from AMASS"). Mutually exclusive with
            ``sample_fps``; neither keeps every frame.

    Returns:
        list of int64 frame-index arrays, one per sequence.
    """
    num_frames = np.asarray(num_frames, dtype=np.int64)
    if sample_fps is not None and num_samples is not None:
        raise ValueError('give sample_fps or num_samples, not both')
    if sample_fps is not None:
        if sample_fps <= 0:
            raise ValueError(f'sample_fps must be > 0, got {sample_fps}')
        out = []
        for n, f in zip(num_frames, fps):
            step = max(float(f) / float(sample_fps), 1.0)
            out.append(np.unique(np.floor(np.arange(0, n, step)).astype(
                np.int64)))
        return out
    if num_samples is not None:
        total = int(num_frames.sum())
        if num_samples <= 0:
            raise ValueError(f'num_samples must be > 0, got {num_samples}')
        k = min(int(num_samples), total)
        # k frames at evenly spaced global positions (centred in each slot)
        pos = np.floor((np.arange(k) + 0.5) * (total / k)).astype(np.int64)
        starts = np.concatenate([[0], np.cumsum(num_frames)[:-1]])
        seq = np.searchsorted(starts, pos, side='right') - 1
        return [pos[seq == i] - starts[i] for i in range(len(num_frames))]
    return [np.arange(n, dtype=np.int64) for n in num_frames]


def _file_signature(path: str) -> list:
    st = os.stat(path)
    return [osp.abspath(path), st.st_size, int(st.st_mtime_ns)]


class MoCapMeshCache:
    """Read side of the cache: memory-mapped arrays and metadata.

    Use :meth:`build` (or :meth:`get_or_build`) to create one, and
    :meth:`open` to map an existing one (cheap; memoised per process).
    """

    _opened: Dict[str, 'MoCapMeshCache'] = {}

    def __init__(self, cache_dir: str):
        meta_file = osp.join(cache_dir, 'meta.json')
        if not osp.isfile(meta_file):
            raise FileNotFoundError(
                f'{cache_dir} is not a complete MoCap mesh cache '
                '(meta.json missing)')
        with open(meta_file) as f:
            self.meta = json.load(f)
        self.cache_dir = cache_dir
        self.arrays = {
            k: np.load(osp.join(cache_dir, f'{k}.npy'), mmap_mode='r')
            for k in _ARRAYS
        }
        n = self.meta['num_meshes']
        for k, a in self.arrays.items():
            if a.shape[0] != n:
                raise ValueError(f'{cache_dir}/{k}.npy has {a.shape[0]} rows, '
                                 f'meta.json says {n}: delete the folder to '
                                 'rebuild')

    @classmethod
    def open(cls, cache_dir: str) -> 'MoCapMeshCache':
        cache_dir = osp.abspath(cache_dir)
        if cache_dir not in cls._opened:
            cls._opened[cache_dir] = cls(cache_dir)
        return cls._opened[cache_dir]

    def __len__(self) -> int:
        return self.meta['num_meshes']

    @property
    def vertices(self) -> np.ndarray:
        return self.arrays['vertices']

    @property
    def joints_smpl45(self) -> np.ndarray:
        return self.arrays['joints_smpl45']

    @property
    def joints_h36m(self) -> np.ndarray:
        return self.arrays['joints_h36m']

    @property
    def frames(self) -> np.ndarray:
        return self.arrays['frames']

    def gather_vertices(self, index: Union[np.ndarray, torch.Tensor],
                        device=None, dtype=torch.float32) -> torch.Tensor:
        """(B,) mesh indices -> (B, V, 3) float tensor (metres)."""
        if isinstance(index, torch.Tensor):
            index = index.cpu().numpy()
        index = np.asarray(index, dtype=np.int64)
        out = torch.from_numpy(np.ascontiguousarray(self.vertices[index]))
        return out.to(device=device, dtype=dtype)

    # ------------------------------------------------------------------
    # building
    # ------------------------------------------------------------------
    @staticmethod
    def fingerprint(inputs: dict) -> str:
        blob = json.dumps(inputs, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    @classmethod
    def get_or_build(cls, amass_root: str, cache_root: str, body_model_cfg:
                     dict, sample_fps: Optional[float] = None,
                     num_samples: Optional[int] = None,
                     sequences: Optional[Sequence[str]] = None,
                     on_bad_file: str = 'skip', hand_pose: str = 'zero',
                     dtype: str = 'float32', batch_size: int = 512,
                     device: str = 'cpu', verbose: bool = True,
                     wait_for_other_rank: bool = False,
                     wait_timeout: float = 24 * 3600.) -> 'MoCapMeshCache':
        """Open the cache for these inputs, building it first if needed.

        Args:
            amass_root: AMASS tree ``DATASET/SUBJECT/NAME_poses.npz``.
            cache_root: folder that holds caches.
            body_model_cfg: ``dict(model_path=..., gender='neutral',
                joints_regressor=<17-joint H3.6M regressor .npy>)`` for
                :class:`mpt_plugin.body_models.MPTSMPL`, or
                ``gender='file'`` to pose each sequence with its own gender
                (needs all three model files).
            sample_fps / num_samples: see :func:`select_frames`.
            sequences: optional subset (paths relative to ``amass_root``).
            on_bad_file: 'skip' (report and count) or 'raise'.
            hand_pose: SMPL-H -> SMPL hand joints, see ``read_amass_sequence``.
            dtype: 'float32' or 'float16' for vertices (float16 halves the
                paper-scale cache: 2 M meshes take 83 GB instead of 165 GB,
                with at most 0.5 mm rounding).
            batch_size: meshes per body-model call.
            device: where the body model runs.
            wait_for_other_rank: do not build; wait until another process
                (rank 0) has built it.
        """
        if sample_fps is not None and num_samples is not None:
            raise ValueError('give sample_fps or num_samples, not both '
                             f'(got {sample_fps} and {num_samples})')
        if dtype not in ('float32', 'float16'):
            raise ValueError(f"dtype must be 'float32' or 'float16', got "
                             f'{dtype}')
        good, bad = scan_amass_tree(amass_root, on_error=on_bad_file)
        if sequences is not None:
            wanted = {osp.normpath(s) for s in sequences}
            good = [p for p in good
                    if osp.normpath(osp.relpath(p, amass_root)) in wanted]
        if not good:
            raise ValueError(f'{amass_root}: no usable AMASS sequence '
                             f'({len(bad)} bad files)')
        bm = dict(body_model_cfg)
        model_files = _body_model_files(bm)
        inputs = dict(
            version=CACHE_VERSION,
            sequences=[_file_signature(str(p)) for p in good],
            sample_fps=sample_fps, num_samples=num_samples,
            hand_pose=hand_pose, dtype=dtype,
            body_model={k: v for k, v in bm.items() if k != 'type'},
            body_model_files=[_file_signature(p) for p in model_files])
        fp = cls.fingerprint(inputs)
        final = osp.join(cache_root, f'mocap_{fp}')
        if osp.isfile(osp.join(final, 'meta.json')):
            return cls.open(final)
        if wait_for_other_rank:
            t0 = time.time()
            while not osp.isfile(osp.join(final, 'meta.json')):
                if time.time() - t0 > wait_timeout:
                    raise TimeoutError(f'waited {wait_timeout:.0f} s for '
                                       f'{final} to be built by rank 0')
                time.sleep(2.0)
            return cls.open(final)
        _build(final, inputs, good, bad, bm, batch_size, device, verbose)
        return cls.open(final)


def _body_model_files(bm: dict) -> List[str]:
    path = bm.get('model_path')
    if path is None:
        raise KeyError('body_model_cfg needs model_path')
    files = []
    if osp.isdir(path):
        files += sorted(
            osp.join(path, f) for f in os.listdir(path)
            if f.upper().startswith('SMPL_') and f.endswith(('.pkl', '.npz')))
    elif osp.isfile(path):
        files.append(path)
    else:
        raise FileNotFoundError(f'body model path not found: {path}')
    if bm.get('joints_regressor'):
        if not osp.isfile(bm['joints_regressor']):
            raise FileNotFoundError(
                f"joints_regressor not found: {bm['joints_regressor']}")
        files.append(bm['joints_regressor'])
    return files


def _build(final: str, inputs: dict, good: list, bad: list, bm: dict,
           batch_size: int, device: str, verbose: bool) -> None:
    from mpt_plugin.body_models import MPTSMPL

    # Pass 1: lengths and frame rates; pass 2 keeps only the selected frames
    # (all of AMASS at full rate would not fit in memory).
    lengths, rates = [], []
    for p in good:
        seq = read_amass_sequence(p, hand_pose=inputs['hand_pose'])
        lengths.append(len(seq.poses))
        rates.append(seq.fps)
    frames = select_frames(lengths, rates, inputs['sample_fps'],
                           inputs['num_samples'])
    sel_poses, sel_betas, seq_genders = [], [], []
    for p, f in zip(good, frames):
        seq = read_amass_sequence(p, hand_pose=inputs['hand_pose'])
        sel_poses.append(seq.poses[f].astype(np.float32))
        sel_betas.append(np.repeat(seq.betas[None].astype(np.float32),
                                   len(f), axis=0))
        seq_genders.append(seq.gender)
    poses_all = np.concatenate(sel_poses)
    betas_all = np.concatenate(sel_betas)
    seq_idx = np.concatenate(
        [np.full(len(f), i, dtype=np.int64) for i, f in enumerate(frames)])
    frame_idx = np.concatenate(frames).astype(np.int64)
    n = len(frame_idx)
    if n == 0:
        raise ValueError('frame sampling selected no frame')

    bm_cfg = {k: v for k, v in bm.items() if k != 'type'}
    gender_mode = bm_cfg.pop('gender', 'neutral')
    if not bm_cfg.get('joints_regressor'):
        raise KeyError('body_model_cfg needs joints_regressor (the 17-joint '
                       'H3.6M regressor): meshes are centred on its pelvis')
    genders = ([gender_mode] * len(good) if gender_mode != 'file' else
               seq_genders)
    models = {
        g: MPTSMPL(gender=g, **bm_cfg).to(device).eval()
        for g in sorted(set(genders))
    }
    num_verts = next(iter(models.values())).v_template.shape[0]

    partial = final + '.partial'
    os.makedirs(partial, exist_ok=True)
    progress_file = osp.join(partial, 'progress.json')
    shapes = dict(vertices=(n, num_verts, 3), joints_smpl45=(n, 45, 3),
                  joints_h36m=(n, 17, 3), frames=(n, 2))
    dtypes = dict(vertices=inputs['dtype'], joints_smpl45='float32',
                  joints_h36m='float32', frames='int64')
    done = 0
    if osp.isfile(progress_file):
        with open(progress_file) as f:
            prog = json.load(f)
        if prog.get('inputs') == inputs:
            done = int(prog['done'])
    mode = 'r+' if done > 0 else 'w+'
    arrays = {
        k: np.lib.format.open_memmap(
            osp.join(partial, f'{k}.npy'), mode=mode, dtype=dtypes[k],
            shape=shapes[k])
        for k in shapes
    }
    if done == 0:
        arrays['frames'][:] = np.stack([seq_idx, frame_idx], axis=1)
    if verbose:
        print(f'[mocap cache] {n} meshes from {len(good)} sequences '
              f'({len(bad)} bad files skipped) -> {final}'
              + (f' (resuming at {done})' if done else ''), flush=True)
    t0 = time.time()
    with torch.no_grad():
        for start in range(done, n, batch_size):
            stop = min(start + batch_size, n)
            s_idx = seq_idx[start:stop]
            poses, betas = poses_all[start:stop], betas_all[start:stop]
            out_v = np.empty((stop - start, num_verts, 3), np.float32)
            out_j = np.empty((stop - start, 45, 3), np.float32)
            out_h = np.empty((stop - start, 17, 3), np.float32)
            g_arr = np.asarray(genders)[s_idx]
            for g, model in models.items():
                sel = np.nonzero(g_arr == g)[0]
                if len(sel) == 0:
                    continue
                pose = torch.as_tensor(poses[sel], dtype=torch.float32,
                                       device=device)
                res = model(
                    betas=torch.as_tensor(betas[sel], dtype=torch.float32,
                                          device=device),
                    global_orient=pose[:, :3], body_pose=pose[:, 3:])
                verts = res['vertices']
                h36m = res['joints_regressed']
                joints = res['joints']
                if joints.shape[1] != 45:
                    raise ValueError(
                        f'body model gives {joints.shape[1]} joints; the '
                        'cache needs the 45 smpl_45 joints (SMPL topology)')
                root = h36m[:, :1]
                out_v[sel] = (verts - root).cpu().numpy()
                out_j[sel] = (joints - root).cpu().numpy()
                out_h[sel] = (h36m - root).cpu().numpy()
            arrays['vertices'][start:stop] = out_v
            arrays['joints_smpl45'][start:stop] = out_j
            arrays['joints_h36m'][start:stop] = out_h
            for a in arrays.values():
                a.flush()
            with open(progress_file + '.tmp', 'w') as f:
                json.dump(dict(inputs=inputs, done=stop), f)
            os.replace(progress_file + '.tmp', progress_file)
            if verbose:
                rate = (stop - done) / max(time.time() - t0, 1e-9)
                print(f'[mocap cache] {stop}/{n} meshes '
                      f'({rate:.0f}/s, eta {(n - stop) / rate:.0f} s)',
                      flush=True)
    del arrays
    meta = dict(
        inputs=inputs, num_meshes=n, num_vertices=int(num_verts),
        sequences=[str(p) for p in good],
        bad_files=[[str(p), reason] for p, reason in bad],
        created=time.strftime('%Y-%m-%d %H:%M:%S'))
    with open(osp.join(partial, 'meta.json'), 'w') as f:
        json.dump(meta, f, indent=1)
    os.remove(progress_file)
    if osp.isdir(final):  # a stale, incomplete folder
        shutil.rmtree(final)
    os.replace(partial, final)
