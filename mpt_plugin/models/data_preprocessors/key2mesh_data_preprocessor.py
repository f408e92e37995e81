"""Key2Mesh data preprocessor for SMPL-parameter *and* 2D-keypoint batches.

:class:`Key2MeshPairsPreprocessor` turns SMPL parameters into synthetic
keypoints on the device (source domain). Target-domain data (2D detections
of real images, or keypoints synthesised by the dataset itself, e.g. the
shifted synthetic target of ``Key2MeshAMASSPairsDataset(keypoints2d=...)``)
already come as keypoints; this preprocessor accepts both:

- ``data['inputs']`` holds ``pose_aa``/``betas``: handled exactly as
  :class:`Key2MeshPairsPreprocessor` (synthesis on the device).
- otherwise ``data['inputs']`` holds 2D keypoints, as a dict with
  ``keypoints2d_px`` or ``keypoints2d`` ``(B, K, 2)`` pixels (or
  ``(B, K, 3)`` with the confidence last) and a confidence
  ``keypoints2d_conf`` / ``keypoints2d_visible`` / ``keypoints_visible``
  ``(B, K)`` (default: all 1), or already normalised ``keypoints2d_norm``
  with ``keypoints2d_mask``; or directly a ``(B, K, 3)`` tensor. Each entry
  may be a stacked tensor or a list of per-sample tensors. The keypoints
  are normalised with :func:`normalize_keypoints_2d` (threshold
  ``conf_threshold``), with no jitter or occlusion added.

Keypoint batches give ``dict(inputs=(B, K, 2) keypoints_norm,
data_samples=gt)`` where ``gt`` holds the loader's ``data_samples``
(stacked) plus ``keypoints_mask`` / ``keypoints2d_mask`` (B, K) bool,
``keypoints2d_px`` (B, K, 2) (when given in pixels) and
``keypoints2d_norm`` (B, K, 2) (= the inputs: the detections are their own
2D target, which is label-free). Evaluation labels in ``data_samples`` are
passed on untouched; SMPL labels given as ``smpl_global_orient`` (3,),
``smpl_body_pose`` (69,) and ``smpl_betas`` (10,) (the image-sample
contract) are also provided as ``pose_aa`` (72,) and ``betas`` (10,).

Outside training, the labels of a keypoint batch become the mesh targets
(:mod:`mpt_plugin.models.utils.mesh_targets`, camera axes, metres) the
estimators evaluate against, from the first source present:

1. SMPL labels posed by ``body_model`` (neutral, as Key2Mesh evaluates) with
   ``transl = 0`` (mmhuman3d's PVE frame): ``eval_gt.pose_aa`` /
   ``eval_gt.betas`` (:class:`Key2MeshKeypointsDataset`, HumanData: camera
   frame) or the image contract's ``smpl_*`` (camera frame), or top-level
   ``pose_aa`` / ``betas`` (:class:`Key2MeshAMASSPairsDataset`: SMPL axes,
   turned into camera axes); ``has_smpl`` gives ``has_mesh`` -> ``vertices``
   (B, V, 3) (zeros where there is none) and ``has_mesh`` (B,);
2. ``gt_vertices`` (B, V, 3) and optionally ``gt_joints_h36m`` (B, 17, 3),
   camera frame -> ``vertices`` / ``joints_h36m``;
3. 17 H3.6M ``keypoints3d`` (camera frame, ``keypoints3d_mask``), top level
   or in ``eval_gt`` -> ``joints_h36m`` (pelvis-centred) and
   ``joints_h36m_weights``.

The labels are not read while training (domain adaptation must never see
``eval_gt``).
"""
from typing import Any, Dict, Tuple

import torch
from torch import Tensor

from mpt_plugin.geometry.cameras import smpl_to_camera_axes
from mpt_plugin.geometry.keypoints import normalize_keypoints_2d
from mpt_plugin.registry import MODELS
from .key2mesh_pairs_preprocessor import Key2MeshPairsPreprocessor

__all__ = ['Key2MeshDataPreprocessor']

_PX_KEYS = ('keypoints2d_px', 'keypoints2d')
_CONF_KEYS = ('keypoints2d_conf', 'keypoints2d_visible', 'keypoints_visible')


def _as_batch(value: Any, name: str) -> Tensor:
    """A stacked float tensor from a tensor/array or a list of them."""
    if isinstance(value, (list, tuple)):
        if not value:
            raise ValueError(f"data['inputs'][{name!r}] is an empty list")
        value = torch.stack([torch.as_tensor(v) for v in value])
    return torch.as_tensor(value)


