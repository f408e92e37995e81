"""The one ground-truth contract of every estimator: mesh targets.

Targets are built once per batch, before the model, by the data
preprocessors (:class:`MPTMoCapDataPreprocessor` for MoCap bodies,
:class:`MPTMeshDataPreprocessor` for image samples, the Key2Mesh
preprocessors for SMPL pairs and keypoint batches). Every estimator reads
them with :func:`stack_targets`; none opens a file or poses a GT body.

A targets dict holds any of these keys (:data:`MESH_TARGET_KEYS`), all
tensors on the training device, metres, camera axes (x right, y down,
z forward), pelvis (H3.6M joint 0 of the 17-joint regressor) at the origin:

========================  ==============  ==================================
key                       shape           meaning
========================  ==============  ==================================
``vertices``              (B, V, 3)       GT mesh (zeros where ``has_mesh``
                                          is False)
``has_mesh``              (B,) bool       the sample has a GT mesh
``joints_h36m``           (B, 17, 3)      GT H3.6M joints
``joints_h36m_weights``   (B, 17)         per-joint weight (0 = no label)
``joints_3d``             (B, 14, 3)      the LSP-14 subset of
                                          ``joints_h36m``
``joints_3d_weights``     (B, 14)         its weights
``has_3d``                (B,) bool       any 3D joint labelled
``joints_2d_norm``        (B, 14, 2)      LSP-14 2D joints in the input crop,
                                          normalised to [-1, 1]
``joints_2d_weights``     (B, 14)         their weights
``has_2d``                (B,) bool       any 2D joint labelled
========================  ==============  ==================================

An absent flag or weight means "all valid" (MoCap bodies have every
label). The mesh sampler's coarser levels (``vertices_mid``,
``vertices_coarse``) are added by :func:`add_mesh_levels` where a loss needs
them.

Transport: a MoCap or Key2Mesh batch's ``data_samples`` is already a dict of
batched tensors, the targets are its keys; an image batch keeps MMPose's
list of ``PoseDataSample`` and each sample's ``gt_instances`` holds its row
``(1, ...)`` of every target (:func:`attach_targets`), so the metric and the
visualiser read the same values.
"""
from typing import Dict, Iterable, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor, nn

from mpt_plugin.body_models import (  # noqa: F401 (registers them)
    MPTGenderedSMPL, MPTSMPL)
from mpt_plugin.registry import MODELS

__all__ = [
    'MESH_TARGET_KEYS', 'GT_GENDERS', 'stack_targets', 'attach_targets',
    'require_targets', 'add_mesh_levels', 'build_gt_body_model'
]

#: ``body_model.gender`` of the target builders: each sample's own model
#: (``'subject'``) or one model for every sample.
GT_GENDERS = ('subject', 'neutral', 'male', 'female')

#: Every key a targets dict may hold (see the module docstring).
MESH_TARGET_KEYS = ('vertices', 'has_mesh', 'joints_h36m',
                    'joints_h36m_weights', 'joints_3d', 'joints_3d_weights',
                    'has_3d', 'joints_2d_norm', 'joints_2d_weights', 'has_2d')

Samples = Union[dict, Sequence, None]


def _is_sample_list(data_samples: Samples) -> bool:
    return isinstance(data_samples, (list, tuple)) and len(data_samples) > 0 \
        and all(hasattr(s, 'gt_instances') for s in data_samples)


def stack_targets(data_samples: Samples) -> Dict[str, Tensor]:
    """The batch's targets as one dict of (B, ...) tensors.

    Args:
        data_samples: a dict of batched tensors (MoCap / Key2Mesh batches),
            or a list of ``PoseDataSample`` whose ``gt_instances`` hold the
            targets row by row (image batches); anything else (None, a list
            without targets) has no targets.

    Returns:
        dict: the :data:`MESH_TARGET_KEYS` present (for a list: present in
        every sample), possibly empty.
    """
    if isinstance(data_samples, dict):
        return {k: data_samples[k] for k in MESH_TARGET_KEYS
                if k in data_samples}
    if not _is_sample_list(data_samples):
        return {}
    gts = [s.gt_instances for s in data_samples]
    return {k: torch.cat([torch.as_tensor(g[k]) for g in gts])
            for k in MESH_TARGET_KEYS if all(k in g for g in gts)}


