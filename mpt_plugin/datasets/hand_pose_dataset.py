"""Hand poses seen from all around: the hand pre-training data of MPT."""
import os
import os.path as osp
from typing import Optional, Sequence, Union

import numpy as np
import torch
from torch.utils.data import Dataset

from mpt_plugin.geometry.view_sphere import look_at_cameras, uniform_rotations
from mpt_plugin.registry import DATASETS
from .hand_pose_io import load_hand_pose_set

__all__ = ['MPTHandPoseDataset']


@DATASETS.register_module()
class MPTHandPoseDataset(Dataset):
    """MANO hand poses x viewpoints uniform on the view sphere, the
    stand-in for MobRecon's "Complement" set (1520 poses x 216 views) that
    MPT pre-trains its hand model on.

    Sample ``i`` is pose ``i // num_views`` seen by camera ``i %
    num_views``. The hand is posed wrist-centred with global orientation 0
    (the data preprocessor centres it on its wrist joint at the world
    origin), so the cameras, ``uniform_rotations(num_views, view_seed)``
    aimed at the origin from ``camera_distance`` metres
    (:func:`~mpt_plugin.geometry.view_sphere.look_at_cameras`), see it from
    every side. The loader carries the MANO parameters and the camera; the
    data preprocessor poses the hand on the training device, projects its
    21 joints through the camera, fits the square crop around them and
    builds the heatmap joints and targets (as for
    :class:`MPTMoCapHeatmapDataset`).

    Args:
        ann_file (str): The pose set (``.npz``, format of
            :mod:`~mpt_plugin.datasets.hand_pose_io`).
        num_views (int): Cameras per pose (>= 1). Defaults to 216
            (Complement's count).
        view_seed (int): Seed of the camera orientations. Defaults to 0.
        camera_distance (float): Camera centre to wrist, metres. Defaults
            to 0.6.
        focal_length (float | Sequence[float]): ``f`` or ``(fx, fy)``,
            pixels. Defaults to 373.35 (Complement's 256 x 256 camera).
        principal_point (Sequence[float]): ``(cx, cy)``, pixels. Defaults
            to ``(128., 128.)``. The preprocessor re-crops around the
            joints, so the intrinsics only set the perspective.
        max_poses (int, optional): Use the first ``max_poses`` poses.
        data_root (str, optional): Prefix joined to a relative
            ``ann_file``.

    Each item is ``dict(inputs, data_samples)``:
        - ``inputs``: ``hand_pose`` (45,) float32 axis-angle of the 15
          finger joints (radians, relative to the flat hand:
          ``MPTMANO(flat_hand_mean=True)``, ``mano_16`` order without the
          wrist), ``betas`` (10,) float32.
        - ``data_samples``: ``pose_index`` and ``view_index`` () int64, and
          the camera: ``cam_R`` (3, 3) float32 world-to-camera rotation
          (row vectors: ``x_cam = (x_world - cam_T) @ cam_R``; camera x
          right, y down, z forward), ``cam_T`` (3,) camera centre (metres,
          world), ``cam_f`` (2,) and ``cam_c`` (2,) focal length and
          principal point (pixels: ``u = f * x_cam[:2] / x_cam[2] + c``).
    """

    METAINFO = dict(dataset_name='hand_poses', num_keypoints=21,
                    keypoint_convention='hand_21', pose_space='flat')

    def __init__(self,
                 ann_file: str,
                 num_views: int = 216,
                 view_seed: int = 0,
                 camera_distance: float = 0.6,
                 focal_length: Union[float, Sequence[float]] = 373.35,
                 principal_point: Sequence[float] = (128., 128.),
                 max_poses: Optional[int] = None,
                 data_root: Optional[str] = None):
        ann_file = os.fspath(ann_file)
        if data_root is not None and not osp.isabs(ann_file):
            ann_file = osp.join(os.fspath(data_root), ann_file)
        self.ann_file = ann_file
        self.data_root = data_root
        if isinstance(num_views, bool) or not isinstance(
                num_views, (int, np.integer)) or num_views < 1:
            raise ValueError(f'num_views must be an int >= 1, got '
                             f'{num_views!r}')
        self.num_views = int(num_views)
        self.view_seed = int(view_seed)
        self.camera_distance = float(camera_distance)
        f = np.asarray(focal_length, dtype=np.float64)
        f = np.repeat(f, 2) if f.shape in ((), (1, )) else f
        c = np.asarray(principal_point, dtype=np.float64)
        if f.shape != (2, ) or c.shape != (2, ) or not (
                np.isfinite(f).all() and (f > 0).all()
                and np.isfinite(c).all()):
            raise ValueError('focal_length must be > 0 (f or (fx, fy)) and '
                             'principal_point (cx, cy), finite pixels; got '
                             f'{focal_length!r}, {principal_point!r}')

        data = load_hand_pose_set(ann_file)
        num = len(data['hand_pose'])
        if max_poses is not None:
            if int(max_poses) < 1:
                raise ValueError(f'max_poses must be >= 1, got {max_poses}')
            num = min(num, int(max_poses))
        self.hand_pose = np.ascontiguousarray(data['hand_pose'][:num])
        self.betas = np.ascontiguousarray(data['betas'][:num])
        self.is_rhand = bool(data['is_rhand'])
        self.num_poses = num

        cam_R, cam_T = look_at_cameras(
            uniform_rotations(self.num_views, self.view_seed),
            distance=self.camera_distance)
        self.cam_R = cam_R.astype(np.float32)
        self.cam_T = cam_T.astype(np.float32)
        self.cam_f = f.astype(np.float32)
        self.cam_c = c.astype(np.float32)

    @property
    def metainfo(self) -> dict:
        return dict(self.METAINFO, num_views=self.num_views,
                    num_poses=self.num_poses, is_rhand=self.is_rhand)

    def __len__(self) -> int:
        return self.num_poses * self.num_views

    def __getitem__(self, idx: int) -> dict:
        if not 0 <= idx < len(self):
            raise IndexError(f'index {idx} out of range for {len(self)}')
        pose, view = divmod(int(idx), self.num_views)
        samples = dict(
            pose_index=torch.tensor(pose, dtype=torch.int64),
            view_index=torch.tensor(view, dtype=torch.int64),
            cam_R=torch.from_numpy(self.cam_R[view].copy()),
            cam_T=torch.from_numpy(self.cam_T[view].copy()),
            cam_f=torch.from_numpy(self.cam_f.copy()),
            cam_c=torch.from_numpy(self.cam_c.copy()))
        inputs = dict(hand_pose=torch.from_numpy(self.hand_pose[pose].copy()),
                      betas=torch.from_numpy(self.betas[pose].copy()))
        return dict(inputs=inputs, data_samples=samples)
