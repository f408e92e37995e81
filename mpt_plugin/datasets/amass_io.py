"""Reading AMASS motion files as SMPL parameters.

AMASS is distributed as one folder per sub-dataset and subject::

    ROOT/DATASET/SUBJECT/NAME_poses.npz   one motion sequence
    ROOT/DATASET/SUBJECT/shape.npz        the subject's betas and gender

Motion files are plain-array ``.npz`` archives (no pickle) in one of these
layouts, all accepted here:

    - SMPL-H release: ``poses`` (T, 156) axis-angle (22 body joints, then
      15 left + 15 right hand joints), ``betas`` (16,), ``trans`` (T, 3),
      ``gender``, ``mocap_framerate``, ``dmpls`` (T, 8) (absent in some
      subsets).
    - SMPL+H G release: as above but the frame rate is
      ``mocap_frame_rate``; it adds ``root_orient`` (T, 3),
      ``pose_body`` (T, 63), ``pose_hand`` (T, 90), ``surface_model_type``.
      Files holding only ``root_orient``/``pose_body``(/``pose_hand``) and no
      ``poses`` are accepted too.
    - SMPL-X G release: ``poses`` (T, 165) (22 body joints, jaw, 2 eyes,
      15 + 15 hand joints).
    - Already-SMPL files: ``poses`` (T, 72).

Conversion to SMPL (T, 72): the 22 body joints are kept; SMPL's two hand
joints (22 ``left_hand``, 23 ``right_hand``) are either zero (``'zero'``, as
LGD/Key2Mesh do) or the first index-finger joints (``'index1'``, as VIBE
does: SMPL-H joints 22 ``left_index1`` and 37 ``right_index1``). ``betas``
keeps the first 10 of the 16 SMPL-H shape coefficients (an approximation:
the shape spaces differ slightly).

Coordinate frame: AMASS's world is **z up** (metres): the stored root
orientation already contains the +90 deg rotation about x that stands SMPL's
y-up template upright in it. SMPL's own template frame is y up, facing +z.
:data:`AMASS_TO_YUP` (-90 deg about x) and :func:`zup_to_yup_root` rotate a
sequence into a y-up world (LGD instead applies ``euler(-pi/2, -pi/2, 0)``,
which adds a yaw; VIBE keeps z up).

Use :func:`scan_amass_tree` once on a new tree: it reads every file, reports
each bad one by name with the reason, and skips or fails fast.

Bad values: ``poses`` (or ``root_orient`` / ``pose_body`` / ``pose_hand``),
``trans``, ``betas`` and the frame rate are judged after the cast to float32
(the model dtype, :mod:`mpt_plugin.utils.value_checks`): NaN, inf, a float64
that overflows float32 (1e39, 1e200) or a value beyond :data:`MAX_ABS_POSE`
(radians), :data:`MAX_ABS_TRANS` (metres), :data:`MAX_ABS_BETAS` or
:data:`MAX_FPS` (Hz) makes the **whole file** bad (:class:`AMASSFormatError`
naming the file, the key, the first bad frame and the number of bad
frames). Frames are not dropped one by one: a motion with a non-finite
frame is a damaged file, and dropping frames would silently renumber the
rest (``frames.npy`` of the MoCap SMPL store records frame indices). Under the
readers' ``on_bad_file='skip'`` policy the file is skipped and counted.
Unused keys (``dmpls``) are not judged.

Directory walks (:func:`walk_amass_tree`) follow symbolic links but visit
every folder and every file once, by identity (``st_dev``, ``st_ino``): a
link back to an ancestor folder (a loop) is reported and not followed, a
folder or file reachable by two paths is read once (the first in sorted
depth-first order), dangling links, FIFOs and devices named ``*.npz`` and
unreadable folders are skipped; each kind is counted and logged once per
process.
"""
import errno
import logging
import os
import pathlib
import stat
import zipfile
import zlib
from dataclasses import dataclass, field, replace
from typing import Dict, List, Optional, Set, Tuple, Union

import numpy as np
from mmengine.logging import print_log

