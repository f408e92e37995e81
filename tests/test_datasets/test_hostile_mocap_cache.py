"""Broken MoCap mesh caches and hostile AMASS inputs to the cache build
(issue 12): truncated or extended arrays, empty / garbled / deeply nested /
edited ``meta.json``, a missing or broken completion marker, arrays that
disagree with ``meta.json``, a damaged ``.partial`` build, and AMASS files
whose values are bad or merely extreme. Each case asserts the exact outcome:
:class:`MoCapCacheError` naming the folder, the reason and the fix, a rebuild
giving the original arrays, or exact skip counts."""
import json
import os
import os.path as osp
import re
import shutil

import numpy as np
import pytest

from mpt_plugin.body_models.conventions import SMPL_PARENTS
from mpt_plugin.datasets.amass_io import (MAX_ABS_BETAS, MAX_ABS_POSE,
                                          MAX_ABS_TRANS, AMASSFormatError)
from mpt_plugin.datasets.mocap_mesh_cache import (MARKER, MoCapCacheError,
                                                  MoCapMeshCache)
from tests.test_datasets.test_hostile_amass import T, write_motion

NUM_VERTS = 6890  # the smpl_45 joints need SMPL's vertex count
J = 24


@pytest.fixture(scope='module')
def body_model(tmp_path_factory):
    """A minimal SMPL-layout model (6890 vertices) and a 17-joint
    regressor: enough for the cache, fast to pose."""
    out = tmp_path_factory.mktemp('bm')
    rng = np.random.default_rng(0)
    j_reg = np.zeros((J, NUM_VERTS), np.float32)
    j_reg[np.arange(J), np.arange(J) * 100] = 1.0
    weights = np.zeros((NUM_VERTS, J), np.float32)
    weights[np.arange(NUM_VERTS), np.arange(NUM_VERTS) % J] = 1.0
    np.savez_compressed(
        out / 'SMPL_NEUTRAL.npz',
        v_template=rng.normal(0, 0.3, (NUM_VERTS, 3)).astype(np.float32),
        f=np.array([[0, 1, 2]], np.int64), J_regressor=j_reg,
        weights=weights,
        kintree_table=np.stack([np.maximum(SMPL_PARENTS, 0), np.arange(J)]),
        shapedirs=rng.normal(0, 0.02, (NUM_VERTS, 3, 10)).astype(np.float32),
        posedirs=np.zeros((NUM_VERTS, 3, 207), np.float32))
    h36m = np.zeros((17, NUM_VERTS), np.float32)
    h36m[np.arange(17), np.arange(17) * 300 + 7] = 1.0
    np.save(out / 'J_regressor_h36m.npy', h36m)
    return dict(model_path=str(out),
                joints_regressor=str(out / 'J_regressor_h36m.npy'))


@pytest.fixture(scope='module')
def amass(tmp_path_factory):
    root = tmp_path_factory.mktemp('amass_tree')
    for i, name in enumerate(['S1/a', 'S1/b', 'S2/c']):
        write_motion(root / 'DS' / f'{name}_poses.npz', seed=i)
    return root


def get(amass_root, cache_root, body_model, **kwargs):
    args = dict(sample_fps=None, batch_size=16, verbose=False)
    args.update(kwargs)
    return MoCapMeshCache.get_or_build(str(amass_root), str(cache_root),
                                       body_model, **args)


@pytest.fixture(scope='module')
def pristine(amass, body_model, tmp_path_factory):
    """A complete cache (3 x 8 meshes) and copies of its arrays."""
    cache = get(amass, tmp_path_factory.mktemp('pristine'), body_model)
    return cache.cache_dir, {k: np.array(v) for k, v in cache.arrays.items()}


@pytest.fixture
def copy(pristine, tmp_path):
    """A private copy of the pristine cache: (cache_root, cache_dir)."""
    src, _ = pristine
    dst = tmp_path / 'cache' / osp.basename(src)
    shutil.copytree(src, dst)
    return tmp_path / 'cache', str(dst)


