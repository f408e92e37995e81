"""Virtual cameras for MoCap pre-training (MPT, appendices A and B).

MPT projects each MoCap mesh with one of the four Human3.6M cameras of subject
S1, optionally with four more interpolated between neighbouring cameras (the
paper's 8-view setting). Meshes are centred at the world origin; the H3.6M
cameras stand about 5 m away at a height of about 1.5 m, i.e. above the head
of a body centred at the origin, looking slightly down at it, as the paper
describes.

Conventions (checked numerically on the S1 calibration):
    - World frame: z up, metres (the H3.6M and AMASS world).
    - ``R`` (3, 3) and camera centre ``T`` (3,): ``X_cam = (X_world - T) @ R``,
      i.e. ``X_cam = R^T (X_world - T)``. Camera frame: x right, y down,
      z forward (OpenCV), metres.
    - ``f`` (2,), ``c`` (2,): focal length and principal point in pixels.
      ``u = f * X_cam[:2] / X_cam[2] + c`` (:func:`~.cameras.project_points`).
      Lens distortion is ignored (the virtual images are never rendered).
"""
import json
import os
from dataclasses import dataclass
from typing import Optional, Union

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

from .cameras import project_points

__all__ = ['VirtualCameras', 'load_h36m_cameras', 'interpolate_cameras',
           'build_virtual_cameras', 'H36M_S1_CAMERAS']

#: The four Human3.6M S1 cameras shipped with the package (calibration as
#: distributed with MMPose's H3.6M test data, converted to JSON).
H36M_S1_CAMERAS = os.path.join(os.path.dirname(__file__),
                               'h36m_s1_cameras.json')


@dataclass
class VirtualCameras:
    """A set of N pinhole cameras (numpy, float64).

    Attributes:
        R (np.ndarray): (N, 3, 3) world-to-camera rotations in the row-vector
            convention ``X_cam = (X_world - T) @ R``.
        T (np.ndarray): (N, 3) camera centres in world coordinates, metres.
        f (np.ndarray): (N, 2) focal lengths, pixels.
        c (np.ndarray): (N, 2) principal points, pixels.
        image_size (np.ndarray): (N, 2) width and height, pixels.
        names (list[str]): a name per camera.
    """
    R: np.ndarray
    T: np.ndarray
    f: np.ndarray
    c: np.ndarray
    image_size: np.ndarray
    names: list

    def __len__(self) -> int:
        return len(self.R)

    def world_to_camera(self, points_world: np.ndarray,
                        cam_idx: np.ndarray) -> np.ndarray:
        """Points (B, K, 3) world metres, cameras (B,) -> (B, K, 3) camera."""
        cam_idx = np.asarray(cam_idx)
        return np.einsum('bkj,bji->bki',
                         points_world - self.T[cam_idx][:, None],
                         self.R[cam_idx])

    def rotate_to_camera(self, points_world: np.ndarray,
                         cam_idx: np.ndarray) -> np.ndarray:
        """Rotation only (for root-relative quantities): (B, K, 3)."""
        return np.einsum('bkj,bji->bki', points_world,
                         self.R[np.asarray(cam_idx)])

    def project(self, points_cam: np.ndarray,
                cam_idx: np.ndarray) -> np.ndarray:
        """Perspective projection of (B, K, 3) camera points -> (B, K, 2) px.

        Raises:
            ValueError: if a point lies at or behind the camera plane.
        """
        cam_idx = np.asarray(cam_idx)
        if np.any(points_cam[..., 2] <= 1e-6):
            raise ValueError('points behind the virtual camera: the body must '
                             'be centred near the world origin (metres)')
        return project_points(points_cam, self.f[cam_idx][:, None],
                              self.c[cam_idx][:, None])

    def azimuth_deg(self) -> np.ndarray:
        """(N,) azimuth of each camera centre around the world z axis."""
        return np.degrees(np.arctan2(self.T[:, 1], self.T[:, 0]))


