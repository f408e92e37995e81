"""Every PC-HMR config builds its model; the demo configs train through
``tools/train.py`` on the synthetic assets.

The paper-setting configs read image datasets (MPTHumanDataDataset) or keypoint
datasets that may not exist yet, so only their models are built (with the
body-model paths pointed at the synthetic assets)."""
import os.path as osp
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mpt_plugin.models.estimators.pc_hmr_estimator import PCHMREstimator
from mpt_plugin.registry import MODELS
from mpt_plugin.utils.checkpoint import register_checkpoint_safe_globals
from tests.tool_runner import finish_tool, start_tool_logged

pytestmark = pytest.mark.slow  # trains the demo configs through the tools

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TIMEOUT = 600


def _body_model_options(assets, mpt: bool):
    bm = osp.join(assets, 'body_models')
    reg = f'{bm}/J_regressor_h36m.npy'
    opts = {
        'model.body_model.model_path': bm,
        'model.body_model.joints_regressor': reg
    }
    if mpt:
        opts.update({
            'model.mesh_stream.mpt.body_model.model_path': bm,
            'model.mesh_stream.mpt.body_model.joints_regressor': reg,
            'model.mesh_stream.mpt.mesh_sampler':
            f'{bm}/mesh_downsampling.npz',
            # the GT bodies of the targets (MoCap or image preprocessor)
            'model.data_preprocessor.body_model.model_path': bm,
            'model.data_preprocessor.body_model.joints_regressor': reg
        })
    else:
        opts.update({
            'model.data_preprocessor.body_model.model_path': bm,
            'model.mesh_stream.regressor.body_model.model_path': bm
        })
    return opts


def _build(name, assets):
    cfg = Config.fromfile(osp.join(REPO, 'configs', f'{name}.py'))
    mpt = cfg.model.mesh_stream.type == 'PCHMRMPTMeshStream'
    cfg.merge_from_dict(_body_model_options(assets, mpt))
    init_default_scope('mmpose')
    return cfg, MODELS.build(cfg.model)


#: name -> framework, lifter frames, has a 2D estimator, lifter input frame
CONFIGS = {
    'pc_hmr_serial_mpt_h36m': ('serial', 1, False, 'image'),
    'pc_hmr_parallel_mpt_h36m': ('parallel', 243, False, 'image'),
    'pc_hmr_parallel_image_mpt_h36m': ('parallel', 1, True, 'image'),
    'pc_hmr_parallel_key2mesh_3dpw': ('parallel', 1, False, 'crop'),
    'pc_hmr_serial_demo': ('serial', 1, False, 'crop'),
    'pc_hmr_parallel_key2mesh_demo': ('parallel', 1, False, 'crop'),
    'pc_hmr_parallel_video_demo': ('parallel', 9, False, 'image'),
}


def _dataset_types(cfg):
    return {cfg[f'{split}_dataloader'].dataset.type
            for split in ('train', 'val', 'test')}


@pytest.mark.parametrize('name', sorted(CONFIGS))
def test_every_config_builds_its_model(synthetic_assets, name):
    framework, seq_len, has_2d, frame = CONFIGS[name]
    cfg, model = _build(name, synthetic_assets)
    assert isinstance(model, PCHMREstimator)
    assert model.framework == framework
    assert model.lifter_seq_len == seq_len
    assert model.lifter_input_frame == frame
    assert (model.pose_estimator_2d is not None) == has_2d
    if seq_len > 1:
        # a video lifter reads real windows of the same length in every
        # split, never one frame replicated
        assert _dataset_types(cfg) == {'MPTHumanDataSequenceDataset'}
        for split in ('train', 'val', 'test'):
            assert cfg[f'{split}_dataloader'].dataset.seq_len == seq_len
    else:
        assert 'MPTHumanDataSequenceDataset' not in _dataset_types(cfg)
    assert model.neck.num_joints == 17 and model.neck.num_vertices == 6890
    keys = cfg.optim_wrapper.paramwise_cfg.custom_keys
    assert {'mesh_stream', 'pose_lifter', 'neck'} <= set(keys)
    if 'demo' not in name:
        # paper: 1e-3 for the calibration module, 1e-5 for the rest
        assert cfg.optim_wrapper.optimizer.lr == 1e-3
        assert keys['neck']['lr_mult'] == 1.0
        for key in set(keys) - {'neck'}:
            assert keys[key]['lr_mult'] == 0.01
        assert model.neck.shape_compensation is not None
        assert cfg.train_cfg.max_epochs == (50 if '3dpw' in name else 90)
    if has_2d:
        assert 'pose_estimator_2d' in keys


