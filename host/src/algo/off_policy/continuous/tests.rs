//! Tests of [`super`] (`continuous`).

use super::*;

#[test]
fn bounds_scale_both_ways() {
    let spec = *crate::envs::make("Pendulum-v1", &Default::default())
        .unwrap()
        .spec();
    let b = Bounds::new(&spec, "test").unwrap();
    let mut out = [0.0f32; 3];
    b.to_env(&[-1.0, 0.0, 0.5], &mut out);
    assert_eq!(out, [-2.0, 0.0, 1.0]);
    let mut back = Vec::new();
    b.to_unit_rows(&out, &mut back);
    assert_eq!(back, vec![-1.0, 0.0, 0.5]);
    let cartpole = *crate::envs::make("CartPole-v1", &Default::default())
        .unwrap()
        .spec();
    assert!(Bounds::new(&cartpole, "td3").is_err());
}

#[test]
fn ornstein_uhlenbeck_noise_persists_and_resets() {
    let mut rng = rng::seeded(1);
    let mut n = Noise::new(NoiseKind::OrnsteinUhlenbeck, 0.5, 2);
    let mut u = [0.0f32; 2];
    n.apply(&mut rng, &mut u);
    assert!(n.state.iter().all(|&x| x != 0.0));
    n.reset(1, 1);
    assert!(n.state[0] != 0.0 && n.state[1] == 0.0);
}
