import glob
import os.path as osp
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData
from mmengine.visualization import Visualizer
from mmpose.structures import PoseDataSample

from mpt_plugin.engine.hooks.mesh_visualization_hook import \
    MPTMeshVisualizationHook
from mpt_plugin.registry import HOOKS
from mpt_plugin.visualization.mesh_visualizer import MPTMeshVisualizer

S = 32


def tetra():
    verts = np.array([[0, -0.5, 0], [0.4, 0.3, -0.2], [-0.4, 0.3, -0.2],
                      [0, 0.2, 0.4]], float)
    faces = np.array([[0, 1, 2], [0, 3, 1], [0, 2, 3], [1, 3, 2]])
    tri = verts[faces]
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    inward = (n * (tri.mean(1) - verts.mean(0))).sum(1) < 0
    faces[inward] = faces[inward][:, ::-1]
    return verts, faces


def make_batch(num=2):
    verts, _ = tetra()
    inputs = torch.zeros(num, 3, S, S, dtype=torch.uint8)
    inputs[:, 0] = 200  # blue in BGR
    outputs = []
    for i in range(num):
        s = PoseDataSample()
        s.pred_instances = InstanceData(
            vertices=torch.tensor(verts[None], dtype=torch.float32),
            camera=torch.tensor([[1.0, 0.0, 0.0]]))
        s.set_metainfo(dict(img_path=f'imgs/frame_{i}.jpg'))
        outputs.append(s)
    return dict(inputs=inputs, data_samples=outputs), outputs


def make_runner(tmp_path, visualizer):
    return SimpleNamespace(visualizer=visualizer, work_dir=str(tmp_path),
                           timestamp='20260101_000000', iter=7)


def test_hook_draws_every_interval_batch(tmp_path):
    _, faces = tetra()
    vis = MPTMeshVisualizer(name='hook_vis_local', faces=faces,
                            vis_backends=[dict(type='LocalVisBackend')],
                            save_dir=str(tmp_path / 'vis'))
    hook = HOOKS.build(dict(type='MPTMeshVisualizationHook', enable=True,
                            interval=2))
    assert isinstance(hook, MPTMeshVisualizationHook)
    runner = make_runner(tmp_path, vis)
    hook.before_run(runner)
    data_batch, outputs = make_batch()
    for idx in range(4):
        hook.after_val_iter(runner, idx, data_batch, outputs)
    files = sorted(glob.glob(str(tmp_path / 'vis' / 'vis_data' /
                                 'vis_image' / '*.png')))
    # Batches 0 and 2 drawn (both at runner.iter 7: one file, overwritten).
    assert [osp.basename(f) for f in files] == ['val_frame_0_7.png']
    drawn = vis.get_image()
    assert drawn.shape == (S, 2 * S, 3)
    # The crop was rebuilt from the BGR inputs as RGB (blue).
    np.testing.assert_array_equal(drawn[0, 0], [0, 0, 200])
    assert (drawn[:, S:] != drawn[:, :S]).any()  # the mesh panel

    # Test mode with out_dir writes one file per drawn batch.
    hook = MPTMeshVisualizationHook(enable=True, interval=3,
                                    out_dir='pictures')
    for idx in range(7):
        hook.after_test_iter(runner, idx, data_batch, outputs)
    out = sorted(glob.glob(str(tmp_path / '20260101_000000' / 'pictures' /
                               '*.png')))
    assert [osp.basename(f) for f in out] == [
        '000000_frame_0.png', '000003_frame_0.png', '000006_frame_0.png']


def test_hook_disabled_and_wrong_visualizer(tmp_path):
    data_batch, outputs = make_batch()
    plain = Visualizer(name='hook_plain_vis')
    runner = make_runner(tmp_path, plain)
    off = MPTMeshVisualizationHook()  # enable=False by default
    off.before_run(runner)
    off.after_val_iter(runner, 0, data_batch, outputs)  # nothing happens
    on = MPTMeshVisualizationHook(enable=True)
    with pytest.raises(TypeError, match='MPTMeshVisualizer'):
        on.before_run(runner)
    with pytest.raises(ValueError, match='interval'):
        MPTMeshVisualizationHook(interval=0)
