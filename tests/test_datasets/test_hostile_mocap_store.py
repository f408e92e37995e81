"""Broken MoCap SMPL stores and hostile inputs to the store build (issue 12,
the port of the mesh-cache tests to :mod:`mocap_smpl_store`): truncated or
extended arrays, arrays of another dtype, shape or layout, unreadable
headers, empty / garbled / oversized / edited ``meta.json`` and
``complete.json``, index columns out of range, a folder replaced by a file,
an interrupted or damaged ``.partial`` build, and AMASS files whose values
are bad. Each case asserts the exact outcome: :class:`MoCapStoreError`
naming the folder, the reason and the fix; a rebuild (rank 0) giving the
original arrays; a waiting rank that times out instead of accepting; exact
file-read and skip counts.

The AMASS trees are copies of files written by the generator behind the
``synthetic_assets`` fixture (:func:`make_synthetic_amass_tree`, seed 0:
the same bytes as ``synthetic_assets/amass``), called directly so that this
file does not wait for the body models that fixture also builds."""
import json
import os
import os.path as osp
import re
import shlex
import shutil

import numpy as np
import pytest

import mpt_plugin.datasets.mocap_smpl_store as mss
from mpt_plugin.body_models.gendered_smpl import GENDER_CODES
from mpt_plugin.datasets.amass_io import (MAX_ABS_BETAS, AMASSFormatError,
                                          read_amass_sequence,
                                          walk_amass_tree)
from mpt_plugin.datasets.mocap_smpl_store import (MARKER, MoCapSMPLStore,
                                                  MoCapStoreError,
                                                  select_frames)
from mpt_plugin.synthetic.amass_motion import make_synthetic_amass_tree
from tests.test_datasets.test_hostile_amass import T, write_motion

ARRAYS = ('pose', 'frames', 'betas', 'gender')
NUM_SMALL = 4  # sequences of the small tree


# ---------------------------------------------------------------------------
# fixtures and helpers
# ---------------------------------------------------------------------------


@pytest.fixture(scope='module')
def synth(tmp_path_factory):
    """The synthetic AMASS tree of ``synthetic_assets`` (30 files, both
    genders, 60 and 120 fps, 90..360 frames each): (root, files)."""
    root = tmp_path_factory.mktemp('synth') / 'amass'
    return root, make_synthetic_amass_tree(root, seed=0)


@pytest.fixture(scope='module')
def amass(synth, tmp_path_factory):
    """A small tree: the first motion of four subjects, copied."""
    src, files = synth
    first = {}
    for f in files:
        first.setdefault(f.parent, f)
    root = tmp_path_factory.mktemp('small') / 'amass'
    for f in sorted(first.values())[:NUM_SMALL]:
        dst = root / f.relative_to(src)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, dst)
    return root


def get(amass_root, cache_root, **kwargs):
    args = dict(verbose=False)
    args.update(kwargs)
    return MoCapSMPLStore.get_or_build(str(amass_root), str(cache_root),
                                       **args)


def motion_files(root):
    return [str(p) for p in walk_amass_tree(root).paths]


@pytest.fixture(scope='module')
def pristine(amass, tmp_path_factory):
    """A complete store of the small tree (all frames): (store_dir, copies
    of its arrays, its meta.json)."""
    store = get(amass, tmp_path_factory.mktemp('pristine'))
    return (store.store_dir, {k: np.array(v)
                              for k, v in store.arrays.items()}, store.meta)


@pytest.fixture
def copy(pristine, tmp_path):
    """A private copy of the pristine store: (cache_root, store_dir)."""
    src = pristine[0]
    dst = tmp_path / 'cache' / osp.basename(src)
    shutil.copytree(src, dst)
    return tmp_path / 'cache', str(dst)


@pytest.fixture
def logged(monkeypatch):
    """Messages the store logs (print_log)."""
    out = []
    monkeypatch.setattr(mss, 'print_log', lambda msg, **kw: out.append(msg))
    return out


@pytest.fixture
def reads(monkeypatch):
    """Paths read by the store build, in order."""
    out = []

    def reader(path, **kwargs):
        out.append(str(path))
        return read_amass_sequence(path, **kwargs)

    monkeypatch.setattr(mss, 'read_amass_sequence', reader)
    return out


def no_reads(monkeypatch):
    def reader(path, **kwargs):
        raise AssertionError(f'read {path}')

    monkeypatch.setattr(mss, 'read_amass_sequence', reader)


def assert_same_store(store, pristine, what=''):
    for k, v in pristine[1].items():
        got = np.asarray(store.arrays[k])
        assert got.dtype == v.dtype and np.array_equal(got, v), (what, k)
    want = {k: v for k, v in pristine[2].items() if k != 'created'}
    assert {k: v for k, v in store.meta.items() if k != 'created'} == want


def _mask(text):
    """Object addresses masked (numpy's header errors print an AST
    node)."""
    return re.sub(r' at 0x[0-9a-f]+>', ' at 0x...>', text)


def assert_refused(store_dir, reason_regex):
    """open() and the constructor refuse the folder with the same error,
    naming the folder, a reason matching ``reason_regex`` and the fix."""
    store_dir = osp.abspath(store_dir)
    MoCapSMPLStore._opened.pop(store_dir, None)
    with pytest.raises(MoCapStoreError) as info:
        MoCapSMPLStore.open(store_dir)
    err = info.value
    assert err.store_dir == store_dir
    assert re.search(reason_regex, err.reason), err.reason
    assert str(err) == (
        f'{store_dir}: not a valid MoCap SMPL store: {err.reason}. Fix: '
        f'delete it (rm -rf {shlex.quote(store_dir)}) and rerun; the dataset '
        'rebuilds it from AMASS (rank 0 builds, other ranks wait).')
    assert store_dir not in MoCapSMPLStore._opened
    with pytest.raises(MoCapStoreError) as again:
        MoCapSMPLStore(store_dir)
    assert _mask(again.value.reason) == _mask(err.reason)
    return err.reason


