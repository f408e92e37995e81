"""``tools/compare_configs.py`` finds every kind of difference between two
config trees: a changed setting (also one reached through ``_base_``), a
setting that appears, a config that disappears, a helper variable that
changes (listed, not a failure). Tiny temporary trees, no git."""
import pytest

from tests.tool_runner import load_tool

BASE = """\
seq_len = 9
input_size = 224
model = dict(type='Toy', size=input_size, metric=('a', 'b'))
train_cfg = dict(max_epochs=10)
"""
EXPERIMENT = """\
_base_ = ['./_base_/toy.py']
train_dataloader = dict(batch_size=4, dataset=dict(type='ToySet'))
"""


@pytest.fixture(scope='module')
def tool():
    return load_tool('compare_configs')


def _tree(root, files):
    """Write ``{relative path: text}`` under ``root``; return ``root``."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.fixture
def old(tmp_path):
    return _tree(tmp_path / 'old', {
        '_base_/toy.py': BASE,
        'toy_experiment.py': EXPERIMENT,
        'toy_demo.py': "_base_ = ['./toy_experiment.py']\n"
                       "train_cfg = dict(max_epochs=1)\n",
    })


def _run(tool, capsys, old, new):
    status = tool.main(['--old', str(old), '--new', str(new)])
    return status, capsys.readouterr().out


def test_identical_trees_are_equal(tool, capsys, old):
    status, out = _run(tool, capsys, old, old)
    assert status == 0
    assert 'toy_experiment.py: equal' in out
    assert 'toy_demo.py: equal' in out
    assert '_base_' not in out  # fragments are not experiments
    assert not list(old.rglob('__pycache__'))  # resolved from a copy


def test_changed_value_in_a_fragment_fails(tool, capsys, old, tmp_path):
    new = _tree(tmp_path / 'new', {
        '_base_/toy.py': BASE.replace('max_epochs=10', 'max_epochs=12'),
        'toy_experiment.py': EXPERIMENT,
        'toy_demo.py': (old / 'toy_demo.py').read_text(),
    })
    status, out = _run(tool, capsys, old, new)
    assert status == 1
    assert 'toy_experiment.py: DIFFERENT' in out
    assert 'train_cfg.max_epochs: 10 -> 12' in out
    assert 'toy_demo.py: equal' in out  # the demo overrides max_epochs


@pytest.mark.parametrize('old_text, new_text, line', [
    ("metric=('a', 'b')", "metric=['a', 'b']",
     "model.metric: ('a', 'b') -> ['a', 'b']"),  # a list is not a tuple
    ('size=input_size', 'size=224.0', 'model.size: 224 -> 224.0'),
    ("type='Toy',", "type='Toy', extra=1,", 'model.extra: <absent> -> 1'),
    ('seq_len = 9', 'seq_len = 8', 'seq_len: 9 -> 8'),  # read by a test
])
def test_setting_differences_fail(tool, capsys, old, tmp_path, old_text,
                                  new_text, line):
    assert old_text in BASE
    new = _tree(tmp_path / 'new', {
        '_base_/toy.py': BASE.replace(old_text, new_text),
        'toy_experiment.py': EXPERIMENT,
        'toy_demo.py': (old / 'toy_demo.py').read_text(),
    })
    status, out = _run(tool, capsys, old, new)
    assert status == 1
    assert line in out


def test_added_top_level_setting_fails(tool, capsys, old, tmp_path):
    new = _tree(tmp_path / 'new', {
        '_base_/toy.py': BASE,
        'toy_experiment.py': EXPERIMENT + "load_from = 'x.pth'\n",
        'toy_demo.py': (old / 'toy_demo.py').read_text(),
    })
    status, out = _run(tool, capsys, old, new)
    assert status == 1
    assert "load_from: <absent> -> 'x.pth'" in out


def test_removed_config_fails_added_one_is_reported(tool, capsys, old,
                                                    tmp_path):
    new = _tree(tmp_path / 'new', {
        '_base_/toy.py': BASE,
        'toy_experiment.py': EXPERIMENT,
        'toy_other.py': "_base_ = ['./toy_experiment.py']\n",
    })
    status, out = _run(tool, capsys, old, new)
    assert status == 1
    assert 'toy_demo.py: only in the old tree (removed)' in out
    assert 'toy_other.py: only in the new tree (added)' in out


def test_helper_variables_are_listed_not_failed(tool, capsys, old,
                                                tmp_path):
    # the same settings built from other helper variables
    new = _tree(tmp_path / 'new', {
        '_base_/toy.py': BASE.replace('input_size = 224', 'crop = 224')
                             .replace('size=input_size', 'size=crop'),
        'toy_experiment.py': EXPERIMENT + 'note = 1\n',
        'toy_demo.py': (old / 'toy_demo.py').read_text(),
    })
    status, out = _run(tool, capsys, old, new)
    assert status == 0
    assert 'toy_experiment.py: equal' in out
    helpers = out.split('helper variables')[1]
    assert 'crop (added)' in helpers and 'input_size (removed)' in helpers
    assert 'note (added)' in helpers


def test_config_that_does_not_load_fails(tool, capsys, old, tmp_path):
    new = _tree(tmp_path / 'new', {
        '_base_/toy.py': BASE,
        'toy_experiment.py': "_base_ = ['./_base_/missing.py']\n",
        'toy_demo.py': (old / 'toy_demo.py').read_text(),
    })
    status, out = _run(tool, capsys, old, new)
    assert status == 1
    assert 'toy_experiment.py: the new config does not load' in out
