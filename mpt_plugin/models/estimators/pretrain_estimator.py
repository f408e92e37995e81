"""MPT pre-training on MoCap heatmaps: data preprocessor -> head -> losses."""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.model import BaseModel
from mmengine.structures import InstanceData
from mmpose.structures import PoseDataSample
from torch import Tensor

from mpt_plugin.body_models import MPTSMPL, MeshSampler
from mpt_plugin.body_models.conventions import H36M_TO_J14
from mpt_plugin.body_models.io import load_joint_regressor
from mpt_plugin.geometry.cameras import smpl_to_camera_axes
from mpt_plugin.registry import MODELS
from ..utils.mesh_targets import (add_mesh_levels, require_targets,
                                  stack_targets)

__all__ = ['MPTPretrainEstimator', 'has_loss_targets', 'LOSS_TARGET_KEYS']

#: Targets :class:`MPTMeshLoss` needs (the contract of
#: :mod:`mpt_plugin.models.utils.mesh_targets`; flags and weights optional).
LOSS_TARGET_KEYS = ('vertices', 'joints_h36m', 'joints_3d', 'joints_2d_norm')



def has_loss_targets(data_samples,
                     keys: Sequence[str] = LOSS_TARGET_KEYS) -> bool:
    """Whether a batch's ``data_samples`` hold the loss targets ``keys``."""
    targets = stack_targets(data_samples)
    return all(k in targets for k in keys)