@MODELS.register_module()
class Key2MeshDataPreprocessor(Key2MeshPairsPreprocessor):
    """SMPL-parameter batches (synthesis) or keypoint batches (normalise).

    Args:
        body_model (dict | nn.Module): As
            :class:`Key2MeshPairsPreprocessor`.
        **kwargs: The other :class:`Key2MeshPairsPreprocessor` arguments
            (``focal``, ``distance``, ``jitter_std``, ``occlusion_prob``,
            ``conf_threshold``, ``target_2d``, ``non_blocking``); jitter
            and occlusion only apply to SMPL-parameter batches.
    """

    @staticmethod
    def _is_params_batch(inputs: Any) -> bool:
        if isinstance(inputs, (list, tuple)) and inputs and \
                isinstance(inputs[0], dict):
            inputs = inputs[0]
        return isinstance(inputs, dict) and 'pose_aa' in inputs

    def _keypoints(self, inputs: Any) -> Tuple[Tensor, Tensor, bool]:
        """(B, K, 2) keypoints, (B, K) confidence, whether normalised."""
        if isinstance(inputs, (list, tuple)) and inputs and \
                isinstance(inputs[0], dict):
            inputs = {k: [item[k] for item in inputs] for k in inputs[0]}
        if not isinstance(inputs, dict):
            inputs = dict(keypoints2d=inputs)
        if 'keypoints2d_norm' in inputs:
            kp = _as_batch(inputs['keypoints2d_norm'], 'keypoints2d_norm')
            mask = inputs.get('keypoints2d_mask')
            conf = (torch.ones(kp.shape[:2]) if mask is None else
                    _as_batch(mask, 'keypoints2d_mask'))
            return kp, conf, True
        key = next((k for k in _PX_KEYS if k in inputs), None)
        if key is None:
            raise KeyError(
                "Key2MeshDataPreprocessor: data['inputs'] needs 'pose_aa' "
                "(SMPL batch) or 2D keypoints ('keypoints2d_px', "
                "'keypoints2d' or 'keypoints2d_norm'), got keys "
                f'{sorted(inputs)}')
        kp = _as_batch(inputs[key], key)
        if kp.ndim != 3 or kp.shape[-1] not in (2, 3):
            raise ValueError(f"data['inputs'][{key!r}] must have shape "
                             f'(B, K, 2) or (B, K, 3), got '
                             f'{tuple(kp.shape)}')
        conf_key = next((k for k in _CONF_KEYS if k in inputs), None)
        if conf_key is not None:
            conf = _as_batch(inputs[conf_key], conf_key)
        elif kp.shape[-1] == 3:
            conf = kp[..., 2]
        else:
            conf = torch.ones(kp.shape[:2])
        kp = kp[..., :2]
        conf = conf.reshape(kp.shape[:2])
        return kp, conf, False

    @staticmethod
    def _smpl_from_contract(gt: Dict[str, Any]) -> None:
        """Adds ``pose_aa``/``betas`` from ``smpl_*`` labels (in place)."""
        keys = ('smpl_global_orient', 'smpl_body_pose', 'smpl_betas')
        if 'pose_aa' in gt or not all(k in gt for k in keys):
            return
        orient = torch.as_tensor(gt['smpl_global_orient'])
        body = torch.as_tensor(gt['smpl_body_pose'])
        bsz = orient.shape[0]
        gt['pose_aa'] = torch.cat(
            [orient.reshape(bsz, 3),
             body.reshape(bsz, -1)[:, :69]], dim=1)
        gt['betas'] = torch.as_tensor(gt['smpl_betas']).reshape(bsz, -1)

    @torch.no_grad()
    def forward(self, data: dict, training: bool = False) -> dict:
        """Normalises keypoint batches; synthesises SMPL-parameter batches.

        Args:
            data (dict): Loader output with ``inputs`` (and optionally
                ``data_samples``), see the module docstring.
            training (bool): Jitter/occlusion for SMPL batches. Defaults to
                False.

        Returns:
            dict: ``dict(inputs=(B, K, 2) keypoints_norm,
            data_samples=gt dict)``.
        """
        if not isinstance(data, dict) or 'inputs' not in data:
            raise KeyError("Key2MeshDataPreprocessor expects a dict with key "
                           "'inputs', got " +
                           (f'keys {sorted(data)}' if isinstance(data, dict)
                            else type(data).__name__))
        if self._is_params_batch(data['inputs']):
            return super().forward(data, training)
        kp, conf, normalised = self._keypoints(data['inputs'])
        device = self.openpose18_index.device
        kp = kp.to(device, torch.float32)
        conf = conf.to(device, torch.float32)
        gt = self._collect_samples(data.get('data_samples'))
        self._smpl_from_contract(gt)
        for key in ('pose_aa', 'betas'):
            if key in gt:
                gt[key] = torch.as_tensor(gt[key]).to(device, torch.float32)
        if normalised:
            mask = conf > 0
            kp_norm = torch.where(mask[..., None], kp, torch.full_like(
                kp, 0.5))
        else:
            kp_norm, mask = normalize_keypoints_2d(kp, conf,
                                                   self.conf_threshold)
            gt['keypoints2d_px'] = kp
        gt.update(keypoints_mask=mask,
                  keypoints2d_norm=kp_norm,
                  keypoints2d_mask=mask)
        if not training:
            gt.update(self.label_targets(gt, kp.shape[0]))
        return dict(inputs=kp_norm, data_samples=gt)

    @torch.no_grad()
    def label_targets(self, gt: Dict[str, Any],
                      bsz: int) -> Dict[str, Tensor]:
        """Mesh targets from a keypoint batch's labels (module docstring).

        Args:
            gt (dict): the batch's ``data_samples`` (stacked).
            bsz (int): batch size B.

        Returns:
            dict: ``vertices`` (B, V, 3) + ``has_mesh`` (B,), and/or
            ``joints_h36m`` (B, 17, 3) + ``joints_h36m_weights`` (B, 17);
            empty without labels.
        """
        device = self.openpose18_index.device

        def batch(value, width=None):
            if isinstance(value, (list, tuple)):
                value = torch.stack([torch.as_tensor(v) for v in value])
            value = torch.as_tensor(value).to(device, torch.float32)
            return value if width is None else value.reshape(bsz, width)

        evals = gt.get('eval_gt') if isinstance(gt.get('eval_gt'),
                                                dict) else {}
        labels, smpl_axes = None, False
        if 'pose_aa' in evals and 'betas' in evals:
            labels = evals
        elif 'pose_aa' in gt and 'betas' in gt:
            labels = gt
            # AMASS pairs are in SMPL axes; the image contract's smpl_* (the
            # source of pose_aa when present) is in the camera frame
            smpl_axes = 'smpl_global_orient' not in gt
        if labels is not None:
            pose = batch(labels['pose_aa'], 72)
            betas = batch(labels['betas'], 10)
            has = labels.get('has_smpl')
            has = (torch.ones(bsz, dtype=torch.bool, device=device)
                   if has is None else batch(has).reshape(bsz) > 0)
            # samples without SMPL may hold anything (even NaN)
            pose = torch.where(has[:, None], pose, 0.)
            betas = torch.where(has[:, None], betas, 0.)
            verts = self.body_model(betas=betas, global_orient=pose[:, :3],
                                    body_pose=pose[:, 3:])['vertices']
            if smpl_axes:
                verts = smpl_to_camera_axes(verts)
            return dict(vertices=torch.where(has[:, None, None], verts, 0.),
                        has_mesh=has)
        if 'gt_vertices' in gt:
            out = dict(vertices=batch(gt['gt_vertices']),
                       has_mesh=torch.ones(bsz, dtype=torch.bool,
                                           device=device))
            if 'gt_joints_h36m' in gt:
                joints = batch(gt['gt_joints_h36m'])
                out.update(joints_h36m=joints - joints[:, :1],
                           joints_h36m_weights=torch.ones(
                               bsz, 17, device=device))
            return out
        source = evals if 'keypoints3d' in evals else gt
        if 'keypoints3d' in source:
            kp3d = batch(source['keypoints3d'])
            if kp3d.shape[1:] == (17, 3):
                mask = source.get('keypoints3d_mask')
                weights = (torch.ones(bsz, 17, device=device)
                           if mask is None else batch(mask).reshape(bsz, 17))
                return dict(joints_h36m=kp3d - kp3d[:, :1],
                            joints_h36m_weights=(weights > 0).float())
        return {}

    def extra_repr(self) -> str:
        return f'conf_threshold={self.conf_threshold}'

