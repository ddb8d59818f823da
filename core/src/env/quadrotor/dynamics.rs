//! The physics and the task of `Quadrotor-v0` as pure functions of the integrated state: the rigid
//! body and motor derivative, one RK4 step with L2F's renormalization and limits, the termination
//! test and the `Squared` reward. No generator and no history: those are the environment's.

use super::params::*;
use super::{DT, STATE_DIM};

/// The integrated part of the state.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Body {
    pub(super) p: [f32; 3],
    pub(super) q: [f32; 4],
    pub(super) v: [f32; 3],
    pub(super) w: [f32; 3],
    pub(super) rpm: [f32; 4],
}

impl Body {
    pub(super) const AT_REST: Body = Body {
        p: [0.0; 3],
        q: [1.0, 0.0, 0.0, 0.0],
        v: [0.0; 3],
        w: [0.0; 3],
        rpm: [0.0; 4],
    };

    pub(super) fn to_array(self) -> [f32; STATE_DIM] {
        let mut s = [0.0; STATE_DIM];
        s[0..3].copy_from_slice(&self.p);
        s[3..7].copy_from_slice(&self.q);
        s[7..10].copy_from_slice(&self.v);
        s[10..13].copy_from_slice(&self.w);
        s[13..17].copy_from_slice(&self.rpm);
        s
    }

    pub(super) fn from_array(s: &[f32; STATE_DIM]) -> Body {
        let mut b = Body::AT_REST;
        b.p.copy_from_slice(&s[0..3]);
        b.q.copy_from_slice(&s[3..7]);
        b.v.copy_from_slice(&s[7..10]);
        b.w.copy_from_slice(&s[10..13]);
        b.rpm.copy_from_slice(&s[13..17]);
        b
    }

    /// `self + h k`, value by value (RLtools' `scalar_multiply_accumulate` on the state).
    pub(super) fn plus(&self, k: &Body, h: f32) -> Body {
        let mut s = self.to_array();
        for (x, d) in s.iter_mut().zip(k.to_array()) {
            *x += h * d;
        }
        Body::from_array(&s)
    }

    pub(super) fn is_finite(&self) -> bool {
        self.to_array().iter().all(|x| x.is_finite())
    }
}

