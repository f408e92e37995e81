"""Tests for ``MPTMeshDataPreprocessor``: images as MMPose, then targets."""
import os.path as osp

import torch
from mmengine.registry import init_default_scope
from mmpose.structures import PoseDataSample

from mpt_plugin.models.utils.image_targets import ImageTargetBuilder
from mpt_plugin.models.utils.mesh_targets import (MESH_TARGET_KEYS,
                                                  stack_targets)
from mpt_plugin.registry import MODELS
from ..test_utils.image_samples import packed_samples

NORM = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
            bgr_to_rgb=True)


def test_images_as_mmpose_and_targets_attached(synthetic_assets):
    init_default_scope('mmpose')
    bm_dir = osp.join(synthetic_assets, 'body_models')
    body_model = dict(model_path=bm_dir,
                      joints_regressor=osp.join(bm_dir,
                                                'J_regressor_h36m.npy'))
    pre = MODELS.build(dict(NORM, type='MPTMeshDataPreprocessor',
                            body_model=body_model))
    stock = MODELS.build(dict(NORM, type='PoseDataPreprocessor'))
    gen = torch.Generator().manual_seed(0)
    images = [torch.randint(0, 256, (3, 112, 112), generator=gen,
                            dtype=torch.uint8) for _ in range(4)]
    samples, _, _ = packed_samples(bm_dir)
    out = pre(dict(inputs=images, data_samples=samples), training=True)
    ref = stock(dict(inputs=images, data_samples=packed_samples(bm_dir)[0]))
    assert torch.equal(out['inputs'], ref['inputs'])
    targets = stack_targets(out['data_samples'])
    assert set(targets) == set(MESH_TARGET_KEYS)
    expected = ImageTargetBuilder(body_model)(samples, 112)
    for key, value in expected.items():
        assert torch.equal(targets[key], value), key
    # bare inference inputs (no GT fields): images only, no targets
    bare = [PoseDataSample(metainfo=dict(img_path='x.jpg'))
            for _ in range(4)]
    out = pre(dict(inputs=images, data_samples=bare))
    assert torch.equal(out['inputs'], ref['inputs'])
    assert stack_targets(out['data_samples']) == {}