def assert_refused(cache_dir, reason_regex):
    MoCapMeshCache._opened.pop(osp.abspath(cache_dir), None)
    with pytest.raises(MoCapCacheError) as info:
        MoCapMeshCache.open(cache_dir)
    err = info.value
    assert err.cache_dir == osp.abspath(cache_dir)
    assert re.search(reason_regex, err.reason), err.reason
    assert str(err).startswith(f'{osp.abspath(cache_dir)}: not a valid MoCap '
                               f'mesh cache: {err.reason}. Fix: delete it '
                               f'(rm -rf {osp.abspath(cache_dir)}) and rerun')


def assert_rebuilt(amass, cache_root, body_model, pristine, cache_dir):
    cache = get(amass, cache_root, body_model)
    assert cache.cache_dir == osp.abspath(cache_dir)
    for k, v in pristine[1].items():
        assert np.array_equal(cache.arrays[k], v), k
    assert os.listdir(cache_root) == [osp.basename(cache_dir)]  # no debris


def _truncate(path, keep=None):
    data = open(path, 'rb').read()
    open(path, 'wb').write(data[:len(data) // 2 if keep is None else keep])


def _json_edit(path, **changes):
    meta = json.load(open(path))
    meta.update(changes)
    json.dump(meta, open(path, 'w'))


def test_pristine_cache_opens(pristine, amass):
    cache_dir, arrays = pristine
    cache = MoCapMeshCache(cache_dir)  # validated again, not memoised
    assert len(cache) == 3 * T and arrays['vertices'].shape == (3 * T,
                                                                 NUM_VERTS, 3)
    assert np.isfinite(arrays['vertices']).all()
    assert cache.meta['bad_files'] == []
    assert cache.meta['tree_walk'] == dict(loops=0, aliases=0, skipped=0)
    marker = json.load(open(osp.join(cache_dir, MARKER)))
    assert marker['arrays']['vertices']['bytes'] == os.path.getsize(
        osp.join(cache_dir, 'vertices.npy'))


# --- each damage: open() refuses it naming folder, reason and fix; then
# --- get_or_build (rank 0) rebuilds the same arrays


def _damage_truncated_vertices(d):
    _truncate(osp.join(d, 'vertices.npy'))


def _damage_header_only(d):
    _truncate(osp.join(d, 'joints_h36m.npy'), keep=128)


def _damage_extended_frames(d):
    with open(osp.join(d, 'frames.npy'), 'ab') as f:
        f.write(b'\0' * 16)


def _damage_empty_vertices(d):
    open(osp.join(d, 'vertices.npy'), 'wb').close()


def _damage_not_npy(d):
    header = b"{'descr': '<f4', 'fortran_order': False, 'shape': (24, 4"
    open(osp.join(d, 'joints_smpl45.npy'),
         'wb').write(b'\x93NUMPY\x01\x00' + len(header).to_bytes(2, 'little')
                     + header)


def _damage_other_dtype(d):
    p = osp.join(d, 'joints_h36m.npy')
    np.save(p, np.load(p).astype(np.float64))


def _damage_missing_array(d):
    os.remove(osp.join(d, 'frames.npy'))


def _damage_empty_meta(d):
    open(osp.join(d, 'meta.json'), 'w').close()


def _damage_garbled_meta(d):
    open(osp.join(d, 'meta.json'), 'wb').write(b'{"inputs": \xff\xfe garbage')


def _damage_nested_meta(d):
    open(osp.join(d, 'meta.json'), 'w').write('[' * 100000 + ']' * 100000)


def _damage_edited_meta(d):
    _json_edit(osp.join(d, 'meta.json'), num_meshes=5)


def _damage_meta_and_marker_agree(d):
    # meta.json says fewer meshes and the marker was updated to match: the
    # arrays disagree with meta.json
    _json_edit(osp.join(d, 'meta.json'), num_meshes=5)
    from mpt_plugin.datasets.mocap_mesh_cache import _sha256_file
    _json_edit(osp.join(d, MARKER),
               meta_sha256=_sha256_file(osp.join(d, 'meta.json')))


def _damage_meta_wrong_types(d):
    from mpt_plugin.datasets.mocap_mesh_cache import _sha256_file
    _json_edit(osp.join(d, 'meta.json'), num_meshes='24')
    _json_edit(osp.join(d, MARKER),
               meta_sha256=_sha256_file(osp.join(d, 'meta.json')))


def _damage_no_marker(d):
    os.remove(osp.join(d, MARKER))


def _damage_broken_marker(d):
    open(osp.join(d, MARKER), 'w').write('{"version": 2, "arr')


def _damage_marker_list(d):
    open(osp.join(d, MARKER), 'w').write('[1, 2, 3]')


@pytest.mark.parametrize('damage,reason', [
    (_damage_truncated_vertices,
     r'^vertices\.npy has \d+ bytes, its header and meta\.json imply \d+ '
     r'\(truncated\)$'),
    (_damage_header_only, r'^joints_h36m\.npy has 128 bytes.*\(truncated\)$'),
    (_damage_extended_frames, r'^frames\.npy has \d+ bytes.*\(extra data\)$'),
    (_damage_empty_vertices, r'^vertices\.npy: unreadable \.npy header'),
    (_damage_not_npy, r'^joints_smpl45\.npy: unreadable \.npy header'),
    (_damage_other_dtype,
     r'^joints_h36m\.npy holds float64 \(24, 17, 3\), meta\.json implies '
     r'float32 \(24, 17, 3\)$'),
    (_damage_missing_array, r'^frames\.npy missing$'),
    (_damage_empty_meta, r'^meta\.json is not valid JSON \(JSONDecodeError'),
    (_damage_garbled_meta, r'^meta\.json is not valid JSON '
     r'\(UnicodeDecodeError'),
    (_damage_nested_meta, r'^meta\.json is not valid JSON \(RecursionError'),
    (_damage_edited_meta, r'^meta\.json does not match the SHA-256 recorded '
     r'in complete\.json'),
    (_damage_meta_and_marker_agree,
     r'^vertices\.npy holds float32 \(24, 6890, 3\), meta\.json implies '
     r'float32 \(5, 6890, 3\)$'),
    (_damage_meta_wrong_types, r'^meta\.json lacks'),
    (_damage_no_marker, r'^completion marker complete\.json missing'),
    (_damage_broken_marker, r'^complete\.json is not valid JSON'),
    (_damage_marker_list, r'^complete\.json lacks meta_sha256'),
])
def test_damaged_cache_is_refused_then_rebuilt(copy, amass, body_model,
                                               pristine, damage, reason):
    cache_root, cache_dir = copy
    damage(cache_dir)
    assert_refused(cache_dir, reason)
    assert_rebuilt(amass, cache_root, body_model, pristine, cache_dir)


def test_damage_after_open_in_the_same_process_is_found(
        copy, amass, body_model, pristine):
    cache_root, cache_dir = copy
    MoCapMeshCache.open(cache_dir)  # memoised
    _truncate(osp.join(cache_dir, 'vertices.npy'))
    assert_rebuilt(amass, cache_root, body_model, pristine, cache_dir)


def test_oversized_meta_is_refused(copy, monkeypatch):
    import mpt_plugin.datasets.mocap_mesh_cache as mmc
    _, cache_dir = copy
    size = os.path.getsize(osp.join(cache_dir, 'meta.json'))
    monkeypatch.setattr(mmc, '_MAX_META_BYTES', size - 1)
    assert_refused(cache_dir, rf'^meta\.json has {size} bytes, more than the '
                   rf'{size - 1} a cache writes$')


def test_cache_folder_replaced_by_a_file(copy, amass, body_model, pristine):
    cache_root, cache_dir = copy
    shutil.rmtree(cache_dir)
    open(cache_dir, 'w').write('not a folder')
    assert_refused(cache_dir, '^not a folder$')
    assert_rebuilt(amass, cache_root, body_model, pristine, cache_dir)


def test_waiting_rank_does_not_accept_a_damaged_cache(copy, amass,
                                                      body_model):
    cache_root, cache_dir = copy
    _truncate(osp.join(cache_dir, 'vertices.npy'))
    with pytest.raises(TimeoutError) as info:
        get(amass, cache_root, body_model, wait_for_other_rank=True,
            wait_timeout=0.0)
    msg = str(info.value)
    assert msg.startswith(f'waited 0 s for {osp.abspath(cache_dir)} to be '
                          'built by rank 0 (last check: ')
    assert 'vertices.npy has' in msg and 'rm -rf' in msg
    assert os.path.exists(cache_dir)  # only rank 0 removes it


def test_damaged_partial_build_starts_over(amass, body_model, pristine,
                                           tmp_path, monkeypatch):
    import mpt_plugin.datasets.mocap_mesh_cache as mmc
    from mpt_plugin.body_models import MPTSMPL
    logged = []
    monkeypatch.setattr(mmc, 'print_log', lambda msg, **kw: logged.append(msg))
    real_forward = MPTSMPL.forward
    calls = {'n': 0}

    def failing_forward(self, *args, **kwargs):
        calls['n'] += 1
        if calls['n'] == 2:
            raise KeyboardInterrupt
        return real_forward(self, *args, **kwargs)

    for damage, why in (('progress', 'progress.json is not valid JSON'),
                        ('array', 'vertices.npy has')):
        root = tmp_path / damage
        logged.clear()
        calls['n'] = 0
        monkeypatch.setattr(MPTSMPL, 'forward', failing_forward)
        with pytest.raises(KeyboardInterrupt):
            get(amass, root, body_model, batch_size=8)
        partial = root / (osp.basename(pristine[0]) + '.partial')
        assert json.load(open(partial / 'progress.json'))['done'] == 8
        if damage == 'progress':
            open(partial / 'progress.json', 'w').write('{"done": 8, "inp')
        else:
            _truncate(partial / 'vertices.npy')
        monkeypatch.setattr(MPTSMPL, 'forward', real_forward)
        cache = get(amass, root, body_model, batch_size=8)
        for k, v in pristine[1].items():
            assert np.array_equal(cache.arrays[k], v), (damage, k)
        assert len(logged) == 1 and logged[0].startswith(
            f'{partial}: cannot resume the interrupted build ({why}')
        assert logged[0].endswith('starting over')
        assert os.listdir(root) == [osp.basename(pristine[0])]


# --- AMASS values through the cache build


def test_bad_values_skip_and_count_never_abort(amass, body_model, tmp_path):
    root = tmp_path / 'amass'
    shutil.copytree(amass, root)
    poses = np.zeros((T, 156))
    poses[3, 7] = 1e200  # passed the reader before, then aborted the build
    huge = write_motion(root / 'DS' / 'S3' / 'huge_poses.npz', poses=poses)
    far = write_motion(root / 'DS' / 'S3' / 'far_poses.npz',
                       trans=np.full((T, 3), 1e30))
    fps = write_motion(root / 'DS' / 'S3' / 'fps_poses.npz',
                       mocap_framerate=np.array(-1.0))
    os.symlink('..', root / 'DS' / 'S3' / 'loop')
    cache = get(root, tmp_path / 'cache', body_model)
    assert len(cache) == 3 * T
    assert [p for p, _ in cache.meta['bad_files']] == [
        str(far), str(fps), str(huge)]
    reasons = dict(cache.meta['bad_files'])
    assert reasons[str(huge)].startswith(f"{huge}: key 'poses': ")
    assert reasons[str(huge)].endswith('first at frame 3')
    assert cache.meta['tree_walk'] == dict(loops=1, aliases=0, skipped=0)
    with pytest.raises(AMASSFormatError, match=re.escape(f'{far}: key '
                                                         "'trans'")):
        get(root, tmp_path / 'cache2', body_model, on_bad_file='raise')


def test_extreme_values_that_pass_the_reader_build(amass, body_model,
                                                   tmp_path):
    root = tmp_path / 'amass'
    rng = np.random.default_rng(3)
    poses = rng.uniform(-1, 1, (T, 156)) * 0.999 * MAX_ABS_POSE
    write_motion(root / 'DS' / 'S1' / 'edge_poses.npz', poses=poses,
                 trans=np.full((T, 3), 0.999 * MAX_ABS_TRANS),
                 betas=np.full(16, -0.999 * MAX_ABS_BETAS))
    for dtype in ('float32', 'float16'):
        cache = get(root, tmp_path / 'cache', body_model, dtype=dtype)
        assert len(cache) == T and cache.meta['bad_files'] == []
        assert np.isfinite(cache.vertices[:].astype(np.float32)).all()
        assert np.isfinite(cache.joints_h36m[:]).all()
