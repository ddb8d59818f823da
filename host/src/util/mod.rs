//! Small helpers every room may use and that use nothing of the host: "did you mean" for typed
//! names ([`suggest`]) how the process ends on a closed pipe or a signal ([`pipe`]), numbers for people
//! ([`fmt`]), atomic file writes ([`fs`]) and tensors read back ([`tensor`]).

pub mod fmt;
pub mod fs;
pub mod pipe;
pub mod suggest;
pub mod tensor;
