"""A hook that kills training at a fixed iteration, to test resuming."""
import logging
import os
import sys
from typing import Optional, Sequence

from mmengine.hooks import Hook

from mpt_plugin.registry import HOOKS


@HOOKS.register_module()
class MPTInterruptHook(Hook):
    """Hard-exit the process right after iteration ``at_iter`` (1-based).

    Exists for testing checkpoint resume: it simulates a crash (the process
    ends with :func:`os._exit`, skipping ``after_train``/``after_run`` hooks,
    like a killed job). Its priority is ``LOWEST``, so it runs after
    :class:`CheckpointHook` (``VERY_LOW``) has written the checkpoint of that
    iteration; choose ``at_iter`` as a checkpoint iteration (a multiple of
    the checkpoint interval) to get ``iter_{at_iter}.pth``. After a resume
    past ``at_iter`` the hook does nothing.

    Args:
        at_iter (int): 1-based iteration after which to exit.
        exit_code (int): Exit status of the process. Defaults to 3.
    """

    priority = 'LOWEST'

    def __init__(self, at_iter: int, exit_code: int = 3) -> None:
        if int(at_iter) != at_iter or at_iter < 1:
            raise ValueError(f'MPTInterruptHook: at_iter must be a positive '
                             f'integer, got {at_iter!r}')
        self.at_iter = int(at_iter)
        self.exit_code = int(exit_code)

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs: Optional[Sequence] = None) -> None:
        """Exit if ``at_iter`` iterations have been run."""
        if runner.iter + 1 != self.at_iter:
            return
        runner.logger.warning(
            f'MPTInterruptHook: exiting with status {self.exit_code} after '
            f'iteration {self.at_iter} (simulated interruption)')
        for handler in runner.logger.handlers:
            handler.flush()
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(self.exit_code)
