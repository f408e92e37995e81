"""Random samples and drawn dots shared by the mesh transform tests."""
import cv2
import numpy as np

K = 17  # h36m
MIRROR = np.array([-1.0, 1.0, 1.0])


def random_sample(rng, h=48, w=64, with_img=True):
    """A data_info-like dict (contract fields) with random labels."""
    out = dict(
        img_path='x.jpg',
        sample_idx=3,
        dataset_name='toy',
        bbox_xywh=np.array([10, 5, 30, 38], np.float32),
        bbox_center=np.array([25, 24], np.float32),
        bbox_scale=38.0,
        keypoints2d=(rng.random((K, 2)) * [w, h]).astype(np.float32),
        keypoints2d_visible=rng.random(K).astype(np.float32),
        keypoints3d=(rng.normal(size=(K, 3)) + [0, 0, 4]).astype(np.float32),
        keypoints3d_visible=rng.random(K).astype(np.float32),
        smpl_global_orient=rng.normal(size=3).astype(np.float32),
        smpl_body_pose=(0.3 * rng.normal(size=69)).astype(np.float32),
        smpl_betas=rng.normal(size=10).astype(np.float32),
        has_smpl=np.float32(1),
        gender=1)
    if with_img:
        out['img'] = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    return out


def blob_centroids(img, thresh):
    """Intensity-weighted centroids (N, 2) (x, y) of the connected blobs of
    a single-channel float image, sorted by x."""
    mask = (img > thresh).astype(np.uint8)
    num, labels = cv2.connectedComponents(mask, connectivity=8)
    ys, xs = np.nonzero(labels)
    lab, wgt = labels[ys, xs], img[ys, xs].astype(np.float64)
    total = np.bincount(lab, wgt, num)[1:]
    cx = np.bincount(lab, wgt * xs, num)[1:] / total
    cy = np.bincount(lab, wgt * ys, num)[1:] / total
    cents = np.stack([cx, cy], 1)
    return cents[np.argsort(cents[:, 0])]


def draw_gaussians(shape, centres, sigma=2.0):
    """(H, W) float32 image with a unit Gaussian at each (x, y) centre."""
    ys, xs = np.mgrid[:shape[0], :shape[1]].astype(np.float64)
    img = np.zeros(shape)
    for x, y in centres:
        img += np.exp(-((xs - x)**2 + (ys - y)**2) / (2 * sigma**2))
    return img.astype(np.float32)
