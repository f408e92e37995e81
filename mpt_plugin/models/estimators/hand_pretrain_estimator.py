"""MPT pre-training for hands (paper table 6): hand poses -> heatmap tokens ->
mesh regression transformer -> MANO mesh."""
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.structures import InstanceData
from mmpose.structures import PoseDataSample
from torch import Tensor

from mpt_plugin.body_models import MPTMANO
from mpt_plugin.registry import MODELS
from ..utils.hand_mocap_targets import HAND_MOCAP_TARGET_KEYS
from ..utils.mesh_targets import stack_targets
from .pretrain_estimator import MPTPretrainEstimator, has_loss_targets

__all__ = ['MPTHandPretrainEstimator']


@MODELS.register_module()
class MPTHandPretrainEstimator(MPTPretrainEstimator):
    """Mesh Pre-Training on hands (MPT table 6, the released METRO / Mesh
    Graphormer hand networks' sizes; ``shared/reference/hand_spec.md``).

    The body estimator with MANO in place of SMPL: 21 joint queries
    (``hand_21``: wrist, thumb 1-4, index, middle, ring, pinky) and 195
    coarse-vertex queries (level 1 of ``mano_downsampling.npz``), one learned
    ``Linear(195, 778)`` upsampling (the head's ``num_vertices=(195,
    778)``), 21 heatmap channels. Data flow: ``MPTHandPoseDataset`` (MANO
    parameters + one virtual camera per item) -> ``MPTMoCapDataPreprocessor(
    hand_model=...)`` (poses the batch on the device, 21 heatmap joints,
    Masked Heatmap Modeling, targets) -> head -> ``MPTMeshLoss`` (hand
    weights) / ``MPTFreiHANDMetric``.

    Frames and units: metres, the camera's axes (x right, y down, z
    forward), the wrist (joint 0) at the origin. The template is MANO's
    rest hand (pose 0, betas 0: the mean hand, ``flat_hand_mean=False``, as
    the released hand code's template) centred on its wrist, in MANO's own
    axes (the hand code does not rotate it; any orientation is seen through
    the virtual cameras).

    Args:
        head (dict): an ``MPTMeshTransformerHead`` config with
            ``num_joints=21``, ``num_vertices=(195, 778)``,
            ``in_channels=21``.
        hand_model (dict): ``MPTMANO`` arguments (``model_path``,
            ``is_rhand``, ``fingertip_ids``): the template and the 21-joint
            regressor (MANO's ``J_regressor`` + fingertip vertices,
            :meth:`MPTMANO.mesh_joint_regressor`) of the loss's regressed
            joints and of the predicted ``joints_freihand``.
        mesh_sampler (str): ``mano_downsampling.npz`` (778 -> 195 -> ...).
        data_preprocessor (dict): e.g. ``MPTMoCapDataPreprocessor`` with
            ``hand_model`` and ``num_joints=21``.
        init_upsampling_from_sampler (bool): initialise ``Linear(195, 778)``
            from the sampler's U matrix.
        init_cfg (dict, optional): MMEngine init config.
    """

    target_preprocessor = ('MPTMoCapDataPreprocessor(hand_model=..., '
                           'num_joints=21) for MPTHandPoseDataset batches')
    loss_target_keys = HAND_MOCAP_TARGET_KEYS

    def __init__(self,
                 head: dict,
                 hand_model: dict,
                 mesh_sampler: str,
                 data_preprocessor: Optional[dict] = None,
                 init_upsampling_from_sampler: bool = True,
                 init_cfg: Optional[dict] = None):
        levels = tuple(dict(head).get('num_vertices', ()))
        if len(levels) != 2:
            raise ValueError('the hand head has two mesh levels (coarse, '
                             'full) = (195, 778): set head.num_vertices; got '
                             f'{levels or "the body default"}')
        super().__init__(
            head=head,
            body_model=hand_model,
            mesh_sampler=mesh_sampler,
            data_preprocessor=data_preprocessor,
            init_upsampling_from_sampler=init_upsampling_from_sampler,
            init_cfg=init_cfg)

    # ------------------------------------------------------------------ init
    @staticmethod
    def _hand_layer(bm: dict) -> MPTMANO:
        args = dict(bm)
        args['flat_hand_mean'] = False  # the template is the mean hand
        args.pop('joints_from', None)
        args.pop('use_pca', None)
        return MPTMANO(**args)

    def _joint_regressor(self, bm: dict
                         ) -> Tuple[Tensor, Optional[Sequence[int]]]:
        """MANO's (21, 778) mesh regressor; the loss uses every row."""
        mano = self._hand_layer(bm)
        # kept for _rest_template only, outside nn.Module's registry (not a
        # submodule of the estimator)
        self.__dict__['_mano_once'] = mano
        return mano.mesh_joint_regressor().float(), None

    @torch.no_grad()
    def _rest_template(self, bm: dict) -> Dict[str, Tensor]:
        mano = self.__dict__.pop('_mano_once', None) or self._hand_layer(bm)
        #: (1538, 3) int64 MANO faces of the predicted meshes (drawing,
        #: mesh files; not a parameter or buffer)
        self.faces = np.asarray(mano.faces, dtype=np.int64)
        verts = mano()['vertices'][0].float()  # (778, 3), mean hand
        joints = self.joint_regressor @ verts  # (21, 3)
        verts, joints = verts - joints[:1], joints - joints[:1]
        coarse = self.mesh_sampler.downsample(verts[None], 0, 1)[0]
        return dict(joints=joints, vertices_coarse=coarse)

    # ------------------------------------------------------------------ modes
    def predict(self, inputs, data_samples: Optional[dict] = None
                ) -> List[PoseDataSample]:
        """One ``PoseDataSample`` per input with ``pred_instances``:
        ``vertices`` (1, 778, 3), ``joints`` (1, 21, 3) (joint tokens),
        ``joints_freihand`` (1, 21, 3) (regressed from the mesh, FreiHAND's
        definition), ``camera`` (1, 3); metres, camera axes, wrist-centred.
        When the batch holds the targets, ``gt_instances`` has ``vertices``
        and ``joints_freihand`` (``MPTFreiHANDMetric``'s inputs)."""
        out = self.head.predict(self.extract_feat(inputs))
        return self._pack(out, data_samples)

    def _pack(self, out: Dict[str, Tensor],
              data_samples) -> List[PoseDataSample]:
        pred_joints = torch.einsum('jv,bvc->bjc', self.joint_regressor,
                                   out['vertices'])
        gt = None
        if has_loss_targets(data_samples, ('vertices', 'joints_3d')):
            gt = stack_targets(data_samples)
        image_samples = isinstance(data_samples, (list, tuple))
        results = []
        for i in range(out['vertices'].shape[0]):
            sample = data_samples[i] if image_samples else PoseDataSample()
            sample.pred_instances = InstanceData(
                vertices=out['vertices'][i:i + 1],
                joints=out['joints'][i:i + 1],
                joints_freihand=pred_joints[i:i + 1],
                camera=out['camera'][i:i + 1])
            if gt is not None:
                gi = (sample.gt_instances if 'gt_instances' in sample else
                      InstanceData())
                gi.vertices = gt['vertices'][i:i + 1]
                gi.joints_freihand = gt['joints_3d'][i:i + 1]
                sample.gt_instances = gi
            results.append(sample)
        return results
