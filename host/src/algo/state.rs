//! A learner's state, declared once: the list of its parts, from which saving, loading and a
//! bit-exact `--resume` are all derived.
//!
//! A learner lists, in one [`learner_state!`](crate::learner_state) declaration, everything it
//! holds between iterations:
//!
//! - `weights "prefix" => field`: what the weights file holds (and `eval`, `export` and `render`
//!   read): a [`Weights`] part (a `VarStore`, an actor-critic), its tensors named
//!   `prefix` + the variable's name;
//! - `tensor "name" => |l| tensor, |l, t| { … }`: one tensor of the weights file computed from
//!   the learner, and the block (returning `Result<()>`) that puts `t` back (a table, a
//!   schedule's state);
//! - `part "name" => field`: a [`Part`] that writes itself (an optimizer with its moments, the
//!   replay memory and environments, a generator that needs a check on load); it names its own
//!   pieces, `name` + the piece (`""`: the pieces' own names);
//! - `json "key" => field`: a serde value (a counter, a generator, a schedule's value);
//! - `with "key" => |l| value, |l, v: Type| { … }`: a value computed from several fields and put
//!   back by the block (which returns `Result<()>`), when no single field holds it.
//!
//! From the list, [`save_weights`] / [`load_weights`] write and read the weights file
//! ([`Algorithm::save`](crate::train::Algorithm::save) / `load`), and [`resume_state`] /
//! [`restore_state`] the rest of the learner
//! ([`Algorithm::resume_state`](crate::train::Algorithm::resume_state) / `restore_state`), which
//! the loop stores in the same checkpoint file. [`resume_in_parts!`](crate::resume_in_parts)
//! writes those methods.
//!
//! **Layout** (part of the checkpoint format, [`crate::train::checkpoint::FORMAT`]): the weights
//! under their prefixes; every other tensor as `<algo>.<name>`; every JSON value as key `<key>`
//! of one JSON object stored (as bytes) in the tensor `<algo>.resume`. A part missing from a
//! checkpoint is an error that names it.
//!
//! **Example** (a learner with one network, its Adam, a generator and a counter; `Q` implements
//! [`Weights`], `Moments` [`Part`]):
//!
//! ```ignore
//! struct Mine { q: Q, opt: Moments, rng: Pcg32, updates: u64 }
//!
//! crate::learner_state! {
//!     for Mine, named "mine";
//!     weights "" => q,                 // the weights file: the network's tensors by name
//!     part "" => opt,                  // mine.adam_m, mine.adam_v; `adam_t` in mine.resume
//!     json "rng" => rng,               // mine.resume's `rng`
//!     json "updates" => updates,
//! }
//!
//! impl Algorithm for Mine {
//!     // …
//!     fn save(&self, path: &Path) -> Result<()> { state::save_weights(self, path) }
//!     fn load(&mut self, path: &Path) -> Result<()> { state::load_weights(self, path) }
//!     crate::resume_in_parts!();
//! }
//! ```
//!
//! A learner with two optimizers names them apart: `part "actor_" => actor_opt` gives
//! `mine.actor_adam_m` and the key `actor_adam_t` (two parts writing one name is an error when
//! saving). A generic learner writes `impl[U: Bound] for Mine<U>, named U::NAME;`.
//!
//! Worked declarations: DQN's (`off_policy/dqn.rs`: two networks, Adam, the off-policy
//! [`Collection`](crate::algo::off_policy::driver::Collection) as one part, counters, the
//! networks' generators as a `with`), the on-policy learners' (`on_policy/base.rs`,
//! `on_policy/reinforce.rs`: [`PgCore`](crate::algo::on_policy::base::PgCore) as one part),
//! the tabular learners' (`tabular.rs`: `tensor` entries), and this module's test.

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use serde::{de::DeserializeOwned, Serialize};
use tch::Tensor;

/// What a learner writes of itself besides its weights: tensors by name and one JSON object.
#[derive(Debug, Default)]
pub struct Saving {
    tensors: Vec<(String, Tensor)>,
    json: serde_json::Map<String, serde_json::Value>,
}

impl Saving {
    /// Stores the tensor `name` (`<algo>.<name>` in the checkpoint); a name already written
    /// (two parts under one name) is an error.
    pub fn tensor(&mut self, name: &str, t: Tensor) -> Result<()> {
        if self.tensors.iter().any(|(n, _)| n == name) {
            bail!("two parts of the learner write the tensor `{name}`");
        }
        self.tensors.push((name.to_string(), t));
        Ok(())
    }

