//! No dimension cap in the environment API: an environment of the user's own with 256 observation
//! values and 32 action components, its spec in a `const`, stepped with the actions of f32 and
//! int8 policies of that shape through core's `Policy`.

use picorl_core::env::{Action, Env, EnvError, EnvSpec, Space, StepResult};
use picorl_core::model::{self, BodySpec, HeadSpec, LayerSpec, Model, ModelSpec};
use picorl_core::nn::{Activation, QuantParams};
use picorl_core::policy::Policy;
use picorl_core::rng::{seeded, unit_f32};

const OBS: usize = 256;
const ACT: usize = 32;

const OBS_LOW: [f32; OBS] = [-10.0; OBS];
const OBS_HIGH: [f32; OBS] = [10.0; OBS];
const ACT_LOW: [f32; ACT] = [-1.0; ACT];
const ACT_HIGH: [f32; ACT] = [1.0; ACT];

/// The spec lives in a `const`, as the built-ins' do.
const SPEC: EnvSpec = EnvSpec {
    id: "Wide-v0",
    observation_space: Space::Box {
        dim: OBS,
        low: &OBS_LOW,
        high: &OBS_HIGH,
    },
    action_space: Space::Box {
        dim: ACT,
        low: &ACT_LOW,
        high: &ACT_HIGH,
    },
    max_episode_steps: 50,
};

/// 256 values that drift toward the action applied to their group of eight; reward `-|x|²/256`.
struct Wide {
    x: [f32; OBS],
    steps: u32,
}

impl Env for Wide {
    fn spec(&self) -> &EnvSpec {
        &SPEC
    }
    fn reset(&mut self, seed: Option<u64>, obs: &mut [f32]) -> Result<(), EnvError> {
        if obs.len() != OBS {
            return Err(EnvError::ObsBuffer {
                expected: OBS,
                got: obs.len(),
            });
        }
        let mut rng = seeded(seed.unwrap_or(0));
        for v in &mut self.x {
            *v = unit_f32(&mut rng) - 0.5;
        }
        self.steps = 0;
        obs.copy_from_slice(&self.x);
        Ok(())
    }
    fn step(&mut self, action: Action<'_>, obs: &mut [f32]) -> Result<StepResult, EnvError> {
        let Action::Continuous(a) = action else {
            return Err(EnvError::WrongActionKind);
        };
        if a.len() != ACT {
            return Err(EnvError::ActionDim {
                expected: ACT,
                got: a.len(),
            });
        }
        if obs.len() != OBS {
            return Err(EnvError::ObsBuffer {
                expected: OBS,
                got: obs.len(),
            });
        }
        for (i, v) in self.x.iter_mut().enumerate() {
            *v = 0.9 * *v + 0.1 * a[i / 8];
        }
        self.steps += 1;
        obs.copy_from_slice(&self.x);
        Ok(StepResult {
            reward: -f64::from(self.x.iter().map(|v| v * v).sum::<f32>()) / OBS as f64,
            terminated: false,
            truncated: self.steps >= SPEC.max_episode_steps,
        })
    }
    fn state_dim(&self) -> usize {
        OBS
    }
    fn get_state(&self, out: &mut [f64]) -> Result<(), EnvError> {
        if out.len() != OBS {
            return Err(EnvError::StateDim {
                expected: OBS,
                got: out.len(),
            });
        }
        for (o, v) in out.iter_mut().zip(self.x) {
            *o = f64::from(v);
        }
        Ok(())
    }
    fn set_state(&mut self, state: &[f64], obs: &mut [f32]) -> Result<(), EnvError> {
        if state.len() != OBS {
            return Err(EnvError::StateDim {
                expected: OBS,
                got: state.len(),
            });
        }
        for (v, s) in self.x.iter_mut().zip(state) {
            *v = *s as f32;
        }
        self.steps = 0;
        self.reset_obs(obs)
    }
}

impl Wide {
    fn reset_obs(&self, obs: &mut [f32]) -> Result<(), EnvError> {
        if obs.len() != OBS {
            return Err(EnvError::ObsBuffer {
                expected: OBS,
                got: obs.len(),
            });
        }
        obs.copy_from_slice(&self.x);
        Ok(())
    }
}