from mpt_plugin.geometry.rotations import rotate_smpl_root
from mpt_plugin.utils.value_checks import (bad_rows, cast_finite_mask,
                                           require_finite)

__all__ = [
    'AMASSFormatError', 'AMASSSequence', 'AMASSTreeWalk', 'AMASS_TO_YUP',
    'MAX_ABS_BETAS', 'MAX_ABS_POSE', 'MAX_ABS_TRANS', 'MAX_FPS',
    'find_amass_sequences', 'read_amass_sequence', 'scan_amass_tree',
    'split_amass_sequences', 'walk_amass_tree', 'zup_to_yup_root'
]

PathLike = Union[str, os.PathLike]

#: Rotation from AMASS's z-up world to a y-up world: -90 deg about x
#: (z -> y, y -> -z). Apply on the left of the root rotation.
AMASS_TO_YUP = np.array([[1., 0., 0.], [0., 0., 1.], [0., -1., 0.]])

# SMPL-H/SMPL-X pose widths -> (model type, column of left_index1,
# column of right_index1); SMPL's own hand joints sit at columns 66 and 69.
_POSE_LAYOUTS = {
    156: ('smplh', 22 * 3, 37 * 3),
    165: ('smplx', 25 * 3, 40 * 3),
    72: ('smpl', 22 * 3, 23 * 3),
}
_FPS_KEYS = ('mocap_framerate', 'mocap_frame_rate')

# Value policy (module doc, "Bad values"): every numeric array a motion is
# built from is judged after the cast to float32, the model dtype, and
# against these physical bounds; one bad value makes the whole file bad.
#: Largest accepted |axis-angle| component, radians (real data < 4 pi;
#: float32 still resolves 6e-5 rad here).
MAX_ABS_POSE = 1e3
#: Largest accepted |translation| component, metres.
MAX_ABS_TRANS = 1e4
#: Largest accepted |shape coefficient| (standard deviations; real < 10).
MAX_ABS_BETAS = 1e2
#: Largest accepted capture frame rate, Hz (AMASS: 60 to 250).
MAX_FPS = 1e5
_GENDERS = ('male', 'female', 'neutral')
_HAND_POSES = ('zero', 'index1')
# What a truncated or corrupt archive raises while being opened or read.
_READ_ERRORS = (zipfile.BadZipFile, EOFError, ValueError, OSError, zlib.error,
                KeyError, RuntimeError)


class AMASSFormatError(ValueError):
    """An AMASS file that cannot be read or does not hold a valid motion."""


