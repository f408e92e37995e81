"""mpt_plugin.apis.inference: init_model, inference_mesh and
inference_keypoints on randomly initialised demo models (the demo configs
read the synthetic body model through ``data/synthetic``, linked to the
session's assets in a working folder)."""
import json
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData
from mmpose.structures import PoseDataSample

from mpt_plugin.apis import (CheckpointMismatchError, ImageReadError,
                             InferenceInputError, inference_keypoints,
                             inference_mesh, init_model)
from mpt_plugin.apis.inference import mesh_stream_keypoints, track_windows
from mpt_plugin.geometry.cameras import camera_crop_to_image
from mpt_plugin.datasets.key2mesh_keypoints_dataset import \
    Key2MeshKeypointsFormatError
from mpt_plugin.registry import MODELS
from mpt_plugin.utils.safe_checkpoint import CheckpointNotFoundError

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _config(name):
    return osp.join(REPO, 'configs', f'{name}.py')


@pytest.fixture(scope='module')
def mpt(build):
    return build('mpt_finetune_demo')


def _person_image(height=160, width=120, seed=0):
    """A stick figure on a textured background (BGR uint8)."""
    rng = np.random.default_rng(seed)
    img = (rng.random((height, width, 3)) * 60 + 40).astype(np.uint8)
    cx = width // 2
    cv2.circle(img, (cx, 30), 12, (180, 200, 230), -1)
    cv2.rectangle(img, (cx - 15, 42), (cx + 15, 95), (40, 60, 200), -1)
    for dx in (-8, 8):
        cv2.line(img, (cx + dx, 95), (cx + 2 * dx, 150), (90, 60, 30), 6)
        cv2.line(img, (cx + 2 * dx, 48), (cx + 5 * dx, 90), (40, 60, 200), 5)
    return img


def _coco_detections(num, seed=0):
    """(num, 17, 3) plausible COCO-17 px + scores (a standing person)."""
    base = np.array([[60, 30], [56, 26], [64, 26], [52, 28], [68, 28],
                     [45, 50], [75, 50], [40, 75], [80, 75], [38, 98],
                     [82, 98], [50, 100], [70, 100], [49, 130], [71, 130],
                     [48, 158], [72, 158]], np.float64)
    rng = np.random.default_rng(seed)
    kps = base[None] + rng.normal(0, 2, (num, 17, 2)) + \
        rng.uniform(0, 40, (num, 1, 2))
    return np.concatenate([kps, np.full((num, 17, 1), 0.9)], axis=-1)


# ---------------------------------------------------------------------------
# init_model
# ---------------------------------------------------------------------------


def test_init_model_loads_weights_and_names_mismatches(build, tmp_path):
    model = build('key2mesh_pretrain_demo')
    assert not model.training and model.cfg.model.type == 'Key2MeshEstimator'
    state = {k: v + 0.5 if v.is_floating_point() else v
             for k, v in model.state_dict().items()}
    ckpt = str(tmp_path / 'k2m.pth')
    torch.save({'state_dict': {f'module.{k}': v for k, v in state.items()},
                'meta': {}}, ckpt)
    loaded = build('key2mesh_pretrain_demo', ckpt)
    for key, value in loaded.state_dict().items():
        torch.testing.assert_close(value, state[key])

    # other keys: the PC-HMR demo's model
    with pytest.raises(CheckpointMismatchError) as err:
        build('pc_hmr_parallel_key2mesh_demo', ckpt)
    assert ckpt in str(err.value) and 'pc_hmr_parallel_key2mesh_demo.py' in \
        str(err.value) and 'missing' in str(err.value)
    # same keys, other shapes
    with pytest.raises(CheckpointMismatchError, match='size mismatch'):
        build('key2mesh_pretrain_demo', ckpt,
               cfg_options={'model.regressor.hidden_dim': 128})
    with pytest.raises(CheckpointNotFoundError):
        build('key2mesh_pretrain_demo',
               str(tmp_path / 'missing.pth'))


def test_init_model_unwraps_domain_adaptation(workspace, build, tmp_path):
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(workspace)
        cfg = Config.fromfile(_config('key2mesh_da_demo'))
        init_default_scope('mmpose')
        wrapper = MODELS.build(cfg.model)
    state = {k: v + 1.0 if v.is_floating_point() else v
             for k, v in wrapper.state_dict().items()}
    ckpt = str(tmp_path / 'da.pth')
    torch.save({'state_dict': state}, ckpt)
    model = build('key2mesh_da_demo', ckpt)
    assert type(model).__name__ == 'Key2MeshEstimator'
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, state[f'estimator.{key}'])