    /// Stores `value` under `key` in the learner's JSON object; a key already written is an
    /// error.
    pub fn json<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result<()> {
        let v = serde_json::to_value(value).with_context(|| format!("saving `{key}`"))?;
        if self.json.insert(key.to_string(), v).is_some() {
            bail!("two parts of the learner write the key `{key}`");
        }
        Ok(())
    }
}

/// What [`Saving`] wrote, read back from a checkpoint's tensors.
#[derive(Debug)]
pub struct Loading<'a> {
    algo: &'static str,
    saved: &'a [(String, Tensor)],
    json: serde_json::Map<String, serde_json::Value>,
}

impl<'a> Loading<'a> {
    /// Reads learner `algo`'s state from a checkpoint's tensors.
    pub fn new(algo: &'static str, saved: &'a [(String, Tensor)]) -> Result<Self> {
        let mut json = serde_json::Map::new();
        let name = format!("{algo}.resume");
        if let Some((_, t)) = saved.iter().find(|(n, _)| *n == name) {
            let bytes = Vec::<u8>::try_from(t.flatten(0, -1))
                .with_context(|| format!("the checkpoint's `{name}`"))?;
            json = serde_json::from_slice(&bytes)
                .with_context(|| format!("the checkpoint's `{name}`"))?;
        }
        Ok(Self { algo, saved, json })
    }

    /// The tensor `name`, if the checkpoint has it.
    pub fn optional_tensor(&self, name: &str) -> Option<&'a Tensor> {
        let full = format!("{}.{name}", self.algo);
        self.saved.iter().find(|(n, _)| *n == full).map(|(_, t)| t)
    }

    /// The tensor `name`; its absence is an error that names it.
    pub fn tensor(&self, name: &str) -> Result<&'a Tensor> {
        self.optional_tensor(name)
            .ok_or_else(|| anyhow!("the checkpoint has no `{}.{name}`", self.algo))
    }

    /// The value under `key` in the learner's JSON object; its absence is an error that names it.
    pub fn json<T: DeserializeOwned>(&self, key: &str) -> Result<T> {
        let algo = self.algo;
        let v = self
            .json
            .get(key)
            .ok_or_else(|| anyhow!("the checkpoint's `{algo}.resume` has no `{key}`"))?;
        T::deserialize(v).with_context(|| format!("the checkpoint's `{algo}.resume`: `{key}`"))
    }
}

/// A piece of a learner's resume state that writes and reads itself, naming its pieces `name` +
/// the piece's own name.
pub trait Part {
    /// Writes this part.
    fn save(&self, name: &str, out: &mut Saving) -> Result<()>;
    /// Reads back what [`Part::save`] wrote.
    fn load(&mut self, name: &str, from: &Loading) -> Result<()>;
}

/// What a learner's weights file holds of a network: its tensors, named `prefix` + the
/// variable's name.
pub trait Weights {
    /// Appends the tensors.
    fn save(&self, prefix: &str, out: &mut Vec<(String, Tensor)>) -> Result<()>;
    /// Reads them back from the tensors of the file `path`; every variable must be there, in
    /// its shape.
    fn load(&mut self, prefix: &str, saved: &[(String, Tensor)], path: &Path) -> Result<()>;
}

/// A learner whose state is declared as a list of parts (by [`learner_state!`](crate::learner_state)).
pub trait LearnerState {
    /// The prefix of its tensors and of its JSON object: the algorithm's name.
    const ALGO: &'static str;
    /// Appends the `weights` parts' tensors.
    fn save_weights(&self, out: &mut Vec<(String, Tensor)>) -> Result<()>;
    /// Reads the `weights` parts from the tensors of the file `path`.
    fn load_weights(&mut self, saved: &[(String, Tensor)], path: &Path) -> Result<()>;
    /// Writes every other part.
    fn save_parts(&self, out: &mut Saving) -> Result<()>;
    /// Reads every other part.
    fn load_parts(&mut self, from: &Loading) -> Result<()>;
}

/// The tensor `name` of the file `path`'s tensors; its absence is an error that names both.
pub fn named<'a>(saved: &'a [(String, Tensor)], name: &str, path: &Path) -> Result<&'a Tensor> {
    saved
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, t)| t)
        .ok_or_else(|| anyhow!("{}: no tensor `{name}`", path.display()))
}