@dataclass(eq=False)
class AMASSSequence:
    """One AMASS motion as SMPL parameters.

    Attributes:
        poses: (T, 72) float64 SMPL axis-angle, radians; ``[:, :3]`` is the
            global root orientation in the world given by ``up_axis``.
        betas: (10,) float64 SMPL shape coefficients.
        trans: (T, 3) float64 root translation, metres (SMPL convention: a
            posed joint is ``R_root (J - J_pelvis) + J_pelvis + trans``).
        gender: ``'male'``, ``'female'`` or ``'neutral'``.
        fps: frames per second.
        path: the file it came from.
        model_type: source body model, ``'smplh'``, ``'smplx'`` or
            ``'smpl'``.
        up_axis: ``'z'`` (AMASS's world) or ``'y'`` after :meth:`to_yup`.
    """
    poses: np.ndarray
    betas: np.ndarray
    trans: np.ndarray
    gender: str
    fps: float
    path: pathlib.Path
    model_type: str = 'smplh'
    up_axis: str = 'z'

    @property
    def num_frames(self) -> int:
        """T, the number of frames."""
        return int(self.poses.shape[0])

    def subsample(self, target_fps: float) -> 'AMASSSequence':
        """Keep every ``max(1, floor(fps / target_fps))``-th frame.

        This is VIBE's (``fps // 25``) and mmhuman3d's (``fps // 10``)
        sub-sampling; ``fps`` of the result is the effective frame rate.
        """
        if not target_fps > 0:
            raise ValueError(f'target_fps must be > 0, got {target_fps}')
        step = max(1, int(self.fps // target_fps))
        return replace(
            self,
            poses=self.poses[::step].copy(),
            trans=self.trans[::step].copy(),
            fps=self.fps / step)

    def to_yup(self,
               root_joint: Optional[np.ndarray] = None) -> 'AMASSSequence':
        """The same motion in a y-up world (see :func:`zup_to_yup_root`)."""
        if self.up_axis != 'z':
            raise ValueError(f'{self.path}: already {self.up_axis}-up')
        poses, trans = zup_to_yup_root(self.poses, self.trans, root_joint)
        return replace(self, poses=poses, trans=trans, up_axis='y')


def zup_to_yup_root(
    poses: np.ndarray,
    trans: Optional[np.ndarray] = None,
    root_joint: Optional[np.ndarray] = None
) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """Rotate a z-up (AMASS) motion into a y-up world, -90 deg about x.

    The root rotation becomes ``AMASS_TO_YUP @ R_root``; the other joints
    are local rotations and do not change.

    Args:
        poses: (..., D) axis-angle with the root in ``[..., :3]`` (D >= 3),
            radians.
        trans: optional (..., 3) SMPL translation, metres.
        root_joint: optional (3,) or (..., 3) rest pelvis joint of the body
            (SMPL ``J[0]`` for the sequence's betas), metres. With it, the
            translation is exact: ``A (trans + J0) - J0``. Without it,
            ``trans`` is rotated as a vector, ``A trans``, which places the
            body off by the constant ``(A - I) J0`` (about 0.3 m for SMPL's
            pelvis at (0, -0.22, 0.03)); root-relative uses do not care.

    Returns:
        tuple: ``(poses, trans)``, new float64 arrays of the same shapes;
        ``trans`` is None when not given.
    """
    poses = rotate_smpl_root(poses, AMASS_TO_YUP)
    if trans is None:
        return poses, None
    trans = np.asarray(trans, dtype=np.float64)
    if trans.shape[-1] != 3:
        raise ValueError(f'trans must be (..., 3), got {trans.shape}')
    if root_joint is None:
        return poses, trans @ AMASS_TO_YUP.T
    j0 = np.asarray(root_joint, dtype=np.float64)
    return poses, (trans + j0) @ AMASS_TO_YUP.T - j0


def _is_motion_file(path: pathlib.Path) -> bool:
    """False for files that open and hold no motion (e.g. stage-i shapes).

    Unreadable files count as motion files, so that :func:`scan_amass_tree`
    reports them instead of dropping them silently.
    """
    try:
        with zipfile.ZipFile(path) as zf:
            names = {
                n[:-4] if n.endswith('.npy') else n
                for n in zf.namelist()
            }
    except _READ_ERRORS:
        return True
    return 'poses' in names or {'root_orient', 'pose_body'} <= names


@dataclass
class AMASSTreeWalk:
    """What :func:`walk_amass_tree` found under a root.

    Attributes:
        paths: sorted motion files, each physical file once.
        loops: ``(link, target)``: a folder link pointing back to ``target``,
            one of its own ancestors (not followed).
        aliases: ``(skipped, kept)``: a folder or file reachable by a second
            path ``skipped``; it was read once, as ``kept``.
        skipped: ``(path, reason)``: dangling links, ``*.npz`` entries that
            are not regular files (FIFOs, devices), unreadable folders.
    """
    paths: List[pathlib.Path] = field(default_factory=list)
    loops: List[Tuple[pathlib.Path, pathlib.Path]] = field(
        default_factory=list)
    aliases: List[Tuple[pathlib.Path, pathlib.Path]] = field(
        default_factory=list)
    skipped: List[Tuple[pathlib.Path, str]] = field(default_factory=list)


# (kind, path) of walk issues already logged by this process.
_REPORTED_WALK_ISSUES: Set[Tuple[str, str]] = set()


def _is_candidate(name: str) -> bool:
    return (name.endswith('.npz') and name != 'shape.npz'
            and not name.startswith('._'))


def walk_amass_tree(root: PathLike) -> AMASSTreeWalk:
    """Find the motion files of an AMASS tree, following symbolic links
    safely (see the module doc, "Directory walks").

    The walk is iterative (no recursion limit), depth-first in sorted name
    order, and visits each folder identity (``st_dev``, ``st_ino``) once, so
    it ends on any tree: a symlink loop is recorded in ``loops`` and not
    followed; a second path to a folder or file in ``aliases``. Links may
    point outside ``root`` (datasets on other disks) and are followed.
    Newly seen issues are logged once per process (one warning per walk).

    Args:
        root: the AMASS root folder (or one dataset / subject folder).

    Returns:
        AMASSTreeWalk: ``paths`` sorted (joined onto ``root``), and the
        loops, aliases and skipped entries.

    Raises:
        FileNotFoundError: ``root`` does not exist.
        NotADirectoryError: ``root`` is not a folder.
    """
    root = pathlib.Path(root)
    if not root.exists():
        raise FileNotFoundError(f'AMASS root not found: {root}')
    if not root.is_dir():
        raise NotADirectoryError(f'AMASS root is not a folder: {root}')
    walk = AMASSTreeWalk()
    st = os.stat(root)
    root_id = (st.st_dev, st.st_ino)
    # folder identity -> (its path, its parent's identity)
    dirs: Dict[Tuple[int, int], Tuple[pathlib.Path, Optional[Tuple[int,
                                                                  int]]]]
    dirs = {root_id: (root, None)}
    files: Dict[Tuple[int, int], pathlib.Path] = {}
    stack = [(root, root_id)]
    while stack:
        folder, folder_id = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted((e.name for e in it))
        except OSError as err:
            walk.skipped.append(
                (folder, f'cannot list the folder: {err.strerror or err}'))
            continue
        subdirs = []
        for name in entries:
            path = folder / name
            try:
                st = os.stat(path)  # follows links
            except OSError as err:
                if err.errno == errno.ELOOP:  # links that resolve to links
                    try:
                        target = pathlib.Path(os.readlink(path))
                    except OSError:
                        target = path
                    walk.loops.append((path, target))
                elif _is_candidate(name) or os.path.islink(path):
                    walk.skipped.append(
                        (path, 'dangling symbolic link' if os.path.islink(
                            path) else f'cannot stat: {err.strerror or err}'))
                continue
            ident = (st.st_dev, st.st_ino)
            if stat.S_ISDIR(st.st_mode):
                if ident in dirs:
                    ancestor, node = False, folder_id
                    while node is not None:
                        if node == ident:
                            ancestor = True
                            break
                        node = dirs[node][1]
                    (walk.loops if ancestor else walk.aliases).append(
                        (path, dirs[ident][0]))
                    continue
                dirs[ident] = (path, folder_id)
                subdirs.append((path, ident))
                continue
            if not _is_candidate(name):
                continue
            if not stat.S_ISREG(st.st_mode):
                walk.skipped.append(
                    (path, 'not a regular file (FIFO, device or socket)'))
                continue
            if ident in files:
                walk.aliases.append((path, files[ident]))
                continue
            files[ident] = path
            if _is_motion_file(path):
                walk.paths.append(path)
        stack.extend(reversed(subdirs))
    walk.paths.sort(key=lambda p: p.as_posix())
    _log_walk_issues(root, walk)
    return walk


def _log_walk_issues(root: pathlib.Path, walk: AMASSTreeWalk) -> None:
    lines = []
    for kind, items, fmt in (
            ('loop', walk.loops, 'symlink loop not followed: {} -> {}'),
            ('alias', walk.aliases, 'read once, second path skipped: {} '
             '(same as {})'),
            ('skipped', walk.skipped, 'skipped {}: {}')):
        for a, b in items:
            key = (kind, str(a))
            if key not in _REPORTED_WALK_ISSUES:
                _REPORTED_WALK_ISSUES.add(key)
                lines.append(fmt.format(a, b))
    if lines:
        more = (f'\n  ... and {len(lines) - 10} more'
                if len(lines) > 10 else '')
        print_log(
            f'{root}: AMASS tree walk: {len(walk.loops)} symlink loop(s), '
            f'{len(walk.aliases)} path(s) to already visited folders/files, '
            f'{len(walk.skipped)} skipped entr(y/ies):\n  '
            + '\n  '.join(lines[:10]) + more,
            logger='current',
            level=logging.WARNING)


def find_amass_sequences(root: PathLike) -> List[pathlib.Path]:
    """List the motion files of an AMASS tree.

    Searches ``root`` recursively (``DATASET/SUBJECT/NAME.npz``, following
    symbolic links, each folder and file once: see
    :func:`walk_amass_tree`), skipping ``shape.npz``, macOS ``._*`` side
    files and archives without ``poses`` (or ``root_orient`` +
    ``pose_body``).

    Args:
        root: the AMASS root folder (or one dataset / subject folder).

    Returns:
        Sorted paths (joined onto ``root``).

    Raises:
        FileNotFoundError: ``root`` does not exist or holds no motion file.
        NotADirectoryError: ``root`` is not a folder.
    """
    found = walk_amass_tree(root).paths
    if not found:
        raise FileNotFoundError(
            f'{root}: no AMASS motion file found (expected '
            'ROOT/DATASET/SUBJECT/NAME_poses.npz archives holding "poses")')
    return found


def _error(path: pathlib.Path, msg: str) -> AMASSFormatError:
    return AMASSFormatError(f'{path}: {msg}')


def _load_arrays(path: pathlib.Path) -> Dict[str, np.ndarray]:
    """All arrays of an npz archive, without pickle, through the size-checked
    member reader of :func:`mpt_plugin.body_models.io.read_npz_arrays`: each
    member's declared ``shape * itemsize`` must match its uncompressed size
    (at most 4 GiB, and at most 1032x its compressed size) before anything is
    allocated, so a forged header in any member (even an unused ``dmpls``)
    is an :class:`AMASSFormatError` naming the file and key, never a bare
    ``MemoryError``. All members are read (AMASS members are small), so the
    key lists in later messages stay complete."""
    from mpt_plugin.body_models.io import NpzMemberError, read_npz_arrays
    try:
        return read_npz_arrays(path, allow_pickle=False)
    except NpzMemberError as err:
        if err.key is None:
            raise _error(
                path, f'cannot open as an .npz archive (truncated or '
                f'corrupt?): {err.reason}') from err
        raise _error(
            path, f'key {err.key!r}: cannot read the array (truncated, '
            f'corrupt, forged header or pickled object data): '
            f'{err.reason}') from err


def _float_array(path: pathlib.Path, arrays: Dict[str, np.ndarray], key: str,
                 expected: str) -> np.ndarray:
    arr = arrays[key]
    if arr.dtype.kind not in 'fiu':
        raise _error(
            path, f'key {key!r}: expected a numeric array {expected}'
            f', got dtype {arr.dtype}')
    return np.asarray(arr, dtype=np.float64)


def _as_str(arr: Optional[np.ndarray]) -> Optional[str]:
    """A one-element numpy str/bytes array as a lower-case str, else None."""
    if arr is None or arr.dtype.kind not in 'US' or arr.size != 1:
        return None
    value = arr.reshape(-1)[0]
    if isinstance(value, bytes):
        value = value.decode('utf-8', errors='replace')
    value = str(value).strip()
    if value.startswith(("b'", 'b"')) and value[-1:] in ("'", '"'):
        value = value[2:-1]  # str(bytes) written by some converters
    return value.lower()


def _decode_gender(path: pathlib.Path, arr: np.ndarray) -> str:
    value = _as_str(arr)
    if value is None:
        raise _error(
            path, f"key 'gender': expected a string "
            f"({'/'.join(_GENDERS)}), got dtype {arr.dtype} shape "
            f'{arr.shape}')
    if value not in _GENDERS:
        raise _error(
            path, f"key 'gender': expected one of {_GENDERS}, got "
            f'{value!r}')
    return value


def _require(path: pathlib.Path, arrays: Dict[str, np.ndarray],
             key: str) -> None:
    if key not in arrays:
        raise _error(path, f'missing key {key!r} (keys: {sorted(arrays)})')


def _pose_expected(shape: str) -> str:
    return (f'{shape} axis-angle, radians, no NaN/inf, |x| <= '
            f'{MAX_ABS_POSE:g}; index = (frame, column)')


def _check_values(path: pathlib.Path, arrays: Dict[str, np.ndarray],
                  key: str, max_abs: float, expected: str) -> None:
    """Raise :class:`AMASSFormatError` unless every value of ``key`` is
    finite in float32 and ``|x| <= max_abs``; for (T, D) arrays the message
    also names the first bad frame and the number of bad frames."""
    arr = arrays[key]
    try:
        require_finite(arr, str(path), key, expected=expected,
                       error_cls=AMASSFormatError, max_abs=max_abs)
    except AMASSFormatError as err:
        if arr.ndim != 2 or arr.dtype.kind not in 'iuf':
            raise
        with np.errstate(invalid='ignore'):
            rows = bad_rows(arr) | (np.abs(arr.astype(np.float64)) >
                                    max_abs).any(axis=1)
        frames = np.flatnonzero(rows)
        raise AMASSFormatError(
            f'{err}; {len(frames)} of {len(arr)} frame(s) bad, first at '
            f'frame {frames[0]}') from None


def read_amass_sequence(path: PathLike,
                        hand_pose: str = 'zero') -> AMASSSequence:
    """Read and validate one AMASS motion file as SMPL parameters.

    Args:
        path: a ``*_poses.npz`` file (any layout in the module docstring).
        hand_pose: SMPL hand joints 22/23: ``'zero'`` (LGD) or ``'index1'``
            (VIBE: SMPL-H ``left_index1`` / ``right_index1``).

    Returns:
        AMASSSequence: poses (T, 72), betas (10,), trans (T, 3) (float64),
        gender, fps, in AMASS's z-up world.

    Raises:
        FileNotFoundError: the file does not exist.
        AMASSFormatError: not a regular file, unreadable archive, missing
            key, wrong shape or dtype, no frame, bad values (NaN/inf in
            float32 or beyond :data:`MAX_ABS_POSE`, :data:`MAX_ABS_TRANS`,
            :data:`MAX_ABS_BETAS`; the whole file is refused, see the module
            doc), unknown gender or a frame rate outside (0,
            :data:`MAX_FPS`]; the message names the file and the key (and
            the first bad frame).
    """
    if hand_pose not in _HAND_POSES:
        raise ValueError(f'hand_pose must be one of {_HAND_POSES}, got '
                         f'{hand_pose!r}')
    path = pathlib.Path(path)
    try:
        mode = os.stat(path).st_mode
    except OSError as err:
        raise FileNotFoundError(
            f'AMASS file not found: {path} ({err.strerror or err})') from err
    if not stat.S_ISREG(mode):
        # a FIFO or device would block or never end
        raise _error(path, 'not a regular file (folder, FIFO or device)')
    arrays = _load_arrays(path)

    # --- poses -> (T, 66) body + (T, 6) SMPL hands
    if 'poses' in arrays:
        poses = _float_array(path, arrays, 'poses', '(T, 156)')
        width = poses.shape[1] if poses.ndim == 2 else None
        if width not in _POSE_LAYOUTS:
            raise _error(
                path, f"key 'poses': expected shape (T, 156) (SMPL-H), "
                f'(T, 165) (SMPL-X) or (T, 72) (SMPL), got {poses.shape}')
        model_type, left, right = _POSE_LAYOUTS[width]
        _check_values(path, arrays, 'poses', MAX_ABS_POSE,
                      _pose_expected(f'(T, {width})'))
        declared = _as_str(arrays.get('surface_model_type'))
        if declared in ('smplh', 'smplx') and declared != model_type:
            raise _error(
                path, f"key 'poses': shape {poses.shape} is not a {declared} "
                f'layout (surface_model_type={declared!r})')
        body = poses[:, :66]
        hands = np.concatenate(
            [poses[:, left:left + 3], poses[:, right:right + 3]], axis=1)
    elif 'root_orient' in arrays and 'pose_body' in arrays:
        model_type = 'smplh'
        root = _float_array(path, arrays, 'root_orient', '(T, 3)')
        pose_body = _float_array(path, arrays, 'pose_body', '(T, 63)')
        if root.ndim != 2 or root.shape[1] != 3:
            raise _error(
                path, f"key 'root_orient': expected shape (T, 3), "
                f'got {root.shape}')
        if pose_body.shape != (root.shape[0], 63):
            raise _error(
                path, f"key 'pose_body': expected shape "
                f'({root.shape[0]}, 63), got {pose_body.shape}')
        for key, shape in (('root_orient', '(T, 3)'),
                           ('pose_body', '(T, 63)')):
            _check_values(path, arrays, key, MAX_ABS_POSE,
                          _pose_expected(shape))
        body = np.concatenate([root, pose_body], axis=1)
        if 'pose_hand' in arrays:
            pose_hand = _float_array(path, arrays, 'pose_hand', '(T, 90)')
            if pose_hand.shape != (root.shape[0], 90):
                raise _error(
                    path, f"key 'pose_hand': expected shape "
                    f'({root.shape[0]}, 90), got {pose_hand.shape}')
            _check_values(path, arrays, 'pose_hand', MAX_ABS_POSE,
                          _pose_expected('(T, 90)'))
            hands = np.concatenate([pose_hand[:, :3], pose_hand[:, 45:48]],
                                   axis=1)
        elif hand_pose == 'index1':
            raise _error(
                path, "missing key 'pose_hand' (T, 90), needed for "
                "hand_pose='index1'")
        else:
            hands = np.zeros((root.shape[0], 6))
    else:
        raise _error(
            path, "missing key 'poses' (T, 156) (nor 'root_orient' "
            f"+ 'pose_body'); keys: {sorted(arrays)}")
    num_frames = body.shape[0]
    if num_frames == 0:
        raise _error(path, "key 'poses': no frame (T == 0)")
    if hand_pose == 'zero':
        hands = np.zeros_like(hands)
    smpl_poses = np.ascontiguousarray(np.concatenate([body, hands], axis=1))

    # --- trans
    _require(path, arrays, 'trans')
    trans = _float_array(path, arrays, 'trans', f'({num_frames}, 3)')
    if trans.shape != (num_frames, 3):
        raise _error(
            path, f"key 'trans': expected shape ({num_frames}, 3), "
            f'got {trans.shape}')
    _check_values(
        path, arrays, 'trans', MAX_ABS_TRANS,
        f'({num_frames}, 3) metres, no NaN/inf, |x| <= {MAX_ABS_TRANS:g}; '
        'index = (frame, axis)')

    # --- betas
    _require(path, arrays, 'betas')
    betas = _float_array(path, arrays, 'betas', '(16,)')
    if betas.ndim != 1 or betas.shape[0] < 10:
        raise _error(
            path, f"key 'betas': expected shape (N,) with N >= 10 "
            f'(AMASS: 16), got {betas.shape}')
    _check_values(path, arrays, 'betas', MAX_ABS_BETAS,
                  f'(16,) shape coefficients, no NaN/inf, |x| <= '
                  f'{MAX_ABS_BETAS:g}')

    # --- gender, frame rate
    _require(path, arrays, 'gender')
    gender = _decode_gender(path, arrays['gender'])
    fps_key = next((k for k in _FPS_KEYS if k in arrays), None)
    if fps_key is None:
        raise _error(
            path, f'missing key {_FPS_KEYS[0]!r} (or '
            f'{_FPS_KEYS[1]!r}); keys: {sorted(arrays)}')
    fps_arr = arrays[fps_key]
    if fps_arr.size != 1 or fps_arr.dtype.kind not in 'fiu':
        raise _error(
            path, f'key {fps_key!r}: expected a number, got dtype '
            f'{fps_arr.dtype} shape {fps_arr.shape}')
    fps_val = fps_arr.reshape(-1)[:1]
    fps = float(fps_val[0])
    if not (cast_finite_mask(fps_val)[0] and 0 < fps <= MAX_FPS):
        raise _error(
            path, f'key {fps_key!r}: expected a frame rate > 0 and <= '
            f'{MAX_FPS:g} Hz (finite in float32), got {fps}')

    return AMASSSequence(
        poses=smpl_poses,
        betas=np.ascontiguousarray(betas[:10]),
        trans=np.ascontiguousarray(trans),
        gender=gender,
        fps=fps,
        path=path,
        model_type=model_type)


def scan_amass_tree(
    root: PathLike,
    on_error: str = 'skip',
    hand_pose: str = 'zero',
    walk: Optional[AMASSTreeWalk] = None
) -> Tuple[List[pathlib.Path], List[Tuple[pathlib.Path, str]]]:
    """Read every motion file of a tree once and sort out the bad ones.

    Args:
        root: the AMASS root (see :func:`find_amass_sequences`).
        on_error: ``'skip'``: report bad files (one warning with the count
            and the first reasons) and go on; ``'raise'``: raise the first
            :class:`AMASSFormatError`. A file with a bad value is bad as a
            whole (module doc, "Bad values").
        hand_pose: passed to :func:`read_amass_sequence`.
        walk: the result of :func:`walk_amass_tree` on ``root`` if the
            caller has it (saves a second walk).

    Returns:
        tuple: ``(good, bad)``: sorted paths of valid files, and
        ``(path, reason)`` for every invalid one.
    """
    if on_error not in ('skip', 'raise'):
        raise ValueError(f"on_error must be 'skip' or 'raise', got "
                         f'{on_error!r}')
    paths = find_amass_sequences(root) if walk is None else walk.paths
    good, bad = [], []
    for path in paths:
        try:
            read_amass_sequence(path, hand_pose=hand_pose)
        except (AMASSFormatError, FileNotFoundError) as err:
            # FileNotFoundError: removed since the walk
            if on_error == 'raise':
                raise
            bad.append((path, str(err)))
        else:
            good.append(path)
    if bad:
        first = '\n  '.join(reason for _, reason in bad[:5])
        more = f'\n  ... and {len(bad) - 5} more' if len(bad) > 5 else ''
        print_log(
            f'{root}: skipped {len(bad)} of {len(paths)} AMASS files:\n  '
            f'{first}{more}',
            logger='current',
            level=logging.WARNING)
    return good, bad


def split_amass_sequences(root: PathLike, split: str = 'train',
                          val_fraction: float = 0.1) -> List[str]:
    """Motion files of ``root`` in a deterministic sequence-level split.

    A sequence belongs to 'val' when the CRC-32 of its path relative to
    ``root`` (``/`` separators) falls in the first ``val_fraction`` of the
    hash range, so held-out motions never appear in training and the split
    does not change when other files are added.

    Args:
        root: AMASS tree.
        split: 'train', 'val' or 'all'.
        val_fraction: share of sequences in 'val', in [0, 1).

    Returns:
        list[str]: sorted paths relative to ``root``.

    Raises:
        ValueError: bad ``split`` / ``val_fraction``, or an empty split.
    """
    if split not in ('train', 'val', 'all'):
        raise ValueError(f"split must be 'train', 'val' or 'all', got "
                         f'{split!r}')
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f'val_fraction must be in [0, 1), got {val_fraction}')
    rel = [os.path.relpath(str(p), root) for p in find_amass_sequences(root)]

    def split_of(r: str) -> str:
        h = zlib.crc32(r.replace('\\', '/').encode()) % 10000
        return 'val' if h < val_fraction * 10000 else 'train'

    chosen = [r for r in rel if split == 'all' or split_of(r) == split]
    if not chosen:
        raise ValueError(f'{root}: no sequence falls in split {split!r} '
                         f'(val_fraction={val_fraction})')
    return chosen