def assert_rebuilt(amass, cache_root, pristine, store_dir, logged, reads,
                   reason):
    """get_or_build (rank 0) logs the damage, discards the folder and
    rebuilds the pristine arrays from every file, leaving no debris."""
    store = get(amass, cache_root)
    assert store.store_dir == osp.abspath(store_dir)
    assert_same_store(store, pristine)
    assert [_mask(m) for m in logged] == [
        _mask(f'{osp.abspath(store_dir)}: damaged MoCap SMPL store '
              f'({reason}); removing it and rebuilding')]
    assert reads == motion_files(amass)
    assert os.listdir(cache_root) == [osp.basename(store_dir)]  # no debris
    assert sorted(os.listdir(store_dir)) == sorted(
        [MARKER, 'meta.json'] + [f'{k}.npy' for k in ARRAYS])
    assert MoCapSMPLStore.open(store_dir) is store


def _truncate(path, keep=None):
    data = open(path, 'rb').read()
    open(path, 'wb').write(data[:len(data) // 2 if keep is None else keep])


def _json_edit(path, **changes):
    obj = json.load(open(path))
    obj.update(changes)
    json.dump(obj, open(path, 'w'))


def _reseal(d):
    """Record meta.json's new SHA-256 in the marker (a consistent forgery)."""
    _json_edit(osp.join(d, MARKER),
               meta_sha256=mss._sha256_file(osp.join(d, 'meta.json')))


def _in_place(d, name):
    """The array file mapped for writing: same header, same size."""
    return np.load(osp.join(d, f'{name}.npy'), mmap_mode='r+')


# ---------------------------------------------------------------------------
# a pristine store
# ---------------------------------------------------------------------------


def test_pristine_store_opens_and_holds_the_amass_parameters(pristine,
                                                             amass):
    store_dir, arrays, meta = pristine
    store = MoCapSMPLStore(store_dir)  # validated again, not memoised
    paths = motion_files(amass)
    assert store.sequence_paths() == paths and store.num_sequences == 4
    seqs = [read_amass_sequence(p) for p in paths]
    lengths = [len(s.poses) for s in seqs]
    assert len(store) == sum(lengths) == meta['num_source_frames']
    assert arrays['pose'].shape == (len(store), 72)
    assert arrays['pose'].dtype == np.float32
    assert arrays['frames'].dtype == np.int32
    assert arrays['betas'].shape == (4, 10)
    assert arrays['gender'].dtype == np.int8
    assert store.bad_files == [] and meta['tree_walk'] == dict(
        loops=0, aliases=0, skipped=0)
    assert [s['num_frames'] for s in meta['sequences']] == lengths
    assert [s['fps'] for s in meta['sequences']] == [s.fps for s in seqs]
    assert {s.fps for s in seqs} == {60.0, 120.0}
    code = {name: c for c, name in GENDER_CODES.items()}
    assert arrays['gender'].tolist() == [code[s.gender] for s in seqs]
    assert set(arrays['gender'].tolist()) == {0, 1}  # both genders
    start = 0
    for i, s in enumerate(seqs):
        rows = slice(start, start + len(s.poses))
        assert np.array_equal(arrays['pose'][rows],
                              s.poses.astype(np.float32))
        assert np.array_equal(arrays['frames'][rows],
                              np.stack([np.full(len(s.poses), i),
                                        np.arange(len(s.poses))], 1))
        assert np.array_equal(arrays['betas'][i],
                              s.betas[:10].astype(np.float32))
        start += len(s.poses)
    p = store.params(np.array([0, len(store) - 1]))
    assert p['sequence_index'].tolist() == [0, 3]
    assert p['frame_index'].tolist() == [0, lengths[-1] - 1]
    assert p['gender'].tolist() == [arrays['gender'][0],
                                    arrays['gender'][3]]
    assert np.array_equal(p['betas'], arrays['betas'][[0, 3]])
    marker = json.load(open(osp.join(store_dir, MARKER)))
    assert marker['meta_sha256'] == mss._sha256_file(
        osp.join(store_dir, 'meta.json'))
    for k in ARRAYS:
        assert marker['arrays'][k] == dict(
            bytes=os.path.getsize(osp.join(store_dir, f'{k}.npy')),
            shape=list(arrays[k].shape), dtype=str(arrays[k].dtype))


def test_store_pickles_as_its_folder(pristine):
    import pickle
    store = MoCapSMPLStore.open(pristine[0])
    assert pickle.loads(pickle.dumps(store)) is store
    assert len(pickle.dumps(store)) < 1000


# ---------------------------------------------------------------------------
# each damage: open() refuses it naming folder, reason and fix; then
# get_or_build (rank 0) logs it and rebuilds the same arrays
# ---------------------------------------------------------------------------


def _damage_truncated_pose(d):
    _truncate(osp.join(d, 'pose.npy'))


def _damage_header_only(d):
    _truncate(osp.join(d, 'betas.npy'), keep=128)


def _damage_extended_frames(d):
    with open(osp.join(d, 'frames.npy'), 'ab') as f:
        f.write(b'\0' * 8)


def _damage_extended_gender(d):
    with open(osp.join(d, 'gender.npy'), 'ab') as f:
        f.write(b'\0')


def _damage_empty_pose(d):
    open(osp.join(d, 'pose.npy'), 'wb').close()


def _damage_cut_header(d):
    header = b"{'descr': '<f4', 'fortran_order': False, 'shape': (24, 7"
    open(osp.join(d, 'pose.npy'),
         'wb').write(b'\x93NUMPY\x01\x00' + len(header).to_bytes(2, 'little')
                     + header)


def _damage_not_npy(d):
    open(osp.join(d, 'frames.npy'), 'wb').write(b'PK\x03\x04 not an array')


def _damage_header_bytes(d):
    # a header that is not a Python literal
    header = b"{'descr': __import__('os'), 'shape': (1,)}".ljust(118) + b'\n'
    open(osp.join(d, 'betas.npy'),
         'wb').write(b'\x93NUMPY\x01\x00' + len(header).to_bytes(2, 'little')
                     + header + b'\0' * 40)


def _damage_npy_version(d):
    path = osp.join(d, 'gender.npy')
    data = bytearray(open(path, 'rb').read())
    data[6] = 3  # format version 3.0
    open(path, 'wb').write(bytes(data))


def _damage_other_dtype(d):
    p = osp.join(d, 'betas.npy')
    np.save(p, np.load(p).astype(np.float64))


def _damage_frames_int64(d):
    p = osp.join(d, 'frames.npy')
    np.save(p, np.load(p).astype(np.int64))


def _damage_other_shape(d):
    p = osp.join(d, 'pose.npy')
    np.save(p, np.load(p)[:, :69])


def _damage_fortran_order(d):
    p = osp.join(d, 'frames.npy')
    np.save(p, np.asfortranarray(np.load(p)))


def _damage_missing_array(d):
    os.remove(osp.join(d, 'gender.npy'))


def _damage_array_is_a_folder(d):
    os.remove(osp.join(d, 'betas.npy'))
    os.mkdir(osp.join(d, 'betas.npy'))


def _damage_marker_size_record(d):
    marker = json.load(open(osp.join(d, MARKER)))
    marker['arrays']['pose']['bytes'] += 1
    json.dump(marker, open(osp.join(d, MARKER), 'w'))


def _damage_empty_meta(d):
    open(osp.join(d, 'meta.json'), 'w').close()


def _damage_garbled_meta(d):
    open(osp.join(d, 'meta.json'), 'wb').write(b'{"inputs": \xff\xfe garbage')


def _damage_nested_meta(d):
    open(osp.join(d, 'meta.json'), 'w').write('[' * 100000 + ']' * 100000)


def _damage_missing_meta(d):
    os.remove(osp.join(d, 'meta.json'))


def _damage_edited_meta(d):
    _json_edit(osp.join(d, 'meta.json'), num_frames=5)


def _damage_meta_and_marker_agree(d):
    # meta.json says fewer frames and the marker was updated to match: the
    # arrays disagree with meta.json
    _json_edit(osp.join(d, 'meta.json'), num_frames=5)
    _reseal(d)


def _damage_meta_one_sequence_less(d):
    meta = json.load(open(osp.join(d, 'meta.json')))
    _json_edit(osp.join(d, 'meta.json'), sequences=meta['sequences'][:-1])
    _reseal(d)


def _damage_meta_wrong_types(d):
    meta = json.load(open(osp.join(d, 'meta.json')))
    _json_edit(osp.join(d, 'meta.json'), num_frames=str(meta['num_frames']))
    _reseal(d)


def _damage_meta_sequence_fields(d):
    meta = json.load(open(osp.join(d, 'meta.json')))
    meta['sequences'][2]['num_frames'] = float(
        meta['sequences'][2]['num_frames'])
    json.dump(meta, open(osp.join(d, 'meta.json'), 'w'))
    _reseal(d)


def _damage_meta_list(d):
    open(osp.join(d, 'meta.json'), 'w').write('[1, 2]')
    _reseal(d)


def _damage_no_marker(d):
    os.remove(osp.join(d, MARKER))


def _damage_broken_marker(d):
    open(osp.join(d, MARKER), 'w').write('{"version": 1, "arr')


def _damage_marker_list(d):
    open(osp.join(d, MARKER), 'w').write('[1, 2, 3]')


def _damage_marker_lacks_an_array(d):
    marker = json.load(open(osp.join(d, MARKER)))
    del marker['arrays']['gender']
    json.dump(marker, open(osp.join(d, MARKER), 'w'))


def _damage_oversized_marker(d):
    open(osp.join(d, MARKER), 'w').write(' ' * ((1 << 20) + 1))


def _damage_marker_is_a_folder(d):
    os.remove(osp.join(d, MARKER))
    os.mkdir(osp.join(d, MARKER))


def _damage_sequence_index_high(d):
    _in_place(d, 'frames')[-1, 0] = NUM_SMALL


def _damage_sequence_index_negative(d):
    _in_place(d, 'frames')[0, 0] = -1


def _damage_frame_index_high(d):
    frames = _in_place(d, 'frames')
    frames[-1, 1] += 1  # the last frame of the last sequence, plus one


def _damage_frame_index_negative(d):
    _in_place(d, 'frames')[5, 1] = -3


def _damage_frame_index_of_a_shorter_sequence(d):
    # a valid frame index of the longest sequence, put in a shorter one
    meta = json.load(open(osp.join(d, 'meta.json')))
    lengths = [s['num_frames'] for s in meta['sequences']]
    short = int(np.argmin(lengths))
    frames = _in_place(d, 'frames')
    row = int(np.flatnonzero(np.asarray(frames[:, 0]) == short)[0])
    frames[row, 1] = max(lengths) - 1


def _damage_gender_code(d):
    _in_place(d, 'gender')[1] = 2


def _damage_gender_code_negative(d):
    _in_place(d, 'gender')[0] = -128


DAMAGES = [
    (_damage_truncated_pose,
     r'^pose\.npy has \d+ bytes, its header and meta\.json imply \d+ '
     r'\(truncated\)$'),
    (_damage_header_only, r'^betas\.npy has 128 bytes, its header and '
     r'meta\.json imply 288 \(truncated\)$'),
    (_damage_extended_frames, r'^frames\.npy has \d+ bytes.*\(extra data\)$'),
    (_damage_extended_gender, r'^gender\.npy has 133 bytes, its header and '
     r'meta\.json imply 132 \(extra data\)$'),
    (_damage_empty_pose, r'^pose\.npy: unreadable \.npy header'),
    (_damage_cut_header, r'^pose\.npy: unreadable \.npy header'),
    (_damage_not_npy, r'^frames\.npy: unreadable \.npy header \(ValueError'),
    (_damage_header_bytes, r'^betas\.npy: unreadable \.npy header'),
    (_damage_npy_version, r'^gender\.npy: (unsupported \.npy version '
     r'\(3, 0\)|unreadable \.npy header)'),
    (_damage_other_dtype,
     r'^betas\.npy holds float64 \(4, 10\), meta\.json implies '
     r'float32 \(4, 10\)$'),
    (_damage_frames_int64,
     r'^frames\.npy holds int64 \((\d+), 2\), meta\.json implies '
     r'int32 \(\1, 2\)$'),
    (_damage_other_shape,
     r'^pose\.npy holds float32 \((\d+), 69\), meta\.json implies '
     r'float32 \(\1, 72\)$'),
    (_damage_fortran_order,
     r'^frames\.npy holds int32 \(\d+, 2\) \(Fortran order\), meta\.json '
     r'implies int32'),
    (_damage_missing_array, r'^gender\.npy missing$'),
    (_damage_array_is_a_folder,
     r'^betas\.npy: unreadable \.npy header \(IsADirectoryError'),
    (_damage_marker_size_record,
     r'^pose\.npy size differs from the complete\.json record$'),
    (_damage_empty_meta, r'^meta\.json is not valid JSON \(JSONDecodeError'),
    (_damage_garbled_meta, r'^meta\.json is not valid JSON '
     r'\(UnicodeDecodeError'),
    (_damage_nested_meta, r'^meta\.json is not valid JSON \(RecursionError'),
    (_damage_missing_meta, r'^meta\.json missing or unreadable \(No such '
     r'file or directory\)$'),
    (_damage_edited_meta, r'^meta\.json does not match the SHA-256 recorded '
     r'in complete\.json \(edited or damaged\)$'),
    (_damage_meta_and_marker_agree,
     r'^pose\.npy holds float32 \(\d+, 72\), meta\.json implies '
     r'float32 \(5, 72\)$'),
    (_damage_meta_one_sequence_less,
     r'^betas\.npy holds float32 \(4, 10\), meta\.json implies float32 '
     r'\(3, 10\)$'),
    (_damage_meta_wrong_types, r'^meta\.json lacks inputs, num_frames >= 1'),
    (_damage_meta_sequence_fields, r'^meta\.json lacks inputs'),
    (_damage_meta_list, r'^meta\.json lacks inputs'),
    (_damage_no_marker, r'^completion marker complete\.json missing \(an '
     r'interrupted copy or move\)$'),
    (_damage_broken_marker, r'^complete\.json is not valid JSON '
     r'\(JSONDecodeError'),
    (_damage_marker_list, r'^complete\.json lacks meta_sha256 or the arrays'),
    (_damage_marker_lacks_an_array, r'^complete\.json lacks meta_sha256'),
    (_damage_oversized_marker, r'^complete\.json has 1048577 bytes, more '
     r'than the 1048576 a store writes$'),
    (_damage_marker_is_a_folder, r'^complete\.json is not valid JSON '
     r'\(IsADirectoryError'),
    (_damage_sequence_index_high,
     r'^frames\.npy: sequence index out of range 0\.\.3$'),
    (_damage_sequence_index_negative,
     r'^frames\.npy: sequence index out of range 0\.\.3$'),
    (_damage_frame_index_high,
     r"^frames\.npy: frame index beyond its sequence's num_frames$"),
    (_damage_frame_index_negative,
     r"^frames\.npy: frame index beyond its sequence's num_frames$"),
    (_damage_frame_index_of_a_shorter_sequence,
     r"^frames\.npy: frame index beyond its sequence's num_frames$"),
    (_damage_gender_code, r'^gender\.npy: codes other than -1, 0, 1$'),
    (_damage_gender_code_negative,
     r'^gender\.npy: codes other than -1, 0, 1$'),
]


@pytest.mark.parametrize('damage,reason', DAMAGES,
                         ids=[d.__name__[8:] for d, _ in DAMAGES])
def test_damaged_store_is_refused_then_rebuilt(copy, amass, pristine, logged,
                                               reads, damage, reason):
    cache_root, store_dir = copy
    damage(store_dir)
    why = assert_refused(store_dir, reason)
    assert_rebuilt(amass, cache_root, pristine, store_dir, logged, reads, why)


def test_forged_columns_keep_the_marker_consistent(copy):
    """The column forgeries pass every header and size check: only
    ``_check_columns`` can find them."""
    _, store_dir = copy
    before = open(osp.join(store_dir, MARKER)).read()
    _damage_frame_index_high(store_dir)
    assert open(osp.join(store_dir, MARKER)).read() == before
    meta = MoCapSMPLStore._check(store_dir)  # headers, sizes, SHA: fine
    assert meta['num_frames'] == len(np.load(
        osp.join(store_dir, 'frames.npy')))
    assert_refused(store_dir, r'^frames\.npy: frame index beyond')


def test_oversized_meta_is_refused(copy, monkeypatch):
    _, store_dir = copy
    size = os.path.getsize(osp.join(store_dir, 'meta.json'))
    monkeypatch.setattr(mss, '_MAX_META_BYTES', size - 1)
    assert_refused(store_dir, rf'^meta\.json has {size} bytes, more than the '
                   rf'{size - 1} a store writes$')
    monkeypatch.setattr(mss, '_MAX_META_BYTES', size)
    MoCapSMPLStore(store_dir)


def test_inputs_that_do_not_match_the_folder_are_rebuilt(
        copy, amass, pristine, logged, reads):
    """A consistent store whose meta.json holds other inputs opens, but
    get_or_build does not take it for the store of its inputs."""
    cache_root, store_dir = copy
    meta = json.load(open(osp.join(store_dir, 'meta.json')))
    _json_edit(osp.join(store_dir, 'meta.json'),
               inputs=dict(meta['inputs'], hand_pose='index1'))
    _reseal(store_dir)
    MoCapSMPLStore(store_dir)  # a valid store, of other inputs
    assert_rebuilt(amass, cache_root, pristine, store_dir, logged, reads,
                   "the inputs in meta.json do not match the folder's "
                   'fingerprint')


def test_damage_after_open_in_the_same_process_is_found(
        copy, amass, pristine, logged, reads):
    cache_root, store_dir = copy
    MoCapSMPLStore.open(store_dir)  # memoised
    path = osp.join(store_dir, 'pose.npy')
    data = open(path, 'rb').read()
    open(path + '.tmp', 'wb').write(data[:-288])  # a new inode: the old
    os.replace(path + '.tmp', path)  # mapping stays valid
    size = len(data) - 288
    assert_rebuilt(amass, cache_root, pristine, store_dir, logged, reads,
                   f'pose.npy has {size} bytes, its header and meta.json '
                   f'imply {size + 288} (truncated)')


@pytest.mark.parametrize('replacement', ['file', 'dangling link', 'empty'])
def test_store_folder_replaced(copy, amass, pristine, logged, reads,
                               replacement):
    cache_root, store_dir = copy
    shutil.rmtree(store_dir)
    if replacement == 'file':
        open(store_dir, 'w').write('not a folder')
        why = assert_refused(store_dir, '^not a folder$')
    elif replacement == 'dangling link':
        os.symlink(osp.join(str(cache_root), 'nowhere'), store_dir)
        why = assert_refused(store_dir, '^not a folder$')
    else:
        os.mkdir(store_dir)
        why = assert_refused(store_dir, '^completion marker complete\\.json '
                             'missing')
    assert_rebuilt(amass, cache_root, pristine, store_dir, logged, reads, why)


# ---------------------------------------------------------------------------
# a waiting rank never builds and never accepts a damaged store
# ---------------------------------------------------------------------------


@pytest.mark.parametrize('damage,reason', [
    (_damage_truncated_pose, 'pose.npy has '),
    (_damage_gender_code, 'gender.npy: codes other than -1, 0, 1'),
    (_damage_edited_meta, 'meta.json does not match the SHA-256'),
])
def test_waiting_rank_does_not_accept_a_damaged_store(copy, amass, reads,
                                                      damage, reason):
    cache_root, store_dir = copy
    damage(store_dir)
    listing = sorted(os.listdir(store_dir))
    with pytest.raises(TimeoutError) as info:
        get(amass, cache_root, wait_for_other_rank=True, wait_timeout=0.0)
    msg = str(info.value)
    assert msg.startswith(f'waited 0 s for {store_dir} to be built by rank 0 '
                          f'(last check: {store_dir}: not a valid MoCap SMPL '
                          f'store: {reason}')
    assert f'rm -rf {store_dir}' in msg and msg.endswith(')')
    assert sorted(os.listdir(store_dir)) == listing  # only rank 0 removes it
    assert reads == []  # nor does it build


def test_waiting_rank_opens_an_intact_store_and_times_out_on_none(
        copy, amass, pristine, reads, tmp_path):
    cache_root, store_dir = copy
    store = get(amass, cache_root, wait_for_other_rank=True, wait_timeout=0.)
    assert store.store_dir == store_dir
    assert_same_store(store, pristine)
    with pytest.raises(TimeoutError) as info:
        get(amass, tmp_path / 'empty', wait_for_other_rank=True,
            wait_timeout=0.0)
    assert str(info.value) == (
        f'waited 0 s for {tmp_path / "empty" / osp.basename(store_dir)} to '
        'be built by rank 0')
    assert reads == [] and not osp.exists(tmp_path / 'empty')


# ---------------------------------------------------------------------------
# interrupted builds resume; damaged progress starts over
# ---------------------------------------------------------------------------


@pytest.fixture
def interrupt(monkeypatch):
    """``interrupt(k)``: the next build reads k files, then gets a
    KeyboardInterrupt (progress saved after every file); returns the list
    of paths read. ``interrupt(None)`` reads everything."""
    monkeypatch.setattr(mss, '_PROGRESS_SECONDS', 0)

    def arm(k):
        read = []

        def reader(path, **kwargs):
            if k is not None and len(read) == k:
                raise KeyboardInterrupt
            read.append(str(path))
            return read_amass_sequence(path, **kwargs)

        monkeypatch.setattr(mss, 'read_amass_sequence', reader)
        return read

    return arm


def _partial(root, pristine):
    return root / (osp.basename(pristine[0]) + '.partial')


def _check_progress(partial, amass, k):
    """progress.json records the first k files and the scratch file holds
    exactly their frames."""
    prog = json.load(open(partial / 'progress.json'))
    paths = motion_files(amass)
    lengths = [len(read_amass_sequence(p).poses) for p in paths[:k]]
    assert len(prog['records']) == k
    assert [r['num_frames'] for r in prog['records']] == lengths
    assert prog['rows'] == sum(lengths)
    assert os.path.getsize(partial / 'scratch.f32') == sum(lengths) * 288
    return prog


def test_interrupted_build_resumes_where_it_stopped(amass, pristine, tmp_path,
                                                    interrupt, logged):
    paths = motion_files(amass)
    n = len(paths)
    root = tmp_path / 'cache'
    partial = _partial(root, pristine)
    # interrupted on the first file: nothing saved
    read = interrupt(0)
    with pytest.raises(KeyboardInterrupt):
        get(amass, root)
    assert read == [] and not osp.exists(partial / 'progress.json')
    # after 1 file, then after 3: each run reads only what is left
    done = 0
    for k in (1, 2):
        read = interrupt(k)
        with pytest.raises(KeyboardInterrupt):
            get(amass, root)
        assert read == paths[done:done + k]
        done += k
        _check_progress(partial, amass, done)
        assert os.listdir(root) == [partial.name]  # not in place yet
    read = interrupt(None)
    store = get(amass, root)
    assert read == paths[done:] and len(read) == n - done
    assert_same_store(store, pristine)
    assert os.listdir(root) == [osp.basename(pristine[0])]
    assert sorted(os.listdir(store.store_dir)) == sorted(
        [MARKER, 'meta.json'] + [f'{k}.npy' for k in ARRAYS])
    assert logged == []


def test_unsaved_frames_after_the_last_save_are_dropped(
        amass, pristine, tmp_path, interrupt, logged):
    """Frames written after the last progress save (the normal state of an
    interruption between saves) are cut off and their file read again."""
    root = tmp_path / 'cache'
    interrupt(2)
    with pytest.raises(KeyboardInterrupt):
        get(amass, root)
    partial = _partial(root, pristine)
    with open(partial / 'scratch.f32', 'ab') as f:
        f.write(np.full((7, 72), np.nan, np.float32).tobytes())
    read = interrupt(None)
    store = get(amass, root)
    assert read == motion_files(amass)[2:]
    assert_same_store(store, pristine)
    assert logged == []


@pytest.mark.parametrize('stop_at,rereads', [('meta.json', False),
                                               (MARKER, True)])
def test_build_interrupted_in_the_gather_pass(amass, pristine, tmp_path,
                                              monkeypatch, logged, reads,
                                              stop_at, rereads):
    """Stopped while writing meta.json (every file read, progress saved):
    the rerun reads no file. Stopped while writing the marker (scratch and
    progress already deleted): it reads them all again. Same store."""
    real_write = mss._write_json_atomic

    def write(path, obj, indent=None):
        if osp.basename(path) == stop_at:
            raise KeyboardInterrupt
        real_write(path, obj, indent)

    monkeypatch.setattr(mss, '_write_json_atomic', write)
    root = tmp_path / 'cache'
    with pytest.raises(KeyboardInterrupt):
        get(amass, root)
    assert os.listdir(root) == [_partial(root, pristine).name]
    monkeypatch.setattr(mss, '_write_json_atomic', real_write)
    del reads[:]
    store = get(amass, root)
    assert reads == (motion_files(amass) if rereads else [])
    assert_same_store(store, pristine)
    assert logged == [] and os.listdir(root) == [osp.basename(pristine[0])]


@pytest.mark.parametrize('name', ['progress.json', 'scratch.f32'])
def test_partial_entry_replaced_by_a_folder_starts_over(
        amass, pristine, tmp_path, interrupt, logged, name):
    root = tmp_path / 'cache'
    interrupt(2)
    with pytest.raises(KeyboardInterrupt):
        get(amass, root)
    partial = _partial(root, pristine)
    os.remove(partial / name)
    os.mkdir(partial / name)
    read = interrupt(None)
    store = get(amass, root)
    assert read == motion_files(amass)
    assert_same_store(store, pristine)
    assert len(logged) == 1 and 'starting over' in logged[0]


def _prog_garbage(partial):
    open(partial / 'progress.json', 'w').write('{"inputs": [1, 2')


def _prog_not_utf8(partial):
    open(partial / 'progress.json', 'wb').write(b'\xff\xfe{}')


def _prog_list(partial):
    open(partial / 'progress.json', 'w').write('[]')


def _prog_other_inputs(partial):
    prog = json.load(open(partial / 'progress.json'))
    prog['inputs']['hand_pose'] = 'index1'
    json.dump(prog, open(partial / 'progress.json', 'w'))


def _prog_other_files(partial):
    prog = json.load(open(partial / 'progress.json'))
    prog['inputs']['files'][0][1] += 1  # another size
    json.dump(prog, open(partial / 'progress.json', 'w'))


def _prog_rows(partial):
    prog = json.load(open(partial / 'progress.json'))
    prog['rows'] += 1
    json.dump(prog, open(partial / 'progress.json', 'w'))


def _prog_record_frames(partial):
    # records and rows agree with each other, not with the scratch file
    prog = json.load(open(partial / 'progress.json'))
    prog['records'][0]['num_frames'] += 100
    prog['rows'] += 100
    json.dump(prog, open(partial / 'progress.json', 'w'))


def _prog_scratch_short(partial):
    _truncate(partial / 'scratch.f32',
              keep=os.path.getsize(partial / 'scratch.f32') - 288)


def _prog_scratch_missing(partial):
    os.remove(partial / 'scratch.f32')


def _prog_record_gender(partial):
    prog = json.load(open(partial / 'progress.json'))
    prog['records'][1]['gender'] = 'robot'
    json.dump(prog, open(partial / 'progress.json', 'w'))


def _prog_record_betas(partial):
    prog = json.load(open(partial / 'progress.json'))
    prog['records'][0]['betas'] = prog['records'][0]['betas'][:9]
    json.dump(prog, open(partial / 'progress.json', 'w'))


def _prog_record_without_bad(partial):
    # a good record without its "bad": null entry: _valid_record accepts it
    prog = json.load(open(partial / 'progress.json'))
    del prog['records'][0]['bad']
    json.dump(prog, open(partial / 'progress.json', 'w'))


INCONSISTENT = r'progress\.json of other inputs or inconsistent\)'
PROGRESS_DAMAGES = [
    (_prog_garbage, r'progress\.json is not valid JSON \(JSONDecodeError: '
     r'.*\)\)'),
    (_prog_not_utf8, r'progress\.json is not valid JSON '
     r'\(UnicodeDecodeError: .*\)\)'),
    (_prog_list, INCONSISTENT),
    (_prog_other_inputs, INCONSISTENT),
    (_prog_other_files, INCONSISTENT),
    (_prog_rows, INCONSISTENT),
    (_prog_record_frames, INCONSISTENT),
    (_prog_scratch_short, INCONSISTENT),
    (_prog_scratch_missing, r'\[Errno 2\] No such file or directory: '
     r"'.*scratch\.f32'\)"),
    (_prog_record_gender, INCONSISTENT),
    (_prog_record_betas, INCONSISTENT),
    (_prog_record_without_bad, INCONSISTENT),
]


@pytest.mark.parametrize(
    'damage,why', PROGRESS_DAMAGES,
    ids=[(p.values[0] if hasattr(p, 'values') else p[0]).__name__[6:]
         for p in PROGRESS_DAMAGES])
def test_damaged_progress_starts_over(amass, pristine, tmp_path, interrupt,
                                      logged, damage, why):
    root = tmp_path / 'cache'
    interrupt(2)
    with pytest.raises(KeyboardInterrupt):
        get(amass, root)
    partial = _partial(root, pristine)
    _check_progress(partial, amass, 2)
    damage(partial)
    read = interrupt(None)
    store = get(amass, root)
    assert read == motion_files(amass)  # every file read again
    assert_same_store(store, pristine, damage.__name__)
    assert len(logged) == 1, logged
    assert re.fullmatch(
        re.escape(f'{partial}: cannot resume the interrupted build (') + why
        + re.escape('; starting over'), logged[0]), logged[0]
    assert os.listdir(root) == [osp.basename(pristine[0])]


def test_partial_folder_replaced_by_a_file(amass, pristine, tmp_path,
                                           reads):
    root = tmp_path / 'cache'
    root.mkdir()
    _partial(root, pristine).write_text('not a folder')
    store = get(amass, root)
    assert_same_store(store, pristine)
    assert reads == motion_files(amass)
    assert os.listdir(root) == [osp.basename(pristine[0])]


# ---------------------------------------------------------------------------
# bad AMASS files
# ---------------------------------------------------------------------------


@pytest.fixture
def bad_tree(amass, tmp_path):
    """The small tree plus five bad motion files: (root, bad paths in walk
    order, their expected reasons as regexes)."""
    root = tmp_path / 'amass'
    shutil.copytree(amass, root)
    nan = np.zeros((T, 156))
    nan[3, 7] = np.nan
    huge = np.zeros((T, 156))
    huge[5, 0] = 1e200  # overflows float32
    bad = {
        'nan': write_motion(root / 'Bad' / 'S1' / 'nan_poses.npz',
                            poses=nan),
        'huge': write_motion(root / 'Bad' / 'S1' / 'huge_poses.npz',
                             poses=huge),
        'betas': write_motion(root / 'Bad' / 'S2' / 'betas_poses.npz',
                              betas=np.full(16, 10 * MAX_ABS_BETAS)),
        'fps': write_motion(root / 'Bad' / 'S2' / 'fps_poses.npz',
                            mocap_framerate=np.array(-1.0)),
    }
    bad['text'] = root / 'Bad' / 'S3' / 'text_poses.npz'
    bad['text'].parent.mkdir(parents=True)
    bad['text'].write_text('this is not an npz archive\n')
    reasons = {
        'nan': r"key 'poses': .*first at frame 3$",
        'huge': r"key 'poses': .*first at frame 5$",
        'betas': r"key 'betas': ",
        'fps': r"key 'mocap_framerate': expected a frame rate > 0",
        'text': r'cannot open as an \.npz archive',
    }
    order = sorted(bad, key=lambda k: str(bad[k]))
    return root, [str(bad[k]) for k in order], [reasons[k] for k in order]


def test_bad_files_are_skipped_and_listed(bad_tree, pristine, tmp_path,
                                          logged, reads, monkeypatch):
    root, bad, reasons = bad_tree
    store = get(root, tmp_path / 'cache')
    assert len(reads) == NUM_SMALL + 5 and sorted(reads) == sorted(
        motion_files(root))
    # the good files give exactly the pristine arrays
    for k, v in pristine[1].items():
        assert np.array_equal(store.arrays[k], v), k
    assert store.num_sequences == NUM_SMALL
    assert [p for p, _ in store.bad_files] == bad
    for (path, reason), regex in zip(store.bad_files, reasons):
        assert reason.startswith(f'{path}: '), reason
        assert re.search(regex, reason), (regex, reason)
    assert store.meta['inputs']['files'][0][0] in bad  # they count in the fp
    assert len(logged) == 1 and logged[0].startswith(
        f'skipped 5 of {NUM_SMALL + 5} AMASS files:\n  {bad[0]}: ')
    # a second open reads no AMASS file, lists the same bad files
    no_reads(monkeypatch)
    MoCapSMPLStore._opened.clear()
    again = get(root, tmp_path / 'cache')
    assert again.store_dir == store.store_dir
    assert again.bad_files == store.bad_files
    assert os.listdir(tmp_path / 'cache') == [osp.basename(store.store_dir)]
    # a changed input file is a new store (here: it must read again)
    os.utime(bad[0], ns=(1, 1))
    with pytest.raises(AssertionError, match='read '):
        get(root, tmp_path / 'cache')


def test_on_bad_file_raise(bad_tree, tmp_path):
    root, bad, reasons = bad_tree
    with pytest.raises(AMASSFormatError) as info:
        get(root, tmp_path / 'cache', on_bad_file='raise')
    assert str(info.value).startswith(f'{bad[0]}: ')
    assert re.search(reasons[0], str(info.value))
    # no store was put in place, only the unfinished build is left
    assert [n.endswith('.partial')
            for n in os.listdir(tmp_path / 'cache')] == [True]


def test_on_bad_file_raise_with_an_existing_store(bad_tree, tmp_path,
                                                  monkeypatch):
    root, bad, _ = bad_tree
    get(root, tmp_path / 'cache')  # 'skip': lists 5 bad files
    no_reads(monkeypatch)
    with pytest.raises(AMASSFormatError, match=re.escape(f'{bad[0]}: ')):
        get(root, tmp_path / 'cache', on_bad_file='raise')


def test_on_bad_file_raise_resuming_a_skipping_build(amass, tmp_path,
                                                     interrupt):
    root = tmp_path / 'amass'
    shutil.copytree(amass, root)
    bad = write_motion(root / 'Bad' / 'S1' / 'nan_poses.npz',
                       poses=np.full((T, 156), np.nan))  # the first file
    interrupt(1)  # reads the bad file only: recorded as bad
    with pytest.raises(KeyboardInterrupt):
        get(root, tmp_path / 'cache')
    read = interrupt(None)
    with pytest.raises(AMASSFormatError, match=re.escape(f'{bad}: ')):
        get(root, tmp_path / 'cache', on_bad_file='raise')
    assert str(bad) not in read


def test_only_bad_files(tmp_path):
    root = tmp_path / 'amass'
    write_motion(root / 'DS' / 'S1' / 'a_poses.npz',
                 poses=np.full((T, 156), np.inf))
    (root / 'DS' / 'S1' / 'b_poses.npz').write_bytes(b'\0' * 100)
    with pytest.raises(ValueError, match=r'^no usable AMASS sequence among 2 '
                       r'files \(2 bad\)$'):
        get(root, tmp_path / 'cache')
    (tmp_path / 'empty').mkdir()
    with pytest.raises(ValueError, match=r': no AMASS motion file$'):
        get(tmp_path / 'empty', tmp_path / 'cache')
    with pytest.raises(FileNotFoundError, match='AMASS root not found'):
        get(tmp_path / 'nothing', tmp_path / 'cache')


def test_argument_errors(amass, tmp_path):
    with pytest.raises(ValueError, match='not both'):
        get(amass, tmp_path, sample_fps=30, num_samples=10)
    with pytest.raises(ValueError, match="on_bad_file must be 'skip' or "
                       "'raise', got 'ignore'"):
        get(amass, tmp_path, on_bad_file='ignore')
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------------------
# size on disk
# ---------------------------------------------------------------------------


def test_bytes_per_frame(synth, tmp_path):
    src, files = synth
    store = get(src, tmp_path / 'cache')  # all frames of all 30 files
    num_frames = sum(len(np.load(f)['poses']) for f in files)
    assert store.num_sequences == len(files) == 30
    assert len(store) == num_frames > 5000
    names = sorted(os.listdir(store.store_dir))
    assert names == sorted([MARKER, 'meta.json']
                           + [f'{k}.npy' for k in ARRAYS])
    total = store.bytes_on_disk()
    assert total == sum(os.path.getsize(osp.join(store.store_dir, n))
                        for n in names)
    arrays = sum(os.path.getsize(osp.join(store.store_dir, f'{k}.npy'))
                 for k in ARRAYS)
    assert arrays == 296 * num_frames + 41 * 30 + 4 * 128
    assert total / len(store) <= 400, total / len(store)


# ---------------------------------------------------------------------------
# frame selection
# ---------------------------------------------------------------------------


def test_select_frames_by_fps():
    lengths, fps = [100, 37, 250, 1], [120.0, 60.0, 30.0, 50.0]
    chosen = select_frames(lengths, fps, sample_fps=30)
    assert [c.tolist() for c in chosen[:2]] == [
        list(range(0, 100, 4)), list(range(0, 37, 2))]
    assert chosen[2].tolist() == list(range(250))  # never above the source
    assert chosen[3].tolist() == [0]
    odd = select_frames([500], [50.0], sample_fps=30)[0]
    assert abs(len(odd) - 500 * 30 / 50) <= 1
    assert np.all(np.diff(odd) >= 1) and np.all(np.diff(odd) <= 2)
    for c, n in zip(chosen, lengths):
        assert c.dtype == np.int64 and c.min() >= 0 and c.max() < n
    again = select_frames(lengths, fps, sample_fps=30)
    assert all(np.array_equal(a, b) for a, b in zip(chosen, again))
    with pytest.raises(ValueError, match='sample_fps must be > 0'):
        select_frames(lengths, fps, sample_fps=0)


def test_select_frames_by_count():
    lengths, fps = [100, 37, 250, 13], [120.0, 60.0, 30.0, 50.0]
    total = sum(lengths)
    for k in (1, 7, 50, 199, total - 1):
        chosen = select_frames(lengths, fps, num_samples=k)
        assert sum(len(c) for c in chosen) == k
        for c, n in zip(chosen, lengths):
            assert c.dtype == np.int64
            assert len(np.unique(c)) == len(c)
            assert len(c) == 0 or (c.min() >= 0 and c.max() < n)
            assert abs(len(c) - k * n / total) <= 1  # uniform over frames
        again = select_frames(lengths, fps, num_samples=k)
        assert all(np.array_equal(a, b) for a, b in zip(chosen, again))
    every = select_frames(lengths, fps, num_samples=10 * total)
    assert [c.tolist() for c in every] == [list(range(n)) for n in lengths]
    assert [c.tolist() for c in select_frames(lengths, fps)] == [
        list(range(n)) for n in lengths]
    with pytest.raises(ValueError, match='num_samples must be > 0'):
        select_frames(lengths, fps, num_samples=0)
    with pytest.raises(ValueError, match='not both'):
        select_frames(lengths, fps, sample_fps=30, num_samples=10)


@pytest.mark.parametrize('sampling', [dict(num_samples=100),
                                      dict(sample_fps=20.0)])
def test_sampled_store_keeps_the_selected_frames(amass, pristine, tmp_path,
                                                 sampling):
    store = get(amass, tmp_path / 'cache', **sampling)
    assert osp.basename(store.store_dir) != osp.basename(pristine[0])
    meta = pristine[2]
    lengths = [s['num_frames'] for s in meta['sequences']]
    chosen = select_frames(lengths, [s['fps'] for s in meta['sequences']],
                           **sampling)
    frames = np.asarray(store.frames)
    assert np.array_equal(
        frames, np.concatenate([np.stack([np.full(len(c), i), c], 1)
                                for i, c in enumerate(chosen)]))
    if 'num_samples' in sampling:
        assert len(store) == 100
    else:  # 60 and 120 fps sources
        assert abs(len(store) - sum(
            n * 20.0 / s['fps']
            for n, s in zip(lengths, meta['sequences']))) <= len(lengths)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    rows = starts[frames[:, 0]] + frames[:, 1]
    assert np.array_equal(store.pose, pristine[1]['pose'][rows])
    assert np.array_equal(store.arrays['betas'], pristine[1]['betas'])
    assert store.meta['num_source_frames'] == sum(lengths)
