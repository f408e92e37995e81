"""mpt_plugin: MPT, Key2Mesh and PC-HMR as an MMPose 1.x plugin.

``import mpt_plugin`` (or ``custom_imports=dict(imports=['mpt_plugin'])`` in a
config) registers every component into MMPose's registries, and registers
exactly the classes MMEngine Runner checkpoints hold with
``torch.serialization.add_safe_globals`` so that resuming works under
torch's ``weights_only`` loading.
"""
from .utils.checkpoint import register_checkpoint_safe_globals
from .utils.safe_checkpoint import install_safe_checkpoint_loaders
from .version import __version__

register_checkpoint_safe_globals()
# every MMEngine CheckpointLoader scheme reads with weights_only=True
install_safe_checkpoint_loaders()

# Import order follows the data flow; every import registers components.
from . import geometry  # noqa: E402,F401
from . import body_models  # noqa: E402,F401
from . import datasets  # noqa: E402,F401
from . import models  # noqa: E402,F401
from . import evaluation  # noqa: E402,F401
from . import engine  # noqa: E402,F401
from . import visualization  # noqa: E402,F401
from .registry import register_deprecated_names  # noqa: E402

# old names of renamed components (configs and checkpoints from before the
# naming rule of mpt_plugin/registry.py)
register_deprecated_names()

__all__ = ['__version__', 'register_checkpoint_safe_globals']
