"""Data preprocessor of MPT pre-training on MoCap bodies (or hands).

The loader carries each sample's SMPL parameters and virtual camera (about
400 bytes, instead of a 41 KB posed mesh or a 3.4 MB float32
``17 x 224 x 224`` heatmap stack). With ``body_model`` this preprocessor
poses the batch on the training device and builds the 2D joints and every
target there (:class:`~mpt_plugin.models.utils.mocap_targets.
MoCapTargetBuilder`); it then applies Masked Heatmap Modeling
(:class:`MPTMaskedHeatmapModeling`) and hands the joints to the model, whose
``HeatmapPatchEmbed.forward_inputs`` synthesises the heatmap tokens directly
(sparse path) or embeds dense maps when this preprocessor renders them.
With ``hand_model`` it does the same for MANO hands
(:class:`~mpt_plugin.models.utils.hand_mocap_targets.
HandMoCapTargetBuilder`, 21 joints). Without either it takes ready 2D
joints (e.g. detections).
"""
from typing import Dict, Optional, Tuple, Union

import numpy as np
import torch
from mmengine.model import BaseDataPreprocessor
from torch import Tensor

from mpt_plugin.registry import MODELS
from ..utils.batch_fields import stack_fields
from ..utils.hand_mocap_targets import HandMoCapTargetBuilder
from ..utils.heatmap_patch_embed import (default_support_radius,
                                         num_window_patches, render_heatmaps)
from ..utils.mocap_targets import MoCapTargetBuilder
from .crop_jitter import MPTCropJitter
from .masked_heatmap_modeling import MPTMaskedHeatmapModeling

__all__ = ['MPTMoCapDataPreprocessor']


