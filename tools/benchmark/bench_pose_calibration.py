"""Accuracy and CPU speed of the PC-HMR pose calibration neck (no training).

    .venv/bin/python tools/benchmark/bench_pose_calibration.py \
        [--num-frames 256] [--pose-noise-deg 10] [--beta-noise 1.0] \
        [--target-noise-mm 20] [--seed 0] [--threads 2] [--repeats 5]

Accuracy. Ground truth (GT): ``--num-frames`` frames drawn from the synthetic
AMASS tree (``make_synthetic_amass_tree``, rotated to y up), posed with the
synthetic NEUTRAL SMPL model and each sequence's betas. The "regressed" mesh
(a mesh with a wrong pose, as HMR would output) is the same model with

* pose error: on the 16 limb joints (hips, knees, ankles, collars,
  shoulders, elbows, wrists, hands... see ``LIMB_JOINTS``) the GT local
  rotation is right-multiplied by ``exp(n)``, ``n ~ N(0, sigma^2 I_3)``
  (axis-angle, ``sigma = --pose-noise-deg`` per component); root
  orientation and spine are left as GT;
* shape / bone-length error: ``betas + N(0, --beta-noise^2)`` (this changes
  bone lengths through ``J_regressor @ (v_template + shapedirs betas)`` AND
  girths, which no skeleton-driven calibration can see).

Each regressed mesh is calibrated towards the GT 24 SMPL joints (and towards
GT joints + N(0, (--target-noise-mm)^2) per axis, an "estimated" pose) with
``PCHMRPoseCalibrationNeck`` initialised from the model's skinning weights,
``v_template`` and ``J`` (no training), non-rigid and rigid-only. The
calibration is also run on pose-only and shape-only perturbations to split
the error. MPVE: mean per-vertex Euclidean error in mm, no alignment, each
mesh centred on its own root joint (joint 0: the regressed / calibrated
mesh's root is its source / target joint 0, the GT's is the GT joint 0).

Speed: throughput (samples/s) of the neck on CPU (``--threads`` intra-op
threads) for V = 6890 vertices, J = 24 joints (23 bones), batch 1 and 64,
forward only (``torch.no_grad``) and forward + backward (gradients w.r.t.
the input vertices and the neck's ``A`` / ``W``), after warm-up, best
(and median) of ``--repeats`` timed blocks of >= 0.25 s (best: the machine
is shared, the median is shown to expose contention). Timing runs in a
fresh subprocess per configuration; memory in another fresh subprocess
(3 calls, with ``MALLOC_MMAP_THRESHOLD_=131072`` so that glibc returns
freed large blocks to the OS instead of recycling heap pages that are
already resident) and its peak memory is the Linux peak resident set size:
the peak is reset by writing ``5`` to ``/proc/self/clear_refs`` right before
the first neck call and read back as ``VmHWM`` from ``/proc/self/status``
afterwards ("delta" = that peak minus ``VmRSS`` at the reset, i.e. what the
calibration itself added; the same quantity as
``resource.getrusage(RUSAGE_SELF).ru_maxrss``, which cannot be reset and is
dominated by the import of torch / mmpose, so it is only the fallback when
``clear_refs`` is not writable). ``tracemalloc`` is not used: it does not
see torch's C++ allocations.

Prints markdown tables and the exact command line.
"""
import argparse
import gc
import json
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, Tuple

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from mpt_plugin.body_models import MPTSMPL
from mpt_plugin.body_models.conventions import SMPL_PARENTS
from mpt_plugin.datasets.amass_io import read_amass_sequence
from mpt_plugin.models.necks.pc_hmr_pose_calibration_neck import \
    PCHMRPoseCalibrationNeck
from mpt_plugin.synthetic.amass_motion import make_synthetic_amass_tree
from mpt_plugin.synthetic.smpl_model import make_synthetic_smpl, save_smpl_npz

