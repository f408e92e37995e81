"""The MPT hand configs build, train and test through the real tools.

- ``configs/mpt_hand_pretrain.py`` (paper sizes) runs a couple of iterations
  on the synthetic hand pose set; its head has the hand network's
  dimensions;
- ``configs/mpt_hand_pretrain_demo.py`` (iteration-based) trains two
  iterations and validates with FreiHAND's evaluation;
- ``configs/mpt_hand_finetune_freihand.py`` fine-tunes from that checkpoint
  on synthetic FreiHAND-layout renders, and
  ``configs/mpt_hand_test_freihand.py`` evaluates the result with test-time
  augmentation and writes the official ``pred.json``.
"""
import json
import os.path as osp
import sys

import pytest
import torch
from mmengine.config import Config

from mpt_plugin.synthetic.freihand_images import write_synthetic_freihand
from tests.tool_runner import run_tool, tool_env

pytestmark = pytest.mark.slow  # trains through the tools in subprocesses

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TIMEOUT = 900


def _run(cmd):
    return run_tool(cmd, timeout=TIMEOUT, env=tool_env())


def _hand_model_options(assets):
    bm = osp.join(assets, 'body_models')
    return [f'model.hand_model.model_path={bm}',
            f'model.data_preprocessor.hand_model.model_path={bm}',
            f'model.mesh_sampler={bm}/mano_downsampling.npz']


def _pose_options(assets, max_poses, num_views, batch_size):
    opts = []
    for split, name in (('train', 'train'), ('val', 'val'), ('test', 'val')):
        key = f'{split}_dataloader'
        opts += [
            f'{key}.dataset.ann_file={assets}/hand_poses/{name}.npz',
            f'{key}.dataset.max_poses={max_poses}',
            f'{key}.dataset.num_views={num_views}',
            f'{key}.num_workers=0', f'{key}.persistent_workers=False',
            f'{key}.batch_size={batch_size}',
        ]
    return opts


@pytest.fixture(scope='module')
def freihand(synthetic_assets, tmp_path_factory):
    root = tmp_path_factory.mktemp('freihand')
    write_synthetic_freihand(
        root, osp.join(synthetic_assets, 'body_models'), num_training=2,
        num_evaluation=3, seed=0)
    return root


@pytest.fixture(scope='module')
def pretrained(synthetic_assets, tmp_path_factory):
    """A demo pre-training checkpoint (two iterations) and its log."""
    work = tmp_path_factory.mktemp('hand_pretrain_demo')
    out = _run([
        sys.executable, 'tools/train.py', 'configs/mpt_hand_pretrain_demo.py',
        '--work-dir', str(work), '--cfg-options', 'train_cfg.max_iters=2',
        'train_cfg.val_interval=2', 'default_hooks.checkpoint.interval=2',
        *_hand_model_options(synthetic_assets),
        *_pose_options(synthetic_assets, 4, 2, 4)
    ])
    return work, out


def test_paper_hand_pretrain_config(synthetic_assets, tmp_path):
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'mpt_hand_pretrain.py'))
    head = cfg.model.head
    assert (head.num_joints, tuple(head.num_vertices)) == (21, (195, 778))
    assert head.mvm_ratio == 0.0 and head.in_channels == 21
    assert tuple(head.loss.vertex_level_weights) == (0.5, 0.5)
    assert head.loss.joints_criterion == 'mse'
    assert cfg.train_dataloader.dataset.num_views == 216
    work = tmp_path / 'work'
    out = _run([
        sys.executable, 'tools/train.py', 'configs/mpt_hand_pretrain.py',
        '--work-dir', str(work), '--cfg-options', 'train_cfg.max_epochs=1',
        *_hand_model_options(synthetic_assets),
        *_pose_options(synthetic_assets, 2, 2, 2)
    ])
    assert 'Epoch(train) [1][2/2]' in out
    sd = torch.load(work / 'epoch_1.pth', map_location='cpu',
                    weights_only=False)['state_dict']
    # the hand network: 3 blocks x 4 layers, hidden 1024/256/64, 784 patch
    # tokens of 8x8x21, 21 + 195 queries, one Linear(195, 778)
    assert sd['head.patch_embed.proj.weight'].shape == (1024, 21, 8, 8)
    for b, hidden in enumerate((1024, 256, 64)):
        layers = {k.split('.')[4] for k in sd
                  if k.startswith(f'head.blocks.{b}.layers.')}
        assert len(layers) == 4
        assert sd[f'head.blocks.{b}.pos_embed'].shape == (21 + 195 + 784,
                                                         hidden)
    assert sd['head.upsample_full.weight'].shape == (778, 195)
    assert not any(k.startswith('head.upsample_mid') for k in sd)
    assert 'freihand/PA-MPJPE' in out


