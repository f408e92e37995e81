"""PC-HMR: serial and parallel pose-calibration frameworks (Luan et al.,
AAAI 2021, Sec. 3.2-3.3) around any mesh regressor.

Data flow (``B`` batch, ``V`` vertices, 17 H3.6M joints, metres,
camera-aligned axes x right / y down / z forward):

1. mesh stream (``mesh_stream``, see ``PCHMRKey2MeshStream`` for the
   interface): ``M^hmr`` (B, V, 3), camera ``(s, tx, ty)``, ``Theta``.
2. Eq. 2: ``J^hmr = U M^hmr`` (B, 17, 3) with the H3.6M regressor ``U``.
3. 2D pose (B, K, 2) crop-normalised ``[-1, 1]``:

   - ``framework='serial'``: Eq. 3, ``Z^hmr = s (J^hmr_xy + t)``;
   - ``framework='parallel'``: an MMPose top-down heatmap model
     (``pose_estimator_2d``) on the image, decoded by a soft-argmax
     (differentiable), or, without one, the 2D keypoints the mesh stream
     exposes (``keypoints2d_norm``: dataset detections / Key2Mesh inputs).

4. Eq. 4: an MMPose ``PoseLifter`` (stock-style config: ``TCN`` backbone +
   ``TemporalRegressionHead`` with an ``ImagePoseLifting`` or
   ``VideoPoseLifting`` codec) -> ``J^target`` (B, 17, 3), pelvis-centred.
   Its input is ``T = prod(kernel_sizes)`` frames (the TCN's receptive
   field: 1 for the image / fully connected variant, 243 for
   VideoPose3D):

   - video path (parallel framework): image samples that carry a 2D window
     of their sequence (``gt_instances.keypoints2d_seq`` (1, T, K, 2),
     original-image px, from ``MPTHumanDataSequenceDataset`` +
     ``MPTMeshSequenceAlign`` + ``MPTPackMeshSequenceInputs``): the lifter reads
     the T real frames (centre = the sample), e.g. the 2D detections of the
     annotation file as VideoPose3D reads CPN's; ``T`` must equal the
     receptive field. The serial framework has the mesh stream's 2D of the
     centre frame only and refuses windows;
   - image path: the single frame, replicated to ``T`` (a static sequence;
     meant for ``T = 1`` lifters).
5. Eq. 5: the calibration neck deforms the pelvis-centred ``M^hmr`` from
   ``J^hmr`` to ``J^target`` -> ``M^target``; its joints ``U M^target``.

Lifter input normalisation: the lifter gets what its codec was trained
on, so a stock checkpoint plugs in unchanged. MMPose's lifting codecs take
pixels ``x_px`` of the whole camera image (``w x h``), not of a person crop:

- ``VideoPoseLifting`` (and no codec): ``(x_px - (w/2, h/2)) / (w/2)``
  (VideoPose3D's ``normalize_screen_coordinates``; :func:`screen_normalize`);
  the 2D is not root-centred, only the 3D target is (``zero_center``);
- ``ImagePoseLifting``: ``(x_px - keypoints_mean) / keypoints_std`` when the
  codec has statistics (the stock H3.6M ones are of full-frame
  1000 x 1002 px images), else ``x_px``.

``lifter_input_frame`` says which image ``x_px`` belongs to:

- ``'image'`` (default): the original camera image. Single-frame 2D
  (crop-normalised: Eq. 3 projection, soft-argmax, stream keypoints) is
  mapped back through the sample's ``crop_affine`` (``MPTMeshAffine``
  metainfo) and normalised with its ``ori_shape``; windows are already in
  original pixels. Needs image samples (PoseDataSamples with both keys);
- ``'crop'``: the ``S x S`` crop (``input_size``) is the image
  (``x_norm = 2 x_px / S - 1`` of the crop), for batches without a camera
  image (MoCap heatmaps, Key2Mesh keypoints in their unit box) and lifters
  trained on that frame; a stock H3.6M checkpoint would see the person
  about twice as large as in training (a ~450 px person fills the crop but
  spans ~0.9 of the 2 units of a 1000 px image) and always centred.

Outputs are decoded the codec's way: ``ImagePoseLifting`` de-normalises with
``target_mean`` / ``target_std`` when given; a removed root is re-inserted
at the origin. The lifter is supervised exactly as MMPose trains it: its
head's ``loss_module`` on the encoded label (root-relative GT, root removed
/ normalised like the codec's ``encode``).

Losses (:class:`PCHMRLoss`, weights in ``loss_weights``): ``loss_vertices``
L1 between ``M^target`` and the GT mesh (samples with a mesh), ``loss_joints`` L1
between ``U M^target`` and the GT H3.6M joints (visible ones), both
pelvis-centred; ``loss_pose`` the lifter loss. ``mpjpe_lifter`` (mm) is
logged, not optimised.

Ground truth: the targets of :mod:`mpt_plugin.models.utils.mesh_targets`,
built before the model by the data preprocessor of the batch format
(:class:`MPTMeshDataPreprocessor` for image samples: the dataset's 3D
keypoints and the gendered GT mesh; :class:`MPTMoCapDataPreprocessor` for
MoCap bodies; the Key2Mesh preprocessors for AMASS pairs and keypoint
batches). ``body_model`` only sizes the neck.

Separate learning rates (the paper: 1e-3 for the calibration module, 1e-5
for the rest) come from MMEngine's ``paramwise_cfg.custom_keys`` on the
attribute names ``mesh_stream``, ``pose_lifter``, ``pose_estimator_2d`` and
``neck``.
"""
import logging
import math
from typing import Dict, List, Optional, Union