NUM_SMPL_JOINTS = 24
# hips, knees, ankles, feet, collars, shoulders, elbows, wrists, hands
LIMB_JOINTS = (1, 2, 4, 5, 7, 8, 10, 11, 13, 14, 16, 17, 18, 19, 20, 21)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--num-frames', type=int, default=256)
    parser.add_argument('--pose-noise-deg', type=float, default=10.0,
                        help='per-component std of the axis-angle noise '
                        'on limb joints, degrees')
    parser.add_argument('--beta-noise', type=float, default=1.0,
                        help='std of the noise added to the 10 betas')
    parser.add_argument('--target-noise-mm', type=float, default=20.0,
                        help='per-axis std of the target-joint noise, mm')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--batches', type=int, nargs='+', default=[1, 64])
    parser.add_argument('--workdir', type=str, default=None,
                        help='scratch folder (default: a temporary one)')
    # internal: one speed configuration in a fresh process
    parser.add_argument('--_worker', type=str, default=None,
                        help=argparse.SUPPRESS)
    return parser.parse_args()


# ----------------------------------------------------------------------
# data
# ----------------------------------------------------------------------
def load_motion(workdir: Path, num_frames: int,
                rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
    """Draw frames from the synthetic AMASS tree.

    Returns:
        tuple: poses (F, 72) y-up SMPL axis-angle (radians) and betas
        (F, 10) of the frames' subjects.
    """
    paths = make_synthetic_amass_tree(workdir / 'amass', seed=0)
    poses, betas = [], []
    for path in paths:
        seq = read_amass_sequence(path).to_yup()
        poses.append(seq.poses)
        betas.append(np.repeat(seq.betas[None], seq.num_frames, 0))
    poses = np.concatenate(poses)
    betas = np.concatenate(betas)
    if num_frames > len(poses):
        raise ValueError(f'--num-frames {num_frames} > {len(poses)} frames '
                         'available in the synthetic AMASS tree')
    idx = np.sort(rng.choice(len(poses), num_frames, replace=False))
    return poses[idx], betas[idx]


def perturb_pose(poses: np.ndarray, sigma_deg: float,
                 rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
    """Right-multiply limb joints' rotations by random small rotations.

    Args:
        poses (np.ndarray): (F, 72) axis-angle, radians.
        sigma_deg (float): per-component std of the noise rotation vector.

    Returns:
        tuple: perturbed (F, 72) poses and (F, len(LIMB_JOINTS)) geodesic
        angle of the applied noise, degrees.
    """
    out = poses.copy().reshape(len(poses), NUM_SMPL_JOINTS, 3)
    limbs = list(LIMB_JOINTS)
    noise = rng.normal(0.0, np.deg2rad(sigma_deg), (len(poses), len(limbs),
                                                     3))
    rot = Rotation.from_rotvec(out[:, limbs].reshape(-1, 3)) * \
        Rotation.from_rotvec(noise.reshape(-1, 3))
    out[:, limbs] = rot.as_rotvec().reshape(len(poses), len(limbs), 3)
    return out.reshape(len(poses), -1), np.rad2deg(
        np.linalg.norm(noise, axis=-1))


@torch.no_grad()
def run_smpl(smpl: MPTSMPL, poses: np.ndarray,
             betas: np.ndarray) -> Tuple[torch.Tensor, torch.Tensor]:
    """(F, 6890, 3) vertices and (F, 24, 3) joints, metres, float32."""
    out = smpl(
        betas=torch.as_tensor(betas, dtype=torch.float32),
        body_pose=torch.as_tensor(poses[:, 3:], dtype=torch.float32),
        global_orient=torch.as_tensor(poses[:, :3], dtype=torch.float32))
    return out['vertices'], out['joints'][:, :NUM_SMPL_JOINTS]


def mpve_mm(verts: torch.Tensor, root: torch.Tensor, gt_verts: torch.Tensor,
            gt_root: torch.Tensor) -> float:
    """Root-centred mean per-vertex error, mm. verts (B, V, 3), root (B, 3).
    """
    diff = (verts - root[:, None]) - (gt_verts - gt_root[:, None])
    return float(diff.norm(dim=-1).mean()) * 1000.0


def make_neck(model: Dict[str, np.ndarray], rigid_only: bool
              ) -> PCHMRPoseCalibrationNeck:
    return PCHMRPoseCalibrationNeck(
        parents=SMPL_PARENTS,
        num_vertices=model['v_template'].shape[0],
        skinning_weights=model['weights'],
        rest_vertices=model['v_template'],
        rest_joints=model['J'],
        rigid_only=rigid_only)


def accuracy(args: argparse.Namespace, model: Dict[str, np.ndarray],
             smpl: MPTSMPL, workdir: Path) -> Tuple[list, dict]:
    rng = np.random.default_rng(args.seed)
    poses, betas = load_motion(workdir, args.num_frames, rng)
    poses_reg, noise_deg = perturb_pose(poses, args.pose_noise_deg, rng)
    betas_reg = betas + rng.normal(0.0, args.beta_noise, betas.shape)
    target_noise = torch.as_tensor(
        rng.normal(0.0, args.target_noise_mm / 1000.0,
                   (len(poses), NUM_SMPL_JOINTS, 3)),
        dtype=torch.float32)

    gt_v, gt_j = run_smpl(smpl, poses, betas)
    cases = {
        'pose + shape': run_smpl(smpl, poses_reg, betas_reg),
        'pose only': run_smpl(smpl, poses_reg, betas),
        'shape only': run_smpl(smpl, poses, betas_reg),
    }
    necks = {'non-rigid': make_neck(model, False),
             'rigid-only': make_neck(model, True)}
    targets = {'GT': gt_j, f'GT + {args.target_noise_mm:g} mm':
               gt_j + target_noise}

    # bone-length error of the regressed skeletons (mm)
    par = torch.as_tensor(SMPL_PARENTS[1:])
    child = torch.arange(1, NUM_SMPL_JOINTS)

    def bone_len(j):
        return (j[:, child] - j[:, par]).norm(dim=-1)

    stats = dict(
        pose_noise_deg_mean=float(noise_deg.mean()),
        bone_len_err_mm=float(
            (bone_len(cases['pose + shape'][1]) - bone_len(gt_j)).abs()
            .mean()) * 1000.0,
        target_mpjpe_mm=float(
            target_noise.norm(dim=-1).mean()) * 1000.0,
        src_mpjpe_mm=float(
            ((cases['pose + shape'][1] - cases['pose + shape'][1][:, :1]) -
             (gt_j - gt_j[:, :1])).norm(dim=-1).mean()) * 1000.0)

    rows = []
    with torch.no_grad():
        for case, (reg_v, reg_j) in cases.items():
            before = mpve_mm(reg_v, reg_j[:, 0], gt_v, gt_j[:, 0])
            for tname, tgt in targets.items():
                for nname, neck in necks.items():
                    out = neck(reg_v, reg_j, tgt)
                    after = mpve_mm(out['vertices'], tgt[:, 0], gt_v,
                                    gt_j[:, 0])
                    rows.append(dict(case=case, target=tname, mode=nname,
                                     before=before, after=after,
                                     reduction=100.0 * (1 - after / before)))
    return rows, stats


# ----------------------------------------------------------------------
# speed (one configuration per fresh process)
# ----------------------------------------------------------------------
def _proc_status_mib(key: str) -> float:
    """``VmRSS`` / ``VmHWM`` of this process from /proc/self/status, MiB."""
    with open('/proc/self/status') as fh:
        for line in fh:
            if line.startswith(key + ':'):
                return int(line.split()[1]) / 1024.0  # kB
    raise KeyError(f'/proc/self/status has no {key!r} line')


def reset_peak_rss() -> Tuple[float, str]:
    """Reset the peak RSS; returns (current RSS MiB, method name)."""
    try:
        with open('/proc/self/clear_refs', 'w') as fh:
            fh.write('5')
        return _proc_status_mib('VmRSS'), 'VmHWM'
    except OSError:
        return resource.getrusage(
            resource.RUSAGE_SELF).ru_maxrss / 1024.0, 'ru_maxrss'


def peak_rss_mib(method: str) -> float:
    if method == 'VmHWM':
        return _proc_status_mib('VmHWM')
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def speed_worker(cfg: dict) -> None:
    torch.set_num_threads(cfg['threads'])
    data = dict(np.load(cfg['model']))
    neck = make_neck(data, rigid_only=False)
    inputs = np.load(cfg['inputs'])
    batch = cfg['batch']
    reps = np.arange(batch) % inputs['vertices'].shape[0]
    verts = torch.as_tensor(inputs['vertices'][reps])
    joints = torch.as_tensor(inputs['joints'][reps])
    target = torch.as_tensor(inputs['target'][reps])
    backward = cfg['backward']
    if backward:
        verts.requires_grad_(True)

    def step():
        if backward:
            neck.zero_grad(set_to_none=True)
            verts.grad = None
            out = neck(verts, joints, target)['vertices']
            out.square().mean().backward()
        else:
            with torch.no_grad():
                neck(verts, joints, target)

    if cfg['measure'] == 'memory':
        gc.collect()
        base, method = reset_peak_rss()
        for _ in range(3):
            step()
        peak = peak_rss_mib(method)
        print(json.dumps(dict(peak_mib=peak, delta_mib=peak - base,
                              method=method)))
        return
    for _ in range(3):  # warm-up
        step()
    singles = []
    for _ in range(5):
        t0 = time.perf_counter()
        step()
        singles.append(time.perf_counter() - t0)
    single = min(singles)
    iters = max(1, int(np.ceil(0.25 / max(single, 1e-6))))
    times = []
    for _ in range(cfg['repeats']):
        t0 = time.perf_counter()
        for _ in range(iters):
            step()
        times.append((time.perf_counter() - t0) / iters)
    best = min(times)
    print(json.dumps(dict(
        batch=batch, backward=backward, iters=iters, ms=best * 1e3,
        ms_median=float(np.median(times)) * 1e3, throughput=batch / best)))


def speed(args: argparse.Namespace, workdir: Path, model_npz: Path,
          inputs_npz: Path) -> list:
    results = []
    for batch in args.batches:
        for backward in (False, True):
            cfg = dict(model=str(model_npz), inputs=str(inputs_npz),
                       batch=batch, backward=backward, threads=args.threads,
                       repeats=args.repeats)
            row = {}
            for measure, env in (('time', {}), ('memory', dict(
                    MALLOC_MMAP_THRESHOLD_='131072'))):
                proc = subprocess.run(
                    [sys.executable, __file__, '--_worker',
                     json.dumps(dict(cfg, measure=measure))],
                    check=True, capture_output=True, text=True,
                    env=dict(os.environ, **env))
                row.update(json.loads(proc.stdout.strip().splitlines()[-1]))
            results.append(row)
    return results


# ----------------------------------------------------------------------
def main() -> None:
    args = parse_args()
    if args._worker is not None:
        speed_worker(json.loads(args._worker))
        return
    torch.set_num_threads(args.threads)
    t_start = time.perf_counter()
    tmp = tempfile.TemporaryDirectory(prefix='bench_pc_')
    workdir = Path(args.workdir) if args.workdir else Path(tmp.name)
    workdir.mkdir(parents=True, exist_ok=True)

    model = make_synthetic_smpl('neutral')
    model_npz = workdir / 'SMPL_NEUTRAL.npz'
    save_smpl_npz(model_npz, model)
    smpl = MPTSMPL(model_path=str(model_npz), gender='neutral')

    rows, stats = accuracy(args, model, smpl, workdir)

    print('## PC-HMR pose calibration: accuracy (synthetic neutral SMPL, '
          f'{args.num_frames} frames, untrained neck)\n')
    print(f'- pose error: limb joints (SMPL ids {list(LIMB_JOINTS)}) '
          f'rotated by exp(N(0, ({args.pose_noise_deg:g} deg)^2 I3)), mean '
          f'geodesic {stats["pose_noise_deg_mean"]:.1f} deg')
    print(f'- shape error: betas + N(0, {args.beta_noise:g}^2); mean '
          f'|bone length error| {stats["bone_len_err_mm"]:.1f} mm')
    print(f'- regressed (pose + shape) root-relative MPJPE (24 joints): '
          f'{stats["src_mpjpe_mm"]:.1f} mm')
    print(f'- noisy target: GT joints + N(0, ({args.target_noise_mm:g} '
          f'mm)^2) per axis; target MPJPE {stats["target_mpjpe_mm"]:.1f} mm')
    print('- MPVE: mm, no alignment, each mesh centred on its own joint 0\n')
    print('| perturbation | target pose | calibration | MPVE before | '
          'MPVE after | reduction |')
    print('|---|---|---|---:|---:|---:|')
    for r in rows:
        print(f'| {r["case"]} | {r["target"]} | {r["mode"]} | '
              f'{r["before"]:.1f} | {r["after"]:.1f} | '
              f'{r["reduction"]:.1f} % |')

    main_nr = [r for r in rows if r['case'] == 'pose + shape'
               and r['target'] == 'GT' and r['mode'] == 'non-rigid'][0]
    main_rg = [r for r in rows if r['case'] == 'pose + shape'
               and r['target'] == 'GT' and r['mode'] == 'rigid-only'][0]
    ok_red = main_nr['reduction'] >= 50.0
    ok_nr = main_nr['after'] < main_rg['after']
    print(f'\nAcceptance (pose + shape, GT pose): reduction '
          f'{main_nr["reduction"]:.1f} % >= 50 %: '
          f'{"PASS" if ok_red else "FAIL"}; non-rigid '
          f'{main_nr["after"]:.1f} mm < rigid-only {main_rg["after"]:.1f} '
          f'mm: {"PASS" if ok_nr else "FAIL"}')

    # speed inputs: the first 64 regressed meshes / GT joints
    reg_v, reg_j = run_smpl(smpl, *(perturb_pose(
        load_motion(workdir, 64, np.random.default_rng(args.seed))[0],
        args.pose_noise_deg, np.random.default_rng(args.seed + 1))[0],
        np.zeros((64, 10))))
    inputs_npz = workdir / 'inputs.npz'
    np.savez(inputs_npz, vertices=reg_v.numpy(), joints=reg_j.numpy(),
             target=(reg_j + 0.01).numpy())
    res = speed(args, workdir, model_npz, inputs_npz)
    print(f'\n## Speed (CPU, torch {torch.__version__}, '
          f'{args.threads} threads, V=6890, 23 bones, float32, best / median '
          f'of {args.repeats} blocks of >= 0.25 s)\n')
    print('| batch | pass | ms / call (best) | ms / call (median) | '
          'samples/s (best) | peak RSS (MiB) | peak RSS delta (MiB) |')
    print('|---:|---|---:|---:|---:|---:|---:|')
    for r in res:
        kind = 'forward + backward' if r['backward'] else 'forward'
        print(f'| {r["batch"]} | {kind} | {r["ms"]:.2f} | '
              f'{r["ms_median"]:.2f} | {r["throughput"]:.1f} | '
              f'{r["peak_mib"]:.0f} | '
              f'{r["delta_mib"]:.1f} |')
    print(f'\nPeak memory: peak RSS ({res[0]["method"]}, '
          '/proc/self/status, reset via /proc/self/clear_refs before the '
          'first neck call) of a fresh process per row (3 calls, '
          'MALLOC_MMAP_THRESHOLD_=131072; timing in a separate process '
          'without it); delta = peak minus RSS at the '
          'reset. Largest intermediates: (B, 6890, 3, 3) blended rotations '
          f'= {6890 * 9 * 4 / 2**20:.2f} MiB per sample (float32).')
    print(f'\nTotal wall time {time.perf_counter() - t_start:.1f} s')
    print('\nCommand: ' + shlex.join([sys.executable] + sys.argv))
    tmp.cleanup()


if __name__ == '__main__':
    main()
