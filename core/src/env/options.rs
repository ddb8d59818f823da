//! [`EnvOptions`]: Gymnasium's `make` kwargs, typed and heap-free, fed from `key=value` text.
//!
//! A host turns `--env-kwargs key=value` and the kwargs of a JSON record into calls of
//! [`EnvOptions::set`]; [`super::make`] then refuses any option that the environment being made
//! does not take. Values are written as Python, JSON or plain text would write them: `true`,
//! `True`, `1`; `9.81`; `"8x8"` or `8x8`; `[1, 0, 0]` or `(1, 0, 0)`; a map as
//! `["SFFF", "FHFH", "FFFH", "HFFG"]` or `SFFF,FHFH,FFFH,HFFG`.

use super::frozen_lake::MapDesc;
use super::EnvError;

/// A FrozenLake built-in map (Gymnasium's `map_name`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapName {
    /// `"4x4"`.
    FourByFour,
    /// `"8x8"`.
    EightByEight,
}

impl MapName {
    /// Gymnasium's name for the map.
    pub const fn as_str(self) -> &'static str {
        match self {
            MapName::FourByFour => "4x4",
            MapName::EightByEight => "8x8",
        }
    }

    /// The map itself.
    pub const fn map(self) -> MapDesc {
        match self {
            MapName::FourByFour => MapDesc::FOUR_BY_FOUR,
            MapName::EightByEight => MapDesc::EIGHT_BY_EIGHT,
        }
    }
}

/// Gymnasium's `make` kwargs for the environments in core; `None` is Gymnasium's default.
///
/// Which environment takes which option (and its default):
///
/// | option | environments | default |
/// |---|---|---|
/// | `sutton_barto_reward` | `CartPole-v1` | `false` |
/// | `goal_velocity` | `MountainCar-v0`, `MountainCarContinuous-v0` | `0` |
/// | `g` | `Pendulum-v1` | `10.0` |
/// | `map_name` | `FrozenLake-v1`, `FrozenLake8x8-v1` | `"4x4"`, `"8x8"` |
/// | `desc` (a custom map, over `map_name`) | `FrozenLake-v1`, `FrozenLake8x8-v1` | none |
/// | `is_slippery` | FrozenLake, `CliffWalking-v1`, `CliffWalkingSlippery-v1` | `true`; `false`, `true` |
/// | `success_rate` | FrozenLake | `1/3` |
/// | `reward_schedule` (goal, hole, frozen) | FrozenLake | `(1, 0, 0)` |
/// | `is_rainy`, `fickle_passenger` | `Taxi-v4` | `false` |
/// | `rainy_probability`, `fickle_probability` | `Taxi-v4` | `0.8`, `0.3` |
/// | `mass` (kg) | `Quadrotor-v0` | `0.0306` |
/// | `init_guidance` (probability of starting at rest at the target) | `Quadrotor-v0` | `0.1` |
/// | `init_max_position`, `init_max_linear_velocity`, `init_max_angular_velocity` | `Quadrotor-v0` | `0.5`, `1`, `1` |
/// | `init_max_angle` (rad) | `Quadrotor-v0` | `1` |
/// | `reward_position`, `reward_linear_velocity`, `reward_angular_velocity`, `reward_angular_acceleration`, `reward_action`, `reward_attitude` (reward weights, at least 0) | `Quadrotor-v0` | `10`, `0`, `0`, `2`, `0`, `0` (L2F's) |
/// | `reward_position_clip` (m, at least 0; 0 for none: the distance is charged up to it) | `Quadrotor-v0` | `2.5` (L2F's) |
/// | `reward_constant` (added to every step that does not terminate) | `Quadrotor-v0` | `1.1` (L2F's) |
///
/// `Acrobot-v1` takes none. Not supported: `render_mode` (core draws nothing) and FrozenLake's
/// `map_name=None` (a random map from an unseeded generator in Gymnasium).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct EnvOptions {
    /// `CartPole-v1`: reward 0 a step and -1 on failure instead of 1 a step.
    pub sutton_barto_reward: Option<bool>,
    /// `MountainCar-v0`, `MountainCarContinuous-v0`: the velocity the goal also needs.
    pub goal_velocity: Option<f64>,
    /// `Pendulum-v1`: gravity.
    pub g: Option<f64>,
    /// FrozenLake: a built-in map.
    pub map_name: Option<MapName>,
    /// FrozenLake: a custom map (Gymnasium's `desc`); it wins over `map_name`, as in Gymnasium.
    pub desc: Option<MapDesc>,
    /// FrozenLake, CliffWalking: moves slip sideways.
    pub is_slippery: Option<bool>,
    /// FrozenLake: the probability that a slippery move goes where intended, in `[0, 1]`.
    pub success_rate: Option<f64>,
    /// FrozenLake: rewards for reaching the goal, a hole, a frozen cell.
    pub reward_schedule: Option<[f64; 3]>,
    /// `Taxi-v4`: moves slip sideways.
    pub is_rainy: Option<bool>,
    /// `Taxi-v4`: the passenger may change destination once, after the first move with them.
    pub fickle_passenger: Option<bool>,
    /// `Taxi-v4`: the probability that a rainy move goes where intended, in `[0, 1]`.
    pub rainy_probability: Option<f64>,
    /// `Taxi-v4`: the probability that an episode's passenger is fickle, in `[0, 1]`.
    pub fickle_probability: Option<f64>,
    /// `Quadrotor-v0`: the vehicle's mass, kg.
    pub mass: Option<f64>,
    /// `Quadrotor-v0`: the probability that an episode starts at rest at the target.
    pub init_guidance: Option<f64>,
    /// `Quadrotor-v0`: initial position per axis uniform in `±init_max_position`, m.
    pub init_max_position: Option<f64>,
    /// `Quadrotor-v0`: initial rotation angle uniform in `[0, init_max_angle)`, rad.
    pub init_max_angle: Option<f64>,
    /// `Quadrotor-v0`: initial linear velocity per axis uniform in `±init_max_linear_velocity`.
    pub init_max_linear_velocity: Option<f64>,
    /// `Quadrotor-v0`: initial angular velocity per axis uniform in `±init_max_angular_velocity`.
    pub init_max_angular_velocity: Option<f64>,
    /// `Quadrotor-v0`: the reward's weight of the distance to the target (L2F's `position`).
    pub reward_position: Option<f64>,
    /// `Quadrotor-v0`: the reward's weight of the speed (L2F's `linear_velocity`).
    pub reward_linear_velocity: Option<f64>,
    /// `Quadrotor-v0`: the reward's weight of the angular speed (L2F's `angular_velocity`).
    pub reward_angular_velocity: Option<f64>,
    /// `Quadrotor-v0`: the reward's weight of the angular acceleration (L2F's `angular_acceleration`).
    pub reward_angular_acceleration: Option<f64>,
    /// `Quadrotor-v0`: the reward's weight of the squared command offset from hover (L2F's `action`).
    pub reward_action: Option<f64>,
    /// `Quadrotor-v0`: the reward's weight of the tilt cost `1 - q_w²` (not in L2F's package: the
    /// orientation cost of *Learning to Fly in Seconds*).
    pub reward_attitude: Option<f64>,
    /// `Quadrotor-v0`: the distance, m, beyond which the position cost stops growing (L2F's
    /// `position_clip`; 0 for no clip).
    pub reward_position_clip: Option<f64>,
    /// `Quadrotor-v0`: the reward of a step that does not terminate, before its costs (L2F's
    /// `constant`).
    pub reward_constant: Option<f64>,
}