@MODELS.register_module()
class MPTPretrainEstimator(BaseModel):
    """Mesh Pre-Training (MPT, section 3.1): MoCap joints -> heatmap tokens ->
    mesh regression transformer -> mesh, joints and camera.

    Data flow: the loader gives each sample's SMPL parameters and virtual
    camera (:class:`MPTMoCapHeatmapDataset`); the data preprocessor
    (:class:`MPTMoCapDataPreprocessor` with ``body_model``) poses the
    batch on the device, builds the heatmap-frame 2D joints and the targets
    and applies Masked Heatmap Modeling; the head synthesises heatmap tokens
    from the joints and regresses the mesh. This model adds the mesh
    sampler's coarse levels to the targets and opens no file.

    Frames and units: every 3D quantity is in metres, in the camera frame
    (x right, y down, z forward), centred on the H3.6M pelvis (joint 0 of
    the 17-joint regressor). 2D joints for the re-projection loss are
    normalised to [-1, 1] in the crop.

    Args:
        head (dict): an ``MPTMeshTransformerHead`` config (it owns the loss).
        body_model (dict): ``MPTSMPL`` arguments (``model_path``,
            ``joints_regressor`` = the 17-joint H3.6M regressor,
            ``gender``); used once to build the rest-pose template.
        mesh_sampler (str): ``mesh_downsampling.npz`` of the body model's
            topology (GT coarse levels, template, upsampling init).
        data_preprocessor (dict): e.g. ``MPTMoCapDataPreprocessor``.
        init_upsampling_from_sampler (bool): initialise the head's two
            upsampling layers from the sampler's U matrices.
        init_cfg (dict, optional): MMEngine init config.
    """

    def __init__(self,
                 head: dict,
                 body_model: dict,
                 mesh_sampler: str,
                 data_preprocessor: Optional[dict] = None,
                 init_upsampling_from_sampler: bool = True,
                 init_cfg: Optional[dict] = None):
        super().__init__(data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        self.head = MODELS.build(head)
        bm = {k: v for k, v in body_model.items() if k != 'type'}
        regressor, loss_rows = self._joint_regressor(bm)
        self.register_buffer('joint_regressor', regressor, persistent=False)
        self.mesh_sampler = MeshSampler.from_file(mesh_sampler)
        if self.mesh_sampler.num_vertices[0] != regressor.shape[1]:
            raise ValueError(
                f'{mesh_sampler} is for {self.mesh_sampler.num_vertices[0]} '
                f'vertices, the regressor for {regressor.shape[1]}')
        self.init_upsampling_from_sampler = init_upsampling_from_sampler
        self._template = self._rest_template(bm)
        loss = self.head.loss_module
        if loss is not None and loss.needs_regressor:
            loss.set_joint_regressor(regressor, loss_rows)
        self._init_head_from_body_model()

    # ------------------------------------------------------------------ init
    def _joint_regressor(self, bm: dict
                         ) -> Tuple[Tensor, Optional[Sequence[int]]]:
        """The evaluation joint regressor (J, V) of the body model and the
        rows of it the loss's ``L_J^reg`` uses (None: all): the 17-joint
        H3.6M regressor and its LSP-14 rows."""
        if not bm.get('joints_regressor'):
            raise KeyError('body_model needs joints_regressor (the 17-joint '
                           'H3.6M regressor .npy)')
        regressor = torch.as_tensor(
            load_joint_regressor(bm['joints_regressor']), dtype=torch.float32)
        if regressor.shape[0] != 17:
            raise ValueError(f"{bm['joints_regressor']}: expected 17 rows "
                             f'(H3.6M joints), got {tuple(regressor.shape)}')
        return regressor, H36M_TO_J14

    @torch.no_grad()
    def _rest_template(self, bm: dict) -> Dict[str, Tensor]:
        bm.setdefault('gender', 'neutral')
        smpl = MPTSMPL(**bm)
        # camera axes, as METRO's template
        verts = smpl_to_camera_axes(smpl()['vertices'][0])  # (V, 3)
        joints = self.joint_regressor @ verts  # (17, 3)
        verts, joints = verts - joints[:1], joints - joints[:1]
        coarse = self.mesh_sampler.downsample(verts[None], 0,
                                              self.num_mesh_levels - 1)[0]
        return dict(joints=joints[H36M_TO_J14], vertices_coarse=coarse)

    @property
    def num_mesh_levels(self) -> int:
        """Mesh levels of the head: 3 (SMPL) or 2 (MANO)."""
        return len(self.head.num_vertices)

    def _init_head_from_body_model(self) -> None:
        self.head.init_template(**self._template)
        if self.init_upsampling_from_sampler:
            mats = self.mesh_sampler.dense_upsampling_matrices()
            if self.num_mesh_levels == 3:
                self.head.init_upsampling(mats[1], mats[0])
            else:
                self.head.init_upsampling(None, mats[0])

    def init_weights(self) -> None:
        super().init_weights()
        # parameter initialisers must not overwrite what comes from the body
        # model and the mesh sampler
        self._init_head_from_body_model()

    # -------------------------------------------------------------- ground truth
    #: the data preprocessor that builds this model's targets (error hint)
    target_preprocessor = ('MPTMoCapDataPreprocessor(body_model=...) for '
                           'MPTMoCapHeatmapDataset batches')
    #: the targets :meth:`gather_gt` requires
    loss_target_keys = LOSS_TARGET_KEYS

    @torch.no_grad()
    def gather_gt(self, data_samples) -> Dict[str, Tensor]:
        """The batch's targets for :class:`MPTMeshLoss`, with the mesh
        sampler's levels.

        Args:
            data_samples: the data preprocessor's output holding the targets
                of :mod:`mpt_plugin.models.utils.mesh_targets` (at least
                :data:`LOSS_TARGET_KEYS`: ``vertices`` (B, V, 3),
                ``joints_h36m`` (B, 17, 3), ``joints_3d`` (B, 14, 3) LSP,
                metres, camera axes, pelvis at the origin, and
                ``joints_2d_norm`` (B, 14, 2); flags and weights optional).

        Returns:
            dict: those targets (floating ones in the model's dtype) plus
            the head's coarser levels (:func:`add_mesh_levels`:
            ``vertices_mid`` and ``vertices_coarse``, or only
            ``vertices_coarse`` for a two-level hand head).
        """
        targets = stack_targets(data_samples)
        require_targets(targets, self.loss_target_keys, type(self).__name__,
                        'build the data preprocessor as '
                        + self.target_preprocessor)
        dtype = self.joint_regressor.dtype
        targets = {k: v.to(dtype) if v.is_floating_point() else v
                   for k, v in targets.items()}
        return add_mesh_levels(targets, self.mesh_sampler,
                               num_levels=self.num_mesh_levels)

    # ------------------------------------------------------------------ modes
    def extract_feat(self, inputs):
        """The head's input: MoCap joints go to the head as they are (it
        synthesises the heatmap tokens); image estimators override this."""
        return inputs

    def forward(self,
                inputs: Union[Dict[str, Tensor], Tensor],
                data_samples: Optional[dict] = None,
                mode: str = 'tensor'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.head(self.extract_feat(inputs))
        raise ValueError(f"mode must be 'loss', 'predict' or 'tensor', got "
                         f'{mode!r}')

    def loss(self, inputs, data_samples: dict) -> Dict[str, Tensor]:
        gt = self.gather_gt(data_samples)
        return self.head.loss(self.extract_feat(inputs), gt)

    def predict(self, inputs, data_samples: Optional[dict] = None
                ) -> List[PoseDataSample]:
        """Returns one ``PoseDataSample`` per input with ``pred_instances``
        (``vertices`` (1, V, 3), ``joints`` (1, 14, 3), ``joints_h36m``
        (1, 17, 3), ``camera`` (1, 3); metres, camera frame) and, when the
        batch comes from the MoCap dataset, ``gt_instances`` with
        ``vertices`` and ``joints_h36m``."""
        out = self.head.predict(inputs)
        pred_h36m = torch.einsum('jv,bvc->bjc', self.joint_regressor,
                                 out['vertices'])
        gt = None
        if has_loss_targets(data_samples):
            gt = self.gather_gt(data_samples)
        results = []
        for i in range(out['vertices'].shape[0]):
            sample = PoseDataSample()
            sample.pred_instances = InstanceData(
                vertices=out['vertices'][i:i + 1],
                joints=out['joints'][i:i + 1],
                joints_h36m=pred_h36m[i:i + 1],
                camera=out['camera'][i:i + 1])
            if gt is not None:
                sample.gt_instances = InstanceData(
                    vertices=gt['vertices'][i:i + 1],
                    joints_h36m=gt['joints_h36m'][i:i + 1])
            results.append(sample)
        return results