def test_demo_pretrain_then_freihand_finetune_and_tta_test(
        synthetic_assets, freihand, pretrained, tmp_path):
    pre_work, pre_out = pretrained
    assert 'Iter(train) [2/2]' in pre_out
    assert 'freihand/PA-MPJPE' in pre_out
    # the demo checkpoint's shrunk head (the paper-size head of the image
    # configs would not load it)
    shrunk_head = [
        'model.head.embed_dims=(128,64,32)',
        'model.head.hidden_dims=(128,64,32)', 'model.head.num_layers=1',
        'model.head.input_size=112', 'model.backbone.output_size=112',
        'model.head.attn_drop_rate=0.0'
    ]
    def data(*splits):
        return [f'{split}_dataloader.{k}' for split in splits
                for k in ('num_workers=0', 'persistent_workers=False',
                          f'dataset.data_root={freihand}')]

    work = tmp_path / 'finetune'
    out = _run([
        sys.executable, 'tools/train.py',
        'configs/mpt_hand_finetune_freihand.py', '--work-dir', str(work),
        '--cfg-options', 'train_cfg.max_epochs=1',
        f'load_from={pre_work}/iter_2.pth',
        'train_dataloader.batch_size=2', 'train_dataloader.dataset.versions=[0]',
        *shrunk_head, *_hand_model_options(synthetic_assets),
        *data('train', 'test')
    ])
    # 2 samples x 1 version, batch 2: one iteration; the demo head loaded
    assert 'Epoch(train) [1][1/1]' in out
    assert 'Load checkpoint from' in out
    ckpt = work / 'epoch_1.pth'
    assert ckpt.is_file()
    pred_json = tmp_path / 'pred.json'
    out = _run([
        sys.executable, 'tools/test.py', 'configs/mpt_hand_test_freihand.py',
        str(ckpt), '--work-dir', str(tmp_path / 'test'), '--cfg-options',
        'test_dataloader.batch_size=2', *shrunk_head,
        'model.test_cfg.tta.scales=(0.9,1.0)',
        'model.test_cfg.tta.rotations=(0,20)',
        f'test_evaluator.pred_json={pred_json}',
        *_hand_model_options(synthetic_assets), *data('test')
    ])
    for key in ('PA-MPJPE', 'PA-MPVPE', 'PA-F@5mm', 'PA-F@15mm', 'PA-AUC-J'):
        assert f'freihand/{key}' in out
    with open(pred_json) as f:
        joints, verts = json.load(f)
    assert len(joints) == len(verts) == 3  # the evaluation split
    assert len(joints[0]) == 21 and len(verts[0]) == 778
    assert all(len(p) == 3 for p in joints[0])

    # testing without fine-tuning: the pre-training checkpoint's head on
    # the frozen pose network (whose weights are not in that checkpoint)
    out = _run([
        sys.executable, 'tools/test.py', 'configs/mpt_hand_test_freihand.py',
        f'{pre_work}/iter_2.pth', '--work-dir', str(tmp_path / 'test_pre'),
        '--cfg-options', 'test_dataloader.batch_size=3', *shrunk_head,
        *_hand_model_options(synthetic_assets), *data('test')
    ])
    assert 'freihand/PA-MPJPE' in out