/// Writes the learner's weights to the safetensors file `path`.
pub fn save_weights<L: LearnerState>(l: &L, path: &Path) -> Result<()> {
    let mut named = Vec::new();
    l.save_weights(&mut named)?;
    Tensor::write_safetensors(&named, path).map_err(|e| anyhow!("writing {}: {e}", path.display()))
}

/// Reads what [`save_weights`] wrote.
pub fn load_weights<L: LearnerState>(l: &mut L, path: &Path) -> Result<()> {
    let saved = crate::algo::checkpoint::read_checkpoint(path)?;
    l.load_weights(&saved, path)
}

/// The learner's state besides its weights, as the checkpoint's named tensors.
pub fn resume_state<L: LearnerState>(l: &L) -> Result<Vec<(String, Tensor)>> {
    let mut s = Saving::default();
    l.save_parts(&mut s)?;
    let algo = L::ALGO;
    let mut out: Vec<(String, Tensor)> = s
        .tensors
        .into_iter()
        .map(|(n, t)| (format!("{algo}.{n}"), t))
        .collect();
    if !s.json.is_empty() {
        let bytes = serde_json::to_vec(&s.json)?;
        out.push((format!("{algo}.resume"), Tensor::from_slice(&bytes)));
    }
    Ok(out)
}

/// Puts back what [`resume_state`] saved, from the checkpoint's tensors.
pub fn restore_state<L: LearnerState>(l: &mut L, saved: &[(String, Tensor)]) -> Result<()> {
    l.load_parts(&Loading::new(L::ALGO, saved)?)
}

/// Writes [`Algorithm::resume_state`](crate::train::Algorithm::resume_state) and
/// `restore_state` from the learner's [`learner_state!`](crate::learner_state) declaration,
/// inside its `impl Algorithm`.
#[macro_export]
macro_rules! resume_in_parts {
    () => {
        fn resume_state(&self) -> anyhow::Result<Vec<(String, tch::Tensor)>> {
            $crate::algo::state::resume_state(self)
        }

        fn restore_state(&mut self, saved: &[(String, tch::Tensor)]) -> anyhow::Result<()> {
            $crate::algo::state::restore_state(self, saved)
        }
    };
}

/// Declares a learner's state as a list of parts (see the [module docs](crate::algo::state)):
/// `learner_state! { for Type, named "algo"; entry, … }` (generic: `impl[U: Bound] for
/// Type<U>, named U::NAME; …`).
#[macro_export]
macro_rules! learner_state {
    ($(impl[$($gen:tt)*])? for $ty:ty, named $algo:expr; $($entries:tt)*) => {
        impl<$($($gen)*)?> $crate::algo::state::LearnerState for $ty {
            const ALGO: &'static str = $algo;

            #[allow(unused_variables)]
            fn save_weights(&self, out: &mut Vec<(String, tch::Tensor)>) -> anyhow::Result<()> {
                $crate::__state_entries!(save_weights self out; $($entries)*);
                Ok(())
            }

            #[allow(unused_variables)]
            fn load_weights(
                &mut self,
                saved: &[(String, tch::Tensor)],
                path: &std::path::Path,
            ) -> anyhow::Result<()> {
                $crate::__state_entries!(load_weights self (saved, path); $($entries)*);
                Ok(())
            }

            #[allow(unused_variables)]
            fn save_parts(&self, out: &mut $crate::algo::state::Saving) -> anyhow::Result<()> {
                $crate::__state_entries!(save self out; $($entries)*);
                Ok(())
            }

            #[allow(unused_variables)]
            fn load_parts(
                &mut self,
                from: &$crate::algo::state::Loading,
            ) -> anyhow::Result<()> {
                $crate::__state_entries!(load self from; $($entries)*);
                Ok(())
            }
        }
    };
}

