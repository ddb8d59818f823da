//! Compile-time checks for models embedded in firmware: [`check_embedded`], [`assert_embedded`]
//! and the [`include_model!`](crate::include_model) macro built on them.
use super::crc32::crc32_const;
use super::format::{header, HEADER_LEN, MAGIC, VERSION, VERSION_1, VERSION_2};

const fn const_u32(b: &[u8], off: usize) -> u32 {
    if off + 4 > b.len() {
        return 0;
    }
    u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

/// The compile-time check of an embedded model: magic, version, declared length, CRC-32, and that
/// its observation and action sizes are `obs_dim` and `action_dim` (discrete: number of actions;
/// continuous: components). The full check runs when the firmware parses the bytes.
pub const fn check_embedded(
    bytes: &[u8],
    obs_dim: usize,
    action_dim: usize,
) -> Result<(), &'static str> {
    if bytes.len() < HEADER_LEN + 4 {
        return Err("embedded .picorl model: file too short");
    }
    let mut i = 0;
    while i < MAGIC.len() {
        if bytes[i] != MAGIC[i] {
            return Err("embedded .picorl model: bad magic (not a .picorl file)");
        }
        i += 1;
    }
    let version = u16::from_le_bytes([bytes[header::VERSION], bytes[header::VERSION + 1]]);
    if version != VERSION && version != VERSION_2 && version != VERSION_1 {
        return Err("embedded .picorl model: unsupported format version");
    }
    let len = const_u32(bytes, header::FILE_LEN) as usize;
    if len != bytes.len() {
        return Err("embedded .picorl model: header.file_len differs from the file size");
    }
    if crc32_const(bytes, len - 4) != const_u32(bytes, len - 4) {
        return Err("embedded .picorl model: CRC-32 mismatch (damaged file)");
    }
    if const_u32(bytes, header::OBS_DIM) as usize != obs_dim {
        return Err("embedded .picorl model: observation size differs from the environment's");
    }
    if const_u32(bytes, header::ACTION_DIM) as usize != action_dim {
        return Err("embedded .picorl model: action size differs from the environment's");
    }
    Ok(())
}

/// [`check_embedded`] as a compile-time assertion (used by [`include_model!`](crate::include_model)).
///
/// # Panics
/// When the check fails: in a `const` context, that is a compile error carrying the message.
pub const fn assert_embedded(bytes: &[u8], obs_dim: usize, action_dim: usize) {
    if let Err(msg) = check_embedded(bytes, obs_dim, action_dim) {
        panic!("{}", msg);
    }
}

/// Embeds a `.picorl` file, 16-byte aligned, and fails the build unless it is a valid-looking
/// model (magic, version, length, CRC-32) whose observation and action sizes are the ones given.
/// Evaluates to `&'static [u8]`, ready for [`Model::parse`](super::Model::parse).
///
/// The path is relative to the file that invokes the macro, as for `include_bytes!`.
///
/// ```
/// static MODEL: &[u8] =
///     picorl_core::include_model!("../../tests/model_fixtures/linear_2x2.picorl", obs = 2, actions = 2);
/// let model = picorl_core::model::Model::parse(MODEL).unwrap();
/// assert_eq!(model.obs_dim(), 2);
/// ```
///
/// A model of the wrong shape does not build (the error is E0080, a failed constant evaluation,
/// whose note says "observation size differs from the environment's"):
///
/// ```compile_fail,E0080
/// static MODEL: &[u8] =
///     picorl_core::include_model!("../../tests/model_fixtures/linear_2x2.picorl", obs = 4, actions = 2);
/// ```
#[macro_export]
macro_rules! include_model {
    ($path:expr, obs = $obs:expr, actions = $actions:expr $(,)?) => {{
        const BYTES: &[u8] = include_bytes!($path);
        const _: () = $crate::model::assert_embedded(BYTES, $obs, $actions);
        static ALIGNED: $crate::model::Aligned<[u8; BYTES.len()]> =
            $crate::model::Aligned(*include_bytes!($path));
        let bytes: &'static [u8] = &ALIGNED.0;
        bytes
    }};
}