# ---------------------------------------------------------------------------
# inference_mesh
# ---------------------------------------------------------------------------


def test_inference_mesh_projection_lies_in_the_box(mpt):
    img = _person_image()
    box = np.array([25.0, 10.0, 95.0, 160.0])  # xyxy
    samples = inference_mesh(mpt, img, box[None])
    assert len(samples) == 1
    sample = samples[0]
    pred = sample.pred_instances
    assert pred.vertices.shape == (1, 6890, 3)
    assert pred.vertices.dtype == np.float32
    assert pred.keypoints.shape == (1, 17, 2)
    assert pred.camera.shape == pred.camera_image.shape == (1, 3)
    np.testing.assert_allclose(pred.bboxes[0], box)
    assert 'gt_instances' not in sample
    assert sample.metainfo['person_id'] == 0
    # every vertex projects into the box
    verts = pred.vertices[0]
    s_px, tx, ty = pred.camera_image[0]
    uv = s_px * (verts[:, :2] + np.array([tx, ty]))
    assert (uv[:, 0] >= box[0]).all() and (uv[:, 0] <= box[2]).all()
    assert (uv[:, 1] >= box[1]).all() and (uv[:, 1] <= box[3]).all()
    # keypoints: the regressed H3.6M joints through the crop camera, crop
    # pixels (x_norm + 1) S / 2 - 0.5 mapped back by the crop's affine
    reg = mpt.joint_regressor.cpu().numpy()
    joints = reg @ verts
    s, t = pred.camera[0, 0], pred.camera[0, 1:]
    size = sample.metainfo['input_size']
    crop_px = (s * (joints[:, :2] + t) + 1.0) * size / 2 - 0.5
    affine = np.asarray(sample.metainfo['crop_affine'], np.float64)
    image_px = (crop_px - affine[:, 2]) @ np.linalg.inv(affine[:, :2]).T
    np.testing.assert_allclose(pred.keypoints[0], image_px, atol=1e-3)


def test_inference_mesh_batches_formats_and_defaults(mpt, tmp_path):
    img_a, img_b = _person_image(seed=1), _person_image(140, 100, seed=2)
    path_b = str(tmp_path / 'b.png')
    cv2.imwrite(path_b, img_b)
    boxes_a = np.array([[20, 10, 100, 150, 0.7], [0, 0, 60, 80, 0.3]])
    xywh_a = boxes_a.copy()
    xywh_a[:, 2:4] -= xywh_a[:, :2]
    one = inference_mesh(mpt, [img_a, path_b], [boxes_a, None],
                         batch_size=1)
    many = inference_mesh(mpt, [img_a, path_b], [xywh_a, None],
                          bbox_format='xywh', batch_size=3)
    assert [len(x) for x in one] == [len(x) for x in many] == [2, 1]
    for a, b in zip(sum(one, []), sum(many, [])):
        np.testing.assert_allclose(a.pred_instances.vertices,
                                   b.pred_instances.vertices, atol=1e-5)
    np.testing.assert_allclose(one[0][1].pred_instances.bbox_scores, [0.3])
    assert one[0][1].metainfo['person_id'] == 1
    assert one[1][0].metainfo['img_path'] == path_b
    assert one[1][0].metainfo['image_index'] == 1
    # no box: the whole image
    np.testing.assert_allclose(one[1][0].pred_instances.bboxes[0],
                               [0, 0, 100, 140])