def attach_targets(data_samples: Samples,
                   targets: Dict[str, Tensor]) -> Samples:
    """Store ``targets`` in the batch (the inverse of :func:`stack_targets`).

    A dict batch gets the keys; each ``PoseDataSample`` of a list gets its
    row ``(1, ...)`` (a view, no copy) in ``gt_instances``.
    """
    unknown = set(targets) - set(MESH_TARGET_KEYS)
    if unknown:
        raise KeyError(f'not target keys: {sorted(unknown)} (the contract: '
                       f'{list(MESH_TARGET_KEYS)})')
    if isinstance(data_samples, dict):
        data_samples.update(targets)
        return data_samples
    if not _is_sample_list(data_samples):
        raise TypeError('targets go into a dict batch or a list of '
                        'PoseDataSample, got '
                        f'{type(data_samples).__name__}')
    for i, sample in enumerate(data_samples):
        for key, value in targets.items():
            sample.gt_instances.set_field(value[i:i + 1], key)
    return data_samples


def require_targets(targets: Dict[str, Tensor], keys: Iterable[str],
                    who: str, hint: str) -> None:
    """Raise a KeyError naming the missing target keys and how to build
    them (``hint``: the data preprocessor to use)."""
    missing = [k for k in keys if k not in targets]
    if missing:
        raise KeyError(f'{who} needs the targets {missing} built before the '
                       f'model (got {sorted(targets) or "none"}): {hint}')


def build_gt_body_model(body_model: dict) -> Tuple[nn.Module, bool]:
    """The frozen SMPL layer a target builder poses GT bodies with.

    Args:
        body_model (dict): ``model_path`` (folder of
            ``SMPL_{NEUTRAL,MALE,FEMALE}``), ``joints_regressor`` (the
            17-joint H3.6M regressor ``.npy``: its joint 0 is the pelvis every
            target is centred on) and ``gender`` (:data:`GT_GENDERS`, default
            ``'subject'``: :class:`MPTGenderedSMPL`, each sample's gender code);
            other keys go to the SMPL layer.

    Returns:
        tuple: the module (eval mode, no gradients; its output holds
        ``joints_regressed`` (B, 17, 3)) and whether it is gendered.
    """
    cfg = {k: v for k, v in dict(body_model).items() if k != 'type'}
    gender = cfg.pop('gender', 'subject')
    if gender not in GT_GENDERS:
        raise ValueError(f'body_model.gender must be one of {GT_GENDERS}, '
                         f'got {gender!r}')
    if not cfg.get('joints_regressor'):
        raise KeyError('body_model needs joints_regressor (the 17-joint '
                       'H3.6M regressor): GT bodies are centred on its '
                       'pelvis')
    gendered = gender == 'subject'
    module = MODELS.build(
        dict(cfg, type='MPTGenderedSMPL') if gendered else
        dict(cfg, type='MPTSMPL', gender=gender))
    module.requires_grad_(False).eval()
    return module, gendered


@torch.no_grad()
def add_mesh_levels(targets: Dict[str, Tensor], mesh_sampler,
                    dtype: Optional[torch.dtype] = None,
                    num_levels: int = 3) -> Dict[str, Tensor]:
    """``targets`` plus the GT mesh downsampled by ``mesh_sampler``, cast to
    ``dtype``: with ``num_levels=3`` (SMPL) ``vertices_mid`` (level 1) and
    ``vertices_coarse`` (level 2); with ``num_levels=2`` (MANO: 778 -> 195)
    only ``vertices_coarse`` (level 1)."""
    if num_levels not in (2, 3):
        raise ValueError(f'num_levels must be 2 or 3, got {num_levels}')
    out = dict(targets)
    verts = out['vertices'] if dtype is None else out['vertices'].to(dtype)
    out['vertices'] = verts
    if num_levels == 3:
        out['vertices_mid'] = mesh_sampler.downsample(verts, 0, 1)
    out['vertices_coarse'] = mesh_sampler.downsample(verts, 0,
                                                     num_levels - 1)
    return out
