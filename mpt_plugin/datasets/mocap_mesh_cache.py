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
        complete.json      completion marker, written last: the SHA-256 of
                           meta.json and each array's size, shape, dtype

Meshes are centred on the H3.6M pelvis (joint 0 of the H3.6M regressor, the
pelvis every mmhuman3d metric aligns on) and keep their global orientation in
the z-up world, so the virtual cameras look at an upright body standing at the
origin.

Building survives interruption: it writes into ``mocap_<fp>.partial/``, records
progress after every batch and resumes from there; the folder is renamed into
place only when complete. Any change of the inputs (file list, sizes,
modification times, sampling, body model files, dtype) gives a new fingerprint
and therefore a rebuild.

Integrity: every open (:class:`MoCapMeshCache`) checks, cheaply, that the
folder is a complete cache before mapping it: the completion marker
``complete.json`` exists and parses, ``meta.json`` (size-capped JSON) matches
the marker's SHA-256 and has the expected fields, and every ``.npy`` header
gives the shape and dtype that ``meta.json`` implies with a file size of
exactly header + data (a truncated or extended file is caught; the array
contents are not checksummed). A failed check raises
:class:`MoCapCacheError`, naming the folder, the reason and the command that
fixes it. :meth:`MoCapMeshCache.get_or_build` (rank 0) instead logs the
reason, moves the damaged folder aside, deletes it and rebuilds; other ranks
wait for the rebuilt cache as for a new one. A damaged ``.partial`` build
(unreadable ``progress.json``, arrays of the wrong size) restarts from zero.
Not checked: files changed while they are mapped, and bit flips inside the
arrays.
"""
import hashlib
import json
import logging
import os
import os.path as osp
import shlex
import shutil
import time
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.logging import print_log

from mpt_plugin.utils.value_checks import bad_rows
from .amass_io import read_amass_sequence, scan_amass_tree, walk_amass_tree

__all__ = ['MoCapCacheError', 'MoCapMeshCache', 'select_frames']

#: 2: completion marker ``complete.json`` (caches of version 1 have none and
#: get a new fingerprint, hence a rebuild).
CACHE_VERSION = 2
_ARRAYS = ('vertices', 'joints_smpl45', 'joints_h36m', 'frames')
MARKER = 'complete.json'
_MAX_META_BYTES = 256 << 20  # meta.json of all of AMASS is a few MB
_MAX_SMALL_JSON_BYTES = 1 << 20  # complete.json, progress.json


class MoCapCacheError(RuntimeError):
    """A MoCap mesh cache folder is incomplete or damaged.

    Attributes:
        cache_dir: the folder.
        reason: what is wrong with it.
    """

    def __init__(self, cache_dir: str, reason: str):
        self.cache_dir = cache_dir
        self.reason = reason
        super().__init__(
            f'{cache_dir}: not a valid MoCap mesh cache: {reason}. Fix: '
            f'delete it (rm -rf {shlex.quote(cache_dir)}) and rerun; the '
            'dataset rebuilds it from AMASS (rank 0 builds, other ranks '
            'wait).')


def _array_specs(num_meshes: int, num_vertices: int,
                 vertex_dtype: str) -> Dict[str, Tuple[tuple, str]]:
    """Array name -> (shape, dtype) of a cache of ``num_meshes`` meshes."""
    n = num_meshes
    return dict(vertices=((n, num_vertices, 3), vertex_dtype),
                joints_smpl45=((n, 45, 3), 'float32'),
                joints_h36m=((n, 17, 3), 'float32'),
                frames=((n, 2), 'int64'))


def _read_json_file(path: str, max_bytes: int) -> object:
    """Parse a JSON file of at most ``max_bytes``.

    Raises:
        ValueError: missing, too large, not UTF-8, not JSON or nested too
            deeply; the message says which.
    """
    try:
        size = os.path.getsize(path)
    except OSError as err:
        raise ValueError(f'{osp.basename(path)} missing or unreadable '
                         f'({err.strerror or err})') from None
    if size > max_bytes:
        raise ValueError(f'{osp.basename(path)} has {size} bytes, more than '
                         f'the {max_bytes} a cache writes')
    try:
        with open(path, 'rb') as f:
            return json.loads(f.read(max_bytes + 1).decode('utf-8'))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as err:
        raise ValueError(
            f'{osp.basename(path)} is not valid JSON ({type(err).__name__}: '
            f'{str(err)[:200]})') from None


def _npy_problem(path: str, shape: tuple, dtype: str) -> Optional[str]:
    """None if ``path`` is an ``.npy`` file of exactly ``shape`` and
    ``dtype`` (C order) whose size is header + data; else what is wrong.
    Reads the header only."""
    name = osp.basename(path)
    try:
        with open(path, 'rb') as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                hdr = np.lib.format.read_array_header_1_0(f)
            elif version == (2, 0):
                hdr = np.lib.format.read_array_header_2_0(f)
            else:
                return f'{name}: unsupported .npy version {version}'
            offset = f.tell()
            size = os.fstat(f.fileno()).st_size
    except FileNotFoundError:
        return f'{name} missing'
    except Exception as err:  # noqa: B902 numpy's header parser raises
        # ValueError, SyntaxError, tokenize.TokenError, ... on hostile bytes
        return f'{name}: unreadable .npy header ({type(err).__name__}: {err})'
    got_shape, fortran, got_dtype = hdr
    if (tuple(got_shape) != tuple(shape) or fortran
            or np.dtype(got_dtype) != np.dtype(dtype)):
        return (f'{name} holds {got_dtype} {tuple(got_shape)}'
                f'{" (Fortran order)" if fortran else ""}, meta.json '
                f'implies {dtype} {tuple(shape)}')
    want = offset + int(np.prod(shape, dtype=np.int64)) * np.dtype(
        dtype).itemsize
    if size != want:
        return (f'{name} has {size} bytes, its header and meta.json imply '
                f'{want} ({"truncated" if size < want else "extra data"})')
    return None


def _sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            h.update(block)
    return h.hexdigest()


def _write_json_atomic(path: str, obj: object, indent=None) -> None:
    tmp = f'{path}.{os.getpid()}.tmp'
    with open(tmp, 'w') as f:
        json.dump(obj, f, indent=indent)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


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

    Use :meth:`get_or_build` to create one, and :meth:`open` to map an
    existing one (cheap; memoised per process).

    Args:
        cache_dir: a ``mocap_<fingerprint>`` folder.

    Raises:
        MoCapCacheError: the folder is not a complete, intact cache (see
            the module doc, "Integrity"); the message names the folder, the
            reason and the command that fixes it.
    """

    _opened: Dict[str, 'MoCapMeshCache'] = {}

    def __init__(self, cache_dir: str):
        self.cache_dir = cache_dir
        self.meta = self._check(cache_dir)
        self.arrays = {
            k: np.load(osp.join(cache_dir, f'{k}.npy'), mmap_mode='r')
            for k in _ARRAYS
        }

    @staticmethod
    def _check(cache_dir: str) -> dict:
        """Validate the folder (marker, meta.json, array headers and sizes)
        without reading the arrays; returns the parsed meta.json."""
        if not osp.isdir(cache_dir):
            raise MoCapCacheError(cache_dir, 'not a folder')
        marker_file = osp.join(cache_dir, MARKER)
        if not osp.lexists(marker_file):
            raise MoCapCacheError(
                cache_dir, f'completion marker {MARKER} missing (an '
                'interrupted copy or move, or a cache of an older version)')
        try:
            marker = _read_json_file(marker_file, _MAX_SMALL_JSON_BYTES)
            meta = _read_json_file(
                osp.join(cache_dir, 'meta.json'), _MAX_META_BYTES)
        except ValueError as err:
            raise MoCapCacheError(cache_dir, str(err)) from None
        arrays = marker.get('arrays') if isinstance(marker, dict) else None
        if (not isinstance(arrays, dict) or set(arrays) != set(_ARRAYS)
                or not isinstance(marker.get('meta_sha256'), str)):
            raise MoCapCacheError(
                cache_dir, f'{MARKER} lacks meta_sha256 or the arrays '
                f'{list(_ARRAYS)}')
        if _sha256_file(osp.join(cache_dir, 'meta.json')) != \
                marker['meta_sha256']:
            raise MoCapCacheError(
                cache_dir, f'meta.json does not match the SHA-256 recorded '
                f'in {MARKER} (edited or damaged)')
        inputs = meta.get('inputs') if isinstance(meta, dict) else None
        n, nv = (meta.get('num_meshes'), meta.get('num_vertices')) if \
            isinstance(meta, dict) else (None, None)
        if (not isinstance(inputs, dict)
                or inputs.get('dtype') not in ('float32', 'float16')
                or type(n) is not int or type(nv) is not int or n < 1
                or nv < 1 or not isinstance(meta.get('sequences'), list)
                or not isinstance(meta.get('bad_files'), list)):
            raise MoCapCacheError(
                cache_dir, 'meta.json lacks inputs.dtype, num_meshes >= 1, '
                'num_vertices >= 1, sequences or bad_files')
        for key, (shape, dtype) in _array_specs(n, nv,
                                                inputs['dtype']).items():
            path = osp.join(cache_dir, f'{key}.npy')
            problem = _npy_problem(path, shape, dtype)
            record = arrays[key]
            if problem is None and (not isinstance(record, dict) or
                                    record.get('bytes') !=
                                    os.path.getsize(path)):
                problem = (f'{key}.npy size differs from the '
                           f'{MARKER} record')
            if problem:
                raise MoCapCacheError(cache_dir, problem)
        return meta

    @classmethod
    def open(cls, cache_dir: str) -> 'MoCapMeshCache':
        """Map a cache, validated on its first open in this process.

        Raises:
            MoCapCacheError: not a complete, intact cache.
        """
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
        walk = walk_amass_tree(amass_root)
        good, bad = scan_amass_tree(amass_root, on_error=on_bad_file,
                                    hand_pose=hand_pose, walk=walk)
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
        final = osp.abspath(osp.join(cache_root, f'mocap_{fp}'))
        if wait_for_other_rank:
            t0 = time.time()
            while True:
                if osp.lexists(osp.join(final, MARKER)):
                    try:
                        return cls._open_fresh(final, fp)
                    except MoCapCacheError as err:
                        last = err  # rank 0 may be replacing it
                else:
                    last = None
                if time.time() - t0 > wait_timeout:
                    raise TimeoutError(
                        f'waited {wait_timeout:.0f} s for {final} to be '
                        'built by rank 0' + (f' (last check: {last})'
                                             if last else ''))
                time.sleep(2.0)
        if osp.lexists(final):
            try:
                return cls._open_fresh(final, fp)
            except MoCapCacheError as err:
                print_log(f'{err.cache_dir}: damaged MoCap mesh cache '
                          f'({err.reason}); removing it and rebuilding',
                          logger='current', level=logging.WARNING)
                _discard(final)
        tree = dict(loops=len(walk.loops), aliases=len(walk.aliases),
                    skipped=len(walk.skipped))
        _build(final, inputs, good, bad, bm, batch_size, device, verbose,
               tree)
        return cls._open_fresh(final, fp)

    @classmethod
    def _open_fresh(cls, cache_dir: str, fp: str) -> 'MoCapMeshCache':
        """Validate anew (not the per-process memo), check that meta.json
        holds the inputs of fingerprint ``fp``, and memoise."""
        cache = cls(cache_dir)
        if cls.fingerprint(cache.meta['inputs']) != fp:
            raise MoCapCacheError(
                cache_dir, 'the inputs in meta.json do not match the '
                "folder's fingerprint")
        cls._opened[osp.abspath(cache_dir)] = cache
        return cache