@MODELS.register_module()
class MPTMoCapDataPreprocessor(BaseDataPreprocessor):
    """Pose MoCap bodies (or take 2D joints) on the device and apply MHM.

    Input (``data`` from the dataloader), with ``body_model``:

    - ``data['inputs']``: dict of ``pose_aa`` (B, 72) SMPL axis-angle
      (radians, z-up world root), ``betas`` (B, 10) and ``gender`` (B,)
      codes (-1 neutral, 0 male, 1 female), stacked or lists of B;
    - ``data['data_samples']``: dict with the cameras ``cam_R`` (B, 3, 3),
      ``cam_T`` (B, 3), ``cam_f`` (B, 2), ``cam_c`` (B, 2)
      (:class:`MPTMoCapHeatmapDataset` items), plus any metadata.

    The output's ``data_samples`` then also holds the targets (camera axes,
    pelvis at the origin, metres): ``vertices`` (B, V, 3), ``joints_h36m``
    (B, 17, 3), ``joints_3d`` (B, 14, 3) LSP and ``joints_2d_norm``
    (B, 14, 2) LSP in [-1, 1] crop coordinates (moved with the crop jitter
    when it is on); all 17 COCO joints are visible.

    With ``hand_model`` (``num_joints=21``): ``data['inputs']`` holds
    ``hand_pose`` (B, 45) MANO axis-angle (radians, relative to the flat
    hand by default) and ``betas`` (B, 10); ``data['data_samples']`` the
    cameras as above (:class:`MPTHandPoseDataset` items). The targets are
    ``vertices`` (B, 778, 3), ``joints_3d`` (B, 21, 3) and
    ``joints_2d_norm`` (B, 21, 2) in ``hand_21`` order, wrist at the
    origin; the network's 2D joints are the same 21 joints.

    Without ``body_model``:

    - ``data['inputs']``: a list of B tensors / arrays (K, 3), or one (B, K, 3)
      tensor, holding ``[x_px, y_px, visibility]`` in the heatmap frame:
      pixels of the ``heatmap_size x heatmap_size`` map, pixel centres at
      integer coordinates ``0 .. heatmap_size - 1`` (x = column, y = row).
      Coordinates of invisible joints may be anything (even NaN); those of
      visible joints must be finite (checked when the batch is on the CPU).
    - ``data['data_samples']`` (optional): moved to the device untouched.

    Output: ``dict(inputs=inputs, data_samples=data_samples)`` with
    ``inputs`` a dict of

    - ``joints_px`` (B, K, 2) float32, pixels (after MHM jitter),
    - ``joint_weights`` (B, K) float32 Gaussian amplitudes: the visibility
      (binarised by ``visibility_thr``), 0 for masked joints, times the MHM
      amplitude noise,
    - ``masked_joints`` (B, K) bool, the joints MHM masked,
    - ``pixel_noise`` (B, K, T, T, P, P) float32 when MHM sparse pixel noise
      is on (see ``HeatmapPatchEmbed.pixel_noise_shape``),
    - ``heatmaps`` (B, K, H, W) float32 rendered maps (peak = amplitude),
      only when ``dense=True`` or MHM uses exact dense pixel noise; then the
      noise is already in the maps and ``pixel_noise`` is absent.

    The heatmap geometry (``heatmap_size``, ``sigma``, ``patch_size``,
    ``support_radius``) must match the model's ``HeatmapPatchEmbed``; a
    mismatch of the noise window is caught there by a shape check.

    Args:
        num_joints (int): Joints per sample ``K``. Defaults to 17 (COCO).
        heatmap_size (int): Heatmap height and width (px). Defaults to 224.
        sigma (float): Gaussian width (px), ``exp(-d^2 / sigma^2)`` (paper
            Eq. 1). Defaults to 3.0.
        patch_size (int): Patch size of the embedding. Defaults to 8.
        support_radius (float, optional): Sparse window radius (px), as in
            ``HeatmapPatchEmbed``; None = ``5 * sigma``.
        visibility_thr (float, optional): Joints with ``visibility >=
            visibility_thr`` get weight 1, others 0; None uses the
            visibility itself (must lie in [0, 1]) as amplitude.
            Defaults to 0.5.
        mhm (dict | MPTMaskedHeatmapModeling, optional): MHM config or module;
            None disables it. Defaults to ``dict(type=
            'MPTMaskedHeatmapModeling')``.
        crop_jitter (dict | MPTCropJitter, optional): random scale/shift of
            the virtual crop in training (before MHM), moving
            ``data_samples['joints_2d_norm']`` with it; our addition, not in
            the paper. None (default) disables it.
        body_model (dict, optional): pose MoCap bodies here: ``model_path``,
            ``joints_regressor`` (17-joint H3.6M) and ``gender``
            (``'subject'``: each sample's own, the default; or
            ``'neutral'``/``'male'``/``'female'`` for all), see
            :class:`MoCapTargetBuilder`. None: inputs are 2D joints (or
            hands, with ``hand_model``).
        hand_model (dict, optional): pose MANO hands here instead
            (``MPTMANO`` arguments: ``model_path``, ``is_rhand``,
            ``flat_hand_mean`` (default True, the pose sets' space)), see
            :class:`HandMoCapTargetBuilder`; needs ``num_joints=21``.
        crop_padding (float): with ``body_model`` (``hand_model``), crop
            side = padding x the COCO (hand) joints' box. Defaults to 1.2.
        dense (bool): Also render dense maps (debugging / reference).
            Defaults to False.
        non_blocking (bool): Non-blocking host-to-device copies.
            Defaults to False.
    """

    def __init__(self,
                 num_joints: int = 17,
                 heatmap_size: int = 224,
                 sigma: float = 3.0,
                 patch_size: int = 8,
                 support_radius: Optional[float] = None,
                 visibility_thr: Optional[float] = 0.5,
                 mhm: Union[dict, MPTMaskedHeatmapModeling,
                            None] = dict(type='MPTMaskedHeatmapModeling'),
                 crop_jitter: Union[dict, MPTCropJitter, None] = None,
                 body_model: Optional[dict] = None,
                 hand_model: Optional[dict] = None,
                 crop_padding: float = 1.2,
                 dense: bool = False,
                 non_blocking: bool = False) -> None:
        super().__init__(non_blocking=non_blocking)
        if heatmap_size % patch_size:
            raise ValueError(f'heatmap_size {heatmap_size} must be a multiple '
                             f'of patch_size {patch_size}')
        self.num_joints = num_joints
        self.heatmap_size = heatmap_size
        self.sigma = float(sigma)
        self.patch_size = patch_size
        self.support_radius = float(
            default_support_radius(sigma)
            if support_radius is None else support_radius)
        self.window_patches = num_window_patches(self.support_radius,
                                                 patch_size)
        self.visibility_thr = visibility_thr
        if isinstance(mhm, dict):
            mhm = MODELS.build(mhm)
        if mhm is not None and not isinstance(mhm, MPTMaskedHeatmapModeling):
            raise TypeError('mhm must be a config dict, an '
                            'MPTMaskedHeatmapModeling or None, got '
                            f'{type(mhm).__name__}')
        self.mhm = mhm
        if isinstance(crop_jitter, dict):
            crop_jitter = MODELS.build(crop_jitter)
        if crop_jitter is not None and not isinstance(crop_jitter,
                                                      MPTCropJitter):
            raise TypeError('crop_jitter must be a config dict, an '
                            'MPTCropJitter or None, got '
                            f'{type(crop_jitter).__name__}')
        self.crop_jitter = crop_jitter
        self.dense = dense
        self.targets = None
        if body_model is not None and hand_model is not None:
            raise ValueError('give body_model (MoCap bodies) or hand_model '
                             '(hand poses), not both')
        if body_model is not None:
            if num_joints != 17:
                raise ValueError('posing MoCap bodies makes the 17 COCO '
                                 f'joints; num_joints is {num_joints}')
            self.targets = MoCapTargetBuilder(body_model, heatmap_size,
                                              crop_padding)
        elif hand_model is not None:
            if num_joints != 21:
                raise ValueError('posing MANO hands makes the 21 hand_21 '
                                 f'joints; num_joints is {num_joints}')
            self.targets = HandMoCapTargetBuilder(hand_model, heatmap_size,
                                                  crop_padding)

    def _stack_inputs(self, inputs) -> Tensor:
        """(B, K, 3) float32 tensor from the loader's ``inputs``."""
        if isinstance(inputs, (list, tuple)):
            if len(inputs) == 0:
                raise ValueError("data['inputs'] is an empty list")
            items = []
            for i, item in enumerate(inputs):
                if isinstance(item, np.ndarray):
                    item = torch.from_numpy(item)
                if not isinstance(item, Tensor):
                    raise TypeError(f"data['inputs'][{i}] must be a tensor "
                                    f'or array (K, 3), got '
                                    f'{type(item).__name__}')
                if tuple(item.shape) != (self.num_joints, 3):
                    raise ValueError(
                        f"data['inputs'][{i}] must have shape (K, 3) = "
                        f'({self.num_joints}, 3) [x_px, y_px, visibility], '
                        f'got {tuple(item.shape)}')
                items.append(item)
            devices = {t.device for t in items}
            if len(devices) > 1:
                raise ValueError("data['inputs'] holds tensors on several "
                                 f'devices: {sorted(map(str, devices))}')
            kpts = torch.stack(items)
        elif isinstance(inputs, (Tensor, np.ndarray)):
            kpts = torch.as_tensor(inputs)
            if kpts.dim() != 3 or tuple(kpts.shape[1:]) != (self.num_joints,
                                                             3):
                raise ValueError(
                    "data['inputs'] must have shape (B, K, 3) = (B, "
                    f'{self.num_joints}, 3) [x_px, y_px, visibility], got '
                    f'{tuple(kpts.shape)}')
        else:
            raise TypeError("data['inputs'] must be a list of (K, 3) tensors "
                            'or a (B, K, 3) tensor, got '
                            f'{type(inputs).__name__}')
        kpts = kpts.float()
        if kpts.device.type == 'cpu':  # cheap here; on a GPU it would sync
            self._check_values(kpts)
        return kpts

    def _check_values(self, kpts: Tensor) -> None:
        vis = kpts[..., 2]
        if not torch.isfinite(vis).all():
            bad = torch.nonzero(~torch.isfinite(vis))[:5].tolist()
            raise ValueError('visibility must be finite; non-finite at '
                             f'(sample, joint) {bad}')
        if self.visibility_thr is None:
            if ((vis < 0) | (vis > 1)).any():
                raise ValueError('with visibility_thr=None the visibility is '
                                 'the Gaussian amplitude and must lie in '
                                 '[0, 1]')
            visible = vis > 0
        else:
            visible = vis >= self.visibility_thr
        bad = visible & ~torch.isfinite(kpts[..., :2]).all(dim=-1)
        if bad.any():
            raise ValueError('visible joints must have finite x_px, y_px; '
                             'non-finite at (sample, joint) '
                             f'{torch.nonzero(bad)[:5].tolist()}')

    def forward(self, data: dict, training: bool = False) -> dict:
        """Stack, move, apply MHM (and optionally render dense maps).

        Args:
            data (dict): Loader output with ``inputs`` and optionally
                ``data_samples``.
            training (bool): Training-time MHM if True, else the
                deterministic test-time masking. Defaults to False.

        Returns:
            dict: ``dict(inputs=dict(...), data_samples=...)``, see the class
            docstring.
        """
        if not isinstance(data, dict) or 'inputs' not in data:
            raise KeyError("MPTMoCapDataPreprocessor expects a dict with key "
                           "'inputs' (list of (K, 3) [x_px, y_px, visibility]"
                           ' tensors), got '
                           + (f'keys {sorted(data)}' if isinstance(data, dict)
                              else type(data).__name__))
        data_samples = self.cast_data(data.get('data_samples'))
        if self.targets is not None:
            joints_px, data_samples = self._pose_bodies(
                data['inputs'], data_samples)
            weights = joints_px.new_ones(joints_px.shape[:2])
        else:
            kpts = self._stack_inputs(data['inputs'])
            kpts = kpts.to(self.device, non_blocking=self._non_blocking)
            joints_px = kpts[..., :2]
            vis = kpts[..., 2]
            if self.visibility_thr is None:
                weights = vis
            else:
                weights = (vis >= self.visibility_thr).to(kpts.dtype)

        if training and self.crop_jitter is not None:
            targets = (data_samples.get('joints_2d_norm')
                       if isinstance(data_samples, dict) else None)
            joints_px, weights, targets = self.crop_jitter(
                joints_px, weights, self.heatmap_size, targets)
            if targets is not None:
                data_samples = dict(data_samples, joints_2d_norm=targets)

        if self.mhm is not None:
            out = self.mhm(
                joints_px,
                weights,
                training=training,
                noise_window=(self.window_patches, self.patch_size))
        else:
            out = dict(
                joints_px=joints_px,
                joint_weights=weights,
                masked_joints=torch.zeros_like(weights, dtype=torch.bool))
        inputs: Dict[str, Tensor] = dict(out)

        dense_noise = self.mhm is not None and self.mhm.uses_dense_noise(
            training)
        if self.dense or dense_noise:
            maps = render_heatmaps(
                inputs['joints_px'],
                inputs['joint_weights'],
                size=self.heatmap_size,
                sigma=self.sigma,
                pixel_noise=inputs.pop('pixel_noise', None),
                patch_size=self.patch_size,
                support_radius=self.support_radius)
            if dense_noise:
                maps = self.mhm.add_dense_pixel_noise(maps)
            inputs['heatmaps'] = maps
        return dict(inputs=inputs, data_samples=data_samples)

    def _pose_bodies(self, inputs, data_samples) -> Tuple[Tensor, dict]:
        """(B, K, 2) heatmap joints and the data samples with the targets
        added, from SMPL (MANO) parameters and cameras (see the class
        doc)."""
        params = stack_fields(inputs, self.targets.PARAM_FIELDS)
        if not isinstance(data_samples, dict):
            raise TypeError('posing MoCap bodies needs data_samples: a dict '
                            'with cam_R, cam_T, cam_f, cam_c, got '
                            f'{type(data_samples).__name__}')
        camera = stack_fields(data_samples, dict(cam_R=(3, 3), cam_T=(3, ),
                                                 cam_f=(2, ), cam_c=(2, )),
                              where="data['data_samples']")
        device = self.targets.device
        params = {k: v.to(device, non_blocking=self._non_blocking)
                  for k, v in params.items()}
        camera = {k: v.to(device, non_blocking=self._non_blocking)
                  for k, v in camera.items()}
        joints_hm, targets = self.targets(params, camera)
        return joints_hm, dict(data_samples, **camera, **targets)

    def render(self, inputs: Dict[str, Tensor]) -> Tensor:
        """Dense (B, K, H, W) maps of a sparse ``inputs`` dict (debugging)."""
        return render_heatmaps(
            inputs['joints_px'],
            inputs['joint_weights'],
            size=self.heatmap_size,
            sigma=self.sigma,
            pixel_noise=inputs.get('pixel_noise'),
            patch_size=self.patch_size,
            support_radius=self.support_radius)