pub(super) fn cross(a: [f32; 3], b: [f32; 3]) -> [f32; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

pub(super) fn norm3(a: [f32; 3]) -> f32 {
    libm::sqrtf(a[0] * a[0] + a[1] * a[1] + a[2] * a[2])
}

/// `R(q) v` as L2F's `rotate_vector_by_quaternion`: `t = 2 q⃗ × v`, `v + w t + q⃗ × t`.
pub(super) fn rotate(q: [f32; 4], v: [f32; 3]) -> [f32; 3] {
    let qv = [q[1], q[2], q[3]];
    let c = cross(qv, v);
    let t = [2.0 * c[0], 2.0 * c[1], 2.0 * c[2]];
    let u = cross(qv, t);
    [
        u[0] + q[0] * t[0] + v[0],
        u[1] + q[0] * t[1] + v[1],
        u[2] + q[0] * t[2] + v[2],
    ]
}

/// The rotation matrix of `q`, row by row (L2F's `OrientationRotationMatrix` observation).
pub(super) fn rotation_matrix(q: [f32; 4]) -> [f32; 9] {
    let [w, x, y, z] = q;
    [
        1.0 - 2.0 * y * y - 2.0 * z * z,
        2.0 * x * y - 2.0 * w * z,
        2.0 * x * z + 2.0 * w * y,
        2.0 * x * y + 2.0 * w * z,
        1.0 - 2.0 * x * x - 2.0 * z * z,
        2.0 * y * z - 2.0 * w * x,
        2.0 * x * z - 2.0 * w * y,
        2.0 * y * z + 2.0 * w * x,
        1.0 - 2.0 * x * x - 2.0 * y * y,
    ]
}

/// The time derivative of `body` with motor set points `setpoint` (L2F's `multirotor_dynamics`
/// for `StateRotors`: the body is driven by the current motor speeds, not the set points).
pub(super) fn derivative(body: &Body, setpoint: &[f32; 4], mass: f32) -> Body {
    let mut force_z = 0.0f32;
    let mut torque = [0.0f32; 3];
    for i in 0..4 {
        let r = body.rpm[i];
        let f = THRUST[0] + THRUST[1] * r + THRUST[2] * r * r;
        force_z += f;
        torque[2] += ROTOR_YAW[i] * (f * TORQUE_CONSTANT);
        // r × (0, 0, f) = (r_y f, -r_x f, 0).
        let [rx, ry] = ROTOR_POS[i];
        torque[0] += ry * f;
        torque[1] -= rx * f;
    }
    let (q, w) = (body.q, body.w);
    let q_dot = [
        0.5 * (-q[1] * w[0] - q[2] * w[1] - q[3] * w[2]),
        0.5 * (q[0] * w[0] + q[2] * w[2] - q[3] * w[1]),
        0.5 * (q[0] * w[1] + q[3] * w[0] - q[1] * w[2]),
        0.5 * (q[0] * w[2] + q[1] * w[1] - q[2] * w[0]),
    ];
    let a = rotate(q, [0.0, 0.0, force_z]);
    let v_dot = [a[0] / mass, a[1] / mass, a[2] / mass + GRAVITY];
    let jw = [J[0] * w[0], J[1] * w[1], J[2] * w[2]];
    let gyro = cross(w, jw);
    let w_dot = [
        J_INV[0] * (torque[0] - gyro[0]),
        J_INV[1] * (torque[1] - gyro[1]),
        J_INV[2] * (torque[2] - gyro[2]),
    ];
    let mut rpm_dot = [0.0f32; 4];
    for i in 0..4 {
        let tau = if setpoint[i] >= body.rpm[i] {
            TAU_RISING
        } else {
            TAU_FALLING
        };
        rpm_dot[i] = (setpoint[i] - body.rpm[i]) * (1.0 / tau);
    }
    Body {
        p: body.v,
        q: q_dot,
        v: v_dot,
        w: w_dot,
        rpm: rpm_dot,
    }
}

/// One L2F step: classical RK4 over `dt`, then the quaternion renormalized and the limits applied.
pub(super) fn integrate(body: &Body, setpoint: &[f32; 4], mass: f32) -> Body {
    let k1 = derivative(body, setpoint, mass);
    let k2 = derivative(&body.plus(&k1, DT / 2.0), setpoint, mass);
    let k3 = derivative(&body.plus(&k2, DT / 2.0), setpoint, mass);
    let k4 = derivative(&body.plus(&k3, DT), setpoint, mass);
    let mut next = body
        .plus(&k1, DT / 6.0)
        .plus(&k2, DT / 3.0)
        .plus(&k3, DT / 3.0)
        .plus(&k4, DT / 6.0);
    let n = libm::sqrtf(next.q.iter().map(|x| x * x).sum::<f32>());
    for x in &mut next.q {
        *x /= n;
    }
    for i in 0..3 {
        next.p[i] = next.p[i].clamp(-STATE_LIMIT, STATE_LIMIT);
        next.v[i] = next.v[i].clamp(-STATE_LIMIT, STATE_LIMIT);
        next.w[i] = next.w[i].clamp(-STATE_LIMIT, STATE_LIMIT);
    }
    for r in &mut next.rpm {
        *r = r.clamp(0.0, 1.0);
    }
    next
}

/// L2F's termination test on a state (with the non-finite fallback).
pub(super) fn out_of_bounds(body: &Body) -> bool {
    !body.is_finite()
        || (0..3).any(|i| {
            body.p[i].abs() > TERMINATION_POSITION
                || body.v[i].abs() > TERMINATION_LINEAR_VELOCITY
                || body.w[i].abs() > TERMINATION_ANGULAR_VELOCITY
        })
}

/// L2F's `Squared` reward of `(before, action, after)`.
pub(super) fn reward(
    weights: &RewardWeights,
    before: &Body,
    action: &[f32; 4],
    after: &Body,
    terminated: bool,
) -> f32 {
    if terminated {
        return weights.termination_penalty;
    }
    let orientation = 2.0 * libm::acosf(1.0 - before.q[3].abs());
    let mut position = norm3(before.p);
    if weights.position_clip > 0.0 {
        position = position.min(weights.position_clip);
    }
    let linear_velocity = norm3(before.v);
    let angular_velocity = norm3(before.w);
    let dv = [
        after.v[0] - before.v[0],
        after.v[1] - before.v[1],
        after.v[2] - before.v[2],
    ];
    let dw = [
        after.w[0] - before.w[0],
        after.w[1] - before.w[1],
        after.w[2] - before.w[2],
    ];
    let linear_acceleration = norm3(dv) / DT;
    let angular_acceleration = norm3(dw) / DT;
    let mut action_cost = 0.0f32;
    for a in action {
        // L2F takes the command as given; clipped here, so that a huge command cannot make the
        // cost infinite (and `0 · inf` NaN at the default weight 0). Within [-1, 1] the same.
        let d = (a.clamp(-1.0, 1.0) + 1.0) / 2.0 - HOVER_THROTTLE;
        action_cost += d * d;
    }
    let weighted = weights.position * position
        + weights.orientation * orientation
        + weights.linear_velocity * linear_velocity
        + weights.angular_velocity * angular_velocity
        + weights.linear_acceleration * linear_acceleration
        + weights.angular_acceleration * angular_acceleration
        + weights.action * action_cost
        + weights.attitude * (1.0 - before.q[0] * before.q[0]);
    -(weights.scale * weighted) + weights.constant
}
