//! Fixed texts for core's errors, so that the image carries no `core::fmt` (core's `Display`
//! impls format their fields and, for an unknown id, the whole registry). Everything these errors
//! could report about the embedded model and the environment's options was already checked, with
//! core's full messages, when `build.rs` built the firmware; at run time they mean a bug.

use picorl_core::env::{EnvError, MapError};
use picorl_core::policy::PolicyError;

/// What went wrong in the policy.
pub fn policy(e: &PolicyError) -> &'static str {
    match e {
        PolicyError::ObsLength { .. } => "observation has the wrong length",
        PolicyError::NonFiniteObs { .. } => "observation value is NaN or infinite",
        PolicyError::InvalidState { .. } => "observation is not a valid state",
        PolicyError::NonFiniteOutput { .. } => "network output is NaN or infinite",
        PolicyError::KindLeftOut { .. } => "model of a kind the firmware was not built for",
        PolicyError::Capacity { .. } => "model exceeds the firmware's capacity",
    }
}

/// What went wrong in the environment.
pub fn env(e: &EnvError) -> &'static str {
    match e {
        EnvError::ActionOutOfRange { .. } => "action out of range",
        EnvError::WrongActionKind => "action of the wrong kind",
        EnvError::ActionDim { .. } => "action has the wrong number of components",
        EnvError::NonFiniteAction { .. } => "action component is NaN or infinite",
        EnvError::ObsBuffer { .. } => "observation buffer has the wrong length",
        EnvError::StateDim { .. } => "state has the wrong length",
        EnvError::InvalidState { .. } => "invalid state",
        EnvError::NeedsReset => "step before reset or after the episode ended",
        EnvError::UnknownId => "unknown environment id",
        EnvError::BadOption => "bad option",
        EnvError::UnknownOption => "unknown option",
        EnvError::BadOptionValue { option, .. } | EnvError::OptionNotAccepted { option, .. } => {
            option
        }
        EnvError::BadMap(m) => map(m),
        EnvError::External(message) => message,
    }
}

fn map(e: &MapError) -> &'static str {
    match e {
        MapError::Empty => "empty map",
        MapError::TooLarge => "map too large",
        MapError::Ragged { .. } => "map rows of different lengths",
        MapError::BadCell { .. } | MapError::BadCharacter { .. } => "bad map cell",
        MapError::NoStart => "map without a start",
    }
}

/// What went wrong in tabular learning.
#[cfg(picorl_learn)]
pub fn tabular(e: &picorl_core::tabular::TabularError) -> &'static str {
    use picorl_core::tabular::TabularError;
    match e {
        TabularError::StateOutOfRange { .. } => "state out of range",
        TabularError::ActionOutOfRange { .. } => "action out of range",
        TabularError::BadObservation => "observation is not a discrete state",
        TabularError::NonFiniteReward => "reward is NaN or infinite",
        TabularError::TableShape { .. } => "bad table shape",
        TabularError::BufferSize { .. } => "buffer of the wrong length",
        TabularError::BadHyper { field, .. } => field,
        TabularError::Env(e) => env(e),
    }
}
