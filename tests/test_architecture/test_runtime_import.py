"""``import mpt_plugin`` loads and registers only what a user's config needs.

The asset generators (``mpt_plugin.synthetic``) and the test fixtures
(``mpt_plugin.testing``) stay out of the runtime import, and the toy
components register into MMPose's registries only once a test imports
``mpt_plugin.testing``. Checked in a fresh interpreter, since this test
session has imported both packages already.
"""
import json
import os.path as osp
import subprocess
import sys

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOY_COMPONENTS = ('MPTToyRegressor', 'MPTToyRegressionDataset',
                  'MPTToyDataPreprocessor', 'MPTToyMSEMetric',
                  'MPTInterruptHook', 'MPTStateDumpHook')

_CHILD = '''
import importlib, json, pkgutil, sys
from mmengine.registry import Registry
from mmpose import registry

TOY = {toy!r}
REGISTRIES = [r for r in vars(registry).values() if isinstance(r, Registry)]


def state():
    loaded = sorted(m for m in sys.modules
                    if m.split('.')[:2] in (['mpt_plugin', 'synthetic'],
                                            ['mpt_plugin', 'testing']))
    names = sorted({{n for r in REGISTRIES for n in r.module_dict}})
    return dict(loaded=loaded, toys=[n for n in names if n in TOY],
                names=names)


import mpt_plugin
out = dict(runtime=state())
import mpt_plugin.synthetic
for info in pkgutil.iter_modules(mpt_plugin.synthetic.__path__):
    importlib.import_module('mpt_plugin.synthetic.' + info.name)
out['synthetic'] = state()
import mpt_plugin.testing
out['testing'] = state()
print(json.dumps(out))
'''


def _import_states():
    """Loaded generator/fixture modules and registered names after
    ``import mpt_plugin``, after importing every generator module, and
    after ``import mpt_plugin.testing``."""
    proc = subprocess.run(
        [sys.executable, '-c', _CHILD.format(toy=TOY_COMPONENTS)], cwd=REPO,
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_runtime_import_excludes_generators_and_fixtures():
    states = _import_states()
    runtime, synthetic, testing = (states[k] for k in
                                   ('runtime', 'synthetic', 'testing'))
    assert runtime['loaded'] == []
    assert runtime['toys'] == []
    # the generators load (so the check above is not vacuous) and register
    # nothing
    assert 'mpt_plugin.synthetic.smpl_model' in synthetic['loaded']
    assert synthetic['names'] == runtime['names']
    # the fixtures register exactly the toy components once imported
    assert 'mpt_plugin.testing' in testing['loaded']
    assert sorted(testing['toys']) == sorted(TOY_COMPONENTS)
    assert sorted(set(testing['names']) - set(runtime['names'])) == sorted(
        TOY_COMPONENTS)
