"""Hook that draws predicted meshes during validation and testing."""
import os.path as osp
from typing import Optional, Sequence

from mmengine.hooks import Hook
from mmengine.runner import Runner

from mpt_plugin.registry import HOOKS
from mpt_plugin.visualization.mesh_visualizer import (MPTMeshVisualizer,
                                                      crop_from_inputs)


@HOOKS.register_module()
class MPTMeshVisualizationHook(Hook):
    """Draw the first sample of every ``interval``-th val/test batch.

    The input crop is re-created from ``data_batch['inputs'][0]`` (BGR
    uint8, before the data preprocessor), the mesh from ``outputs[0]``
    (``pred_instances.vertices``/``camera``; ``gt_instances.vertices`` when
    the estimator adds them) and drawn by the runner's visualiser, which
    must be an :class:`MPTMeshVisualizer` (config: ``visualizer =
    dict(type='MPTMeshVisualizer', vis_backends=[...], body_model_path=
    ...)``). Pictures go to the visualiser's backends (``LocalVisBackend``
    files under ``{work_dir}/{timestamp}/vis_data/vis_image``,
    ``TensorboardVisBackend`` events); with ``out_dir`` test pictures are
    also written to ``{work_dir}/{timestamp}/{out_dir}/``.

    Args:
        enable: draw at all (configs may leave it off).
        interval: draw every ``interval``-th batch (batch index).
        draw_gt: also draw the ground truth.
        show: show the pictures in a window.
        wait_time: seconds to wait when showing.
        out_dir: optional folder for the test pictures.
    """

    priority = 'NORMAL'

    def __init__(self,
                 enable: bool = False,
                 interval: int = 50,
                 draw_gt: bool = True,
                 show: bool = False,
                 wait_time: float = 0.,
                 out_dir: Optional[str] = None) -> None:
        if int(interval) < 1:
            raise ValueError(f'interval must be >= 1, got {interval}')
        self.enable = bool(enable)
        self.interval = int(interval)
        self.draw_gt = bool(draw_gt)
        self.show = bool(show)
        self.wait_time = float(wait_time)
        self.out_dir = out_dir

    def _visualizer(self, runner: Runner) -> MPTMeshVisualizer:
        vis = runner.visualizer
        if not isinstance(vis, MPTMeshVisualizer):
            raise TypeError(
                'MPTMeshVisualizationHook needs the runner visualizer to be '
                "MPTMeshVisualizer (config: visualizer=dict(type='"
                "MPTMeshVisualizer', vis_backends=..., body_model_path=...)),"
                f' got {type(vis).__name__}')
        return vis

    def before_run(self, runner: Runner) -> None:
        """Fail early when enabled with the wrong visualiser."""
        if self.enable:
            self._visualizer(runner)

    def _draw(self, runner: Runner, batch_idx: int, data_batch: dict,
              outputs: Sequence, mode: str) -> None:
        if not self.enable or batch_idx % self.interval != 0 or not outputs:
            return
        vis = self._visualizer(runner)
        sample = outputs[0]
        image = crop_from_inputs(data_batch['inputs'][0])
        img_path = sample.metainfo.get('img_path', f'{batch_idx}')
        stem = osp.splitext(osp.basename(str(img_path)))[0]
        name = f'{mode}_{stem}'
        out_file = None
        if mode == 'test' and self.out_dir is not None:
            out_file = osp.join(runner.work_dir, runner.timestamp,
                                self.out_dir, f'{batch_idx:06d}_{stem}.png')
        step = runner.iter if mode == 'val' else batch_idx
        vis.add_datasample(name, image, sample, draw_gt=self.draw_gt,
                           draw_pred=True, show=self.show,
                           wait_time=self.wait_time, out_file=out_file,
                           step=step)

    def after_val_iter(self, runner: Runner, batch_idx: int,
                       data_batch: dict = None,
                       outputs: Optional[Sequence] = None) -> None:
        """Draw during validation."""
        self._draw(runner, batch_idx, data_batch, outputs, 'val')

    def after_test_iter(self, runner: Runner, batch_idx: int,
                        data_batch: dict = None,
                        outputs: Optional[Sequence] = None) -> None:
        """Draw during testing."""
        self._draw(runner, batch_idx, data_batch, outputs, 'test')
