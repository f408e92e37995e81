"""Hostile and broken AMASS trees and files (issue 12): symlink loops and
aliases, FIFOs, dangling links, deep nesting, and values that are NaN, inf,
overflow float32 or are physically absurd. Every case asserts the exact
outcome (an :class:`AMASSFormatError` naming the file, the key and the frame,
or exact walk / skip counts) and runs under a time limit."""
import contextlib
import os
import pathlib
import re
import signal
import sys

import numpy as np
import pytest

from mpt_plugin.datasets.amass_io import (MAX_ABS_BETAS, MAX_ABS_POSE,
                                          MAX_ABS_TRANS, MAX_FPS,
                                          AMASSFormatError,
                                          find_amass_sequences,
                                          read_amass_sequence,
                                          scan_amass_tree,
                                          split_amass_sequences,
                                          walk_amass_tree)
from mpt_plugin.datasets.key2mesh_amass_pairs_dataset import \
    Key2MeshAMASSPairsDataset

T = 8  # frames per tiny motion


class _Hang(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds: float = 10.0):
    """Fail (instead of hanging) if the block runs longer than ``seconds``;
    SIGALRM also interrupts a blocking open() of a FIFO."""

    def handler(signum, frame):
        raise _Hang(f'still running after {seconds} s')

    old = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def write_motion(path: pathlib.Path, seed: int = 0, **changes) -> pathlib.Path:
    """A tiny SMPL-H AMASS motion file, keys replaced by ``changes``."""
    rng = np.random.default_rng(seed)
    arrays = dict(poses=rng.normal(0, 0.2, (T, 156)),
                  trans=rng.normal(0, 0.5, (T, 3)),
                  betas=rng.normal(0, 1, 16), gender=np.array('female'),
                  mocap_framerate=np.array(30.0), dmpls=np.zeros((T, 8)))
    arrays.update(changes)
    arrays = {k: v for k, v in arrays.items() if v is not None}
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return path


@pytest.fixture
def tree(tmp_path):
    """ROOT/DS/S1/{a,b}_poses.npz, ROOT/DS/S2/c_poses.npz."""
    root = tmp_path / 'amass'
    files = [write_motion(root / 'DS' / 'S1' / 'a_poses.npz', 1),
             write_motion(root / 'DS' / 'S1' / 'b_poses.npz', 2),
             write_motion(root / 'DS' / 'S2' / 'c_poses.npz', 3)]
    return root, files


# ---------------------------------------------------------------------------
# directory walks
# ---------------------------------------------------------------------------


def test_symlink_loop_to_ancestor_is_reported_not_followed(tree):
    root, files = tree
    os.symlink('..', root / 'DS' / 'S1' / 'up')  # S1/up -> DS
    os.symlink(str(root), root / 'DS' / 'S2' / 'home')  # absolute -> ROOT
    with time_limit():
        walk = walk_amass_tree(root)
        found = find_amass_sequences(root)
    assert walk.paths == files == found  # each file once, no duplicate
    assert sorted(str(a.relative_to(root)) for a, _ in walk.loops) == [
        'DS/S1/up', 'DS/S2/home']
    assert walk.aliases == [] and walk.skipped == []
    good, bad = scan_amass_tree(root)
    assert good == files and bad == []