const BOOL: &str = "true or false";
const FINITE: &str = "a finite number";
const PROBABILITY: &str = "a number in [0, 1]";

impl EnvOptions {
    /// Every option key [`EnvOptions::set`] knows, as Gymnasium names them.
    pub const KEYS: &'static [&'static str] = &[
        "sutton_barto_reward",
        "goal_velocity",
        "g",
        "map_name",
        "desc",
        "is_slippery",
        "success_rate",
        "reward_schedule",
        "is_rainy",
        "fickle_passenger",
        "rainy_probability",
        "fickle_probability",
        "mass",
        "init_guidance",
        "init_max_position",
        "init_max_angle",
        "init_max_linear_velocity",
        "init_max_angular_velocity",
        "reward_position",
        "reward_linear_velocity",
        "reward_angular_velocity",
        "reward_angular_acceleration",
        "reward_action",
        "reward_attitude",
        "reward_position_clip",
        "reward_constant",
    ];

    /// No option set: every environment gets Gymnasium's defaults.
    pub const fn new() -> Self {
        Self {
            sutton_barto_reward: None,
            goal_velocity: None,
            g: None,
            map_name: None,
            desc: None,
            is_slippery: None,
            success_rate: None,
            reward_schedule: None,
            is_rainy: None,
            fickle_passenger: None,
            rainy_probability: None,
            fickle_probability: None,
            mass: None,
            init_guidance: None,
            init_max_position: None,
            init_max_angle: None,
            init_max_linear_velocity: None,
            init_max_angular_velocity: None,
            reward_position: None,
            reward_linear_velocity: None,
            reward_angular_velocity: None,
            reward_angular_acceleration: None,
            reward_action: None,
            reward_attitude: None,
            reward_position_clip: None,
            reward_constant: None,
        }
    }

    /// Sets the option `key` (Gymnasium's kwarg name) from its text `value`.
    ///
    /// An unknown key is [`EnvError::UnknownOption`]; a value that does not parse or is out of
    /// range is [`EnvError::BadOptionValue`] (or [`EnvError::BadMap`] for `desc`). On error the
    /// options are unchanged.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), EnvError> {
        match key.trim() {
            "sutton_barto_reward" => self.sutton_barto_reward = Some(boolean(key, value)?),
            "goal_velocity" => self.goal_velocity = Some(finite("goal_velocity", value)?),
            "g" => self.g = Some(finite("g", value)?),
            "map_name" => {
                self.map_name = Some(match unquote(value) {
                    "4x4" => MapName::FourByFour,
                    "8x8" => MapName::EightByEight,
                    _ => {
                        return Err(EnvError::BadOptionValue {
                            option: "map_name",
                            expected: "\"4x4\" or \"8x8\" (for another map give desc; a random map, map_name=None, is not supported)",
                        })
                    }
                })
            }
            "desc" => self.desc = Some(MapDesc::parse(value).map_err(EnvError::BadMap)?),
            "is_slippery" => self.is_slippery = Some(boolean(key, value)?),
            "success_rate" => self.success_rate = Some(probability("success_rate", value)?),
            "reward_schedule" => self.reward_schedule = Some(schedule(value)?),
            "is_rainy" => self.is_rainy = Some(boolean(key, value)?),
            "fickle_passenger" => self.fickle_passenger = Some(boolean(key, value)?),
            "rainy_probability" => {
                self.rainy_probability = Some(probability("rainy_probability", value)?)
            }
            "fickle_probability" => {
                self.fickle_probability = Some(probability("fickle_probability", value)?)
            }
            "mass" => self.mass = Some(finite("mass", value)?),
            "init_guidance" => self.init_guidance = Some(probability("init_guidance", value)?),
            "init_max_position" => self.init_max_position = Some(finite("init_max_position", value)?),
            "init_max_angle" => self.init_max_angle = Some(finite("init_max_angle", value)?),
            "init_max_linear_velocity" => {
                self.init_max_linear_velocity = Some(finite("init_max_linear_velocity", value)?)
            }
            "init_max_angular_velocity" => {
                self.init_max_angular_velocity = Some(finite("init_max_angular_velocity", value)?)
            }
            "reward_position" => self.reward_position = Some(finite("reward_position", value)?),
            "reward_linear_velocity" => self.reward_linear_velocity = Some(finite("reward_linear_velocity", value)?),
            "reward_angular_velocity" => self.reward_angular_velocity = Some(finite("reward_angular_velocity", value)?),
            "reward_angular_acceleration" => self.reward_angular_acceleration = Some(finite("reward_angular_acceleration", value)?),
            "reward_action" => self.reward_action = Some(finite("reward_action", value)?),
            "reward_attitude" => self.reward_attitude = Some(finite("reward_attitude", value)?),
            "reward_position_clip" => self.reward_position_clip = Some(finite("reward_position_clip", value)?),
            "reward_constant" => self.reward_constant = Some(finite("reward_constant", value)?),
            _ => return Err(EnvError::UnknownOption),
        }
        Ok(())
    }

    /// The keys of the options that are set.
    pub fn set_keys(&self) -> impl Iterator<Item = &'static str> + '_ {
        let set = [
            self.sutton_barto_reward.is_some(),
            self.goal_velocity.is_some(),
            self.g.is_some(),
            self.map_name.is_some(),
            self.desc.is_some(),
            self.is_slippery.is_some(),
            self.success_rate.is_some(),
            self.reward_schedule.is_some(),
            self.is_rainy.is_some(),
            self.fickle_passenger.is_some(),
            self.rainy_probability.is_some(),
            self.fickle_probability.is_some(),
            self.mass.is_some(),
            self.init_guidance.is_some(),
            self.init_max_position.is_some(),
            self.init_max_angle.is_some(),
            self.init_max_linear_velocity.is_some(),
            self.init_max_angular_velocity.is_some(),
            self.reward_position.is_some(),
            self.reward_linear_velocity.is_some(),
            self.reward_angular_velocity.is_some(),
            self.reward_angular_acceleration.is_some(),
            self.reward_action.is_some(),
            self.reward_attitude.is_some(),
            self.reward_position_clip.is_some(),
            self.reward_constant.is_some(),
        ];
        Self::KEYS
            .iter()
            .zip(set)
            .filter(|(_, on)| *on)
            .map(|(key, _)| *key)
    }

    /// `Err(OptionNotAccepted)` naming the first set option that `id` does not take.
    pub(crate) fn only(&self, id: &'static str, accepted: &[&str]) -> Result<(), EnvError> {
        match self.set_keys().find(|key| !accepted.contains(key)) {
            Some(option) => Err(EnvError::OptionNotAccepted { id, option }),
            None => Ok(()),
        }
    }
}

