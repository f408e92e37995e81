"""A hook that saves each rank's model weights, to test distributed runs."""
import os.path as osp
from typing import Optional

import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mpt_plugin.registry import HOOKS


@HOOKS.register_module()
class MPTStateDumpHook(Hook):
    """Save every rank's model ``state_dict`` before and after training.

    Exists for testing distributed training: ``CheckpointHook`` only writes
    from rank 0, so this hook lets a test check that all ranks end with the
    same weights. Files are ``{out_dir}/before_train_rank{r}.pth`` and
    ``{out_dir}/after_train_rank{r}.pth`` holding plain tensor dicts (CPU).

    Args:
        out_dir (str, optional): Output folder. Defaults to the runner's
            ``work_dir``.
    """

    priority = 'LOWEST'

    def __init__(self, out_dir: Optional[str] = None) -> None:
        self.out_dir = out_dir

    def _dump(self, runner, stage: str) -> None:
        model = runner.model
        if is_model_wrapper(model):
            model = model.module
        state = {
            k: v.detach().cpu().clone()
            for k, v in model.state_dict().items()
        }
        out_dir = self.out_dir or runner.work_dir
        torch.save(state, osp.join(out_dir, f'{stage}_rank{get_rank()}.pth'))

    def before_train(self, runner) -> None:
        """Save the weights the training starts from."""
        self._dump(runner, 'before_train')

    def after_train(self, runner) -> None:
        """Save the trained weights."""
        self._dump(runner, 'after_train')