/// One direction of [`learner_state!`]'s entries, one at a time.
#[doc(hidden)]
#[macro_export]
macro_rules! __state_entries {
    ($dir:ident $s:ident $io:tt;) => {};

    // weights "prefix" => field
    (save_weights $s:ident $out:ident; weights $n:literal => $($f:ident).+ $(, $($rest:tt)*)?) => {
        $crate::algo::state::Weights::save(&$s.$($f).+, $n, $out)?;
        $crate::__state_entries!(save_weights $s $out; $($($rest)*)?);
    };
    (load_weights $s:ident ($saved:ident, $path:ident); weights $n:literal => $($f:ident).+ $(, $($rest:tt)*)?) => {
        $crate::algo::state::Weights::load(&mut $s.$($f).+, $n, $saved, $path)?;
        $crate::__state_entries!(load_weights $s ($saved, $path); $($($rest)*)?);
    };
    ($dir:ident $s:ident $io:tt; weights $n:literal => $($f:ident).+ $(, $($rest:tt)*)?) => {
        $crate::__state_entries!($dir $s $io; $($($rest)*)?);
    };

    // tensor "name" => |l| tensor, |l, t| put back (a tensor of the weights file)
    (save_weights $s:ident $out:ident; tensor $n:literal => |$g:ident| $get:expr, |$l:ident, $v:ident| $set:expr $(, $($rest:tt)*)?) => {
        {
            let $g = &*$s;
            $out.push(($n.to_string(), $get));
        }
        $crate::__state_entries!(save_weights $s $out; $($($rest)*)?);
    };
    (load_weights $s:ident ($saved:ident, $path:ident); tensor $n:literal => |$g:ident| $get:expr, |$l:ident, $v:ident| $set:expr $(, $($rest:tt)*)?) => {
        {
            let $v: &tch::Tensor = $crate::algo::state::named($saved, $n, $path)?;
            let $l = &mut *$s;
            let r: anyhow::Result<()> = $set;
            r.map_err(|e| anyhow::anyhow!("{}: {e}", $path.display()))?;
        }
        $crate::__state_entries!(load_weights $s ($saved, $path); $($($rest)*)?);
    };
    ($dir:ident $s:ident $io:tt; tensor $n:literal => |$g:ident| $get:expr, |$l:ident, $v:ident| $set:expr $(, $($rest:tt)*)?) => {
        $crate::__state_entries!($dir $s $io; $($($rest)*)?);
    };

    // part "name" => field
    (save $s:ident $out:ident; part $n:literal => $($f:ident).+ $(, $($rest:tt)*)?) => {
        $crate::algo::state::Part::save(&$s.$($f).+, $n, $out)?;
        $crate::__state_entries!(save $s $out; $($($rest)*)?);
    };
    (load $s:ident $from:ident; part $n:literal => $($f:ident).+ $(, $($rest:tt)*)?) => {
        $crate::algo::state::Part::load(&mut $s.$($f).+, $n, $from)?;
        $crate::__state_entries!(load $s $from; $($($rest)*)?);
    };

    // json "key" => field
    (save $s:ident $out:ident; json $n:literal => $($f:ident).+ $(, $($rest:tt)*)?) => {
        $out.json($n, &$s.$($f).+)?;
        $crate::__state_entries!(save $s $out; $($($rest)*)?);
    };
    (load $s:ident $from:ident; json $n:literal => $($f:ident).+ $(, $($rest:tt)*)?) => {
        $s.$($f).+ = $from.json($n)?;
        $crate::__state_entries!(load $s $from; $($($rest)*)?);
    };

    // with "key" => |l| value, |l, v: Type| { … }
    (save $s:ident $out:ident; with $n:literal => |$g:ident| $get:expr, |$l:ident, $v:ident : $t:ty| $set:expr $(, $($rest:tt)*)?) => {
        {
            let $g = &*$s;
            $out.json($n, &$get)?;
        }
        $crate::__state_entries!(save $s $out; $($($rest)*)?);
    };
    (load $s:ident $from:ident; with $n:literal => |$g:ident| $get:expr, |$l:ident, $v:ident : $t:ty| $set:expr $(, $($rest:tt)*)?) => {
        {
            let $v: $t = $from.json($n)?;
            let $l = &mut *$s;
            let r: anyhow::Result<()> = $set;
            r?;
        }
        $crate::__state_entries!(load $s $from; $($($rest)*)?);
    };

    // The weights' directions pass over the other entries, and the others' over the weights.
    ($dir:ident $s:ident $io:tt; part $n:literal => $($f:ident).+ $(, $($rest:tt)*)?) => {
        $crate::__state_entries!($dir $s $io; $($($rest)*)?);
    };
    ($dir:ident $s:ident $io:tt; json $n:literal => $($f:ident).+ $(, $($rest:tt)*)?) => {
        $crate::__state_entries!($dir $s $io; $($($rest)*)?);
    };
    ($dir:ident $s:ident $io:tt; with $n:literal => |$g:ident| $get:expr, |$l:ident, $v:ident : $t:ty| $set:expr $(, $($rest:tt)*)?) => {
        $crate::__state_entries!($dir $s $io; $($($rest)*)?);
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::tensor::tensor_to_vec;
    use picorl_core::rng::{self, Pcg32};

    /// A network's stand-in: one weight vector, saved as the tensor `w`.
    struct Params(Vec<f32>);

    impl Weights for Params {
        fn save(&self, prefix: &str, out: &mut Vec<(String, Tensor)>) -> Result<()> {
            out.push((format!("{prefix}w"), Tensor::from_slice(&self.0)));
            Ok(())
        }

        fn load(&mut self, prefix: &str, saved: &[(String, Tensor)], path: &Path) -> Result<()> {
            self.0 = tensor_to_vec(named(saved, &format!("{prefix}w"), path)?);
            Ok(())
        }
    }

    /// An optimizer's stand-in: two moments as tensors and a step count in the JSON.
    #[derive(Debug, PartialEq)]
    struct Moments {
        m: Vec<f32>,
        v: Vec<f32>,
        t: u64,
    }

    impl Part for Moments {
        fn save(&self, name: &str, out: &mut Saving) -> Result<()> {
            out.tensor(&format!("{name}adam_m"), Tensor::from_slice(&self.m))?;
            out.tensor(&format!("{name}adam_v"), Tensor::from_slice(&self.v))?;
            out.json(&format!("{name}adam_t"), &self.t)
        }

        fn load(&mut self, name: &str, from: &Loading) -> Result<()> {
            self.m = tensor_to_vec(from.tensor(&format!("{name}adam_m"))?);
            self.v = tensor_to_vec(from.tensor(&format!("{name}adam_v"))?);
            self.t = from.json(&format!("{name}adam_t"))?;
            Ok(())
        }
    }

    struct Toy {
        net: Params,
        opt: Moments,
        rng: Pcg32,
        updates: u64,
        pair: (u32, u32),
    }

    crate::learner_state! {
        for Toy, named "toy";
        weights "net." => net,
        part "" => opt,
        json "rng" => rng,
        json "updates" => updates,
        with "sum" => |t| [t.pair.0, t.pair.1], |t, v: [u32; 2]| {
            t.pair = (v[0], v[1]);
            Ok(())
        },
    }

    fn toy(seed: u64) -> Toy {
        let f = |k: u64| (seed * 10 + k) as f32 * 0.25;
        Toy {
            net: Params((0..8).map(f).collect()),
            opt: Moments {
                m: (0..8).map(|k| f(k) + 1.0).collect(),
                v: (0..8).map(|k| f(k) * 2.0).collect(),
                t: seed,
            },
            rng: rng::seeded(seed),
            updates: seed,
            pair: (seed as u32, 7),
        }
    }

    /// Every declared part goes out and comes back: the weights through the file, the rest
    /// through the checkpoint's tensors; a missing part is named.
    #[test]
    fn declared_parts_round_trip_and_missing_ones_are_named() {
        let dir = std::env::temp_dir().join(format!("picorl-state-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("w.safetensors");
        let a = toy(3);
        save_weights(&a, &path).unwrap();
        let saved = resume_state(&a).unwrap();
        let mut names: Vec<&str> = saved.iter().map(|(n, _)| n.as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, ["toy.adam_m", "toy.adam_v", "toy.resume"]);

        let mut b = toy(1);
        load_weights(&mut b, &path).unwrap();
        restore_state(&mut b, &saved).unwrap();
        assert_eq!(b.net.0, a.net.0);
        assert_eq!(b.opt, a.opt);
        assert_eq!(b.updates, 3);
        assert_eq!(b.pair, (3, 7));
        assert_eq!(
            rng::below(&mut b.rng, 1000),
            rng::below(&mut toy(3).rng, 1000)
        );

        // The checkpoint's tensors but `name`: restoring them fails with `expect`.
        let fails_without = |name: &str, expect: &str| {
            let without: Vec<(String, Tensor)> = saved
                .iter()
                .filter(|(n, _)| n != name)
                .map(|(n, t)| (n.clone(), t.shallow_clone()))
                .collect();
            let e = restore_state(&mut toy(1), &without)
                .unwrap_err()
                .to_string();
            assert!(e.contains(expect), "{e}");
        };
        fails_without("toy.adam_v", "`toy.adam_v`");
        fails_without("toy.resume", "`toy.resume` has no `adam_t`");
        let _ = std::fs::remove_dir_all(&dir);

        let mut out = Saving::default();
        a.opt.save("", &mut out).unwrap();
        let e = a.opt.save("", &mut out).unwrap_err().to_string();
        assert!(e.contains("two parts") && e.contains("`adam_m`"), "{e}");
    }
}
