"""Image batches: MMPose's image preprocessing, then the mesh targets."""
from typing import List, Optional, Sequence, Union

from mmpose.models.data_preprocessors import PoseDataPreprocessor

from mpt_plugin.registry import MODELS
from ..utils.hand_image_targets import (HAND_IMAGE_GT_FIELDS,
                                       HandImageTargetBuilder)
from ..utils.image_targets import IMAGE_GT_FIELDS, ImageTargetBuilder
from ..utils.mesh_targets import attach_targets

__all__ = ['MPTMeshDataPreprocessor']


@MODELS.register_module()
class MPTMeshDataPreprocessor(PoseDataPreprocessor):
    """``PoseDataPreprocessor`` + the targets of the mesh contract.

    Images: as MMPose's ``PoseDataPreprocessor`` (stack, BGR -> RGB,
    ``(x - mean) / std``, batch augments such as :class:`MPTCropJitter`).
    Then, when every sample carries the GT fields of ``MPTPackMeshInputs``
    (training, validation, testing; not bare inference inputs), the
    targets of :mod:`mpt_plugin.models.utils.mesh_targets` are built by
    :class:`~mpt_plugin.models.utils.image_targets.ImageTargetBuilder`
    (GT meshes posed on this device) and stored row by row in each
    sample's ``gt_instances``: the estimators, the metrics and the
    visualiser read them there.

    Hands (FreiHAND): with ``hand_model`` instead of ``body_model`` the
    targets come from the samples' GT meshes and 21 joints
    (:class:`~mpt_plugin.models.utils.hand_image_targets.
    HandImageTargetBuilder`).

    Args:
        body_model (dict, optional): ``model_path``, ``joints_regressor``
            (17-joint H3.6M) and ``gender`` (default ``'subject'``: each
            sample's own model, as mmhuman3d poses 3DPW's GT) of the GT
            meshes.
        hand_model (dict, optional): ``MPTMANO`` arguments of hand batches
            (the 21-joint mesh regressor); give one of the two.
        mean, std, pad_size_divisor, pad_value, bgr_to_rgb, rgb_to_bgr,
        non_blocking, batch_augments: as ``PoseDataPreprocessor``.
    """

    def __init__(self,
                 body_model: Optional[dict] = None,
                 mean: Optional[Sequence[float]] = None,
                 std: Optional[Sequence[float]] = None,
                 pad_size_divisor: int = 1,
                 pad_value: Union[float, int] = 0,
                 bgr_to_rgb: bool = False,
                 rgb_to_bgr: bool = False,
                 non_blocking: Optional[bool] = False,
                 batch_augments: Optional[List[dict]] = None,
                 hand_model: Optional[dict] = None):
        super().__init__(
            mean=mean,
            std=std,
            pad_size_divisor=pad_size_divisor,
            pad_value=pad_value,
            bgr_to_rgb=bgr_to_rgb,
            rgb_to_bgr=rgb_to_bgr,
            non_blocking=non_blocking,
            batch_augments=batch_augments)
        if (body_model is None) == (hand_model is None):
            raise ValueError('MPTMeshDataPreprocessor needs body_model '
                             '(SMPL bodies) or hand_model (MANO hands), '
                             'exactly one')
        if hand_model is not None:
            self.target_builder = HandImageTargetBuilder(hand_model)
            self.gt_fields = tuple(HAND_IMAGE_GT_FIELDS)
        else:
            self.target_builder = ImageTargetBuilder(body_model)
            self.gt_fields = tuple(IMAGE_GT_FIELDS)

    def forward(self, data: dict, training: bool = False) -> dict:
        """Returns ``dict(inputs=(B, 3, H, W) normalised images,
        data_samples=the samples, with the targets when they have GT)``."""
        data = super().forward(data, training)
        samples = data['data_samples']
        if samples and all(
                'gt_instances' in s and all(k in s.gt_instances
                                            for k in self.gt_fields)
                for s in samples):
            attach_targets(samples, self.target_builder(
                samples, data['inputs'].shape[-1]))
        return data