def load_h36m_cameras(path: Union[str, os.PathLike]) -> VirtualCameras:
    """Read Human3.6M cameras from a JSON file.

    The file holds ``{"cameras": {name: {"R": 3x3, "T": 3x1, "f": 2x1,
    "c": 2x1, "w": int, "h": int, ...}}}`` (``../shared/reference/
    h36m_s1_cameras.json`` layout; distortion keys are ignored).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: a key is missing or has the wrong shape (names the file,
            camera and key).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f'camera file not found: {path}')
    with open(path) as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f'{path}: not valid JSON ({e})') from e
    cams = data.get('cameras') if isinstance(data, dict) else None
    if not isinstance(cams, dict) or not cams:
        raise ValueError(f'{path}: expected a non-empty "cameras" object')
    shapes = dict(R=(3, 3), T=(3, ), f=(2, ), c=(2, ))
    out = {k: [] for k in shapes}
    sizes, names = [], []
    for name, cam in cams.items():
        for key, shape in shapes.items():
            if key not in cam:
                raise ValueError(f'{path}: camera {name} has no key "{key}"')
            arr = np.asarray(cam[key], dtype=np.float64)
            if arr.size != int(np.prod(shape)) or not np.all(np.isfinite(arr)):
                raise ValueError(f'{path}: camera {name} key "{key}" must be '
                                 f'{shape} finite numbers, got {arr.shape}')
            out[key].append(arr.reshape(shape))
        sizes.append([float(cam.get('w', 1000)), float(cam.get('h', 1000))])
        names.append(str(name))
    R = np.stack(out['R'])
    if not np.allclose(R @ R.transpose(0, 2, 1), np.eye(3), atol=1e-6):
        raise ValueError(f'{path}: key "R" is not a rotation matrix')
    return VirtualCameras(R=R, T=np.stack(out['T']), f=np.stack(out['f']),
                          c=np.stack(out['c']), image_size=np.asarray(sizes),
                          names=names)


def interpolate_cameras(cams: VirtualCameras) -> VirtualCameras:
    """Add one camera between each pair of azimuthal neighbours.

    Cameras are sorted by azimuth around the world z axis; between each
    neighbour pair (including the wrap-around pair) a new camera gets the
    mean azimuth, radius and height, the spherical interpolation (slerp at
    0.5) of the two orientations, and the mean intrinsics. 4 cameras -> 8.
    """
    order = np.argsort(cams.azimuth_deg())
    n = len(order)
    R, T, f, c, size, names = [], [], [], [], [], []
    for a, b in zip(order, np.roll(order, -1)):
        R.append(cams.R[a])
        T.append(cams.T[a])
        f.append(cams.f[a])
        c.append(cams.c[a])
        size.append(cams.image_size[a])
        names.append(cams.names[a])
        if n < 2:
            continue
        az_a, az_b = np.arctan2(cams.T[[a, b], 1], cams.T[[a, b], 0])
        d_az = (az_b - az_a) % (2 * np.pi)
        az = az_a + d_az / 2
        radius = np.linalg.norm(cams.T[[a, b], :2], axis=1).mean()
        height = cams.T[[a, b], 2].mean()
        T.append(np.array([radius * np.cos(az), radius * np.sin(az), height]))
        # Orientation: slerp of the camera-to-world rotations (R^T are the
        # camera axes expressed in the world), which keeps roll near zero.
        slerp = Slerp([0, 1], Rotation.from_matrix(
            np.stack([cams.R[a].T, cams.R[b].T])))
        r_mid = slerp([0.5]).as_matrix()[0].T
        # Re-aim the optical axis at the world origin (both parents look at
        # the subject, the mid-point camera must as well).
        R.append(_look_at(T[-1], r_mid))
        f.append((cams.f[a] + cams.f[b]) / 2)
        c.append((cams.c[a] + cams.c[b]) / 2)
        size.append(cams.image_size[a])
        names.append(f'{cams.names[a]}+{cams.names[b]}')
    return VirtualCameras(R=np.stack(R), T=np.stack(T), f=np.stack(f),
                          c=np.stack(c), image_size=np.stack(size),
                          names=names)


def _look_at(centre: np.ndarray, r_ref: np.ndarray) -> np.ndarray:
    """Rotation (row-vector convention) whose optical axis points from
    ``centre`` to the origin, with the image 'down' axis closest to that of
    ``r_ref`` (so roll follows the reference camera)."""
    z = -centre / np.linalg.norm(centre)
    down_ref = r_ref[:, 1]
    y = down_ref - z * (down_ref @ z)
    y /= np.linalg.norm(y)
    x = np.cross(y, z)
    return np.stack([x, y, z], axis=1)


def build_virtual_cameras(path: Union[str, os.PathLike] = H36M_S1_CAMERAS,
                          num_views: int = 4,
                          select: Optional[list] = None) -> VirtualCameras:
    """Cameras for pre-training: the file's cameras (4 for H3.6M S1), or 8
    with the interpolated ones (``num_views=8``), or the first ``num_views``
    of the 4 (1 or 2 views, the paper's table 7 ablation).

    Args:
        path: H3.6M camera JSON.
        num_views: 1, 2, 4 or 8 with the S1 file (any count up to the file's
            camera count, or twice it).
        select: optional explicit camera indices into the (possibly
            interpolated) list; overrides ``num_views`` truncation.
    """
    cams = load_h36m_cameras(path)
    n = len(cams)
    if num_views == 2 * n:
        cams = interpolate_cameras(cams)
    elif not 1 <= num_views <= n:
        raise ValueError(f'num_views must be 1..{n} or {2 * n} for {path}, '
                         f'got {num_views}')
    idx = np.arange(num_views) if select is None else np.asarray(select)
    if idx.min() < 0 or idx.max() >= len(cams):
        raise ValueError(f'camera indices {idx.tolist()} out of range '
                         f'0..{len(cams) - 1}')
    return VirtualCameras(R=cams.R[idx], T=cams.T[idx], f=cams.f[idx],
                          c=cams.c[idx], image_size=cams.image_size[idx],
                          names=[cams.names[i] for i in idx])
