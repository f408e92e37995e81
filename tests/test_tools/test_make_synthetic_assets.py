"""End-to-end tests of ``tools/make_synthetic_assets.py``."""
import hashlib
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mpt_plugin.body_models.io import (load_body_model_file,
                                       load_mesh_downsampling)
from mpt_plugin.synthetic.smpl_model import GENERATOR_VERSION

pytestmark = pytest.mark.slow  # runs the asset tool in subprocesses

TOOL = Path(__file__).resolve().parents[2] / 'tools' / \
    'make_synthetic_assets.py'
MODEL_FILES = ('SMPL_NEUTRAL.npz', 'SMPL_MALE.npz', 'SMPL_FEMALE.npz')


@pytest.fixture(scope='module')
def tool():
    spec = importlib.util.spec_from_file_location('make_synthetic_assets',
                                                  TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def assets(tool, tmp_path_factory):
    out = tmp_path_factory.mktemp('assets')
    assert tool.main(['--out', str(out), '--quiet']) == 0
    return out


def _manifest(out):
    return json.loads((out / 'MANIFEST.json').read_text())


def test_writes_every_asset_with_manifest(assets):
    body = assets / 'body_models'
    for name in MODEL_FILES + ('J_regressor_h36m.npy',
                               'mesh_downsampling.npz'):
        assert (body / name).is_file(), name
    manifest = _manifest(assets)
    assert manifest['seed'] == 0
    assert manifest['generator_version'] == GENERATOR_VERSION
    listed = {e['path'] for e in manifest['files']}
    on_disk = {p.relative_to(assets).as_posix()
               for p in assets.rglob('*') if p.is_file()} - {'MANIFEST.json'}
    assert listed == on_disk
    for entry in manifest['files']:
        path = assets / entry['path']
        assert path.stat().st_size == entry['size']
        assert hashlib.sha256(path.read_bytes()).hexdigest() == \
            entry['sha256']
    assert not [p for p in assets.rglob('.tmp-*')]


def test_models_load_with_project_loader(assets):
    models = {name: load_body_model_file(assets / 'body_models' / name)
              for name in MODEL_FILES}
    heights = {}
    for name, model in models.items():
        assert model['v_template'].shape == (6890, 3)
        assert model['f'].shape == (13776, 3)
        assert model['J_regressor'].shape == (24, 6890)
        assert model['shapedirs'].shape == (6890, 3, 10)
        assert model['posedirs'].shape == (6890, 3, 207)
        assert str(model['bs_style']) == 'lbs'
        np.testing.assert_array_equal(model['f'],
                                      models['SMPL_NEUTRAL.npz']['f'])
        heights[name] = np.ptp(model['v_template'][:, 1])
    assert heights['SMPL_MALE.npz'] > heights['SMPL_NEUTRAL.npz'] > \
        heights['SMPL_FEMALE.npz']


def test_regressor_and_mesh_hierarchy(assets):
    body = assets / 'body_models'
    reg = np.load(body / 'J_regressor_h36m.npy')
    assert reg.shape == (17, 6890) and reg.dtype == np.float64
    np.testing.assert_allclose(reg.sum(axis=1), 1.0, atol=1e-12)
    neutral = load_body_model_file(body / 'SMPL_NEUTRAL.npz')
    joints = reg @ neutral['v_template']
    assert joints[1, 0] > 0 > joints[4, 0]  # mmhuman3d/SPIN: left leg first
    sampling = load_mesh_downsampling(body / 'mesh_downsampling.npz')
    assert [d.shape for d in sampling['D']] == [(1723, 6890), (431, 1723)]
    assert [u.shape for u in sampling['U']] == [(6890, 1723), (1723, 431)]
    np.testing.assert_array_equal(np.asarray(sampling['F'][0]),
                                  neutral['f'])


def test_amass_tree(assets):
    files = sorted((assets / 'amass').rglob('*_poses.npz'))
    assert files
    with np.load(files[0]) as data:  # plain arrays, no pickle
        assert data['poses'].shape[1] == 156
        assert data['trans'].shape == (data['poses'].shape[0], 3)


def test_skip_existing_keeps_files(tool, assets, capsys):
    before = {p: (p.stat().st_mtime_ns, p.read_bytes())
              for p in assets.rglob('*') if p.is_file()}
    assert tool.main(['--out', str(assets), '--skip-existing']) == 0
    printed = capsys.readouterr().out
    assert printed.count('skipped') == 6 and 'MANIFEST.json' in printed
    for path, (mtime, data) in before.items():
        if path.name != 'MANIFEST.json':
            assert path.stat().st_mtime_ns == mtime, path
        assert path.read_bytes() == data, path


def test_skip_existing_rejects_stale_assets(tool, assets, tmp_path, capsys):
    # Files from another seed or generator version are regenerated.
    fresh = tool._Assets(assets, 0, True, False)
    assert fresh.existing_files_usable()
    other_seed = tool._Assets(assets, 1, True, False)
    assert not other_seed.existing_files_usable()
    (tmp_path / 'MANIFEST.json').write_text(json.dumps(
        {'seed': 0, 'generator_version': '0.0.1', 'files': []}))
    assert not tool._Assets(tmp_path, 0, True, False).existing_files_usable()
    (tmp_path / 'MANIFEST.json').write_text('{not json')
    assert not tool._Assets(tmp_path, 0, True, False).existing_files_usable()
    assert capsys.readouterr().out.count('regenerating everything') == 3


def test_interrupted_run_resumes_to_identical_output(tool, assets,
                                                     tmp_path, monkeypatch):
    real = tool.make_synthetic_smpl

    def fail_on_female(gender, seed):
        if gender == 'female':
            raise KeyboardInterrupt
        return real(gender, seed)

    monkeypatch.setattr(tool, 'make_synthetic_smpl', fail_on_female)
    with pytest.raises(KeyboardInterrupt):
        tool.main(['--out', str(tmp_path), '--quiet'])
    names = sorted(p.name for p in (tmp_path / 'body_models').iterdir())
    assert names == ['SMPL_MALE.npz', 'SMPL_NEUTRAL.npz']  # no partial file
    monkeypatch.setattr(tool, 'make_synthetic_smpl', real)
    assert tool.main(['--out', str(tmp_path), '--skip-existing',
                      '--quiet']) == 0
    # Deterministic: the resumed run equals the one-go run byte for byte.
    assert _manifest(tmp_path) == _manifest(assets)


def test_write_atomic_cleans_up(tool, tmp_path):
    target = tmp_path / 'sub' / 'file.npy'

    def broken(tmp):
        with open(tmp, 'wb') as fh:
            fh.write(b'partial')
        raise RuntimeError('disk full')

    with pytest.raises(RuntimeError, match='disk full'):
        tool.write_atomic(target, broken)
    assert not target.exists() and not list(target.parent.iterdir())
    tool.write_atomic(target, lambda tmp: np.save(tmp, np.arange(3)))
    np.testing.assert_array_equal(np.load(target), np.arange(3))


def test_cli(tool):
    result = subprocess.run([sys.executable, str(TOOL), '--help'],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and '--skip-existing' in result.stdout
    assert '--hands' in result.stdout
    with pytest.raises(SystemExit):
        tool.parse_args(['--out', 'x', '--seed', '-1'])


def test_hands_option_writes_mano_assets(tool, assets, tmp_path):
    import shutil

    import torch

    from mpt_plugin.body_models import MPTMANO
    from mpt_plugin.datasets import load_hand_pose_set
    from mpt_plugin.synthetic.hand_model import HAND_GENERATOR_VERSION
    from mpt_plugin.synthetic.hand_poses import HAND_POSE_GENERATOR_VERSION

    out = tmp_path / 'with_hands'
    shutil.copytree(assets, out)
    assert tool.main(['--out', str(out), '--quiet', '--skip-existing',
                      '--hands']) == 0
    body = out / 'body_models'
    manifest = _manifest(out)
    assert manifest['hand_generator_version'] == HAND_GENERATOR_VERSION
    listed = {e['path'] for e in manifest['files']}
    for name in ('MANO_RIGHT.npz', 'MANO_LEFT.npz', 'mano_downsampling.npz'):
        assert f'body_models/{name}' in listed
    assert manifest['hand_pose_generator_version'] == \
        HAND_POSE_GENERATOR_VERSION
    poses = {}
    for split, num in (('train', 1520), ('val', 128)):
        assert f'hand_poses/{split}.npz' in listed
        poses[split] = load_hand_pose_set(out / 'hand_poses' / f'{split}.npz')
        assert poses[split]['hand_pose'].shape == (num, 45)
        assert bool(poses[split]['is_rhand'])
    assert not np.isin(poses['val']['hand_pose'][:, 0],
                       poses['train']['hand_pose'][:, 0]).any()
    # the body files were kept, byte for byte
    assert (body / 'SMPL_NEUTRAL.npz').read_bytes() == \
        (assets / 'body_models' / 'SMPL_NEUTRAL.npz').read_bytes()
    for is_rhand in (True, False):
        layer = MPTMANO(body, is_rhand=is_rhand, dtype=torch.float64)
        out_ = layer()
        assert out_['vertices'].shape == (1, 778, 3)
        assert out_['joints'].shape == (1, 21, 3)
    sampling = load_mesh_downsampling(body / 'mano_downsampling.npz')
    assert [a.shape[0] for a in sampling['A']] == [778, 195, 49, 13, 4]
    data = load_body_model_file(body / 'MANO_RIGHT.npz', model_type='mano')
    np.testing.assert_array_equal(np.asarray(sampling['F'][0]), data['f'])
    # a later run without --hands keeps listing the hand files
    assert tool.main(['--out', str(out), '--quiet', '--skip-existing']) == 0
    assert {e['path'] for e in _manifest(out)['files']} == listed
    # hand poses of another generator version are stale with --hands only
    manifest = _manifest(out)
    manifest['hand_pose_generator_version'] = '0.0.1'
    (out / 'MANIFEST.json').write_text(json.dumps(manifest))
    assert tool._Assets(out, 0, True, True, False).existing_files_usable()
    assert not tool._Assets(out, 0, True, True,
                            True).existing_files_usable()