import numpy as np
import torch
from mmengine.logging import print_log
from mmengine.model import BaseModel
from mmengine.structures import InstanceData
from mmpose.structures import PoseDataSample
from torch import Tensor

from mpt_plugin.body_models import MPTSMPL
from mpt_plugin.body_models.conventions import (H36M_PARENTS,
                                                h36m_regressor_order)
from mpt_plugin.body_models.io import load_joint_regressor
from mpt_plugin.geometry.cameras import weak_perspective_project
from mpt_plugin.geometry.crop import (crop_norm_to_image, image_to_crop_norm,
                                      norm_to_px, px_to_norm,
                                      screen_normalize)
from mpt_plugin.registry import MODELS
from ..utils.mesh_targets import stack_targets
from ..necks.pc_hmr_pose_calibration_neck import \
    PCHMRPoseCalibrationNeck  # noqa: F401 (registers it)
from ..streams.pc_hmr_key2mesh_stream import \
    PCHMRKey2MeshStream  # noqa: F401 (registers it)
from ..streams.pc_hmr_mpt_mesh_stream import \
    PCHMRMPTMeshStream  # noqa: F401 (registers it)
from ..losses.pc_hmr_loss import PCHMRLoss  # noqa: F401 (registers it)
from ..utils.pc_hmr_utils import (smpl_skinning_to_h36m, soft_argmax_2d,
                                  to_lifter_sequence)

__all__ = ['PCHMREstimator']

_FRAMEWORKS = ('serial', 'parallel')
_INPUT_FRAMES = ('image', 'crop')
_LIFTER_CODECS = ('ImagePoseLifting', 'VideoPoseLifting')
_DEFAULT_LOSS_WEIGHTS = dict(vertices=1.0, joints=1.0, pose=1.0)