def test_inference_mesh_bad_inputs_are_named(mpt, key2mesh, tmp_path):
    img = _person_image()
    with pytest.raises(FileNotFoundError, match='cannot read image'):
        inference_mesh(mpt, str(tmp_path / 'missing.jpg'))
    broken = tmp_path / 'broken.jpg'
    broken.write_bytes(b'\xff\xd8 not a jpeg')
    with pytest.raises(ImageReadError, match='broken.jpg'):
        inference_mesh(mpt, str(broken))
    with pytest.raises(ImageReadError, match=r'\(H, W, 3\) uint8'):
        inference_mesh(mpt, img.astype(np.float32))
    cases = [
        ([[0, 0, 50, 50], [130, 10, 200, 90]], 'box 1 .* outside the image'),
        ([[10, 10, 10, 50]], 'box 0 .* width and height must be > 0'),
        ([[10, np.nan, 50, 50]], 'box 0 .* finite'),
        ([[1, 2, 3]], r'shape \(N, 4\) or \(N, 5\)'),
    ]
    for boxes, message in cases:
        with pytest.raises(InferenceInputError, match=message):
            inference_mesh(mpt, img, boxes)
    with pytest.raises(InferenceInputError, match='image 1: box 0'):
        inference_mesh(mpt, [img, img], [None, [[-50, -50, -1, -1]]])
    with pytest.raises(InferenceInputError, match='2 images but 1 box'):
        inference_mesh(mpt, [img, img], [None])
    with pytest.raises(InferenceInputError, match='keypoints2d_seq'):
        inference_mesh(mpt, img, keypoints2d_seq=np.zeros((1, 1, 17, 2)))
    with pytest.raises(TypeError, match='inference_keypoints'):
        inference_mesh(key2mesh, img)


def test_video_lifter_static_window_is_its_own_2d(video_model):
    model = video_model
    img = _person_image()
    box = [[20, 5, 100, 155]]
    static = inference_mesh(model, img, box)[0]
    seq_len = model.lifter_seq_len
    first = inference_mesh(model, img, box,
                           keypoints2d_seq=np.zeros((1, seq_len, 17, 2)))
    kp2d = mesh_stream_keypoints(model, first)
    window = np.repeat(kp2d[:, None], seq_len, axis=1)
    explicit = inference_mesh(model, img, box, keypoints2d_seq=window)[0]
    np.testing.assert_allclose(static.pred_instances.vertices,
                               explicit.pred_instances.vertices, atol=1e-5)
    # the window is read: another window, another calibration
    moved = inference_mesh(model, img, box,
                           keypoints2d_seq=window + 15.0)[0]
    assert np.abs(moved.pred_instances.vertices -
                  static.pred_instances.vertices).max() > 1e-4
    with pytest.raises(InferenceInputError, match=r'\(N boxes, T, K, 2\)'):
        inference_mesh(model, img, box,
                       keypoints2d_seq=np.zeros((1, 3, 17, 2)))


def test_track_windows_are_centred_and_edge_replicated():
    person = np.array([0, 0, 0, 1, 1])
    frame = np.array([0, 1, 2, 0, 2])
    kps = np.arange(5, dtype=np.float32)[:, None, None] * np.ones((5, 2, 2))
    win = track_windows(person, frame, kps, 3)
    assert win.shape == (5, 3, 2, 2)
    np.testing.assert_array_equal(win[:, :, 0, 0],
                                  [[0, 0, 1], [0, 1, 2], [1, 2, 2],
                                   [3, 3, 4], [3, 4, 4]])


# ---------------------------------------------------------------------------
# inference_keypoints
# ---------------------------------------------------------------------------


def _mmpose_json(path, detections, bbox=True):
    """MMPoseInferencer's image prediction file: a list of instances."""
    instances = []
    for det in detections:
        inst = dict(keypoints=det[:, :2].tolist(),
                    keypoint_scores=det[:, 2].tolist())
        if bbox:
            lo, hi = det[:, :2].min(0) - 5, det[:, :2].max(0) + 5
            inst.update(bbox=[[*lo.tolist(), *hi.tolist()]], bbox_score=0.9)
        instances.append(inst)
    with open(path, 'w') as fh:
        json.dump(instances, fh)
    return str(path)


