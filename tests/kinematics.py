"""Test-only reference kinematics for the SMPL joint tree.

An independent, deliberately plain forward-kinematics chain (axis-angle ->
Rodrigues -> joint positions) used by tests to check motions and AMASS frame
conversions without going through the code under test (only the joint tree,
a constant, comes from the package).
"""
import numpy as np

from mpt_plugin.body_models.conventions import SMPL_PARENTS

# SMPL rest joints (metres), as given in the project's reference notes.
# yapf: disable
REST = np.array([
    [0, -0.22, 0.03], [0.07, -0.31, 0.02], [-0.07, -0.31, 0.02],
    [0, -0.10, 0], [0.10, -0.69, 0.01], [-0.10, -0.69, 0.01],
    [0, 0.03, 0.02], [0.09, -1.09, -0.03], [-0.09, -1.09, -0.03],
    [0, 0.08, 0.03], [0.12, -1.15, 0.09], [-0.12, -1.15, 0.09],
    [0, 0.29, -0.01], [0.08, 0.19, -0.01], [-0.08, 0.19, -0.01],
    [0, 0.35, 0.04], [0.17, 0.22, -0.02], [-0.17, 0.22, -0.02],
    [0.43, 0.21, -0.03], [-0.43, 0.21, -0.03], [0.70, 0.22, -0.03],
    [-0.70, 0.22, -0.03], [0.78, 0.21, -0.05], [-0.78, 0.21, -0.05]])
# yapf: enable


def rodrigues(aa: np.ndarray) -> np.ndarray:
    """(..., 3) axis-angle -> (..., 3, 3) rotation matrices."""
    theta = np.linalg.norm(aa, axis=-1, keepdims=True)
    axis = aa / np.maximum(theta, 1e-12)
    x, y, z = axis[..., 0], axis[..., 1], axis[..., 2]
    zero = np.zeros_like(x)
    k = np.stack([zero, -z, y, z, zero, -x, -y, x, zero],
                 -1).reshape(aa.shape[:-1] + (3, 3))
    s, c = np.sin(theta)[..., None], np.cos(theta)[..., None]
    return np.eye(3) + s * k + (1 - c) * (k @ k)


def fk(poses: np.ndarray, trans: np.ndarray = None) -> np.ndarray:
    """SMPL joint positions (T, 24, 3) from (T, 72) axis-angle (+ trans
    (T, 3), added to every joint as SMPL's translation does)."""
    rot = rodrigues(poses.reshape(-1, 24, 3))
    glob = [rot[:, 0]]
    pos = [np.broadcast_to(REST[0], (len(poses), 3))]
    for j in range(1, 24):
        p = SMPL_PARENTS[j]
        glob.append(glob[p] @ rot[:, j])
        pos.append(pos[p] + glob[p] @ (REST[j] - REST[p]))
    pos = np.stack(pos, 1)
    return pos if trans is None else pos + trans[:, None]
