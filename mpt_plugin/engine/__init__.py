from . import hooks, optim_wrappers  # noqa: F401
from .distributed import (accelerator_available, cpu_model_wrapper_cfg,
                          init_cpu_process_group, set_launcher_env,
                          setup_distributed, teardown_distributed)

__all__ = [
    'accelerator_available', 'cpu_model_wrapper_cfg',
    'init_cpu_process_group', 'set_launcher_env', 'setup_distributed',
    'teardown_distributed'
]

from .hooks import *  # noqa: F401,F403,E402
from .optim_wrappers import *  # noqa: F401,F403,E402