def test_mutual_and_self_referencing_links(tree, tmp_path):
    root, files = tree
    # links between siblings: each folder is entered by its real path
    os.symlink('../S2', root / 'DS' / 'S1' / 'to2')  # S1/to2 -> S2
    os.symlink('../S1', root / 'DS' / 'S2' / 'to1')  # S2/to1 -> S1
    os.symlink('me_poses.npz', root / 'DS' / 'me_poses.npz')  # x -> x
    # a loop through a folder outside the root: S1/ext -> out, out/back -> S1
    (tmp_path / 'out').mkdir()
    write_motion(tmp_path / 'out' / 'ext_poses.npz', 4)
    os.symlink(str(tmp_path / 'out'), root / 'DS' / 'S1' / 'ext')
    os.symlink(str(root / 'DS' / 'S1'), tmp_path / 'out' / 'back')
    with time_limit():
        walk = walk_amass_tree(root)
    rel = [root / 'DS' / 'S1' / 'ext' / 'ext_poses.npz']
    assert walk.paths == sorted(files + rel, key=lambda p: p.as_posix())
    assert [(str(a.relative_to(root)), pathlib.Path(b).name)
            for a, b in walk.loops] == [('DS/me_poses.npz', 'me_poses.npz'),
                                        ('DS/S1/ext/back', 'S1')]
    assert [(str(a.relative_to(root)), str(b.relative_to(root)))
            for a, b in walk.aliases] == [('DS/S1/to2', 'DS/S2'),
                                          ('DS/S2/to1', 'DS/S1')]
    assert split_amass_sequences(root, 'all') == [
        'DS/S1/a_poses.npz', 'DS/S1/b_poses.npz', 'DS/S1/ext/ext_poses.npz',
        'DS/S2/c_poses.npz']


def test_file_reachable_by_two_paths_is_read_once(tree):
    root, files = tree
    os.symlink('S1', root / 'DS' / 'S1_again')  # folder alias
    os.symlink('../S1/a_poses.npz', root / 'DS' / 'S2' / 'x_poses.npz')
    os.link(files[1], root / 'DS' / 'S2' / 'hard_poses.npz')  # hard link
    with time_limit():
        walk = walk_amass_tree(root)
    assert walk.paths == files
    assert sorted((str(a.relative_to(root)), str(b.relative_to(root)))
                  for a, b in walk.aliases) == [
        ('DS/S1_again', 'DS/S1'),
        ('DS/S2/hard_poses.npz', 'DS/S1/b_poses.npz'),
        ('DS/S2/x_poses.npz', 'DS/S1/a_poses.npz')]
    assert walk.loops == []


def test_dangling_link_and_fifo_are_skipped_and_counted(tree):
    root, files = tree
    os.symlink('gone_poses.npz', root / 'DS' / 'S1' / 'dead_poses.npz')
    fifo = root / 'DS' / 'S2' / 'pipe_poses.npz'
    os.mkfifo(fifo)
    with time_limit():
        walk = walk_amass_tree(root)
        good, bad = scan_amass_tree(root)
        # read directly, a FIFO is refused without opening it (no block)
        with pytest.raises(AMASSFormatError,
                           match=re.escape(str(fifo)) + '.*not a regular'):
            read_amass_sequence(fifo)
    assert walk.paths == files and good == files and bad == []
    assert sorted((p.name, why) for p, why in walk.skipped) == [
        ('dead_poses.npz', 'dangling symbolic link'),
        ('pipe_poses.npz', 'not a regular file (FIFO, device or socket)')]
    with pytest.raises(FileNotFoundError, match='dead_poses.npz'):
        read_amass_sequence(root / 'DS' / 'S1' / 'dead_poses.npz')


def test_deep_nesting_needs_no_recursion(tmp_path):
    # a folder chain deeper than the recursion limit: a recursive walk
    # (os.walk before Python 3.12) dies with RecursionError; the limit is
    # lowered so that a short chain proves it
    root = tmp_path / 'amass'
    root.mkdir()
    deep = str(root)
    for _ in range(400):  # os.makedirs / Path.mkdir recurse themselves
        deep += '/d'
        os.mkdir(deep)
    path = write_motion(pathlib.Path(deep) / 'deep_poses.npz')
    depth, frame = 0, sys._getframe()
    while frame is not None:
        depth, frame = depth + 1, frame.f_back
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(depth + 150)
    try:
        with pytest.raises(RecursionError):
            list(os.walk(root))  # the walk the reader used before
        with time_limit():
            assert find_amass_sequences(root) == [path]
    finally:  # pytest's own clean-up (shutil.rmtree) recurses too
        sys.setrecursionlimit(limit)
        path.unlink()
        while deep != str(root):
            os.rmdir(deep)
            deep = os.path.dirname(deep)


