//! [`ModelError`]: why bytes are not a valid model, naming the field or section, the byte and
//! the reason.
use super::format::{BUFFER_ALIGN, VERSION, VERSION_1, VERSION_2};
use super::layout::Section;
use core::fmt;

/// Why bytes are not a valid model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelError {
    /// The buffer ends before byte `needed`.
    Truncated {
        /// Bytes needed.
        needed: usize,
        /// Bytes given.
        len: usize,
    },
    /// The first 8 bytes are not [`MAGIC`](super::MAGIC).
    BadMagic,
    /// A format version this reader does not read.
    UnsupportedVersion {
        /// The version found.
        version: u16,
    },
    /// The buffer holds bytes past the file length the header declares.
    TrailingBytes {
        /// The declared length.
        declared: usize,
        /// Bytes given.
        len: usize,
    },
    /// The CRC-32 stored at the end does not match the bytes.
    Checksum {
        /// The CRC stored.
        stored: u32,
        /// The CRC of the bytes.
        computed: u32,
    },
    /// The buffer does not start on a [`BUFFER_ALIGN`]-byte boundary (weights are read in place).
    Misaligned {
        /// The buffer's address modulo [`BUFFER_ALIGN`].
        misalignment: usize,
    },
    /// A header or layer-record field holds a value the format does not allow.
    Field {
        /// The field, as `docs/model-format.md` names it (`"header.kind"`, `"layer.out_dim"`, …).
        field: &'static str,
        /// Its byte offset in the file.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// The sections the header describes end at `expected`, not at the declared length.
    Layout {
        /// The length the sections imply (CRC included).
        expected: usize,
        /// The declared length.
        declared: usize,
    },
    /// A value inside a section is not allowed.
    Value {
        /// The section.
        section: Section,
        /// Index of the value inside the section (in elements).
        index: usize,
        /// Its byte offset in the file.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ModelError::Truncated { needed, len } => {
                write!(f, "truncated: {len} bytes, need at least {needed}")
            }
            ModelError::BadMagic => write!(f, "not a .picorl file (bad magic)"),
            ModelError::UnsupportedVersion { version } => {
                write!(f, "unsupported .picorl version {version} (this reader reads {VERSION_1}, {VERSION_2} and {VERSION})")
            }
            ModelError::TrailingBytes { declared, len } => {
                write!(f, "{len} bytes given but header.file_len says {declared}")
            }
            ModelError::Checksum { stored, computed } => {
                write!(f, "checksum mismatch: stored CRC-32 {stored:#010x}, computed {computed:#010x}")
            }
            ModelError::Misaligned { misalignment } => write!(
                f,
                "model buffer is not {BUFFER_ALIGN}-byte aligned (address % {BUFFER_ALIGN} = {misalignment})"
            ),
            ModelError::Field { field, offset, reason } => {
                write!(f, "{field} at byte {offset}: {reason}")
            }
            ModelError::Layout { expected, declared } => write!(
                f,
                "header.file_len is {declared} but the sections it describes need {expected} bytes"
            ),
            ModelError::Value { section, index, offset, reason } => {
                match section.layer() {
                    Some(l) => write!(f, "layer {l} {}[{index}]", section.name())?,
                    None => write!(f, "{}[{index}]", section.name())?,
                }
                write!(f, " at byte {offset}: {reason}")
            }
        }
    }
}

impl core::error::Error for ModelError {}
