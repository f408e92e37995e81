"""A random 2D keypoint window and its 3D centre frame, shared by the
sequence transform tests."""
import numpy as np

H, W = 90, 120
FOCAL = 150.0


def project(points3d):
    """Pinhole with the principal point at the image centre (px)."""
    centre = np.array([(W - 1) / 2.0, (H - 1) / 2.0])
    return FOCAL * points3d[..., :2] / points3d[..., 2:] + centre


def sequence_results(seed=0, seq_len=5):
    rng = np.random.default_rng(seed)
    seq3d = rng.normal(0, 0.4, (seq_len, 17, 3)) + [0.2, -0.1, 4.0]
    seq2d = project(seq3d).astype(np.float32)
    centre = seq_len // 2
    return dict(
        img=rng.integers(0, 255, (H, W, 3), dtype=np.uint8),
        ori_shape=(H, W),
        bbox_center=np.array([60.0, 40.0], np.float32),
        bbox_scale=70.0,
        keypoints2d=seq2d[centre].copy(),
        keypoints2d_visible=np.ones(17, np.float32),
        keypoints3d=seq3d[centre].astype(np.float32),
        keypoints3d_visible=np.ones(17, np.float32),
        keypoints2d_seq=seq2d,
        keypoints2d_seq_visible=rng.random((seq_len, 17)).astype(np.float32),
        seq_frame_ids=np.arange(seq_len) * 5 + 1,
        sequence_name='S1/images/S1_Walking.54138969'), seq3d
