"""tools/infer.py (in-process ``main``) with the MPT fine-tuning demo config
and a saved, randomly initialised checkpoint: a folder of synthetic images
and a short synthetic video."""
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest
import torch

from mpt_plugin.apis import inference_mesh, init_model
from mpt_plugin.datasets.human_data_io import load_human_data
from tests.tool_runner import load_tool

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs', 'mpt_finetune_demo.py')


@pytest.fixture(scope='module')
def tool():
    return load_tool('infer', 'mpt_infer_tool')


@pytest.fixture(scope='module')
def workspace(synthetic_assets, tmp_path_factory):
    """Working folder (``data/synthetic`` -> the session's assets), a
    checkpoint of the demo model, images and a video."""
    root = tmp_path_factory.mktemp('infer_tool')
    (root / 'data').mkdir()
    os.symlink(synthetic_assets, root / 'data' / 'synthetic')
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        torch.manual_seed(1)
        model = init_model(CONFIG)
    ckpt = root / 'mpt.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, str(ckpt))
    images = root / 'images'
    images.mkdir()
    rng = np.random.default_rng(0)
    frames = []
    for i in range(4):
        img = (rng.random((120, 90, 3)) * 90).astype(np.uint8)
        cv2.ellipse(img, (45 + i, 60), (15, 45), 0, 0, 360, (40, 80, 220),
                    -1)
        cv2.circle(img, (45 + i, 12), 9, (190, 200, 230), -1)
        frames.append(img)
    for i in range(2):
        cv2.imwrite(str(images / f'person_{i}.png'), frames[i])
    (images / 'person_9.jpg').write_bytes(b'truncated')
    video = root / 'clip.mp4'
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*'mp4v'),
                             8.0, (90, 120))
    for frame in frames:
        writer.write(frame)
    writer.release()
    return root, str(ckpt), model


def _run(tool, root, argv):
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        return tool.main(argv)


def test_folder_writes_overlays_meshes_and_results(tool, workspace, capsys):
    root, ckpt, model = workspace
    boxes = root / 'boxes.json'
    boxes.write_text(json.dumps({'person_0.png': [[10, 5, 80, 118],
                                                  [0, 0, 45, 60]]}))
    out = root / 'out_images'
    assert _run(tool, root, [str(root / 'images'), CONFIG, ckpt,
                             '--out-dir', str(out), '--bboxes', str(boxes),
                             '--batch-size', '2', '--no-progress']) == 0
    printed = capsys.readouterr().out
    assert f'skipped {root / "images" / "person_9.jpg"}: cannot read ' \
        'image' in printed
    assert sorted(os.listdir(out / 'overlays')) == ['person_0.png',
                                                    'person_1.png']
    assert cv2.imread(str(out / 'overlays' / 'person_0.png')).shape == (
        120, 90, 3)
    assert sorted(os.listdir(out / 'meshes')) == [
        'person_0_00.obj', 'person_0_01.obj', 'person_1_00.obj']
    data = load_human_data(out / 'inference_result.npz',
                           required=('image_path', ))
    assert list(data['image_path']) == ['person_0.png'] * 2 + \
        ['person_1.png']
    # the vertices are the API's (the model the checkpoint was saved from)
    api = inference_mesh(model, [str(root / 'images' / 'person_0.png'),
                                  str(root / 'images' / 'person_1.png')],
                         [json.loads(boxes.read_text())['person_0.png'],
                          None])
    expect = np.concatenate([s.pred_instances.vertices
                             for s in sum(api, [])])
    np.testing.assert_allclose(data['verts'], expect, atol=1e-5)
    obj = [ln for ln in (out / 'meshes' / 'person_1_00.obj').read_text()
           .splitlines() if ln.startswith('v ')]
    assert len(obj) == 6890


def test_video_writes_mp4_meshes_and_results(tool, workspace):
    root, ckpt, model = workspace
    out = root / 'out_video'
    assert _run(tool, root, [str(root / 'clip.mp4'), CONFIG, ckpt,
                             '--out-dir', str(out), '--save-mesh', 'ply',
                             '--no-progress']) == 0
    cap = cv2.VideoCapture(str(out / 'overlays' / 'clip.mp4'))
    count = 0
    while cap.read()[0]:
        count += 1
    cap.release()
    assert count == 4
    assert sorted(os.listdir(out / 'meshes')) == [
        f'clip_{f:06d}_00.ply' for f in range(4)]
    data = load_human_data(out / 'inference_result.npz',
                           required=('image_path', ))
    np.testing.assert_array_equal(data['frame_id'], [0, 1, 2, 3])
    assert data['verts'].shape == (4, 6890, 3)
    assert data['pred_cams'].shape == (4, 3)
    np.testing.assert_allclose(data['bboxes_xyxy'][:, :4],
                               [[0, 0, 90, 120]] * 4)
    # the frames as decoded, through the API
    cap = cv2.VideoCapture(str(root / 'clip.mp4'))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    api = inference_mesh(model, frames)
    np.testing.assert_allclose(
        data['verts'], np.concatenate([s[0].pred_instances.vertices
                                       for s in api]), atol=1e-5)


def test_errors_are_one_line(tool, workspace, tmp_path):
    root, _, _ = workspace
    small = osp.join(REPO, 'configs', 'key2mesh_pretrain_demo.py')
    with pytest.raises(SystemExit) as exc:
        _run(tool, root, [str(root / 'images'), small,
                          str(tmp_path / 'missing.pth'), '--out-dir',
                          str(tmp_path / 'o')])
    assert str(exc.value.code).startswith(
        'infer.py: error: CheckpointNotFoundError: ')
    with pytest.raises(SystemExit) as exc:  # a keypoint model on images
        _run(tool, root, [str(root / 'clip.mp4'), small, '--out-dir',
                          str(tmp_path / 'o')])
    assert str(exc.value.code).startswith(
        'infer.py: error: TypeError: Key2MeshEstimator reads an MMPose '
        'predictions .json')
    with pytest.raises(SystemExit) as exc:
        _run(tool, root, [str(root / 'images' / 'person_9.jpg'),
                          osp.join(REPO, 'configs',
                                   'pc_hmr_parallel_video_demo.py'),
                          '--out-dir', str(tmp_path / 'o')])
    assert 'ImageReadError: cannot read image' in str(exc.value.code)
    with pytest.raises(SystemExit) as exc:
        _run(tool, root, [str(tmp_path / 'nothing'), CONFIG, '--out-dir',
                          str(tmp_path / 'o')])
    assert str(exc.value.code) == ('infer.py: error: FileNotFoundError: '
                                   f'input not found: {tmp_path / "nothing"}')
    with pytest.raises(SystemExit) as exc:
        tool.parse_args(['x.png', CONFIG, '--out-dir', 'o',
                         '--batch-size', '0'])
    assert exc.value.code == 2