def test_inference_keypoints_one_mesh_per_detection(key2mesh, tmp_path):
    dets = _coco_detections(5)
    path = _mmpose_json(tmp_path / 'preds.json', dets)
    from_json = inference_keypoints(key2mesh, path)
    assert len(from_json) == 5
    for i, sample in enumerate(from_json):
        assert sample.pred_instances.vertices.shape == (1, 6890, 3)
        assert sample.metainfo['source'] == 'preds.json'
        assert sample.metainfo['instance_id'] == i
        lo, hi = dets[i, :, :2].min(0) - 5, dets[i, :, :2].max(0) + 5
        np.testing.assert_allclose(sample.pred_instances.bboxes[0],
                                   [*lo, *hi], atol=1e-3)
    # arrays (batched 2 at a time) and mmpose PoseDataSamples agree
    from_array = inference_keypoints(key2mesh, dets, batch_size=2)
    pose_samples = []
    for det in np.split(dets, [2]):
        s = PoseDataSample()
        s.pred_instances = InstanceData(keypoints=det[:, :, :2],
                                        keypoint_scores=det[:, :, 2])
        pose_samples.append(s)
    from_samples = inference_keypoints(key2mesh, pose_samples)
    for a, b, c in zip(from_json, from_array, from_samples):
        np.testing.assert_allclose(a.pred_instances.vertices,
                                   b.pred_instances.vertices, atol=1e-5)
        np.testing.assert_allclose(a.pred_instances.vertices,
                                   c.pred_instances.vertices, atol=1e-5)
    # a video file of MMPoseInferencer: frames with instances
    video = [dict(frame_id=f, instances=json.load(open(path))[f:f + 2])
             for f in range(2)]
    with open(tmp_path / 'video.json', 'w') as fh:
        json.dump(video, fh)
    frames = inference_keypoints(key2mesh, str(tmp_path / 'video.json'))
    assert [s.metainfo['frame_id'] for s in frames] == [0, 0, 1, 1]


def test_inference_keypoints_fields(key2mesh):
    dets = _coco_detections(3, seed=4)
    samples = inference_keypoints(key2mesh, dets, image_size=(160, 200))
    reg = key2mesh.joint_regressor.cpu().numpy()
    body = key2mesh.regressor.body_model
    for sample in samples:
        pred = sample.pred_instances
        verts = pred.vertices[0].astype(np.float64)
        joints = reg @ verts
        np.testing.assert_allclose(joints[0], 0.0, atol=1e-5)  # pelvis
        np.testing.assert_allclose(pred.joints_h36m[0], joints, atol=1e-5)
        cam = pred.camera_image[0]
        np.testing.assert_allclose(
            pred.keypoints[0], cam[0] * (joints[:, :2] + cam[1:]), atol=1e-3)
        # crop camera <-> image camera through the detection's square box
        box = torch.tensor(pred.bboxes)
        centre = (box[:, :2] + box[:, 2:]) / 2
        side = (box[:, 2:] - box[:, :2]).amax(1)
        np.testing.assert_allclose(
            camera_crop_to_image(torch.tensor(pred.camera), centre,
                                 side).numpy(), pred.camera_image, rtol=1e-4)
        # the SMPL parameters re-pose the mesh (camera axes) up to a shift
        with torch.no_grad():
            out = body(betas=torch.tensor(pred.smpl_betas),
                       global_orient=torch.tensor(pred.smpl_global_orient),
                       body_pose=torch.tensor(pred.smpl_body_pose))
        posed = out['vertices'][0].double().numpy()
        posed = posed - (reg @ posed)[:1]
        np.testing.assert_allclose(posed, verts, atol=1e-4)
        assert sample.metainfo['ori_shape'] == (200, 160)


def test_inference_keypoints_bad_inputs_are_named(key2mesh, mpt, tmp_path):
    dets = _coco_detections(2)
    with pytest.raises(InferenceInputError,
                       match="18 joints .* convention 'coco' has 17"):
        inference_keypoints(key2mesh, np.zeros((2, 18, 3)))
    path18 = _mmpose_json(tmp_path / 'op18.json',
                          np.zeros((1, 18, 3)) + 1.0)
    with pytest.raises(Key2MeshKeypointsFormatError, match='op18.json'):
        inference_keypoints(key2mesh, path18)
    with pytest.raises(KeyError, match='unknown keypoint convention'):
        inference_keypoints(key2mesh, dets, convention='coco17')
    bad = dets.copy()
    bad[1, 3, 0] = np.nan
    with pytest.raises(InferenceInputError, match='detection 1 .* joint 3'):
        inference_keypoints(key2mesh, bad)
    with pytest.raises(InferenceInputError, match='detection 0 .* outside'):
        inference_keypoints(key2mesh, dets + 1000.0, image_size=(640, 480))
    with pytest.raises(InferenceInputError, match=r'\(N, K, 2\)'):
        inference_keypoints(key2mesh, np.zeros((2, 17, 4)))
    with pytest.raises(FileNotFoundError, match='nope.json'):
        inference_keypoints(key2mesh, str(tmp_path / 'nope.json'))
    with pytest.raises(TypeError, match='inference_mesh'):
        inference_keypoints(mpt, dets)


