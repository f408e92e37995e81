"""Pre-trained MPT models on image crops without fine-tuning (synthetic renders).

    .venv/bin/python tools/benchmark/bench_mpt_no_finetune_renders.py \
        --config configs/mpt_pretrain_demo.py \
        --checkpoint shipped=work_dirs/bench_s5/shipped/epoch_3.pth \
        --checkpoint crop_jitter=work_dirs/bench_s5/crop_jitter/epoch_3.pth \
        [--ann-file data/synthetic_images/preprocessed_datasets/h36m_valid_protocol2.npz]

What it measures: MoCap pre-training crops every body tightly around its
projected joints, while a test crop comes from the dataset's box (square,
side max(w, h), as ``MPTHumanDataDataset`` + ``MPTMeshAffine`` build it), so the
body's size and position in the frame differ. Each model reads the
ground-truth 2D joints of the rendered test file (COCO 17 from the
HumanData ``keypoints2d``, mapped into the box crop and the heatmap frame:
"perfect 2D detections", no image network), exactly like a pre-training
sample, and its H3.6M-regressed joints are compared with the file's 3D
joints: MPJPE / PA-MPJPE in mm on the 14 LSP joints, pelvis-centred
(mmhuman3d's functions). Also reported: the same models on the tight
pre-training crop of the same 2D joints, which isolates the effect of the
crop. The synthetic renders come from ``tools/make_synthetic_images.py
--layout h36m_p2`` (made if missing, 256 samples).
"""
import argparse
import os.path as osp
import subprocess
import sys

import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mpt_plugin.body_models.conventions import H36M_TO_J14, get_mapping
from mpt_plugin.datasets.human_data_io import load_human_data
from mpt_plugin.evaluation.functional.mmhuman3d_metrics import keypoint_mpjpe
from mpt_plugin.geometry.crop import (fit_square_crop, get_crop_affine,
                                      image_to_crop)
from mpt_plugin.registry import MODELS
from mpt_plugin.utils import register_checkpoint_safe_globals

DEFAULT_ANN = ('data/synthetic_images/preprocessed_datasets/'
               'h36m_valid_protocol2.npz')


def load_inputs(ann_file: str, size: int, crop_padding: float):
    """COCO joints (N, 17, 3) [x, y, vis] in the heatmap frame for the box
    crop and for the tight pre-training crop; GT H3.6M joints (N, 17, 3) m
    and their mask (N, 17)."""
    data = load_human_data(ann_file)
    dst, src = get_mapping('human_data', 'coco')
    kp2d = np.zeros((data['__data_len__'], 17, 3))
    kp2d[:, dst] = data['keypoints2d'][:, src]
    dst3, src3 = get_mapping('human_data', 'h36m')
    kp3d = np.zeros((data['__data_len__'], 17, 4))
    kp3d[:, dst3] = data['keypoints3d'][:, src3]
    box = np.asarray(data['bbox_xywh'], np.float64)[:, :4]
    centre = box[:, :2] + box[:, 2:] / 2
    side = box[:, 2:].max(axis=1)
    box_px = np.empty((len(box), 17, 2))
    for i in range(len(box)):
        a = get_crop_affine(centre[i], side[i], 0.0, size)
        box_px[i] = kp2d[i, :, :2] @ a[:, :2].T + a[:, 2]
    vis = (kp2d[..., 2:] > 0).astype(np.float64)
    c_tight, s_tight = fit_square_crop(kp2d[..., :2], padding=crop_padding)
    tight_px = image_to_crop(kp2d[..., :2], c_tight, s_tight, size)
    return (np.concatenate([box_px, vis], -1),
            np.concatenate([tight_px, vis], -1), kp3d[..., :3],
            kp3d[..., 3] > 0, side / s_tight)


@torch.no_grad()
def predict_h36m(model, joints: np.ndarray, batch: int = 64) -> np.ndarray:
    out = []
    for i in range(0, len(joints), batch):
        data = model.data_preprocessor(
            dict(inputs=torch.from_numpy(joints[i:i + batch]).float()),
            training=False)
        verts = model.head.predict(data['inputs'])['vertices']
        out.append(torch.einsum('jv,bvc->bjc', model.joint_regressor,
                                verts).numpy())
    return np.concatenate(out)


def errors(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray) -> dict:
    pred = (pred - pred[:, :1])[:, H36M_TO_J14] * 1000
    gt = (gt - gt[:, :1])[:, H36M_TO_J14] * 1000
    m = mask[:, H36M_TO_J14] & mask[:, :1]
    return dict(mpjpe=keypoint_mpjpe(pred, gt, m),
                pa_mpjpe=keypoint_mpjpe(pred, gt, m, 'procrustes'))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--config', default='configs/mpt_pretrain_demo.py')
    parser.add_argument('--checkpoint', action='append', required=True,
                        metavar='NAME=PATH')
    parser.add_argument('--ann-file', default=DEFAULT_ANN)
    args = parser.parse_args()
    if not osp.exists(args.ann_file) and args.ann_file == DEFAULT_ANN:
        subprocess.run([sys.executable, 'tools/make_synthetic_images.py',
                        '--data-prefix', 'data/synthetic_images', '--layout',
                        'h36m_p2', '--num', '256', '--quiet'], check=True)
    cfg = Config.fromfile(args.config)
    # nested components (the data preprocessor) are built by MMEngine's
    # BaseModel from the default scope's registry
    init_default_scope(cfg.get('default_scope', 'mmpose'))
    size = cfg.model.data_preprocessor.get('heatmap_size', 224)
    padding = cfg.train_dataloader.dataset.get('crop_padding', 1.2)
    box_in, tight_in, gt, mask, ratio = load_inputs(args.ann_file, size,
                                                    padding)
    print(f'{len(gt)} samples of {args.ann_file}; box crop side / tight '
          f'pre-training crop side: median {np.median(ratio):.2f}, '
          f'5-95 % {np.percentile(ratio, 5):.2f}-'
          f'{np.percentile(ratio, 95):.2f}')
    register_checkpoint_safe_globals()
    print('| model | box crop MPJPE | box crop PA-MPJPE | tight crop MPJPE '
          '| tight crop PA-MPJPE |\n|---|---|---|---|---|')
    for item in args.checkpoint:
        name, path = item.split('=', 1)
        model = MODELS.build(cfg.model)
        state = torch.load(path, map_location='cpu', weights_only=True)
        model.load_state_dict(state['state_dict'])
        model.eval()
        box = errors(predict_h36m(model, box_in), gt, mask)
        tight = errors(predict_h36m(model, tight_in), gt, mask)
        print(f"| {name} | {box['mpjpe']:.1f} | {box['pa_mpjpe']:.1f} | "
              f"{tight['mpjpe']:.1f} | {tight['pa_mpjpe']:.1f} |")


if __name__ == '__main__':
    main()
