"""MeshInferencer over folders, videos and detection files (randomly
initialised demo models: the tiny PC-HMR video model for images and videos,
Key2Mesh for detections)."""
import json
import os.path as osp

import cv2
import numpy as np
import pytest

from mpt_plugin.apis import (ImageReadError, InferenceInputError,
                             MeshInferencer, inference_keypoints,
                             inference_mesh)
from mpt_plugin.apis.inference import mesh_stream_keypoints
from mpt_plugin.datasets.human_data_io import load_human_data

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _frame(seed, height=96, width=72):
    rng = np.random.default_rng(seed)
    img = (rng.random((height, width, 3)) * 80).astype(np.uint8)
    cv2.circle(img, (width // 2, 20), 8, (200, 210, 230), -1)
    cv2.rectangle(img, (width // 2 - 10, 28), (width // 2 + 10, 70),
                  (30, 50, 200), -1)
    return img


def _mesh_vertices(path):
    lines = open(path).read().splitlines()
    if path.endswith('.ply'):
        num = int(next(ln for ln in lines if ln.startswith(
            'element vertex')).split()[-1])
        start = lines.index('end_header') + 1
        return np.array([[float(t) for t in ln.split()]
                         for ln in lines[start:start + num]])
    return np.array([[float(t) for t in ln.split()[1:]] for ln in lines
                     if ln.startswith('v ')])


def test_folder_skips_bad_files_and_writes_everything(video_model,
                                                      tmp_path):
    folder = tmp_path / 'images'
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f'img_{i}.png'), _frame(i))
    (folder / 'img_1b.jpg').write_bytes(b'garbage, not a jpeg')
    (folder / 'readme.txt').write_text('not an image')
    boxes = {'img_0.png': [[5, 5, 60, 90, 1.0], [20, 0, 72, 96, 0.5]],
             'img_2.png': []}
    inferencer = MeshInferencer(video_model, batch_size=2)
    out = inferencer(str(folder), tmp_path / 'out', bboxes=boxes,
                     save_mesh='ply', show_progress=False)
    failed = dict(out['failed'])
    assert set(failed) == {str(folder / 'img_1b.jpg'),
                           str(folder / 'readme.txt')}
    assert 'cannot read image' in failed[str(folder / 'img_1b.jpg')]
    assert 'not an image file' in failed[str(folder / 'readme.txt')]
    # img_0: 2 boxes, img_1: whole image, img_2: nobody
    assert out['num_people'] == 3
    assert sorted(osp.basename(p) for p in out['overlays']) == [
        'img_0.png', 'img_1.png', 'img_2.png']
    for path in out['overlays']:
        assert cv2.imread(path).shape == (96, 72, 3)
    assert sorted(osp.basename(p) for p in out['meshes']) == [
        'img_0_00.ply', 'img_0_01.ply', 'img_1_00.ply']

    data = load_human_data(out['results'], required=('image_path', ))
    assert list(data['image_path']) == ['img_0.png', 'img_0.png',
                                        'img_1.png']
    np.testing.assert_array_equal(data['person_id'], [0, 1, 0])
    np.testing.assert_array_equal(data['frame_id'], [0, 0, 1])
    assert 'smpl' not in data  # PC-HMR calibrates a mesh: no parameters
    assert data['verts'].shape == (3, 6890, 3)
    np.testing.assert_allclose(data['bboxes_xyxy'][1],
                               [20, 0, 72, 96, 0.5])
    np.testing.assert_allclose(data['bbox_xywh'][1], [20, 0, 52, 96, 0.5])
    # the results are the API's output
    api = inference_mesh(video_model,
                         [str(folder / 'img_0.png'),
                          str(folder / 'img_1.png')],
                         [boxes['img_0.png'], None])
    api = sum(api, [])
    np.testing.assert_allclose(
        data['verts'], np.concatenate([s.pred_instances.vertices
                                       for s in api]), atol=1e-5)
    np.testing.assert_allclose(
        data['pred_cams'], np.concatenate([s.pred_instances.camera
                                           for s in api]), atol=1e-5)
    # the PLY holds the same mesh, turned y-up
    ply = _mesh_vertices(out['meshes'][0])
    np.testing.assert_allclose(ply, data['verts'][0] * [1, -1, -1],
                               atol=2e-6)


def _write_video(path, frames, fps=10.0):
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'),
                             fps, (width, height))
    assert writer.isOpened()
    for frame in frames:
        writer.write(frame)
    writer.release()


def _read_video(path):
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return frames


