"""``tests/`` mirrors ``mpt_plugin/`` to the leaf (issue 13).

The tests of ``mpt_plugin/<a>/<b>/<m>.py`` live in
``tests/test_<a>/test_<b>/test_<m>.py``; under ``tests/test_tools/`` the same
holds for the scripts of ``tools/`` (``.py`` or ``.sh``). Shared helpers are
non-test modules next to their users (no ``test_`` prefix), fixtures live in
``conftest.py``. A test file that exercises several modules at once is
allowed only when listed below, with the reason.
"""
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TESTS = REPO / 'tests'

#: Test files (relative to ``tests/``) that test no single module.
CROSS_CUTTING = {
    # architecture: rules over the whole package and the test tree
    'test_architecture/test_import_rules.py',
    'test_architecture/test_registry_names.py',
    'test_architecture/test_runtime_import.py',
    'test_architecture/test_tests_mirror_package.py',
    # hostile-input suites: malicious or broken files against every reader
    # of one kind of file, through the public entry points
    'test_body_models/test_hostile_body_model_files.py',
    'test_datasets/test_hostile_amass.py',
    'test_datasets/test_hostile_detections.py',
    'test_datasets/test_hostile_human_data.py',
    'test_datasets/test_hostile_mocap_store.py',
    'test_datasets/test_hostile_npz_members.py',
    'test_tools/test_hostile_checkpoints.py',
    # parity and distributed: the numbers against mmhuman3d 0.11.0, and
    # MPTMeshMetric on two processes against one
    'test_evaluation/test_functional/test_mmhuman3d_parity.py',
    'test_evaluation/test_metrics/test_mesh_metric_distributed.py',
    # every image -> mesh transform in one pipeline, end to end
    'test_datasets/test_transforms/test_mesh_pipeline.py',
    # tools/train.py, tools/test.py and the dist_/slurm_ launch scripts on
    # the same toy runs
    'test_tools/test_train_tools.py',
    # the shipped configs/ (layout, evaluation protocol, each method's
    # configs built and trained through the tools)
    'test_tools/test_config_layout.py',
    'test_tools/test_config_protocols.py',
    'test_tools/test_key2mesh_configs.py',
    'test_tools/test_mpt_configs.py',
    'test_tools/test_mpt_da_protocol.py',
    'test_tools/test_mpt_hand_configs.py',
    'test_tools/test_mpt_image_configs.py',
    'test_tools/test_pc_hmr_configs.py',
    # every estimator's demo config trained and run on a CUDA GPU (marked
    # `cuda`, skipped without one)
    'test_cuda/test_cuda_train_predict.py',
}


def _test_files():
    return sorted(p.relative_to(TESTS).as_posix()
                  for p in TESTS.rglob('test_*.py')
                  if '__pycache__' not in p.parts)


def _tested_path(rel):
    """``test_a/test_b/test_m.py`` -> the candidate files it tests, or an
    error message when a folder is not named ``test_<part>``."""
    *dirs, name = rel.split('/')
    if not dirs or not all(d.startswith('test_') for d in dirs):
        return f'{rel}: every folder must be named test_<part>'
    parts = [d[len('test_'):] for d in dirs] + [name[len('test_'):-3]]
    if parts[0] == 'tools':
        stem = REPO.joinpath(*parts)
        return [stem.with_suffix('.py'), stem.with_suffix('.sh')]
    return [REPO.joinpath('mpt_plugin', *parts).with_suffix('.py')]


def test_every_test_file_mirrors_a_module():
    orphans = []
    for rel in _test_files():
        if rel in CROSS_CUTTING:
            continue
        candidates = _tested_path(rel)
        if isinstance(candidates, str):
            orphans.append(candidates)
        elif not any(c.is_file() for c in candidates):
            shown = ' or '.join(
                c.relative_to(REPO).as_posix() for c in candidates)
            orphans.append(f'tests/{rel}: no {shown}')
    assert orphans == [], (
        'move the tests next to the module they test, or list a truly '
        'cross-cutting file in CROSS_CUTTING:\n' + '\n'.join(orphans))


def test_cross_cutting_files_exist():
    missing = sorted(CROSS_CUTTING - set(_test_files()))
    assert missing == [], f'remove from CROSS_CUTTING: {missing}'


def test_every_test_folder_is_a_package():
    """Same-named test modules in different folders need ``__init__.py``."""
    folders = {p.parent for p in TESTS.rglob('test_*.py')} | {TESTS}
    missing = sorted(f.relative_to(REPO).as_posix() for f in folders
                     if not (f / '__init__.py').is_file())
    assert missing == []
