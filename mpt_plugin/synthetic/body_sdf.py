"""Implicit surface of the synthetic body (signed distance, metres).

Step 2 of the generator (:mod:`mpt_plugin.synthetic.smpl_model`): a smooth
union of a swept elliptical torso, tapered capsules, ellipsoids and rounded
boxes placed on the skeleton of :mod:`mpt_plugin.synthetic.body_proportions`;
negative inside.
"""
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
from scipy.interpolate import PchipInterpolator

from .body_proportions import BodyParams, skeleton

__all__ = ['BodySDF', 'norm3', 'thumb_axis']


def norm3(v: np.ndarray) -> np.ndarray:
    """Row norms of ``(N, 3)`` (faster than ``np.linalg.norm``)."""
    return np.sqrt(v[:, 0] * v[:, 0] + v[:, 1] * v[:, 1] + v[:, 2] * v[:, 2])


def _smin(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    """Polynomial smooth minimum with blend radius ``k`` (metres)."""
    h = np.clip(0.5 + 0.5 * (b - a) / k, 0.0, 1.0)
    return b + (a - b) * h - k * h * (1.0 - h)


def _sd_cone(p: np.ndarray, a: Sequence[float], b: Sequence[float], ra: float,
             rb: float) -> np.ndarray:
    """Tapered capsule from ``a`` (radius ``ra``) to ``b`` (radius ``rb``)."""
    a = np.asarray(a, dtype=np.float64)
    ba = np.asarray(b, dtype=np.float64) - a
    pa = p - a
    t = np.clip(pa @ ba / (ba @ ba), 0.0, 1.0)
    return norm3(pa - t[:, None] * ba) - (ra + t * (rb - ra))


def _sd_ellipsoid(p: np.ndarray, c: Sequence[float],
                  r: Sequence[float]) -> np.ndarray:
    """Ellipsoid with centre ``c`` and semi-axes ``r`` (first-order SDF)."""
    q = p - np.asarray(c, dtype=np.float64)
    r = np.asarray(r, dtype=np.float64)
    k0 = norm3(q / r)
    k1 = norm3(q / (r * r))
    return k0 * (k0 - 1.0) / np.maximum(k1, 1e-12)


def _sd_round_box(p: np.ndarray, c: Sequence[float], h: Sequence[float],
                  r: float) -> np.ndarray:
    """Axis-aligned box with half sizes ``h`` and edges rounded by ``r``."""
    q = np.abs(p - np.asarray(c, dtype=np.float64)) - (np.asarray(h) - r)
    outside = norm3(np.maximum(q, 0.0))
    return outside + np.minimum(q.max(axis=1), 0.0) - r


def _sd_flat_ellipse(p: np.ndarray, c: Sequence[float], rx: float, rz: float,
                     h: float, r: float) -> np.ndarray:
    """Slab of half thickness ``h`` (along y) with an elliptic outline of
    semi-axes ``rx``, ``rz`` (x, z) and its rim rounded by ``r <= h``."""
    q = p - np.asarray(c, dtype=np.float64)
    ax, az = rx - r, rz - r
    k0 = np.sqrt((q[:, 0] / ax)**2 + (q[:, 2] / az)**2)
    k1 = np.sqrt((q[:, 0] / ax**2)**2 + (q[:, 2] / az**2)**2)
    d2 = k0 * (k0 - 1.0) / np.maximum(k1, 1e-12)
    wy = np.abs(q[:, 1]) - (h - r)
    out = np.sqrt(np.maximum(d2, 0.0)**2 + np.maximum(wy, 0.0)**2)
    return out + np.minimum(np.maximum(d2, wy), 0.0) - r


def thumb_axis(wrist: np.ndarray, sign: float,
               s: float) -> Tuple[np.ndarray, np.ndarray]:
    """Base and tip centre of the thumb (``sign`` +1 left, -1 right)."""
    t0 = wrist + np.array([sign * 0.02 * s, -0.008 * s, 0.028 * s])
    t1 = wrist + np.array([sign * 0.05 * s, -0.012 * s, 0.096 * s])
    return t0, t1


class BodySDF:
    """Signed distance of the synthetic body (metres, negative inside).

    Args:
        params (BodyParams): Proportions.
    """

    def __init__(self, params: BodyParams) -> None:
        self.p = params
        self.J, self.ends = skeleton(params)
        s = params.scale
        rows = np.asarray(params.torso_rows, dtype=np.float64) * s
        self._a = PchipInterpolator(rows[:, 0], rows[:, 1])
        self._b = PchipInterpolator(rows[:, 0], rows[:, 2])
        self._c = PchipInterpolator(rows[:, 0], rows[:, 3])
        self._y_range = (rows[0, 0], rows[-1, 0])

    # -- parts -------------------------------------------------------------
    def _torso(self, q: np.ndarray) -> np.ndarray:
        s = self.p.scale
        y = np.clip(q[:, 1], *self._y_range)
        a, b, c = self._a(y), self._b(y), self._c(y)
        x, z = q[:, 0], q[:, 2] - c
        ell = np.sqrt((x / a)**2 + (z / b)**2)
        grad = np.sqrt((x / a**2)**2 + (z / b**2)**2)
        d2 = (ell - 1.0) * ell / np.maximum(grad, 1e-9)
        bot, top = self.p.torso_bottom_y * s, self.p.torso_top_y * s
        mid, half = 0.5 * (bot + top), 0.5 * (top - bot)
        r = np.where(q[:, 1] < mid, 0.085 * s, 0.06 * s)
        wx = d2 + r
        wy = np.abs(q[:, 1] - mid) - (half - r)
        out = np.sqrt(np.maximum(wx, 0)**2 + np.maximum(wy, 0)**2)
        return out + np.minimum(np.maximum(wx, wy), 0.0) - r

    def groups(self, q: np.ndarray) -> Dict[str, np.ndarray]:
        """Distance to each part group (before blending).

        Args:
            q (np.ndarray): ``(N, 3)`` points in metres.

        Returns:
            dict: group name (``torso``, ``collar_l/r``, ``neck``, ``head``,
            ``arm_l/r``, ``hand_l/r``, ``leg_l/r``, ``foot_l/r``) ->
            ``(N,)`` signed distances; used for the skinning segmentation.
        """
        p, J, s = self.p, self.J, self.p.scale
        out = {}
        torso = self._torso(q)
        for sign in (1.0, -1.0):
            g = _sd_ellipsoid(q, (sign * (J[1, 0] + 0.002 * s),
                                  J[1, 1] - 0.005 * s, -0.045 * s),
                              (0.085 * s, 0.095 * s, p.glute * s))
            torso = _smin(torso, g, 0.03 * s)
            if p.bust > 0:
                b = _sd_ellipsoid(q, (sign * 0.085 * s, 0.115 * s, 0.06 * s),
                                  (0.07 * s, 0.065 * s, 0.058 * s * p.bust))
                torso = _smin(torso, b, 0.03 * s)
        out['torso'] = torso
        for side, sign, js in (('l', 1.0, 16), ('r', -1.0, 17)):
            base = np.array([sign * 0.03 * s, J[12, 1] - 0.005 * s,
                             J[12, 2] - 0.01 * s])
            tip = J[js] + np.array([-sign * 0.012 * s, 0.02 * s, 0.0])
            out['collar_' + side] = _sd_cone(q, base, tip, 0.045 * s,
                                             0.045 * s)
        neck_a = np.array([0.0, J[12, 1] - 0.03 * s, J[12, 2]])
        neck_b = J[15] + np.array([0.0, 0.01 * s, -0.01 * s])
        out['neck'] = _sd_cone(q, neck_a, neck_b, p.neck_r[0] * s,
                               p.neck_r[1] * s)
        out['head'] = self._head(q)
        for side, sign, js, je, jw, jh, fe in (
                ('l', 1.0, 16, 18, 20, 22, 'lfinger'),
                ('r', -1.0, 17, 19, 21, 23, 'rfinger')):
            ua = _sd_cone(q, J[js], J[je], p.upper_arm_r[0] * s,
                          p.upper_arm_r[1] * s)
            fa = _sd_cone(q, J[je], J[jw], p.forearm_r[0] * s,
                          p.forearm_r[1] * s)
            dl = _sd_ellipsoid(q, J[js] + np.array([0.0, 0.008 * s, 0.0]),
                               (p.deltoid_r * s * 1.25, p.deltoid_r * s,
                                p.deltoid_r * s))
            out['arm_' + side] = _smin(_smin(ua, fa, 0.02 * s), dl, 0.03 * s)
            out['hand_' + side] = self._hand(q, J[jw], J[jh], self.ends[fe],
                                             sign)
        for side, sign, jh, jk, ja, jb, te in (
                ('l', 1.0, 1, 4, 7, 10, 'ltoe'),
                ('r', -1.0, 2, 5, 8, 11, 'rtoe')):
            top = J[jh] + np.array([sign * 0.028 * s, -0.02 * s, 0.0])
            th = _sd_cone(q, top, J[jk], p.thigh_r[0] * s, p.thigh_r[1] * s)
            sh = _sd_cone(q, J[jk], J[ja], p.shin_r[0] * s, p.shin_r[1] * s)
            calf_c = J[jk] + 0.3 * (J[ja] - J[jk]) + np.array(
                [sign * 0.004 * s, 0.0, -0.018 * s])
            calf = _sd_ellipsoid(q, calf_c, (p.calf_r * s, 0.09 * s,
                                             p.calf_r * s * 0.95))
            leg = _smin(_smin(th, sh, 0.03 * s), calf, 0.03 * s)
            out['leg_' + side] = leg
            out['foot_' + side] = self._foot(q, J[ja], J[jb], self.ends[te],
                                             sign)
        return out

    def _head(self, q: np.ndarray) -> np.ndarray:
        p, s = self.p, self.p.scale
        cr = np.asarray(p.cranium_r) * s
        top = p.head_top_y * s
        cranium = _sd_ellipsoid(q, (0.0, top - cr[1], 0.003 * s), cr)
        jaw = _sd_ellipsoid(q, (0.0, top - 0.15 * s, 0.03 * s),
                            (0.056 * s, 0.052 * s, 0.066 * s))
        head = _smin(cranium, jaw, 0.035 * s)
        nose = _sd_ellipsoid(q, (0.0, top - 0.123 * s, 0.098 * s),
                             (0.013 * s, 0.024 * s, 0.02 * s))
        head = _smin(head, nose, 0.012 * s)
        for sign in (1.0, -1.0):
            ear = _sd_ellipsoid(q, (sign * 0.074 * s, top - 0.118 * s,
                                    -0.008 * s),
                                (0.014 * s, 0.03 * s, 0.018 * s))
            head = _smin(head, ear, 0.008 * s)
        return head

    def _hand(self, q: np.ndarray, wrist: np.ndarray, knuckle: np.ndarray,
              tip: np.ndarray, sign: float) -> np.ndarray:
        p, s = self.p, self.p.scale
        hw, ht = p.hand_half_width * s, p.hand_half_thick * s
        palm_len = knuckle[0] - wrist[0]
        palm_c = wrist + np.array([0.5 * palm_len, -0.004 * s, 0.0])
        palm = _sd_round_box(q, palm_c, (abs(0.5 * palm_len) + 0.008 * s, ht,
                                         hw), 0.012 * s)
        fing_len = abs(tip[0] - knuckle[0])
        fingers = _sd_flat_ellipse(
            q, knuckle + np.array([0.0, -0.002 * s, 0.0]), fing_len,
            hw * 0.98, ht * 0.8, ht * 0.75)
        hand = _smin(palm, fingers, 0.015 * s)
        t0, t1 = thumb_axis(wrist, sign, s)
        thumb = _sd_cone(q, t0, t1, 0.015 * s, 0.0105 * s)
        return _smin(hand, thumb, 0.02 * s)

    def _foot(self, q: np.ndarray, ankle: np.ndarray, ball: np.ndarray,
              toe: np.ndarray, sign: float) -> np.ndarray:
        p, s = self.p, self.p.scale
        floor = ankle[1] - p.ankle_height * s
        fw = p.foot_half_width * s
        heel_c = np.array([ankle[0], floor + 0.038 * s,
                           ankle[2] - (p.heel_back - 0.038) * s])
        heel = norm3(q - heel_c) - 0.038 * s
        instep = _sd_cone(q, ankle, np.array([ankle[0] + sign * 0.008 * s,
                                              floor + 0.03 * s,
                                              ball[2] - 0.03 * s]),
                          0.036 * s, 0.03 * s)
        front_c = np.array([ball[0], floor + 0.021 * s,
                            0.5 * (heel_c[2] + toe[2] + 0.012 * s)])
        front_h = (fw, 0.021 * s, 0.5 * (toe[2] + 0.012 * s - heel_c[2]))
        sole = _sd_round_box(q, front_c, front_h, 0.018 * s)
        foot = _smin(_smin(heel, sole, 0.03 * s), instep, 0.03 * s)
        return foot

    # -- composition -------------------------------------------------------
    def __call__(self, q: np.ndarray) -> np.ndarray:
        """Signed distance ``(N,)`` at points ``q`` ``(N, 3)``."""
        g = self.groups(q)
        s = self.p.scale
        collars = _smin(g['collar_l'], g['collar_r'], 0.01 * s)
        body = _smin(g['torso'], collars, 0.04 * s)
        body = _smin(body, g['neck'], 0.03 * s)
        body = _smin(body, g['head'], 0.025 * s)
        for side in ('l', 'r'):
            arm = _smin(g['arm_' + side], g['hand_' + side], 0.015 * s)
            body = _smin(body, arm, 0.03 * s)
            leg = _smin(g['leg_' + side], g['foot_' + side], 0.03 * s)
            body = _smin(body, leg, 0.025 * s)
        return body

    def gradient(self, q: np.ndarray, eps: float = 1e-6,
                 value: Optional[np.ndarray] = None) -> np.ndarray:
        """Forward-difference gradient ``(N, 3)`` (``value``: ``self(q)``
        if already known)."""
        if value is None:
            value = self(q)
        grad = np.empty_like(q)
        for k in range(3):
            d = np.zeros(3)
            d[k] = eps
            grad[:, k] = (self(q + d) - value) / eps
        return grad

    def project(self, q: np.ndarray, iters: int = 8,
                max_step: float = 0.03) -> np.ndarray:
        """Move points onto the zero level set by damped Newton steps."""
        q = q.copy()
        for _ in range(iters):
            f = self(q)
            g = self.gradient(q, value=f)
            step = np.clip(f, -max_step, max_step) / np.maximum(
                np.einsum('ij,ij->i', g, g), 1e-12)
            q -= step[:, None] * g
        return q
