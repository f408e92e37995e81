"""tools/make_synthetic_images.py: the ``--freihand`` option and how it
combines with the people-image options (the people images themselves are
tested in tests/test_synthetic/test_human_images.py)."""
import os

import pytest

from mpt_plugin.datasets.freihand_io import load_freihand_annotations
from mpt_plugin.synthetic.hand_model import make_synthetic_mano, save_mano_npz
from tests.tool_runner import load_tool


@pytest.fixture(scope='module')
def tool():
    return load_tool('make_synthetic_images', 'test_freihand_option')


@pytest.fixture(scope='module')
def hand_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp('hand_models')
    save_mano_npz(folder / 'MANO_RIGHT.npz', make_synthetic_mano(True, 0))
    return str(folder)


def test_freihand_alone_writes_only_freihand(tool, hand_dir, tmp_path,
                                             monkeypatch):
    monkeypatch.chdir(tmp_path)  # the people images' default prefix
    out = tmp_path / 'freihand'
    assert tool.main([
        '--freihand', str(out), '--hand-model-dir', hand_dir,
        '--freihand-num-training', '2', '--freihand-num-evaluation', '1',
        '--seed', '5', '--quiet'
    ]) == 0
    assert sorted(os.listdir(tmp_path)) == ['freihand']
    assert len(load_freihand_annotations(out, 'training')['K']) == 2
    assert len(load_freihand_annotations(out, 'evaluation')['K']) == 1
    assert len(os.listdir(out / 'training' / 'rgb')) == 8


def test_which_outputs_the_arguments_ask_for(tool, hand_dir, tmp_path):
    missing = str(tmp_path / 'no_body_models')
    args = tool.parse_args(['--freihand', 'x', '--hand-model-dir', hand_dir,
                            '--body-model-dir', missing])
    assert not args.humans and tool.jobs(args) == []
    args = tool.parse_args(['--body-model-dir', hand_dir])
    assert args.humans and args.freihand is None
    assert args.layout == 'train_full'
    assert args.data_prefix == 'data/synthetic_images'
    assert tool.jobs(args) == [('h36m_train.npz', 'h36m', 'train_full', 0)]
    args = tool.parse_args(['--freihand', 'x', '--hand-model-dir', hand_dir,
                            '--body-model-dir', hand_dir, '--layout',
                            'pw3d'])
    assert args.humans and len(tool.jobs(args)) == 1
    args = tool.parse_args(['--freihand', 'x', '--hand-model-dir', hand_dir,
                            '--body-model-dir', hand_dir, '--all'])
    assert args.humans and len(tool.jobs(args)) == len(tool.ALL_PRESET)
    with pytest.raises(SystemExit):  # people images need the body models
        tool.parse_args(['--freihand', 'x', '--hand-model-dir', hand_dir,
                         '--layout', 'pw3d', '--body-model-dir', missing])
    with pytest.raises(SystemExit):  # FreiHAND needs MANO_RIGHT
        tool.parse_args(['--freihand', 'x', '--hand-model-dir', missing])
    with pytest.raises(SystemExit):
        tool.parse_args(['--freihand', 'x', '--hand-model-dir', hand_dir,
                         '--freihand-num-training', '0'])