def test_video_frames_in_order_with_temporal_windows(video_model, tmp_path):
    video = tmp_path / 'walk.mp4'
    _write_video(video, [_frame(10 + i) for i in range(5)])
    frames = _read_video(video)  # as decoded (lossy codec)
    assert len(frames) == 5
    box = [[4, 2, 68, 94]]
    out = MeshInferencer(video_model, batch_size=2)(
        str(video), tmp_path / 'out', bboxes=box, show_progress=False)
    data = load_human_data(out['results'], required=('image_path', ))
    np.testing.assert_array_equal(data['frame_id'], np.arange(5))
    assert set(data['image_path']) == {'walk.mp4'}
    overlay = _read_video(tmp_path / 'out' / 'overlays' / 'walk.mp4')
    assert len(overlay) == 5 and overlay[0].shape == (96, 72, 3)
    assert len(out['meshes']) == 5
    assert osp.basename(out['meshes'][3]) == 'walk_000003_00.obj'

    # frame f's lifter read the 9-frame window of the mesh stream's 2D of
    # frames f-4 .. f+4, clamped to the video's ends
    seq_len = video_model.lifter_seq_len
    assert seq_len == 9
    first = inference_mesh(video_model, frames, [box] * 5,
                           keypoints2d_seq=[np.zeros((1, 9, 17, 2))] * 5)
    kp2d = mesh_stream_keypoints(video_model, [s[0] for s in first])
    windows = [kp2d[np.clip(np.arange(f - 4, f + 5), 0, 4)][None]
               for f in range(5)]
    api = inference_mesh(video_model, frames, [box] * 5,
                         keypoints2d_seq=windows)
    np.testing.assert_allclose(
        data['verts'], np.concatenate([s[0].pred_instances.vertices
                                       for s in api]), atol=1e-5)


def test_video_frame_with_bad_boxes_is_skipped(video_model, tmp_path):
    video = tmp_path / 'clip.avi'
    _write_video(video, [_frame(20 + i) for i in range(3)])
    boxes = {'1': [[500, 500, 600, 600]]}  # frame 1: outside the frame
    out = MeshInferencer(video_model)(str(video), tmp_path / 'out',
                                      bboxes=boxes, save_mesh=None,
                                      show_progress=False)
    assert [name for name, _ in out['failed']] == [f'{video} frame 1']
    assert 'outside the image' in out['failed'][0][1]
    np.testing.assert_array_equal(out['data']['frame_id'], [0, 2])
    assert len(_read_video(tmp_path / 'out' / 'overlays' / 'clip.mp4')) == 3


def test_detections_file_with_key2mesh(key2mesh, tmp_path):
    rng = np.random.default_rng(0)
    kps = rng.uniform(20, 150, (3, 17, 2))
    instances = [dict(keypoints=k.tolist(), keypoint_scores=[0.8] * 17)
                 for k in kps]
    path = tmp_path / 'frame_000.json'
    path.write_text(json.dumps(instances))
    out = MeshInferencer(key2mesh)(str(path), tmp_path / 'out',
                                   show_progress=False)
    assert out['overlays'] == [] and len(out['meshes']) == 3
    data = load_human_data(out['results'], required=('image_path', ))
    assert data['smpl']['body_pose'].shape == (3, 23, 3)
    assert data['smpl']['global_orient'].shape == (3, 3)
    assert data['smpl']['betas'].shape == (3, 10)
    np.testing.assert_array_equal(data['person_id'], [0, 1, 2])
    api = inference_keypoints(key2mesh, str(path))
    np.testing.assert_allclose(
        data['verts'], np.concatenate([s.pred_instances.vertices
                                       for s in api]), atol=1e-6)
    np.testing.assert_allclose(
        data['smpl']['body_pose'].reshape(3, 69),
        np.concatenate([s.pred_instances.smpl_body_pose for s in api]),
        atol=1e-6)


def test_bad_inputs_raise_naming_them(video_model, key2mesh, tmp_path):
    image = tmp_path / 'one.png'
    cv2.imwrite(str(image), _frame(0))
    broken = tmp_path / 'broken.png'
    broken.write_bytes(b'not a png')
    fake_video = tmp_path / 'fake.mp4'
    fake_video.write_bytes(b'not a video')
    inferencer = MeshInferencer(video_model)
    out = tmp_path / 'out'
    with pytest.raises(ImageReadError, match='broken.png'):
        inferencer(str(broken), out, show_progress=False)
    with pytest.raises(ImageReadError, match='cannot read video .*fake.mp4'):
        inferencer(str(fake_video), out, show_progress=False)
    with pytest.raises(FileNotFoundError, match='input not found'):
        inferencer(str(tmp_path / 'nothing'), out, show_progress=False)
    with pytest.raises(InferenceInputError, match='box 0 .* outside'):
        inferencer(str(image), out, bboxes=[[100, 100, 200, 200]],
                   show_progress=False)
    boxes = tmp_path / 'boxes.json'
    boxes.write_text('{"one.png": [[1, 2, 3, 4]')
    with pytest.raises(InferenceInputError, match='boxes.json: not valid'):
        inferencer(str(image), out, bboxes=str(boxes), show_progress=False)
    with pytest.raises(ValueError, match='save_mesh'):
        inferencer(str(image), out, save_mesh='stl', show_progress=False)
    with pytest.raises(TypeError, match='got detection file'):
        inferencer(str(tmp_path / 'boxes.json'), out, show_progress=False)
    with pytest.raises(TypeError, match='MMPose predictions'):
        MeshInferencer(key2mesh)(str(image), out, show_progress=False)