def test_unlistable_folder_is_skipped(tree, monkeypatch):
    root, files = tree
    locked = root / 'DS' / 'S3'
    write_motion(locked / 'hidden_poses.npz')
    real_scandir = os.scandir

    def scandir(path):  # what chmod 000 gives a non-root user
        if pathlib.Path(path) == locked:
            raise PermissionError(13, 'Permission denied', str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, 'scandir', scandir)
    walk = walk_amass_tree(root)
    assert walk.paths == files
    assert walk.skipped == [(locked,
                             'cannot list the folder: Permission denied')]


def test_walk_issues_logged_once_per_process(tree, monkeypatch):
    import mpt_plugin.datasets.amass_io as amass_io
    root, _ = tree
    os.symlink('..', root / 'DS' / 'S1' / 'up')
    logged = []
    monkeypatch.setattr(amass_io, 'print_log',
                        lambda msg, **kw: logged.append(msg))
    for _ in range(3):
        assert len(walk_amass_tree(root).loops) == 1  # counted every time
    assert len(logged) == 1 and 'symlink loop not followed' in logged[0]
    assert str(root / 'DS' / 'S1' / 'up') in logged[0]


# ---------------------------------------------------------------------------
# values, judged in float32
# ---------------------------------------------------------------------------


def _nan_pose(value, frame=5, col=7, width=156):
    poses = np.zeros((T, width))
    poses[frame, col] = value
    return poses


@pytest.mark.parametrize('name,changes,key,frame', [
    ('pose_1e200', dict(poses=_nan_pose(1e200)), 'poses', 5),
    ('pose_nan', dict(poses=_nan_pose(np.nan, frame=2)), 'poses', 2),
    ('pose_f32_overflow', dict(poses=_nan_pose(1e39, frame=0)), 'poses', 0),
    ('pose_absurd', dict(poses=_nan_pose(2 * MAX_ABS_POSE, frame=7)),
     'poses', 7),
    ('pose_int_huge', dict(poses=_nan_pose(2**62).astype(np.int64)), 'poses',
     5),
    ('hand_neg_inf', dict(poses=_nan_pose(-np.inf, frame=3, col=150)),
     'poses', 3),  # unused with hand_pose='zero': the file is still damaged
    ('trans_1e30', dict(trans=np.full((T, 3), 1e30)), 'trans', 0),
    ('trans_absurd', dict(trans=np.r_[np.zeros((6, 3)),
                                      np.full((2, 3), 2 * MAX_ABS_TRANS)]),
     'trans', 6),
    ('trans_inf', dict(trans=np.r_[np.zeros((4, 3)), [[0, np.inf, 0]],
                                   np.zeros((3, 3))]), 'trans', 4),
])
def test_bad_frame_values_name_file_key_and_frame(tmp_path, name, changes,
                                                  key, frame):
    path = write_motion(tmp_path / f'{name}_poses.npz', **changes)
    with pytest.raises(AMASSFormatError) as info:
        read_amass_sequence(path)
    msg = str(info.value)
    assert msg.startswith(f'{path}: key {key!r}: ')
    assert msg.endswith(f', first at frame {frame}')
    assert 'no NaN/inf' in msg and 'float32' in msg


def test_split_layout_keys_are_judged(tmp_path):
    body = np.zeros((T, 63))
    body[4, 10] = np.nan
    path = write_motion(tmp_path / 'g_poses.npz', poses=None,
                        root_orient=np.zeros((T, 3)), pose_body=body,
                        mocap_framerate=None,
                        mocap_frame_rate=np.array(120.0))
    with pytest.raises(AMASSFormatError,
                       match=re.escape(f"{path}: key 'pose_body': 1 value(s)")
                       + '.*first at frame 4$'):
        read_amass_sequence(path)
    hand = np.zeros((T, 90))
    hand[1, 0] = 1e300
    path = write_motion(tmp_path / 'h_poses.npz', poses=None,
                        root_orient=np.zeros((T, 3)), pose_body=np.zeros(
                            (T, 63)), pose_hand=hand)
    with pytest.raises(AMASSFormatError,
                       match=re.escape(f"{path}: key 'pose_hand'")):
        read_amass_sequence(path, hand_pose='index1')


