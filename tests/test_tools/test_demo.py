"""tools/demo.py with a tiny stand-in estimator (the contract's predict
output: ``pred_instances.vertices`` (1, V, 3) and ``camera`` (1, 3))."""
import importlib.util
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.model import BaseModel
from mmengine.structures import InstanceData

from mpt_plugin.body_models.io import load_body_model_file
from mpt_plugin.registry import MODELS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CROP = 64


@MODELS.register_module(force=True)
class MPTDemoStandInModel(BaseModel):
    """Predicts the SMPL template (camera axes, pelvis-centred) with the
    camera ``(scale, 0, 0)``; ``scale`` is a parameter, so a checkpoint
    changes the output."""

    def __init__(self, body_model: dict, data_preprocessor=None):
        super().__init__(data_preprocessor=data_preprocessor)
        model = load_body_model_file(
            osp.join(body_model['model_path'], 'SMPL_NEUTRAL.npz'))
        verts = model['v_template'] * np.array([1.0, -1.0, -1.0])
        verts = verts - verts.mean(axis=0)
        self.register_buffer('template',
                             torch.tensor(verts, dtype=torch.float32))
        self.scale = torch.nn.Parameter(torch.tensor(1.0))
        self.seen_inputs = None

    def forward(self, inputs, data_samples=None, mode='tensor'):
        assert mode == 'predict'
        self.seen_inputs = inputs
        out = []
        for sample in data_samples:
            sample.pred_instances = InstanceData(
                vertices=self.template[None],
                camera=torch.stack([self.scale, self.scale * 0,
                                    self.scale * 0])[None])
            out.append(sample)
        return out


def _load_tool():
    spec = importlib.util.spec_from_file_location(
        'mpt_demo_tool', osp.join(REPO, 'tools', 'demo.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


@pytest.fixture()
def demo_files(synthetic_assets, tmp_path):
    body = str(synthetic_assets / 'body_models')
    config = tmp_path / 'demo_cfg.py'
    config.write_text(f"""
default_scope = 'mmpose'
model = dict(
    type='MPTDemoStandInModel',
    body_model=dict(model_path={body!r}),
    data_preprocessor=dict(type='PoseDataPreprocessor',
                           mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], bgr_to_rgb=True))
test_dataloader = dict(dataset=dict(
    type='MPTHumanDataDataset', convention='h36m', bbox_scale_factor=1.0,
    pipeline=[dict(type='LoadImage'),
              dict(type='MPTMeshAffine', input_size={CROP}),
              dict(type='MPTPackMeshInputs')]))
""")
    model = MPTDemoStandInModel(dict(model_path=body))
    with torch.no_grad():
        model.scale.fill_(1.1)
    ckpt = tmp_path / 'model.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, str(ckpt))
    image = np.zeros((120, 80, 3), np.uint8)
    image[:, :, 1] = np.linspace(0, 255, 80, dtype=np.uint8)[None]
    img_path = tmp_path / 'person.jpg'
    cv2.imwrite(str(img_path), image)
    return str(img_path), str(config), str(ckpt), body


def test_demo_writes_overlay_and_obj(demo_files, tmp_path):
    tool = _load_tool()
    image, config, ckpt, body = demo_files
    out_dir = tmp_path / 'out'
    assert tool.main([image, config, ckpt, '--out-dir', str(out_dir),
                      '--device', 'cpu']) == 0
    overlay = cv2.imread(str(out_dir / 'person_mesh_overlay.png'))
    assert overlay.shape == (CROP, 2 * CROP, 3)
    crop, mesh = overlay[:, :CROP], overlay[:, CROP:]
    changed = (np.abs(crop.astype(int) - mesh) > 10).any(-1)
    # The template (1.7 m tall) at s = 1.1 spans ~0.94 of the crop height.
    rows = np.nonzero(changed.any(axis=1))[0]
    assert 0.8 * CROP < rows[-1] - rows[0] + 1 <= CROP
    # OBJ: vertices (y up) and 1-based faces of the body model.
    lines = (out_dir / 'person_mesh.obj').read_text().splitlines()
    v = np.array([[float(t) for t in ln.split()[1:]] for ln in lines
                  if ln.startswith('v ')])
    f = np.array([[int(t) for t in ln.split()[1:]] for ln in lines
                  if ln.startswith('f ')])
    model = load_body_model_file(osp.join(body, 'SMPL_NEUTRAL.npz'))
    assert v.shape == (6890, 3) and f.shape == (13776, 3)
    np.testing.assert_array_equal(f - 1, model['f'])
    template = model['v_template'] - model['v_template'].mean(0)
    np.testing.assert_allclose(v, template, atol=1e-5)  # upright again


def test_demo_bbox_crop_and_checkpoint(demo_files, tmp_path):
    tool = _load_tool()
    image, config, ckpt, _ = demo_files
    out = tool.run_demo(image, config, ckpt, bbox=[10, 20, 40, 60],
                        out_dir=str(tmp_path / 'o2'))
    # The checkpoint's scale was loaded.
    np.testing.assert_allclose(out['camera'], [1.1, 0.0, 0.0], rtol=1e-6)
    assert out['vertices'].shape == (6890, 3)
    assert osp.isfile(out['overlay']) and osp.isfile(out['obj'])
    # The crop is the 60 x 60 square around the box centre (30, 50): its
    # colour ramp spans x = 0..60 of the image (green = x * 255 / 79).
    crop = cv2.imread(out['overlay'])[:, :CROP]
    green = crop[CROP // 2, :, 1].astype(float)
    assert green[0] == pytest.approx(0.5 * 255 / 79, abs=6)
    assert green[-1] == pytest.approx(59.5 * 255 / 79, abs=6)
    with pytest.raises(FileNotFoundError, match='cannot read image'):
        tool.run_demo(str(tmp_path / 'missing.jpg'), config, ckpt)
    with pytest.raises(ValueError, match='--bbox'):
        tool.run_demo(image, config, ckpt, bbox=[0, 0, 0, 5])
