"""One MoCap source: a memory-mapped store of AMASS SMPL parameters.

Every method that pre-trains on AMASS (MPT, Key2Mesh, the domain-adaptation
source) reads the frames it samples from this store. A mesh is fully
described by its pose (72 axis-angle numbers), the subject's shape (10) and
gender: a few hundred bytes, where its posed vertices take 41 KB. Bodies
are posed batched on the training device (``MPTMoCapDataPreprocessor``,
``Key2MeshPairsPreprocessor``), never stored.

Store layout (one folder per fingerprint of its inputs)::

    CACHE_ROOT/smpl_<fingerprint>/
        meta.json       inputs, counts, the sequences (path, fps, frames)
                        and the bad files with their reasons
        pose.npy        (N, 72) float32 SMPL axis-angle, radians; the root
                        orientation in AMASS's z-up world, as in the file
        frames.npy      (N, 2) int32: sequence index, frame index
        betas.npy       (S, 10) float32 shape coefficients per sequence
        gender.npy      (S,) int8 per sequence: -1 neutral, 0 male,
                        1 female (mmhuman3d's codes, ``GENDER_CODES``)
        complete.json   completion marker, written last: the SHA-256 of
                        meta.json and each array's size, shape and dtype

``N`` is the number of sampled frames, ``S`` of sequences: 296 bytes per
frame plus 41 per sequence (0.6 GB for the paper's 2 M meshes, against
84 GB of float16 posed vertices). Translations are not kept: MPT centres
every body on its pelvis and Key2Mesh poses it untranslated.

Building (:meth:`MoCapSMPLStore.get_or_build`) reads every motion file of
the tree exactly once (validated by :func:`read_amass_sequence`; bad files
are skipped and listed, or raise, by ``on_bad_file``), appends all its
frames as float32 to a scratch file, then keeps the frames chosen by
:func:`select_frames` (by count or fps, over the good files). It writes
into ``smpl_<fp>.partial/``, records its progress every few seconds and
resumes from there after an interruption; the folder is renamed into place
only when complete. The fingerprint is made of the files' paths, sizes and
modification times, the sampling and the hand-pose choice, so opening an
existing store reads no motion file, and any change rebuilds it.

Integrity: every open checks cheaply that the folder is a complete store:
the marker parses, ``meta.json`` (size-capped) matches the marker's
SHA-256 and has the expected fields, each ``.npy`` header gives the shape
and dtype ``meta.json`` implies with a file size of exactly header + data,
and the sequence and gender columns lie in range. A failed check raises
:class:`MoCapStoreError` naming the folder, the reason and the fix; rank 0's
:meth:`~MoCapSMPLStore.get_or_build` instead logs it, moves the damaged
folder aside, deletes it and rebuilds, other ranks wait for the rebuilt
store. Not checked: bit flips inside the arrays.
"""
import fcntl
import hashlib
import json
import logging
import os
import os.path as osp
import shlex
import shutil
import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.dist import get_dist_info
from mmengine.logging import print_log

from mpt_plugin.body_models.gendered_smpl import GENDER_CODES
from mpt_plugin.utils.file_io import sha256_file as _sha256_file
from .amass_io import (AMASSFormatError, read_amass_sequence,
                       walk_amass_tree)

__all__ = ['MoCapStoreError', 'MoCapSMPLStore', 'select_frames',
           'STORE_VERSION']

#: 1: first version of the parameter store.
STORE_VERSION = 1
MARKER = 'complete.json'
_ARRAYS = ('pose', 'frames', 'betas', 'gender')
_MAX_META_BYTES = 256 << 20  # meta.json of all of AMASS is a few MB
_MAX_SMALL_JSON_BYTES = 1 << 20  # complete.json
_GENDER_TO_CODE = {name: code for code, name in GENDER_CODES.items()}
_PROGRESS_SECONDS = 5.0  # how often an interrupted build can lose work
_GATHER_CHUNK = 1 << 16  # rows per copy from the scratch file


class MoCapStoreError(RuntimeError):
    """A MoCap SMPL store folder is incomplete or damaged.

    Attributes:
        store_dir: the folder.
        reason: what is wrong with it.
    """

    def __init__(self, store_dir: str, reason: str):
        self.store_dir = store_dir
        self.reason = reason
        super().__init__(
            f'{store_dir}: not a valid MoCap SMPL store: {reason}. Fix: '
            f'delete it (rm -rf {shlex.quote(store_dir)}) and rerun; the '
            'dataset rebuilds it from AMASS (rank 0 builds, other ranks '
            'wait).')