@pytest.mark.parametrize('name,changes,key', [
    ('betas_nan', dict(betas=np.r_[np.zeros(12), np.nan, np.zeros(3)]),
     'betas'),
    ('betas_1e200', dict(betas=np.full(16, 1e200)), 'betas'),
    ('betas_absurd', dict(betas=np.full(16, 2 * MAX_ABS_BETAS)), 'betas'),
])
def test_bad_betas(tmp_path, name, changes, key):
    path = write_motion(tmp_path / f'{name}_poses.npz', **changes)
    with pytest.raises(AMASSFormatError,
                       match=re.escape(f'{path}: key {key!r}: ')):
        read_amass_sequence(path)


@pytest.mark.parametrize('fps', [0.0, -30.0, np.nan, np.inf, 1e39,
                                 2 * MAX_FPS])
def test_bad_frame_rate(tmp_path, fps):
    path = write_motion(tmp_path / 'fps_poses.npz',
                        mocap_framerate=np.array(fps))
    with pytest.raises(AMASSFormatError) as info:
        read_amass_sequence(path)
    assert str(info.value) == (
        f"{path}: key 'mocap_framerate': expected a frame rate > 0 and <= "
        f'{MAX_FPS:g} Hz (finite in float32), got {float(fps)}')


def test_values_at_the_bounds_are_accepted(tmp_path):
    poses = np.full((T, 156), 0.999 * MAX_ABS_POSE)
    path = write_motion(tmp_path / 'edge_poses.npz', poses=poses,
                        trans=np.full((T, 3), -0.999 * MAX_ABS_TRANS),
                        betas=np.full(16, 0.999 * MAX_ABS_BETAS),
                        mocap_framerate=np.array(MAX_FPS))
    seq = read_amass_sequence(path)
    assert seq.num_frames == T and seq.fps == MAX_FPS
    assert np.all(seq.poses[:, :66] == 0.999 * MAX_ABS_POSE)


def test_scan_skips_and_counts_bad_files_without_aborting(tree):
    root, files = tree
    bad1 = write_motion(root / 'DS' / 'S2' / 'huge_poses.npz',
                        poses=_nan_pose(1e200))
    bad2 = write_motion(root / 'DS' / 'S2' / 'far_poses.npz',
                        trans=np.full((T, 3), 1e30))
    bad3 = write_motion(root / 'DS' / 'S3' / 'fps_poses.npz',
                        mocap_framerate=np.array(np.nan))
    good, bad = scan_amass_tree(root)
    assert good == files
    assert [(p, r.split(':')[1].strip()) for p, r in bad] == [
        (bad2, "key 'trans'"), (bad1, "key 'poses'"),
        (bad3, "key 'mocap_framerate'")]
    with pytest.raises(AMASSFormatError, match=re.escape(str(bad2))):
        scan_amass_tree(root, on_error='raise')


def test_key2mesh_pairs_skip_bad_files(tree):
    root, files = tree
    bad = write_motion(root / 'DS' / 'S2' / 'huge_poses.npz',
                       poses=_nan_pose(1e200))
    os.symlink('..', root / 'DS' / 'S1' / 'loop')
    with time_limit(60):
        ds = Key2MeshAMASSPairsDataset(str(root), verbose=False)
    assert len(ds) == 3 * T  # every frame of the three good files, once
    assert [p for p, _ in ds.bad_files] == [str(bad)]
    assert np.isfinite(ds.poses).all() and np.isfinite(ds.betas).all()
    with pytest.raises(AMASSFormatError, match=re.escape(str(bad))):
        Key2MeshAMASSPairsDataset(str(root), on_bad_file='raise',
                                  verbose=False)
