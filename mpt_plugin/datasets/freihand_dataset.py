"""FreiHAND (Zimmermann et al., ICCV 2019) as an MMEngine dataset."""
from typing import List, Optional, Sequence

import numpy as np
from mmengine.dataset import BaseDataset, force_full_init

from mpt_plugin.body_models.conventions import (get_keypoint_names,
                                                get_keypoint_num)
from mpt_plugin.registry import DATASETS
from .freihand_io import (FREIHAND_NUM_VERSIONS, freihand_image_paths,
                          load_freihand_annotations)

__all__ = ['MPTFreiHANDDataset']

#: Side of the central square the released hand code crops from each
#: 224 x 224 FreiHAND image (px).
RELEASED_CROP_SIZE = 180.0


@DATASETS.register_module()
class MPTFreiHANDDataset(BaseDataset):
    """The official FreiHAND layout (:mod:`.freihand_io`) as image samples.

    Training has ``N`` annotated samples and 4 image versions each (green
    screen and three backgrounds; file id ``id + N * version``); dataset
    index ``j`` is version ``versions[j // N]`` of sample ``j % N``.
    Evaluation has one version; its 3D labels are read when the files exist.

    Args:
        data_root (str): The FreiHAND folder.
        split (str): ``'training'`` or ``'evaluation'``.
        versions (Sequence[int], optional): Image versions to use (training:
            0-3). Default: all of the split's.
        pipeline (list): Transforms. Defaults to ``[]``.
        crop_size (float): Side of the central square box of each image,
            px (``bbox_scale``). Defaults to 180, the released hand code's
            crop of the 224 px images.
        num_samples (int, optional): Keep this many annotated samples,
            evenly strided (rows ``floor(i * N / num_samples)``), before the
            versions are expanded. None keeps all.
        check_images (bool): Refuse a folder with missing images (the count
            and the first names are given). Defaults to True.
        test_mode, lazy_init, max_refetch: As ``BaseDataset``.

    ``get_data_info(idx)``, K = 21 joints in the ``hand_21`` order (wrist,
    thumb 1-4, index 1-4, middle 1-4, ring 1-4, pinky 1-4), metres and
    pixels of the original 224 x 224 image:

    - ``img_path``, ``sample_idx`` (this dataset), ``ann_idx`` (row of the
      annotation files), ``version``, ``dataset_name`` ``'freihand'``;
    - ``cam_K`` (3, 3) float32 intrinsics, px;
    - ``bbox_center`` (2,) = the image centre, ``bbox_scale`` = ``crop_size``,
      ``bbox_xywh`` (4,) of that square;
    - ``keypoints3d`` (21, 3) float32 camera frame, ``keypoints3d_visible``
      (21,) (ones when the split has ``xyz``, else zeros);
    - ``keypoints2d`` (21, 2) float32 px, the 3D joints projected with
      ``cam_K``; ``keypoints2d_visible`` (21,) as the 3D ones;
    - ``vertices`` (778, 3) float32 camera frame (zeros without), and
      ``has_mesh`` float32;
    - ``mano_pose`` (48,) axis-angle radians (global 3 + hand 45,
      relative to MANO's ``hands_mean``), ``mano_betas`` (10,), ``has_mano``
      float32; ``scale`` float32 (``|xyz[9] - xyz[10]|``, metres; 0 without).

    Raises:
        FileNotFoundError: Missing annotation files or images.
        FreiHANDFormatError: A file breaks the layout or the files disagree
            (named).
        ValueError: Bad ``split``, ``versions``, ``num_samples`` or
            ``crop_size``.
    """

    METAINFO: dict = dict(dataset_name='freihand')

    def __init__(self,
                 data_root: str,
                 split: str = 'training',
                 versions: Optional[Sequence[int]] = None,
                 pipeline: Sequence = (),
                 crop_size: float = RELEASED_CROP_SIZE,
                 num_samples: Optional[int] = None,
                 check_images: bool = True,
                 test_mode: bool = False,
                 lazy_init: bool = False,
                 max_refetch: int = 1000) -> None:
        if split not in FREIHAND_NUM_VERSIONS:
            raise ValueError(f'split must be one of '
                             f'{sorted(FREIHAND_NUM_VERSIONS)}, got {split!r}')
        if not crop_size > 0:
            raise ValueError(f'crop_size must be > 0 px, got {crop_size}')
        if num_samples is not None and int(num_samples) < 1:
            raise ValueError(f'num_samples must be >= 1, got {num_samples}')
        self.split = split
        self.versions = versions
        self.crop_size = float(crop_size)
        self.num_samples = num_samples
        self.check_images = bool(check_images)
        metainfo = dict(self.METAINFO, keypoint_convention='hand_21',
                        num_keypoints=get_keypoint_num('hand_21'),
                        keypoint_names=get_keypoint_names('hand_21'))
        super().__init__(data_root=data_root, metainfo=metainfo,
                         pipeline=list(pipeline), test_mode=test_mode,
                         lazy_init=lazy_init, max_refetch=max_refetch)

    def full_init(self) -> None:
        if self._fully_initialized:
            return
        ann = load_freihand_annotations(self.data_root, self.split)
        num = len(ann['K'])
        rows = np.arange(num)
        if self.num_samples is not None and self.num_samples < num:
            rows = (np.arange(self.num_samples) * num //
                    self.num_samples).astype(np.int64)
        paths = freihand_image_paths(self.data_root, self.split, num,
                                     self.versions, check=self.check_images)
        num_versions = len(paths) // max(num, 1)
        # keep the chosen rows of every version (version-major)
        self._entries = (np.arange(num_versions)[:, None] * num +
                         rows[None]).reshape(-1)
        self._paths = paths
        self._num = num
        self._versions = (list(range(FREIHAND_NUM_VERSIONS[self.split]))
                          if self.versions is None else
                          [int(v) for v in self.versions])
        self._ann = ann
        kp3d = ann.get('xyz')
        if kp3d is not None:
            uvw = np.einsum('nij,nkj->nki', ann['K'], kp3d)
            z = uvw[..., 2:]
            if (z <= 1e-6).any():
                bad = int(np.nonzero((z <= 1e-6).any(axis=(1, 2)))[0][0])
                raise ValueError(f'{self.data_root}: {self.split}_xyz.json '
                                 f'row {bad} has a joint at or behind the '
                                 'camera (z <= 0)')
            self._kp2d = (uvw[..., :2] / z).astype(np.float32)
        self._fully_initialized = True

    @force_full_init
    def __len__(self) -> int:
        return len(self._entries)

    @force_full_init
    def get_data_info(self, idx: int) -> dict:
        num = len(self._entries)
        if not -num <= idx < num:
            raise IndexError(f'index {idx} out of range for a '
                             f'{type(self).__name__} of length {num}')
        sample_idx = int(idx) % num
        entry = int(self._entries[sample_idx])
        row, version = entry % self._num, entry // self._num
        ann = self._ann
        centre = np.array([112.0, 112.0], np.float32)
        half = self.crop_size / 2
        joints = get_keypoint_num('hand_21')
        has_xyz = 'xyz' in ann
        has_verts = 'verts' in ann
        has_mano = 'mano' in ann
        vis = np.full(joints, float(has_xyz), np.float32)
        return dict(
            img_path=str(self._paths[entry]),
            sample_idx=sample_idx,
            ann_idx=row,
            version=self._versions[version],
            dataset_name='freihand',
            cam_K=ann['K'][row].copy(),
            bbox_center=centre,
            bbox_scale=np.float32(self.crop_size),
            bbox_xywh=np.array([112 - half, 112 - half, self.crop_size,
                                self.crop_size], np.float32),
            keypoints3d=(ann['xyz'][row].copy() if has_xyz else
                         np.zeros((joints, 3), np.float32)),
            keypoints3d_visible=vis,
            keypoints2d=(self._kp2d[row].copy() if has_xyz else
                         np.zeros((joints, 2), np.float32)),
            keypoints2d_visible=vis.copy(),
            vertices=(ann['verts'][row].copy() if has_verts else
                      np.zeros((778, 3), np.float32)),
            has_mesh=np.float32(has_verts),
            mano_pose=(ann['mano'][row, :48].copy() if has_mano else
                       np.zeros(48, np.float32)),
            mano_betas=(ann['mano'][row, 48:58].copy() if has_mano else
                        np.zeros(10, np.float32)),
            has_mano=np.float32(has_mano),
            scale=np.float32(ann['scale'][row]))

    def load_data_list(self) -> List[dict]:
        """Not used: samples are sliced from arrays. Returns ``[]``."""
        return []