fn layers<'a>(w1: &'a [f32], w2: &'a [f32], b1: &'a [f32], b2: &'a [f32]) -> [LayerSpec<'a>; 2] {
    [
        LayerSpec {
            in_dim: OBS,
            out_dim: 64,
            weights: w1,
            bias: b1,
            activation: Activation::Relu,
        },
        LayerSpec {
            in_dim: 64,
            out_dim: ACT,
            weights: w2,
            bias: b2,
            activation: Activation::Identity,
        },
    ]
}

fn write(spec: &ModelSpec<'_>) -> (Vec<u32>, usize) {
    let mut w = vec![0u32; model::required_len(spec).unwrap() / 4 + 4];
    let n = model::write(spec, bytemuck::cast_slice_mut(&mut w)).unwrap();
    (w, n)
}

/// Runs one episode of `Wide` under the policy in `bytes`; returns the return.
fn episode(bytes: &[u8]) -> f64 {
    let model = Model::parse(bytes).unwrap();
    assert_eq!((model.obs_dim(), model.action_dim()), (OBS, ACT));
    let mut policy = Policy::<'_, OBS>::new(model).unwrap();
    let mut env = Wide {
        x: [0.0; OBS],
        steps: 0,
    };
    let mut obs = vec![0.0f32; env.spec().obs_dim()];
    env.reset(Some(3), &mut obs).unwrap();
    let mut ret = 0.0;
    loop {
        let a = policy.act(&obs).unwrap();
        assert_eq!(a.continuous().map(<[f32]>::len), Some(ACT));
        let r = env.step(a.as_action(), &mut obs).unwrap();
        ret += r.reward;
        if r.done() {
            return ret;
        }
    }
}

#[test]
fn a_256_by_32_environment_runs_f32_and_int8_policies() {
    assert!(SPEC.observation_space.is_valid() && SPEC.action_space.is_valid());
    assert_eq!(SPEC.obs_dim(), OBS);
    let mut rng = seeded(7);
    let mut draw =
        |n: usize, s: f32| -> Vec<f32> { (0..n).map(|_| (unit_f32(&mut rng) - 0.5) * s).collect() };
    let (w1, w2, b1, b2) = (
        draw(OBS * 64, 0.1),
        draw(64 * ACT, 0.2),
        draw(64, 0.1),
        draw(ACT, 0.1),
    );
    let ls = layers(&w1, &w2, &b1, &b2);
    let head = HeadSpec::ContinuousTanh {
        low: &ACT_LOW,
        high: &ACT_HIGH,
    };
    let (f32_words, f32_len) = write(&ModelSpec {
        obs_dim: OBS,
        normalization: None,
        head,
        body: BodySpec::MlpF32 { layers: &ls },
    });
    let outputs = [
        QuantParams::from_range(0.0, 4.0).unwrap(),
        QuantParams::from_range(-4.0, 4.0).unwrap(),
    ];
    let (i8_words, i8_len) = write(&ModelSpec {
        obs_dim: OBS,
        normalization: None,
        head,
        body: BodySpec::MlpInt8 {
            layers: &ls,
            input: QuantParams::from_range(-1.0, 1.0).unwrap(),
            outputs: &outputs,
        },
    });
    let r32 = episode(&bytemuck::cast_slice(&f32_words)[..f32_len]);
    let r8 = episode(&bytemuck::cast_slice(&i8_words)[..i8_len]);
    // 50 steps of a reward in [-100, 0]: finite and within its range, both ways.
    for r in [r32, r8] {
        assert!(r.is_finite() && (-5000.0..=0.0).contains(&r), "{r}");
    }
}

#[test]
fn a_malformed_box_is_not_valid() {
    const SHORT: Space = Space::Box {
        dim: 3,
        low: &[0.0, 0.0],
        high: &[1.0, 1.0, 1.0],
    };
    const CROSSED: Space = Space::Box {
        dim: 1,
        low: &[1.0],
        high: &[0.0],
    };
    const NAN: Space = Space::Box {
        dim: 1,
        low: &[f32::NAN],
        high: &[0.0],
    };
    for s in [SHORT, CROSSED, NAN, Space::Discrete { n: 0 }] {
        assert!(!s.is_valid(), "{s:?}");
    }
    assert!(Space::Discrete { n: 2 }.is_valid());
}