/// `"text"`, `'text'` or `text`, trimmed.
fn unquote(value: &str) -> &str {
    let v = value.trim();
    for q in ['"', '\''] {
        if let Some(inner) = v.strip_prefix(q).and_then(|v| v.strip_suffix(q)) {
            return inner.trim();
        }
    }
    v
}

fn boolean(key: &str, value: &str) -> Result<bool, EnvError> {
    match unquote(value) {
        "true" | "True" | "1" => Ok(true),
        "false" | "False" | "0" => Ok(false),
        _ => Err(EnvError::BadOptionValue {
            option: static_key(key),
            expected: BOOL,
        }),
    }
}

fn finite(option: &'static str, value: &str) -> Result<f64, EnvError> {
    match unquote(value).parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(EnvError::BadOptionValue {
            option,
            expected: FINITE,
        }),
    }
}

fn probability(option: &'static str, value: &str) -> Result<f64, EnvError> {
    match unquote(value).parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(EnvError::BadOptionValue {
            option,
            expected: PROBABILITY,
        }),
    }
}

fn schedule(value: &str) -> Result<[f64; 3], EnvError> {
    const BAD: EnvError = EnvError::BadOptionValue {
        option: "reward_schedule",
        expected: "three finite numbers (goal, hole, frozen), e.g. [1, 0, 0]",
    };
    let v = value.trim();
    let inner = v
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .or_else(|| v.strip_prefix('(').and_then(|v| v.strip_suffix(')')))
        .unwrap_or(v);
    let mut out = [0.0; 3];
    let mut parts = inner.split(',');
    for slot in &mut out {
        *slot = match parts.next().map(|p| p.trim().parse::<f64>()) {
            Some(Ok(x)) if x.is_finite() => x,
            _ => return Err(BAD),
        };
    }
    match parts.next() {
        None => Ok(out),
        Some(_) => Err(BAD),
    }
}