@MODELS.register_module()
class PCHMREstimator(BaseModel):
    """Serial / parallel PC-HMR around a mesh stream, a pose lifter and the
    calibration neck (module docstring for the data flow).

    Args:
        mesh_stream (dict): Mesh stream config, e.g.
            ``PCHMRMPTMeshStream`` or ``PCHMRKey2MeshStream``.
        pose_lifter (dict): MMPose ``PoseLifter`` config (stock style).
        neck (dict): ``PCHMRPoseCalibrationNeck`` config; ``parents``
            (H3.6M tree), ``num_vertices``, ``rest_vertices`` /
            ``rest_joints`` and ``skinning_weights`` (SMPL's, moved onto the
            H3.6M joints) default to values from ``body_model``; a
            ``shape_compensation`` dict gets ``model_path`` / ``gender``
            from ``body_model`` and ``param_dim`` from the mesh stream when
            missing.
        framework (str): ``'serial'`` or ``'parallel'``.
        body_model (dict, optional): ``MPTSMPL`` arguments
            (``model_path``, ``joints_regressor`` = the 17-joint H3.6M
            regressor, ``gender``): the regressor ``U``, the neck's rest
            geometry and GT meshes from SMPL parameters.
        joints_regressor (str | array, optional): (17, V) regressor, when
            no ``body_model`` is given (or to override its regressor).
        pose_estimator_2d (dict, optional): MMPose top-down heatmap model
            of the parallel framework (e.g. a stock ``TopdownPoseEstimator``
            config); its heatmaps are soft-argmax decoded. Without it the
            parallel framework uses the mesh stream's 2D keypoints.
        input_size (int): Side ``S`` of the square crop the 2D coordinates
            refer to (pixels). Defaults to 224.
        soft_argmax_beta (float): Inverse temperature of the soft-argmax.
            Defaults to 100.
        lifter_seq_len (int, optional): Frames fed to the lifter. Defaults
            to the TCN's receptive field ``prod(kernel_sizes)`` (1 for other
            backbones).
        lifter_causal (bool): Pad sequences causally. Defaults to False.
        lifter_input_frame (str): ``'image'`` or ``'crop'``: the image
            whose pixels the lifter's codec normalises (module docstring).
            Defaults to ``'image'``.
        loss_weights (dict): ``vertices``, ``joints``, ``pose`` weights.
            Defaults to 1 each.
        data_preprocessor (dict, optional): e.g. ``PoseDataPreprocessor``
            (images), ``MPTMoCapDataPreprocessor``,
            ``Key2MeshPairsPreprocessor``.
        init_cfg (dict, optional): MMEngine init config.
    """

    def __init__(self,
                 mesh_stream: dict,
                 pose_lifter: dict,
                 neck: dict = dict(type='PCHMRPoseCalibrationNeck'),
                 framework: str = 'parallel',
                 body_model: Optional[dict] = None,
                 joints_regressor: Optional[Union[str, np.ndarray]] = None,
                 pose_estimator_2d: Optional[dict] = None,
                 input_size: int = 224,
                 soft_argmax_beta: float = 100.0,
                 lifter_seq_len: Optional[int] = None,
                 lifter_causal: bool = False,
                 lifter_input_frame: str = 'image',
                 loss_weights: Optional[Dict[str, float]] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        if framework not in _FRAMEWORKS:
            raise ValueError(f'framework must be one of {_FRAMEWORKS}, got '
                             f'{framework!r}')
        if framework == 'serial' and pose_estimator_2d is not None:
            raise ValueError('pose_estimator_2d belongs to the parallel '
                             'framework; the serial one projects the mesh '
                             'joints with the mesh stream camera')
        if lifter_input_frame not in _INPUT_FRAMES:
            raise ValueError(f'lifter_input_frame must be one of '
                             f'{_INPUT_FRAMES}, got {lifter_input_frame!r}')
        self.framework = framework
        self.lifter_input_frame = lifter_input_frame
        self.input_size = int(input_size)
        self.soft_argmax_beta = float(soft_argmax_beta)
        weights = dict(_DEFAULT_LOSS_WEIGHTS)
        if loss_weights is not None:
            unknown = sorted(set(loss_weights) - set(weights))
            if unknown:
                raise KeyError(f'unknown loss_weights keys {unknown}, '
                               f'expected {sorted(weights)}')
            weights.update(loss_weights)
        self.loss_weights = weights
        self.loss_module = MODELS.build(dict(type='PCHMRLoss', **weights))

        bm_cfg = None
        if body_model is not None:
            bm_cfg = {k: v for k, v in body_model.items() if k != 'type'}
            bm_cfg.setdefault('gender', 'neutral')
            if joints_regressor is None:
                joints_regressor = bm_cfg.get('joints_regressor')
            self.body_model = MPTSMPL(**bm_cfg)
        else:
            self.body_model = None
        if joints_regressor is None:
            raise KeyError('PCHMREstimator needs the 17-joint H3.6M '
                           'regressor: body_model.joints_regressor or '
                           'joints_regressor')
        regressor = (load_joint_regressor(joints_regressor) if isinstance(
            joints_regressor, str) else np.asarray(joints_regressor,
                                                   dtype=np.float64))
        if regressor.ndim != 2 or regressor.shape[0] != 17:
            raise ValueError('joints_regressor must have shape (17, V) '
                             f'(H3.6M joints), got {regressor.shape}')
        self.register_buffer('joint_regressor',
                             torch.as_tensor(regressor, dtype=torch.float32),
                             persistent=False)
        num_verts = regressor.shape[1]

        self.mesh_stream = MODELS.build(mesh_stream)
        self.pose_lifter = MODELS.build(pose_lifter)
        self._init_lifter_codec(lifter_seq_len, lifter_causal)
        self.pose_estimator_2d = (MODELS.build(pose_estimator_2d)
                                  if pose_estimator_2d is not None else None)
        self.neck = MODELS.build(
            self._neck_config(neck, bm_cfg, regressor, num_verts))
        if self.neck.num_joints != 17:
            raise ValueError('the neck must use the 17 H3.6M joints, got '
                             f'{self.neck.num_joints}')

    # ------------------------------------------------------------------ init
    def _neck_config(self, neck: dict, bm_cfg: Optional[dict],
                     regressor: np.ndarray, num_verts: int) -> dict:
        cfg = dict(neck)
        cfg.setdefault('type', 'PCHMRPoseCalibrationNeck')
        cfg.setdefault('parents', list(H36M_PARENTS))
        cfg.setdefault('num_vertices', num_verts)
        if bm_cfg is not None and 'rest_vertices' not in cfg:
            with torch.no_grad():
                rest = self.body_model()['vertices'][0].double().numpy()
            cfg['rest_vertices'] = rest
            cfg['rest_joints'] = regressor @ rest
        if bm_cfg is not None and 'skinning_weights' not in cfg:
            cfg['skinning_weights'] = smpl_skinning_to_h36m(
                self.body_model.lbs_weights.double().numpy(),
                h36m_regressor_order(
                    regressor, self.body_model.v_template.double().numpy()))
        comp = cfg.get('shape_compensation')
        if comp is not None:
            comp = dict(comp)
            if 'model_path' not in comp and 'posedirs' not in comp:
                if bm_cfg is None:
                    raise KeyError('neck.shape_compensation needs model_path '
                                   '(or a body_model to take it from)')
                comp['model_path'] = bm_cfg['model_path']
                comp.setdefault('gender', bm_cfg['gender'])
            comp.setdefault('param_dim',
                            int(getattr(self.mesh_stream, 'param_dim', 0)))
            cfg['shape_compensation'] = comp
        return cfg

    def _init_lifter_codec(self, seq_len: Optional[int],
                           causal: bool) -> None:
        head = getattr(self.pose_lifter, 'head', None)
        if head is None:
            raise ValueError('pose_lifter must have a head (e.g. '
                             'TemporalRegressionHead)')
        codec = getattr(head, 'decoder', None)
        name = type(codec).__name__ if codec is not None else None
        if codec is not None and name not in _LIFTER_CODECS:
            raise ValueError(f'unsupported lifter codec {name}; expected '
                             f'one of {_LIFTER_CODECS} (or none)')
        self.lifter_codec = name
        root = list(getattr(codec, 'root_index', [0]))
        if root != [0]:
            raise ValueError('the lifter codec must use root_index=0 (the '
                             f'H3.6M pelvis), got {root}')
        self.lifter_remove_root = bool(getattr(codec, 'remove_root', False))
        for key in ('keypoints_mean', 'keypoints_std', 'target_mean',
                    'target_std'):
            value = getattr(codec, key, None)
            if value is not None:
                value = torch.as_tensor(np.asarray(value, np.float32))
            self.register_buffer(f'lifter_{key}', value, persistent=False)
        if seq_len is None:
            kernels = getattr(self.pose_lifter.backbone, 'kernel_sizes',
                              (1, ))
            seq_len = int(math.prod(kernels))
        self.lifter_seq_len = int(seq_len)
        self.lifter_causal = bool(causal)
        self._warned_static = False

    # --------------------------------------------------------------- lifter
    def encode_lifter_input(self, keypoints_px: Tensor,
                            image_wh: Tensor) -> Tensor:
        """2D pose in image pixels -> the lifter codec's input space.

        Args:
            keypoints_px (Tensor): (B, [T,] K, 2) pixels of an image of
                size ``image_wh``.
            image_wh (Tensor): (B, 2) image width and height in px.

        Returns:
            Tensor: same shape as ``keypoints_px`` (module docstring).
        """
        if self.lifter_codec != 'ImagePoseLifting':
            return screen_normalize(keypoints_px, image_wh)
        if self.lifter_keypoints_mean is None:
            return keypoints_px
        mean = self.lifter_keypoints_mean[0].to(keypoints_px)
        std = self.lifter_keypoints_std[0].to(keypoints_px)
        if mean.shape != keypoints_px.shape[-2:]:
            raise ValueError(
                f'lifter keypoints_mean has shape {tuple(mean.shape)}, the 2D'
                f' pose {tuple(keypoints_px.shape[-2:])} (K, 2)')
        return (keypoints_px - mean) / std

    def lifter_input_pixels(self, keypoints_norm: Tensor,
                            data_samples=None) -> tuple:
        """Single-frame crop-normalised 2D -> pixels of the image the
        lifter's codec expects (``lifter_input_frame``).

        Args:
            keypoints_norm (Tensor): (B, K, 2) crop-normalised.
            data_samples: PoseDataSamples with ``crop_affine`` and
                ``ori_shape`` metainfo (``'image'`` frame only).

        Returns:
            tuple: ``keypoints_px`` (B, K, 2) and ``image_wh`` (B, 2).
        """
        if self.lifter_input_frame == 'crop':
            size = float(self.input_size)
            return (norm_to_px(keypoints_norm, size),
                    keypoints_norm.new_full((keypoints_norm.shape[0], 2),
                                            size))
        affine, image_wh = self._image_geometry(data_samples, keypoints_norm)
        return (crop_norm_to_image(keypoints_norm, affine, self.input_size),
                image_wh)

    def _image_geometry(self, data_samples, ref: Tensor) -> tuple:
        """``crop_affine`` (B, 2, 3) and ``(w, h)`` (B, 2) of image samples."""
        ok = isinstance(data_samples, (list, tuple)) and data_samples and \
            all(isinstance(d, PoseDataSample) and 'crop_affine' in d.metainfo
                and 'ori_shape' in d.metainfo for d in data_samples)
        if not ok:
            raise KeyError(
                "lifter_input_frame='image' needs image samples "
                '(PoseDataSamples with crop_affine and ori_shape metainfo, '
                'from MPTMeshAffine + MPTPackMeshInputs) to express the 2D pose in '
                'the original camera image; batches without one (MoCap '
                "heatmaps, Key2Mesh keypoints) must set lifter_input_frame="
                "'crop'")
        affine = torch.stack([
            torch.as_tensor(np.asarray(d.metainfo['crop_affine']),
                            dtype=torch.float32) for d in data_samples
        ]).to(ref.device)
        image_wh = torch.tensor(
            [[float(d.metainfo['ori_shape'][1]),
              float(d.metainfo['ori_shape'][0])] for d in data_samples],
            device=ref.device)
        return affine, image_wh

    @staticmethod
    def _sequence_2d(data_samples) -> Optional[Tensor]:
        """``keypoints2d_seq`` (B, T, K, 2) px of image samples, or None."""
        if not isinstance(data_samples, (list, tuple)) or not data_samples \
                or not all(isinstance(d, PoseDataSample)
                           for d in data_samples):
            return None
        has = ['gt_instances' in d and 'keypoints2d_seq' in d.gt_instances
               for d in data_samples]
        if not any(has):
            return None
        if not all(has):
            raise KeyError('gt_instances.keypoints2d_seq is in some samples '
                           'of the batch only; a batch is either video or '
                           'image samples')
        seq = torch.cat([
            torch.as_tensor(d.gt_instances.keypoints2d_seq)
            for d in data_samples
        ]).to(torch.float32)
        return seq

    def lift(self, keypoints: Tensor) -> Tensor:
        """Runs the lifter; returns its raw head output (B, J_out, 3).

        Args:
            keypoints (Tensor): (B, K, 2) or (B, T, K, 2) 2D poses in the
                codec's input space (:meth:`encode_lifter_input`); a single
                frame is replicated to the receptive field.
        """
        seq = to_lifter_sequence(keypoints, self.lifter_seq_len,
                                 self.lifter_causal)
        bsz, num_t, num_k, dim = seq.shape
        # codec layout: (K, D, T) flattened to (K * D, T)
        feats = seq.permute(0, 2, 3, 1).reshape(bsz, num_k * dim, num_t)
        feats = self.pose_lifter.extract_feat(feats)
        out = self.pose_lifter.head.forward(feats)
        if out.shape[0] != bsz:
            raise ValueError(
                f'the lifter returned {tuple(out.shape)} for {bsz} samples; '
                f'lifter_seq_len={self.lifter_seq_len} must equal its '
                'receptive field')
        return out

    def decode_lifter_output(self, raw: Tensor) -> Tensor:
        """Raw lifter output -> (B, 17, 3) pelvis-centred metres."""
        out = raw
        if self.lifter_target_mean is not None:
            out = out * self.lifter_target_std[0].to(out) + \
                self.lifter_target_mean[0].to(out)
        if self.lifter_remove_root:
            out = torch.cat([out.new_zeros(out.shape[0], 1, 3), out], 1)
        if out.shape[1:] != (17, 3):
            raise ValueError('the lifter must predict the 17 H3.6M joints '
                             f'(16 without the root), got {tuple(raw.shape)}')
        return out - out[:, :1]

    def encode_lifter_target(self, joints: Tensor, weight: Tensor) -> tuple:
        """GT (B, 17, 3) pelvis-centred -> (label, weight) as the codec."""
        label = joints - joints[:, :1]
        if self.lifter_remove_root:
            label, weight = label[:, 1:], weight[:, 1:]
        if self.lifter_target_mean is not None:
            label = (label - self.lifter_target_mean[0].to(label)) / \
                self.lifter_target_std[0].to(label)
        return label, weight

    # ------------------------------------------------------------ 2D poses
    def _estimate_2d(self, images: Tensor) -> Tensor:
        if not isinstance(images, Tensor) or images.dim() != 4:
            raise ValueError('pose_estimator_2d expects images (B, 3, S, S),'
                             f' got {tuple(getattr(images, "shape", ()))}')
        feats = self.pose_estimator_2d.extract_feat(images)
        heatmaps = self.pose_estimator_2d.head.forward(feats)
        if isinstance(heatmaps, (tuple, list)):
            heatmaps = heatmaps[-1]
        coords, _ = soft_argmax_2d(heatmaps, self.soft_argmax_beta)
        # MMPose heatmap codecs scale by input / heatmap size (no shift)
        scale = coords.new_tensor([
            images.shape[-1] / heatmaps.shape[-1],
            images.shape[-2] / heatmaps.shape[-2]
        ])
        return px_to_norm(coords * scale, images.shape[-1])

    def _encode_sequence(self, sequence: Tensor, data_samples,
                         ref: Tensor) -> tuple:
        """Video path: window (B, T, K, 2) original px -> (lifter input,
        centre frame crop-normalised (B, K, 2))."""
        if self.framework == 'serial':
            raise ValueError(
                'the serial framework lifts the mesh stream\'s own 2D pose '
                '(Eq. 3), which exists for the centre frame only; a video '
                'window (gt_instances.keypoints2d_seq) needs the parallel '
                'framework (or the mesh stream run on every frame, which is '
                'not implemented)')
        if self.pose_estimator_2d is not None:
            raise ValueError(
                'the samples carry a 2D window (keypoints2d_seq), which the '
                'lifter reads; pose_estimator_2d sees the centre image only '
                'and would be unused: drop it from the video config')
        if self.lifter_input_frame != 'image':
            raise ValueError("keypoints2d_seq is in original-image pixels; "
                             "set lifter_input_frame='image'")
        num_t = sequence.shape[1]
        if num_t != self.lifter_seq_len:
            raise ValueError(
                f'the samples carry {num_t}-frame windows, the lifter\'s '
                f'receptive field is {self.lifter_seq_len} frames; set the '
                'dataset seq_len to the receptive field')
        affine, image_wh = self._image_geometry(data_samples, ref)
        sequence = sequence.to(ref)
        centre = image_to_crop_norm(sequence[:, num_t // 2], affine,
                                    self.input_size)
        return self.encode_lifter_input(sequence, image_wh), centre

    # -------------------------------------------------------------- forward
    def _run(self, inputs, data_samples) -> Dict[str, Tensor]:
        stream = self.mesh_stream(inputs, data_samples)
        verts = stream['vertices']
        if verts.dim() != 3 or verts.shape[1:] != (
                self.joint_regressor.shape[1], 3):
            raise ValueError(
                'the mesh stream must return vertices (B, '
                f'{self.joint_regressor.shape[1]}, 3), got '
                f'{tuple(verts.shape)}')
        reg = self.joint_regressor.to(verts.dtype)
        joints_raw = torch.einsum('jv,bvc->bjc', reg, verts)  # Eq. 2
        if self.framework == 'serial':
            if stream.get('camera') is None:
                raise KeyError('the serial framework needs the mesh stream '
                               "output 'camera' (B, 3)")
            kp2d = weak_perspective_project(joints_raw, stream['camera'])
        sequence = self._sequence_2d(data_samples)
        if sequence is not None:
            lifter_in, kp2d = self._encode_sequence(
                sequence.to(verts.device), data_samples, verts)
        else:
            if self.framework == 'parallel':
                if self.pose_estimator_2d is not None:
                    kp2d = self._estimate_2d(inputs)
                elif stream.get('keypoints2d_norm') is None:
                    raise KeyError(
                        'the parallel framework needs pose_estimator_2d or a '
                        "mesh stream exposing 'keypoints2d_norm'")
                else:
                    kp2d = stream['keypoints2d_norm']
            lifter_in = self.encode_lifter_input(
                *self.lifter_input_pixels(kp2d, data_samples))
            if self.lifter_seq_len > 1 and not self._warned_static:
                self._warned_static = True
                print_log(
                    f'PCHMREstimator: the {self.lifter_seq_len}-frame lifter '
                    'gets one frame replicated (a static sequence); feed '
                    'windows (MPTHumanDataSequenceDataset) or use a 1-frame '
                    'lifter', logger='current', level=logging.WARNING)
        lifter_raw = self.lift(lifter_in)
        target = self.decode_lifter_output(lifter_raw)
        if not torch.isfinite(target).all():
            raise ValueError(
                'PCHMREstimator: the pose lifter produced non-finite target '
                'joints (NaN/Inf); check its 2D input and the learning rate')
        pelvis = joints_raw[:, :1]
        verts_c = verts - pelvis
        joints_c = joints_raw - pelvis
        calib = self.neck(verts_c, joints_c, target,
                          mesh_params=stream.get('params'))
        calib_joints = torch.einsum('jv,bvc->bjc', reg, calib['vertices'])
        calib_pelvis = calib_joints[:, :1]
        return dict(
            vertices=calib['vertices'] - calib_pelvis,
            joints_h36m=calib_joints - calib_pelvis,
            vertices_uncalibrated=verts_c,
            joints_h36m_uncalibrated=joints_c,
            joints_target=target,
            lifter_raw=lifter_raw,
            lifter_input=lifter_in,
            keypoints2d_norm=kp2d,
            camera=stream.get('camera'))

    # ---------------------------------------------------------- ground truth
    def _centre(self, vertices: Optional[Tensor],
                joints: Optional[Tensor]) -> tuple:
        if joints is None:
            joints = torch.einsum('jv,bvc->bjc',
                                  self.joint_regressor.to(vertices),
                                  vertices)
        pelvis = joints[:, :1]
        vertices = vertices - pelvis if vertices is not None else None
        return vertices, joints - pelvis

    @torch.no_grad()
    def gather_gt(self, inputs, data_samples) -> Dict[str, Tensor]:
        """The batch's targets (:mod:`mpt_plugin.models.utils.mesh_targets`,
        built by the data preprocessor) in this estimator's frame.

        Returns:
            dict: ``joints`` (B, 17, 3), ``joints_weight`` (B, 17),
            ``vertices`` (B, V, 3) or None, ``vertices_weight`` (B,);
            pelvis-centred camera-aligned metres. Without ``joints_h36m``
            the joints are regressed from the GT mesh (weight 1 where the
            sample has one).

        Raises:
            KeyError: the batch has neither a GT mesh nor GT joints.
        """
        targets = stack_targets(data_samples)
        verts = targets.get('vertices')
        joints = targets.get('joints_h36m')
        if verts is None and joints is None:
            raise KeyError(
                'PCHMREstimator: no targets in the batch (need vertices or '
                'joints_h36m): use the data preprocessor of the batch format '
                '(MPTMeshDataPreprocessor for image samples, '
                'MPTMoCapDataPreprocessor for MoCap bodies, Key2Mesh*'
                'Preprocessor for SMPL pairs and keypoints)')
        ref = verts if verts is not None else joints
        bsz = ref.shape[0]
        ones = ref.new_ones(bsz, dtype=torch.float32)
        has_mesh = targets.get('has_mesh')
        if verts is None:
            vertices_weight = torch.zeros_like(ones)
        else:
            vertices_weight = ones if has_mesh is None else has_mesh.to(ones)
            verts, mesh_joints = self._centre(verts.float(), None)
        if joints is None:
            joints = mesh_joints
            weight = vertices_weight[:, None].expand(-1, 17)
        else:
            joints = joints.float()
            joints = joints - joints[:, :1]
            weight = targets.get('joints_h36m_weights')
            weight = (ones[:, None].expand(-1, 17) if weight is None else
                      weight.float() * (weight[:, :1] > 0))
        return dict(joints=joints, joints_weight=weight, vertices=verts,
                    vertices_weight=vertices_weight)

    # ----------------------------------------------------------------- modes
    def forward(self, inputs, data_samples=None, mode: str = 'tensor'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self._run(inputs, data_samples)
        raise ValueError(f"mode must be 'loss', 'predict' or 'tensor', got "
                         f'{mode!r}')

    def loss(self, inputs, data_samples) -> Dict[str, Tensor]:
        """Weighted losses (module docstring)."""
        out = self._run(inputs, data_samples)
        gt = self.gather_gt(inputs, data_samples)
        label, weight = self.encode_lifter_target(gt['joints'],
                                                  gt['joints_weight'])
        raw = out['lifter_raw']
        lifter_loss = self.pose_lifter.head.loss_module(
            raw, label.to(raw), weight.to(raw)[..., None])
        return self.loss_module(out, gt, lifter_loss)

    def predict(self, inputs, data_samples=None) -> List[PoseDataSample]:
        """One ``PoseDataSample`` per input.

        ``pred_instances``: ``vertices`` (1, V, 3) calibrated,
        ``vertices_uncalibrated`` (1, V, 3), ``joints_h36m`` (1, 17, 3)
        (``U M^target``), ``joints_target`` (1, 17, 3) lifter output,
        ``keypoints2d_norm`` (1, K, 2) lifter input and ``camera`` (1, 3)
        when the stream has one; all pelvis-centred metres. Image samples
        are returned with their ``gt_instances`` plus ``vertices`` (where
        ``has_smpl``) and ``joints_h36m``; other batch formats get new
        samples whose ``gt_instances`` hold the stream's GT (when it can
        gather one).
        """
        out = self._run(inputs, data_samples)
        try:
            gt = self.gather_gt(inputs, data_samples)
        except KeyError:
            gt = None
        bsz = out['vertices'].shape[0]
        is_pose = isinstance(data_samples, (list, tuple)) and all(
            isinstance(d, PoseDataSample) for d in data_samples)
        results = []
        for i in range(bsz):
            sample = data_samples[i] if is_pose else PoseDataSample()
            pred = dict(
                vertices=out['vertices'][i:i + 1],
                vertices_uncalibrated=out['vertices_uncalibrated'][i:i + 1],
                joints_h36m=out['joints_h36m'][i:i + 1],
                joints_target=out['joints_target'][i:i + 1],
                keypoints2d_norm=out['keypoints2d_norm'][i:i + 1])
            if out['camera'] is not None:
                pred['camera'] = out['camera'][i:i + 1]
            sample.pred_instances = InstanceData(
                **{k: v.detach()
                   for k, v in pred.items()})
            if gt is not None:
                gt_inst = sample.gt_instances if 'gt_instances' in sample \
                    else InstanceData()
                gt_inst.joints_h36m = gt['joints'][i:i + 1]
                if 'keypoints3d_mask' not in gt_inst:
                    gt_inst.keypoints3d_mask = gt['joints_weight'][i:i + 1]
                if gt['vertices'] is not None and \
                        gt['vertices_weight'][i] > 0:
                    gt_inst.vertices = gt['vertices'][i:i + 1]
                elif 'vertices' in gt_inst:  # a target row without a mesh
                    del gt_inst.vertices
                sample.gt_instances = gt_inst
            results.append(sample)
        return results
