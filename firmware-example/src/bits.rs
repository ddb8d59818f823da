//! Floats as IEEE-754 bits for the host to format (see `host-tools/floatfmt.rs`): `f64:…` and
//! `f32:…` tokens, and slices as `[f32:…, f32:…]` like Rust's `{:?}` of a slice.

use core::fmt;

/// An `f64` printed as `f64:` and 16 hex digits.
pub struct F64(pub f64);

impl fmt::Display for F64 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "f64:{:016x}", self.0.to_bits())
    }
}

/// `f32` values printed as `[f32:…, f32:…]`.
#[cfg_attr(picorl_learn, allow(dead_code))]
pub struct F32s<'a>(pub &'a [f32]);

impl fmt::Display for F32s<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, v) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "f32:{:08x}", v.to_bits())?;
        }
        f.write_str("]")
    }
}