def _discard(folder: str) -> None:
    """Move a damaged cache aside (one atomic rename, so no reader sees it
    half deleted), then delete it."""
    MoCapMeshCache._opened.pop(osp.abspath(folder), None)
    aside = f'{folder}.corrupt-{os.getpid()}-{time.time_ns()}'
    os.replace(folder, aside)
    if osp.isdir(aside) and not osp.islink(aside):
        shutil.rmtree(aside, ignore_errors=True)
    else:
        os.remove(aside)
    if osp.lexists(aside):
        print_log(f'could not delete {aside} entirely; remove it by hand',
                  logger='current', level=logging.WARNING)


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
           batch_size: int, device: str, verbose: bool,
           tree: Optional[dict] = None) -> None:
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
    if osp.lexists(partial) and (osp.islink(partial)
                                 or not osp.isdir(partial)):
        os.remove(partial)
    os.makedirs(partial, exist_ok=True)
    progress_file = osp.join(partial, 'progress.json')
    specs = _array_specs(n, int(num_verts), inputs['dtype'])
    done = _resume_point(partial, progress_file, inputs, n, specs)
    mode = 'r+' if done > 0 else 'w+'
    arrays = {
        k: np.lib.format.open_memmap(
            osp.join(partial, f'{k}.npy'), mode=mode, dtype=dtype,
            shape=shape)
        for k, (shape, dtype) in specs.items()
    }
    vert_dtype = np.dtype(inputs['dtype'])
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
            bad_mesh = (bad_rows(out_v, vert_dtype) | bad_rows(out_j)
                        | bad_rows(out_h))
            if bad_mesh.any():  # values the reader accepts never get here
                i = start + int(np.argmax(bad_mesh))
                raise ValueError(
                    f'{good[seq_idx[i]]}: frame {frame_idx[i]}: posing gave '
                    f'vertices or joints that are not finite in '
                    f'{vert_dtype.name} ({int(bad_mesh.sum())} meshes of '
                    'this batch); check the body model files')
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
        tree_walk=tree or {},
        created=time.strftime('%Y-%m-%d %H:%M:%S'))
    meta_file = osp.join(partial, 'meta.json')
    _write_json_atomic(meta_file, meta, indent=1)
    # the completion marker, last: its presence means everything is written
    _write_json_atomic(
        osp.join(partial, MARKER),
        dict(version=CACHE_VERSION, meta_sha256=_sha256_file(meta_file),
             arrays={
                 k: dict(bytes=os.path.getsize(
                     osp.join(partial, f'{k}.npy')), shape=list(shape),
                         dtype=dtype)
                 for k, (shape, dtype) in specs.items()
             }))
    os.remove(progress_file)
    if osp.lexists(final):  # a stale or damaged folder
        _discard(final)
    os.replace(partial, final)


def _resume_point(partial: str, progress_file: str, inputs: dict, n: int,
                  specs: Dict[str, Tuple[tuple, str]]) -> int:
    """Meshes already written in ``partial`` by an interrupted build of the
    same inputs; 0 (start over) when ``progress.json`` is missing,
    unreadable, of other inputs, or the arrays do not have the expected
    headers and sizes."""
    if not osp.lexists(progress_file):
        return 0
    try:
        prog = _read_json_file(progress_file, _MAX_META_BYTES)
    except ValueError as err:
        reason = str(err)
    else:
        done = prog.get('done') if isinstance(prog, dict) else None
        if not isinstance(prog, dict) or prog.get('inputs') != inputs:
            return 0
        if type(done) is not int or not 0 <= done <= n:
            reason = f'progress.json: done={done!r} is not in [0, {n}]'
        else:
            problems = [
                p for p in (_npy_problem(osp.join(partial, f'{k}.npy'), *spec)
                            for k, spec in specs.items()) if p
            ]
            if not problems:
                return done
            reason = problems[0]
    print_log(f'{partial}: cannot resume the interrupted build ({reason}); '
              'starting over', logger='current', level=logging.WARNING)
    return 0
