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
"""
from typing import Any, Dict, Tuple

import torch
from torch import Tensor

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
        return dict(inputs=kp_norm, data_samples=gt)

    def extra_repr(self) -> str:
        return f'conf_threshold={self.conf_threshold}'

