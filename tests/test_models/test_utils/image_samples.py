"""Image samples as MPTPackMeshInputs packs them, with known GT meshes."""
import os.path as osp

import numpy as np
import torch
from mmengine.structures import InstanceData
from mmpose.structures import PoseDataSample

from mpt_plugin.body_models import MPTGenderedSMPL


def packed_samples(bm_dir, n=4, seed=0):
    """Packed samples: half with SMPL (3DPW-like), half keypoints only."""
    rng = np.random.default_rng(seed)
    smpl = MPTGenderedSMPL(bm_dir)
    pose = torch.as_tensor(rng.normal(scale=0.2, size=(n, 69)),
                           dtype=torch.float32)
    orient = torch.tensor([[np.pi, 0., 0.]] * n)  # upright in camera axes
    betas = torch.as_tensor(rng.normal(size=(n, 10)), dtype=torch.float32)
    gender = torch.tensor([0, 1, -1, 0])[:n]
    out = smpl(betas=betas, body_pose=pose, global_orient=orient,
               gender=gender)
    reg = torch.as_tensor(np.load(osp.join(bm_dir, 'J_regressor_h36m.npy')),
                          dtype=torch.float32)
    joints = torch.einsum('jv,bvc->bjc', reg, out['vertices'])
    samples = []
    for i in range(n):
        has_smpl = float(i % 2 == 0)
        kp3d = joints[i] + torch.tensor([0., 0., 3.])
        kp2d = kp3d[:, :2] / kp3d[:, 2:] * 200 + 56
        s = PoseDataSample(metainfo=dict(img_path=f'img{i}.jpg'))
        s.gt_instances = InstanceData(
            keypoints2d=kp2d[None], keypoints2d_visible=torch.ones(1, 17),
            keypoints3d=kp3d[None],
            keypoints3d_visible=torch.full((1, 17), 1. - has_smpl),
            smpl_global_orient=orient[i:i + 1],
            smpl_body_pose=pose[i:i + 1], smpl_betas=betas[i:i + 1],
            has_smpl=torch.tensor([has_smpl]),
            gender=gender[i:i + 1])
        samples.append(s)
    return samples, out['vertices'], joints
