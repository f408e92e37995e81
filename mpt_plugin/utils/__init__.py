from .checkpoint import (checkpoint_safe_globals,
                         checkpoint_safe_globals_registered,
                         register_checkpoint_safe_globals)

__all__ = [
    'checkpoint_safe_globals', 'checkpoint_safe_globals_registered',
    'register_checkpoint_safe_globals'
]