def _start(cmd):
    # output to a file: the demo runs go at once and are awaited in turn
    return start_tool_logged(cmd)


def _finish(proc):
    """The run's output; it must have succeeded."""
    code, out = finish_tool(proc, TIMEOUT, lambda out: out[-6000:])
    assert code == 0, out[-6000:]
    return out


def _serial_demo_cmd(synthetic_assets, tmp_path):
    opts = [f'{k}={v}' for k, v in _body_model_options(
        synthetic_assets, True).items()]
    for split in ('train', 'val'):
        key = f'{split}_dataloader'
        opts += [
            f'{key}.dataset.data_root={synthetic_assets}/amass',
            f'{key}.dataset.cache_root={tmp_path}/cache',
            f'{key}.dataset.max_meshes=2', f'{key}.batch_size=4'
        ]
    work = tmp_path / 'work'
    return work, [
        sys.executable, 'tools/train.py', 'configs/pc_hmr_serial_demo.py',
        '--work-dir', str(work), '--cfg-options', 'train_cfg.max_epochs=1',
        'default_hooks.logger.interval=1', *opts
    ]


def _parallel_key2mesh_demo_cmd(synthetic_assets, tmp_path):
    opts = [f'{k}={v}' for k, v in _body_model_options(
        synthetic_assets, False).items()]
    for split, num in (('train', 16), ('val', 8)):
        key = f'{split}_dataloader'
        opts += [
            f'{key}.dataset.data_root={synthetic_assets}/amass',
            f'{key}.dataset.num_samples={num}', f'{key}.batch_size=8'
        ]
    work = tmp_path / 'work'
    return work, [
        sys.executable, 'tools/train.py',
        'configs/pc_hmr_parallel_key2mesh_demo.py', '--work-dir', str(work),
        '--cfg-options', 'train_cfg.max_epochs=1',
        'default_hooks.logger.interval=1', *opts
    ]


@pytest.fixture(scope='module')
def demo_runs(request, synthetic_assets, tmp_path_factory):
    """The three demo trainings (serial, parallel Key2Mesh, video), started
    together: each is one single-threaded process and the machine has 2
    cores; the video images are rendered (in this process) while the first
    two run. Each test waits for its own run."""
    runs = {}
    for name, cmd in (('serial', _serial_demo_cmd),
                      ('parallel_key2mesh', _parallel_key2mesh_demo_cmd)):
        work, argv = cmd(synthetic_assets,
                         tmp_path_factory.mktemp(f'pc_hmr_{name}'))
        runs[name] = (work, _start(argv))
    try:
        video_workspace = request.getfixturevalue('video_workspace')
        work, argv = _video_demo_cmd(synthetic_assets, video_workspace,
                                     tmp_path_factory.mktemp('pc_hmr_vdemo'))
        runs['video'] = (work, _start(argv))
        yield runs
    finally:
        for _, proc in runs.values():  # runs no selected test waited for
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            proc.tool_log.close()


def test_serial_demo_trains(demo_runs):
    work, proc = demo_runs['serial']
    out = _finish(proc)
    # 2 meshes x 4 views, batch 4 -> 2 iterations, then validation
    assert 'Epoch(train) [1][2/2]' in out
    assert 'loss_pose' in out and 'loss_vertices' in out
    assert 'mesh/PVE' in out
    sd = torch.load(work / 'epoch_1.pth', map_location='cpu')['state_dict']
    assert sd['neck.A'].shape == (6890, 16)
    assert any(k.startswith('pose_lifter.backbone') for k in sd)
    assert any(k.startswith('mesh_stream.mpt.head') for k in sd)


def test_parallel_key2mesh_demo_trains(demo_runs):
    work, proc = demo_runs['parallel_key2mesh']
    out = _finish(proc)
    assert 'Epoch(train) [1][2/2]' in out
    assert 'mesh/MPJPE' in out and 'mesh/PVE' in out
    sd = torch.load(work / 'epoch_1.pth', map_location='cpu')['state_dict']
    assert 'neck.shape_compensation.mlp.0.weight' in sd
    assert any(k.startswith('mesh_stream.regressor.feature_extractor')
               for k in sd)


