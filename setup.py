"""Install mpt_plugin (an OpenMMLab 2.0 / MMPose 1.x plugin).

The OpenMMLab stack itself needs a particular order and build flags (see
``tools/install_deps.sh`` and ``make install``); this file only installs the
package and declares the pure-Python requirements it imports.
"""
import os.path as osp

from setuptools import find_packages, setup


def read_version() -> str:
    namespace: dict = {}
    with open(osp.join(osp.dirname(__file__), 'mpt_plugin', 'version.py')) as f:
        exec(f.read(), namespace)
    return namespace['__version__']


setup(
    name='mpt_plugin',
    version=read_version(),
    description='MPT, Key2Mesh and PC-HMR for 3D human pose and mesh '
    'recovery as an MMPose 1.x plugin',
    long_description=open(osp.join(osp.dirname(__file__), 'README.md')).read(),
    long_description_content_type='text/markdown',
    packages=find_packages(exclude=('tests', 'tests.*', 'configs', 'tools')),
    package_data={'mpt_plugin': ['geometry/*.json']},
    include_package_data=True,
    python_requires='>=3.10',
    install_requires=[
        'torch>=2.1', 'mmengine>=0.10.7', 'mmpose>=1.3.2', 'smplx>=0.1.28',
        'numpy', 'scipy'
    ],
    license='Apache License 2.0',
    zip_safe=False,
)