def _array_specs(num_frames: int,
                 num_sequences: int) -> Dict[str, Tuple[tuple, str]]:
    """Array name -> (shape, dtype) of a store of these sizes."""
    return dict(pose=((num_frames, 72), 'float32'),
                frames=((num_frames, 2), 'int32'),
                betas=((num_sequences, 10), 'float32'),
                gender=((num_sequences, ), 'int8'))


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
                         f'the {max_bytes} a store writes')
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
        if k == 0:
            return [np.zeros(0, np.int64) for _ in num_frames]
        # k frames at evenly spaced global positions (centred in each slot)
        pos = np.floor((np.arange(k) + 0.5) * (total / k)).astype(np.int64)
        starts = np.concatenate([[0], np.cumsum(num_frames)[:-1]])
        seq = np.searchsorted(starts, pos, side='right') - 1
        return [pos[seq == i] - starts[i] for i in range(len(num_frames))]
    return [np.arange(n, dtype=np.int64) for n in num_frames]


def _file_signature(path: str) -> list:
    st = os.stat(path)
    return [osp.abspath(path), st.st_size, int(st.st_mtime_ns)]


class MoCapSMPLStore:
    """Read side of the store: memory-mapped arrays and metadata.

    Use :meth:`get_or_build` to create one and :meth:`open` to map an
    existing one (cheap; memoised per process). A store object pickles as
    its folder name only, so data-loader workers re-map it.

    Args:
        store_dir: a ``smpl_<fingerprint>`` folder.

    Raises:
        MoCapStoreError: the folder is not a complete, intact store (module
            doc, "Integrity").
    """

    _opened: Dict[str, 'MoCapSMPLStore'] = {}

    def __init__(self, store_dir: str):
        self.store_dir = store_dir
        self.meta = self._check(store_dir)
        self.arrays = {
            k: np.load(osp.join(store_dir, f'{k}.npy'), mmap_mode='r')
            for k in _ARRAYS
        }
        self._check_columns()
        #: (S, 10) float32 and (S,) int64 per-sequence columns, in memory
        #: (small: 48 bytes per sequence)
        self.betas = np.array(self.arrays['betas'])
        self.gender = self.arrays['gender'].astype(np.int64)

    def __reduce__(self):
        return (MoCapSMPLStore.open, (self.store_dir, ))

    @staticmethod
    def _check(store_dir: str) -> dict:
        """Validate the folder (marker, meta.json, array headers and sizes)
        without reading the frame arrays; returns the parsed meta.json."""
        if not osp.isdir(store_dir):
            raise MoCapStoreError(store_dir, 'not a folder')
        marker_file = osp.join(store_dir, MARKER)
        if not osp.lexists(marker_file):
            raise MoCapStoreError(
                store_dir, f'completion marker {MARKER} missing (an '
                'interrupted copy or move)')
        try:
            marker = _read_json_file(marker_file, _MAX_SMALL_JSON_BYTES)
            meta = _read_json_file(
                osp.join(store_dir, 'meta.json'), _MAX_META_BYTES)
        except ValueError as err:
            raise MoCapStoreError(store_dir, str(err)) from None
        arrays = marker.get('arrays') if isinstance(marker, dict) else None
        if (not isinstance(arrays, dict) or set(arrays) != set(_ARRAYS)
                or not isinstance(marker.get('meta_sha256'), str)):
            raise MoCapStoreError(
                store_dir, f'{MARKER} lacks meta_sha256 or the arrays '
                f'{list(_ARRAYS)}')
        if _sha256_file(osp.join(store_dir, 'meta.json')) != \
                marker['meta_sha256']:
            raise MoCapStoreError(
                store_dir, f'meta.json does not match the SHA-256 recorded '
                f'in {MARKER} (edited or damaged)')
        ok = isinstance(meta, dict)
        n = meta.get('num_frames') if ok else None
        seqs = meta.get('sequences') if ok else None
        if (not ok or not isinstance(meta.get('inputs'), dict)
                or type(n) is not int or n < 1 or not isinstance(seqs, list)
                or not seqs or not isinstance(meta.get('bad_files'), list)
                or not all(isinstance(s, dict) and isinstance(
                    s.get('path'), str) and isinstance(
                        s.get('fps'), (int, float)) and type(
                            s.get('num_frames')) is int for s in seqs)):
            raise MoCapStoreError(
                store_dir, 'meta.json lacks inputs, num_frames >= 1, '
                'sequences (path, fps, num_frames each) or bad_files')
        for key, (shape, dtype) in _array_specs(n, len(seqs)).items():
            path = osp.join(store_dir, f'{key}.npy')
            problem = _npy_problem(path, shape, dtype)
            record = arrays[key]
            if problem is None and (not isinstance(record, dict) or
                                    record.get('bytes') !=
                                    os.path.getsize(path)):
                problem = f'{key}.npy size differs from the {MARKER} record'
            if problem:
                raise MoCapStoreError(store_dir, problem)
        return meta

    def _check_columns(self) -> None:
        """Index columns in range: sequence ids < S, frame ids < that
        sequence's length, gender codes known (a forged store must not
        index out of bounds later). Reads the (N, 2) int32 column: 8 bytes
        per frame, 16 MB for 2 M frames."""
        seqs = self.meta['sequences']
        lengths = np.array([s['num_frames'] for s in seqs], np.int64)
        frames = np.asarray(self.arrays['frames'])
        seq = frames[:, 0]
        if seq.min() < 0 or seq.max() >= len(seqs):
            raise MoCapStoreError(
                self.store_dir, f'frames.npy: sequence index out of range '
                f'0..{len(seqs) - 1}')
        if frames[:, 1].min() < 0 or (frames[:, 1] >= lengths[seq]).any():
            raise MoCapStoreError(
                self.store_dir, "frames.npy: frame index beyond its "
                "sequence's num_frames")
        if not np.isin(self.arrays['gender'], list(GENDER_CODES)).all():
            raise MoCapStoreError(
                self.store_dir, 'gender.npy: codes other than -1, 0, 1')

    @classmethod
    def open(cls, store_dir: str) -> 'MoCapSMPLStore':
        """Map a store, validated on its first open in this process.

        Raises:
            MoCapStoreError: not a complete, intact store.
        """
        store_dir = osp.abspath(store_dir)
        if store_dir not in cls._opened:
            cls._opened[store_dir] = cls(store_dir)
        return cls._opened[store_dir]

    def __len__(self) -> int:
        return self.meta['num_frames']

    @property
    def num_sequences(self) -> int:
        return len(self.meta['sequences'])

    @property
    def pose(self) -> np.ndarray:
        """(N, 72) float32 memory map, axis-angle radians, z-up root."""
        return self.arrays['pose']

    @property
    def frames(self) -> np.ndarray:
        """(N, 2) int32 memory map: sequence index, frame index."""
        return self.arrays['frames']

    @property
    def bad_files(self) -> List[list]:
        """``[path, reason]`` of every file left out."""
        return self.meta['bad_files']

    def sequence_paths(self) -> List[str]:
        return [s['path'] for s in self.meta['sequences']]

    def params(self, index) -> Dict[str, np.ndarray]:
        """SMPL parameters of frames ``index`` ((B,) ints or a slice).

        Returns:
            dict: ``pose_aa`` (B, 72) float32 (z-up root), ``betas``
            (B, 10) float32, ``gender`` (B,) int64 codes (-1 neutral,
            0 male, 1 female), ``sequence_index`` and ``frame_index`` (B,)
            int64.
        """
        frames = np.asarray(self.frames[index], dtype=np.int64)
        seq = frames[..., 0]
        return dict(pose_aa=np.array(self.pose[index], dtype=np.float32),
                    betas=self.betas[seq], gender=self.gender[seq],
                    sequence_index=seq, frame_index=frames[..., 1])

    def bytes_on_disk(self) -> int:
        """Total size of the store's files, bytes."""
        return sum(
            os.path.getsize(osp.join(self.store_dir, f))
            for f in os.listdir(self.store_dir))

    # ------------------------------------------------------------------
    # building
    # ------------------------------------------------------------------
    @staticmethod
    def fingerprint(inputs: dict) -> str:
        blob = json.dumps(inputs, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    @classmethod
    def get_or_build(cls,
                     amass_root: str,
                     cache_root: str,
                     sample_fps: Optional[float] = None,
                     num_samples: Optional[int] = None,
                     sequences: Optional[Sequence[str]] = None,
                     on_bad_file: str = 'skip',
                     hand_pose: str = 'zero',
                     verbose: bool = True,
                     wait_for_other_rank: bool = False,
                     wait_timeout: float = 24 * 3600.) -> 'MoCapSMPLStore':
        """Open the store of these inputs, building it first if needed.

        Args:
            amass_root: AMASS tree ``DATASET/SUBJECT/NAME_poses.npz``.
            cache_root: folder that holds stores.
            sample_fps / num_samples: see :func:`select_frames` (applied
                over the good files).
            sequences: optional subset (paths relative to ``amass_root``),
                e.g. a split of :func:`split_amass_sequences`.
            on_bad_file: 'skip' (report, list in ``meta.json`` and go on)
                or 'raise' (the first :class:`AMASSFormatError`).
            hand_pose: SMPL-H -> SMPL hand joints, see
                :func:`read_amass_sequence`.
            verbose: print progress.
            wait_for_other_rank: do not build; wait until another process
                (rank 0) has built it.
            wait_timeout: seconds to wait for it.
        """
        if sample_fps is not None and num_samples is not None:
            raise ValueError('give sample_fps or num_samples, not both '
                             f'(got {sample_fps} and {num_samples})')
        if on_bad_file not in ('skip', 'raise'):
            raise ValueError(f"on_bad_file must be 'skip' or 'raise', got "
                             f'{on_bad_file!r}')
        walk = walk_amass_tree(amass_root)
        paths = [str(p) for p in walk.paths]
        if sequences is not None:
            wanted = {osp.normpath(s) for s in sequences}
            paths = [p for p in paths
                     if osp.normpath(osp.relpath(p, amass_root)) in wanted]
        if not paths:
            raise ValueError(f'{amass_root}: no AMASS motion file'
                             + (' of the requested sequences'
                                if sequences is not None else ''))
        inputs = dict(
            version=STORE_VERSION,
            files=[_file_signature(p) for p in paths],
            sample_fps=sample_fps, num_samples=num_samples,
            hand_pose=hand_pose)
        fp = cls.fingerprint(inputs)
        final = osp.abspath(osp.join(cache_root, f'smpl_{fp}'))
        if wait_for_other_rank:
            return _check_bad_files(cls._wait_for(final, fp, wait_timeout),
                                    on_bad_file)
        if osp.lexists(osp.join(final, MARKER)):  # the common case
            try:
                return _check_bad_files(cls._open_fresh(final, fp),
                                        on_bad_file)
            except MoCapStoreError:
                pass  # repaired below, under the lock
        os.makedirs(cache_root, exist_ok=True)
        # One builder at a time per cache root: concurrent jobs (not the
        # ranks of one job, which wait above) queue on an advisory lock of
        # the folder itself (no lock file; released when the process
        # ends; local filesystems), then find the store built.
        lock = os.open(cache_root, os.O_RDONLY)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if osp.lexists(final):
                try:
                    return _check_bad_files(cls._open_fresh(final, fp),
                                            on_bad_file)
                except MoCapStoreError as err:
                    print_log(f'{err.store_dir}: damaged MoCap SMPL store '
                              f'({err.reason}); removing it and rebuilding',
                              logger='current', level=logging.WARNING)
                    _discard(final)
            tree = dict(loops=len(walk.loops), aliases=len(walk.aliases),
                        skipped=len(walk.skipped))
            _build(final, inputs, paths, on_bad_file, verbose, tree)
            return _check_bad_files(cls._open_fresh(final, fp), on_bad_file)
        finally:
            os.close(lock)  # releases the lock

    @classmethod
    def _wait_for(cls, final: str, fp: str,
                  timeout: float) -> 'MoCapSMPLStore':
        t0, last = time.time(), None
        while True:
            if osp.lexists(osp.join(final, MARKER)):
                try:
                    return cls._open_fresh(final, fp)
                except MoCapStoreError as err:
                    last = err  # rank 0 may be replacing it
            if time.time() - t0 > timeout:
                raise TimeoutError(
                    f'waited {timeout:.0f} s for {final} to be built by '
                    'rank 0' + (f' (last check: {last})' if last else ''))
            time.sleep(1.0)

    @classmethod
    def _open_fresh(cls, store_dir: str, fp: str) -> 'MoCapSMPLStore':
        """Validate anew (not the per-process memo), check that meta.json
        holds the inputs of fingerprint ``fp``, and memoise."""
        store = cls(store_dir)
        if cls.fingerprint(store.meta['inputs']) != fp:
            raise MoCapStoreError(
                store_dir, 'the inputs in meta.json do not match the '
                "folder's fingerprint")
        cls._opened[osp.abspath(store_dir)] = store
        return store


def _check_bad_files(store: MoCapSMPLStore,
                     on_bad_file: str) -> MoCapSMPLStore:
    """``on_bad_file='raise'`` raises for a store that lists bad files
    (built, or resumed, under 'skip': the policy is not part of the
    fingerprint, a store is the same for both)."""
    if on_bad_file == 'raise' and store.bad_files:
        raise AMASSFormatError(store.bad_files[0][1])
    return store


def _discard(folder: str) -> None:
    """Move a damaged store aside (one atomic rename, so no reader sees it
    half deleted), then delete it."""
    MoCapSMPLStore._opened.pop(osp.abspath(folder), None)
    aside = f'{folder}.corrupt-{os.getpid()}-{time.time_ns()}'
    os.replace(folder, aside)
    if osp.isdir(aside) and not osp.islink(aside):
        shutil.rmtree(aside, ignore_errors=True)
    else:
        os.remove(aside)
    if osp.lexists(aside):
        print_log(f'could not delete {aside} entirely; remove it by hand',
                  logger='current', level=logging.WARNING)


def _valid_record(rec: object) -> bool:
    """A record of ``progress.json``: a bad file with its reason, or a
    good one with its length, rate, gender and betas."""
    if not isinstance(rec, dict) or 'bad' not in rec:
        return False
    if rec['bad'] is not None:
        return isinstance(rec['bad'], str)
    betas = rec.get('betas')
    return (type(rec.get('num_frames')) is int and rec['num_frames'] > 0
            and isinstance(rec.get('fps'), (int, float))
            and rec.get('gender') in _GENDER_TO_CODE
            and isinstance(betas, list) and len(betas) == 10
            and all(isinstance(b, (int, float)) for b in betas))


class _Scan:
    """Pass 1 state: every file read once, all frames appended as float32
    rows to ``scratch.f32``; saved to ``progress.json`` so an interrupted
    build resumes after the last saved file."""

    def __init__(self, partial: str, inputs: dict):
        self.partial = partial
        self.inputs = inputs
        self.progress_file = osp.join(partial, 'progress.json')
        self.scratch_file = osp.join(partial, 'scratch.f32')
        self.records: List[dict] = []  # one per file read, in order
        self.rows = 0  # frames in the scratch file

    def resume(self) -> None:
        """Load the saved progress if it is of these inputs and the scratch
        file holds at least the rows it records; else start over."""
        if not osp.lexists(self.progress_file):
            return
        try:
            prog = _read_json_file(self.progress_file, _MAX_META_BYTES)
            ok = (isinstance(prog, dict)
                  and prog.get('inputs') == self.inputs
                  and isinstance(prog.get('records'), list)
                  and type(prog.get('rows')) is int)
            if ok:
                recs, rows = prog['records'], prog['rows']
                ok = (all(map(_valid_record, recs))
                      and sum(r['num_frames'] for r in recs
                              if r['bad'] is None) == rows
                      and osp.getsize(self.scratch_file) >= rows * 288)
        except (ValueError, OSError) as err:
            ok, why = False, str(err)
        else:
            why = 'progress.json of other inputs or inconsistent'
        if not ok:
            print_log(f'{self.partial}: cannot resume the interrupted build '
                      f'({why}); starting over', logger='current',
                      level=logging.WARNING)
            return
        self.records, self.rows = recs, rows
        with open(self.scratch_file, 'r+b') as f:
            f.truncate(rows * 288)

    def save(self) -> None:
        _write_json_atomic(self.progress_file,
                           dict(inputs=self.inputs, records=self.records,
                                rows=self.rows))


def _build(final: str, inputs: dict, paths: List[str], on_bad_file: str,
           verbose: bool, tree: Optional[dict] = None) -> None:
    partial = final + '.partial'
    if osp.lexists(partial) and (osp.islink(partial)
                                 or not osp.isdir(partial)):
        os.remove(partial)
    os.makedirs(partial, exist_ok=True)
    scan = _Scan(partial, inputs)
    scan.resume()
    if not scan.records:  # a fresh start: clear whatever the folder holds
        shutil.rmtree(partial, ignore_errors=True)
        os.makedirs(partial, exist_ok=True)
    # always said (the 2-process test counts these lines): a build is rare
    print(f'[mocap store] building from {len(paths)} AMASS files (rank '
          f'{get_dist_info()[0]}) -> {final}'
          + (f' (resuming after {len(scan.records)} files)'
             if scan.records else ''), flush=True)

    # pass 1: read every file once; all its frames go to the scratch file
    t0 = last_save = time.time()
    mode = 'ab' if scan.records else 'wb'
    with open(scan.scratch_file, mode) as scratch:
        for i in range(len(scan.records), len(paths)):
            path = paths[i]
            try:
                seq = read_amass_sequence(path, hand_pose=inputs['hand_pose'])
            except (AMASSFormatError, FileNotFoundError) as err:
                if on_bad_file == 'raise':
                    raise
                scan.records.append(dict(bad=str(err)))
            else:
                pose = np.ascontiguousarray(seq.poses, dtype=np.float32)
                scratch.write(pose.tobytes())
                scan.records.append(
                    dict(bad=None, num_frames=int(len(pose)),
                         fps=float(seq.fps), gender=seq.gender,
                         betas=[float(b) for b in seq.betas[:10]]))
                scan.rows += len(pose)
            now = time.time()
            if now - last_save > _PROGRESS_SECONDS or i + 1 == len(paths):
                scratch.flush()
                os.fsync(scratch.fileno())
                scan.save()
                last_save = now
                if verbose:
                    rate = scan.rows / max(now - t0, 1e-9)
                    print(f'[mocap store] read {i + 1}/{len(paths)} files, '
                          f'{scan.rows} frames ({rate:.0f} frames/s)',
                          flush=True)

    # pass 2: keep the selected frames of the good files
    good = [(p, r) for p, r in zip(paths, scan.records) if r['bad'] is None]
    bad = [[p, r['bad']] for p, r in zip(paths, scan.records)
           if r['bad'] is not None]
    if bad:
        first = '\n  '.join(reason for _, reason in bad[:5])
        more = f'\n  ... and {len(bad) - 5} more' if len(bad) > 5 else ''
        print_log(f'skipped {len(bad)} of {len(paths)} AMASS files:\n  '
                  f'{first}{more}', logger='current', level=logging.WARNING)
    if not good:
        raise ValueError(f'no usable AMASS sequence among {len(paths)} '
                         f'files ({len(bad)} bad)')
    lengths = [r['num_frames'] for _, r in good]
    chosen = select_frames(lengths, [r['fps'] for _, r in good],
                           inputs['sample_fps'], inputs['num_samples'])
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    rows = np.concatenate([s + f for s, f in zip(starts, chosen)])
    seq_idx = np.concatenate(
        [np.full(len(f), i, np.int64) for i, f in enumerate(chosen)])
    frame_idx = np.concatenate(chosen)
    n = len(rows)
    if n == 0:
        raise ValueError('frame sampling selected no frame')
    specs = _array_specs(n, len(good))
    out = {
        k: np.lib.format.open_memmap(osp.join(partial, f'{k}.npy'),
                                     mode='w+', dtype=dtype, shape=shape)
        for k, (shape, dtype) in specs.items()
    }
    src = np.memmap(scan.scratch_file, dtype=np.float32, mode='r',
                    shape=(scan.rows, 72))
    for a in range(0, n, _GATHER_CHUNK):
        out['pose'][a:a + _GATHER_CHUNK] = src[rows[a:a + _GATHER_CHUNK]]
    del src
    out['frames'][:] = np.stack([seq_idx, frame_idx], axis=1)
    out['betas'][:] = np.array([r['betas'] for _, r in good], np.float32)
    out['gender'][:] = [_GENDER_TO_CODE[r['gender']] for _, r in good]
    for a in out.values():
        a.flush()
    del out
    meta = dict(
        inputs=inputs, num_frames=n,
        num_source_frames=int(sum(lengths)),
        sequences=[dict(path=p, fps=r['fps'], num_frames=r['num_frames'])
                   for p, r in good],
        bad_files=bad, tree_walk=tree or {},
        created=time.strftime('%Y-%m-%d %H:%M:%S'))
    meta_file = osp.join(partial, 'meta.json')
    _write_json_atomic(meta_file, meta, indent=1)
    os.remove(scan.scratch_file)
    os.remove(scan.progress_file)
    # the completion marker, last: its presence means everything is written
    _write_json_atomic(
        osp.join(partial, MARKER),
        dict(version=STORE_VERSION, meta_sha256=_sha256_file(meta_file),
             arrays={
                 k: dict(bytes=os.path.getsize(
                     osp.join(partial, f'{k}.npy')), shape=list(shape),
                         dtype=dtype)
                 for k, (shape, dtype) in specs.items()
             }))
    if osp.lexists(final):  # a stale or damaged folder
        _discard(final)
    os.replace(partial, final)
    if verbose:
        print(f'[mocap store] {n} frames of {len(good)} sequences '
              f'({len(bad)} bad files) in {time.time() - t0:.1f} s -> '
              f'{final}', flush=True)