def test_pc_hmr_key2mesh_stream_on_keypoints(build):
    model = build('pc_hmr_parallel_key2mesh_demo')
    dets = _coco_detections(3, seed=7)
    samples = inference_keypoints(model, dets)
    assert len(samples) == 3
    reg = model.joint_regressor.cpu().numpy()
    for sample in samples:
        pred = sample.pred_instances
        assert pred.vertices.shape == (1, 6890, 3)
        assert 'smpl_betas' not in pred  # a calibrated mesh has no SMPL
        np.testing.assert_allclose(reg @ pred.vertices[0].astype(float),
                                   pred.joints_h36m[0], atol=1e-5)
    # OpenPose-18 input (the regressor's own convention; the neck is the
    # shoulders' midpoint)
    op18 = np.concatenate([dets[:, :1], dets[:, 5:7].mean(1, keepdims=True),
                           dets[:, [6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13,
                                    15, 2, 1, 4, 3]]], axis=1)
    same = inference_keypoints(model, op18, convention='openpose_coco18')
    for a, b in zip(samples, same):
        np.testing.assert_allclose(a.pred_instances.vertices,
                                   b.pred_instances.vertices, atol=1e-5)


def test_inference_mesh_on_a_hand_model(synthetic_assets, tmp_path):
    """The FreiHAND test config (HRNetV2-W18 hand maps -> hand head) through
    the same API: 778 vertices, 21 keypoints from the mesh's FreiHAND
    joints, MANO faces for drawing and mesh files."""
    from mpt_plugin.apis.inference import draw_meshes, find_faces, write_obj
    from mpt_plugin.synthetic.freihand_images import write_synthetic_freihand
    bm = str(synthetic_assets / 'body_models')
    write_synthetic_freihand(tmp_path / 'freihand', bm, num_training=1,
                             num_evaluation=1, seed=3)
    image = str(tmp_path / 'freihand' / 'evaluation' / 'rgb' /
                '00000000.jpg')
    torch.manual_seed(0)
    model = init_model(_config('mpt_hand_test_freihand'), cfg_options={
        'model.hand_model.model_path': bm,
        'model.data_preprocessor.hand_model.model_path': bm,
        'model.mesh_sampler': f'{bm}/mano_downsampling.npz',
        'model.head.embed_dims': (32, 16, 8),
        'model.head.hidden_dims': (32, 16, 8), 'model.head.num_layers': 1,
        'model.head.input_size': 56, 'model.backbone.output_size': 56,
        'model.head.attn_drop_rate': 0.0})
    box = np.array([[22.0, 22.0, 202.0, 202.0]])  # FreiHAND's central box
    sample = inference_mesh(model, image, box)[0]
    pred = sample.pred_instances
    assert pred.vertices.shape == (1, 778, 3)
    assert pred.keypoints.shape == (1, 21, 2)
    # the 21 keypoints are the mesh's FreiHAND joints through the crop
    # camera, mapped back to the image by the crop's affine
    joints = model.joint_regressor.cpu().numpy() @ pred.vertices[0]
    s, t = pred.camera[0, 0], pred.camera[0, 1:]
    size = sample.metainfo['input_size']
    crop_px = (s * (joints[:, :2] + t) + 1.0) * size / 2 - 0.5
    affine = np.asarray(sample.metainfo['crop_affine'], np.float64)
    image_px = (crop_px - affine[:, 2]) @ np.linalg.inv(affine[:, :2]).T
    np.testing.assert_allclose(pred.keypoints[0], image_px, atol=1e-3)
    faces = find_faces(model)
    assert faces.shape == (1538, 3)
    drawn = draw_meshes(cv2.imread(image), [sample], faces)
    assert drawn.shape == (224, 224, 3)
    write_obj(str(tmp_path / 'hand.obj'), pred.vertices[0], faces)
    assert (tmp_path / 'hand.obj').stat().st_size > 0
    # the pre-training model reads hand joints, not images: named
    pre = init_model(_config('mpt_hand_pretrain_demo'), cfg_options={
        'model.hand_model.model_path': bm,
        'model.data_preprocessor.hand_model.model_path': bm,
        'model.mesh_sampler': f'{bm}/mano_downsampling.npz'})
    with pytest.raises(TypeError, match='MPTHandFinetuneEstimator'):
        inference_mesh(pre, image, box)