def test_key2mesh_3dpw_config_evaluates_humandata_detections(
        synthetic_assets, tmp_path):
    """The 3DPW config's test components end to end: a HumanData file of
    OpenPose detections with camera-frame SMPL labels ->
    Key2MeshKeypointsDataset -> the config's preprocessor -> PCHMREstimator
    -> MPTMeshMetric; the GT mesh is the labels' neutral SMPL, not flipped."""
    import numpy as np
    from mmengine.dataset import default_collate

    from mpt_plugin.body_models import MPTSMPL
    from mpt_plugin.body_models.conventions import (get_keypoint_names,
                                                    get_mapping)
    from mpt_plugin.datasets import save_human_data
    from mpt_plugin.registry import DATASETS, METRICS

    cfg, model = _build('pc_hmr_parallel_key2mesh_3dpw', synthetic_assets)
    rng = np.random.default_rng(0)
    n = 6
    names = get_keypoint_names('openpose_coco18')
    # human_data index hd_idx[i] holds OpenPose-18 joint op_idx[i]
    hd_idx, op_idx = get_mapping('openpose_coco18', 'human_data')
    kp = np.zeros((n, 190, 3))
    base = rng.uniform(200, 400, size=(1, len(names), 2))
    kp[:, hd_idx, :2] = (base + rng.normal(scale=20,
                                             size=(n, len(names), 2)))[:,
                                                                       op_idx]
    kp[:, hd_idx, 2] = 1.0
    mask = np.zeros(190, np.uint8)
    mask[hd_idx] = 1
    orient = np.tile([[np.pi, 0.0, 0.0]], (n, 1))  # upright, camera frame
    body_pose = rng.normal(scale=0.15, size=(n, 23, 3))
    betas = rng.normal(size=(n, 10))
    ann = tmp_path / 'pw3d_test.npz'
    save_human_data(str(ann), dict(
        image_path=np.array([f'imageFiles/s/image_{i:05d}.jpg'
                             for i in range(n)]),
        bbox_xywh=np.tile([150., 150., 300., 300., 1.], (n, 1)),
        keypoints2d=kp, keypoints2d_mask=mask,
        smpl=dict(global_orient=orient, body_pose=body_pose, betas=betas),
        meta=dict(gender=np.array(['m', 'f'] * (n // 2))),
        config='pw3d'))

    ds_cfg = dict(cfg.test_dataloader.dataset, ann_file=str(ann))
    dataset = DATASETS.build(ds_cfg)
    assert len(dataset) == n
    batch = default_collate([dataset[i] for i in range(n)])
    model.eval()
    with torch.no_grad():
        data = model.data_preprocessor(batch, False)
        preds = model(**data, mode='predict')
        gt = model.gather_gt(data['inputs'], data['data_samples'])
    smpl = MPTSMPL(osp.join(synthetic_assets, 'body_models'),
                   gender='neutral')
    with torch.no_grad():
        verts = smpl(betas=torch.as_tensor(betas, dtype=torch.float32),
                     body_pose=torch.as_tensor(body_pose.reshape(n, 69),
                                               dtype=torch.float32),
                     global_orient=torch.as_tensor(
                         orient, dtype=torch.float32))['vertices']
    # same mesh up to the pelvis centring: the camera-frame labels are not
    # flipped (the head is above the feet: smaller y, camera y points down)
    centred = verts - verts.mean(1, keepdim=True)
    got = gt['vertices'] - gt['vertices'].mean(1, keepdim=True)
    torch.testing.assert_close(got, centred, atol=1e-4, rtol=0)
    assert (gt['joints'][:, 10, 1] < gt['joints'][:, 3, 1]).all()
    metric = METRICS.build(cfg.test_evaluator)
    metric.process({}, [p.to_dict() for p in preds])
    res = metric.evaluate(n)
    assert {'mesh/MPJPE', 'mesh/PA-MPJPE', 'mesh/PVE'} <= set(res)
    assert all(np.isfinite(v) for v in res.values())


@pytest.fixture(scope='module')
def video_workspace(synthetic_assets, tmp_path_factory):
    """Synthetic h36m-style image sequences: 40 training images (5
    sequences of 8 frames, subjects S1, S5, S6, S7, S8; frame ids 1, 6, ...
    like mmhuman3d's files) and a 16-image protocol-2 file (2 sequences)."""
    from mpt_plugin.synthetic.human_images import \
        render_synthetic_human_data
    root = tmp_path_factory.mktemp('pc_hmr_video')
    prefix = root / 'synthetic_images'
    bm = osp.join(synthetic_assets, 'body_models')
    for ann, num, layout, split in (
            ('h36m_train.npz', 40, 'train_full', 'train'),
            ('h36m_valid_protocol2.npz', 16, 'h36m_p2', 'valid')):
        render_synthetic_human_data(prefix, 'h36m', ann, num, bm,
                                    layout=layout, split=split,
                                    image_size=(64, 64), quiet=True)
    return prefix


def _video_demo_options(assets, prefix):
    opts = _body_model_options(assets, True)
    opts.update({
        f'{split}_dataloader.dataset.data_prefix': str(prefix)
        for split in ('train', 'val', 'test')
    })
    return opts


def test_video_config_yields_real_sequence_windows(synthetic_assets,
                                                   video_workspace):
    """Acceptance: batches of shape (B, T, K, 2) whose T frames are distinct
    consecutive stored frames of ONE sequence (edge-padded at its ends)."""
    from mmengine.runner import Runner
    cfg = Config.fromfile(
        osp.join(REPO, 'configs', 'pc_hmr_parallel_video_demo.py'))
    cfg.merge_from_dict(_video_demo_options(synthetic_assets,
                                            video_workspace))
    init_default_scope('mmpose')
    seq_len = cfg.seq_len
    cfg.train_dataloader.batch_size = 8
    train = Runner.build_dataloader(cfg.train_dataloader, seed=0)
    val = Runner.build_dataloader(cfg.val_dataloader, seed=0)
    # S8 is held out of training for validation
    assert (train.dataset.num_sequences, val.dataset.num_sequences) == (4, 1)
    padded_seen = False
    for batch, loader in [(b, train) for b in train] + [(b, val)
                                                         for b in val]:
        dataset = loader.dataset
        step = 5 * dataset.frame_stride  # stored ids advance by 5
        samples = batch['data_samples']
        windows = torch.cat([s.gt_instances.keypoints2d_seq
                             for s in samples])
        assert windows.shape == (len(samples), seq_len, 17, 2)
        for i, sample in enumerate(samples):
            ids = sample.gt_instances.seq_frame_ids[0]
            info = dataset.get_data_info(sample.metainfo['sample_idx'])
            # one sequence: the sample's folder, its frame in the centre
            folder = info['sequence_name']
            assert sample.metainfo['img_path'].split('/')[-2] == \
                folder.split('/')[-1]
            centre = int(sample.metainfo['img_path'][-10:-4])
            assert int(ids[seq_len // 2]) == centre
            inner = ~torch.as_tensor(info['seq_padded'])
            inner_ids = ids[inner]
            assert (inner_ids.diff() == step).all()  # consecutive, distinct
            # outside the sequence: its first / last frame repeated
            assert set(ids[~inner].tolist()) <= {int(inner_ids.min()),
                                                 int(inner_ids.max())}
            padded_seen |= bool((~inner).any())
            if loader is val:  # no augmentation: each frame's own 2D
                assert torch.allclose(
                    windows[i], torch.from_numpy(info['keypoints2d_seq']))
    assert padded_seen  # 8-frame sequences, 9-frame windows


def _video_demo_cmd(synthetic_assets, video_workspace, tmp_path):
    opts = [f'{k}={v}' for k, v in _video_demo_options(
        synthetic_assets, video_workspace).items()]
    opts += ['train_dataloader.dataset.num_samples=8',
             'val_dataloader.dataset.num_samples=4',
             'train_dataloader.batch_size=4', 'val_dataloader.batch_size=4']
    work = tmp_path / 'work'
    return work, [
        sys.executable, 'tools/train.py',
        'configs/pc_hmr_parallel_video_demo.py', '--work-dir', str(work),
        '--cfg-options', 'train_cfg.max_epochs=1',
        'default_hooks.logger.interval=1', *opts
    ]


def test_video_demo_trains(demo_runs):
    work, proc = demo_runs['video']
    out = _finish(proc)
    assert 'Epoch(train) [1][2/2]' in out
    assert 'loss_pose' in out and 'mpjpe_lifter' in out
    assert 'mesh/MPJPE' in out
    register_checkpoint_safe_globals()
    sd = torch.load(work / 'epoch_1.pth', map_location='cpu',
                    weights_only=True)['state_dict']
    # the TCN's first layer convolves 3 frames: a temporal lifter
    assert sd['pose_lifter.backbone.expand_conv.conv.weight'].shape[-1] == 3