/// The `'static` spelling of a known key (for error values).
fn static_key(key: &str) -> &'static str {
    let key = key.trim();
    EnvOptions::KEYS
        .iter()
        .copied()
        .find(|k| *k == key)
        .unwrap_or("option")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_hosts_write() {
        let mut o = EnvOptions::new();
        o.set("is_slippery", "false").unwrap();
        o.set("map_name", "\"8x8\"").unwrap();
        o.set("g", " 9.81 ").unwrap();
        o.set("reward_schedule", "(1, -1, 0)").unwrap();
        o.set("sutton_barto_reward", "True").unwrap();
        o.set("desc", "[\"SF\", \"HG\"]").unwrap();
        assert_eq!(o.is_slippery, Some(false));
        assert_eq!(o.map_name, Some(MapName::EightByEight));
        assert_eq!(o.g, Some(9.81));
        assert_eq!(o.reward_schedule, Some([1.0, -1.0, 0.0]));
        assert_eq!(o.sutton_barto_reward, Some(true));
        assert_eq!(o.desc.map(|d| (d.nrow(), d.ncol())), Some((2, 2)));
        assert_eq!(
            o.set_keys().collect::<Vec<_>>(),
            [
                "sutton_barto_reward",
                "g",
                "map_name",
                "desc",
                "is_slippery",
                "reward_schedule"
            ]
        );
    }

    #[test]
    fn bad_values_name_the_option() {
        let mut o = EnvOptions::new();
        assert_eq!(o.set("gravity", "1"), Err(EnvError::UnknownOption));
        assert!(matches!(
            o.set("is_slippery", "maybe"),
            Err(EnvError::BadOptionValue {
                option: "is_slippery",
                ..
            })
        ));
        assert!(matches!(
            o.set("success_rate", "1.5"),
            Err(EnvError::BadOptionValue {
                option: "success_rate",
                ..
            })
        ));
        assert!(matches!(
            o.set("g", "nan"),
            Err(EnvError::BadOptionValue { option: "g", .. })
        ));
        assert!(matches!(
            o.set("map_name", "None"),
            Err(EnvError::BadOptionValue { .. })
        ));
        assert!(matches!(
            o.set("reward_schedule", "[1, 0]"),
            Err(EnvError::BadOptionValue { .. })
        ));
        assert!(matches!(
            o.set("reward_schedule", "1,0,0,0"),
            Err(EnvError::BadOptionValue { .. })
        ));
        assert!(matches!(o.set("desc", "SFX,HFG"), Err(EnvError::BadMap(_))));
        assert_eq!(o, EnvOptions::new());
    }
}
