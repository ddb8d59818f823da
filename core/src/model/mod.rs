//! The `.picorl` model format, version 2 (version 1 still read): a checked, zero-copy view of a model's bytes, and a
//! writer that produces them. The byte-by-byte specification is `docs/model-format.md`.
//!
//! Contract:
//! - **Checked once, then infallible.** [`ModelView::new_checked`] (or [`Model::parse`]) verifies
//!   every length, offset, count, enum, padding byte, value range and the CRC-32 before it returns;
//!   afterwards no accessor can fail or panic, and inference never re-checks.
//! - **Zero copy.** Weights are read in place from the caller's buffer: it must start on a 4-byte
//!   boundary ([`ModelError::Misaligned`] otherwise; sections inside the file are 16-byte aligned).
//!   Use [`Aligned`] (or [`include_model!`](crate::include_model)) for a model in flash, and a
//!   `Vec<u32>`/`Vec<u128>`-backed buffer on the host.
//! - **One place for the format.** [`write()`] builds a file from a [`ModelSpec`] (the host fills it
//!   from trained weights), quantizing with [`crate::nn::quant`] for int8; the reader and the writer
//!   share the layout code, and the writer checks its output with the reader.
//! - **A typed error that names the fault.** [`ModelError`] says which field or section, at which
//!   byte, and why.
//!
//! Files, one job each: `format` (magic, versions, limits, field offsets, the header's enums),
//! `error` ([`ModelError`]), `read` (bounds-checked little-endian reads), `layout` (where each
//! section lies), `view` ([`ModelView`] and what its accessors return), `meta` (the metadata
//! section), `check` (everything [`ModelView::new_checked`] verifies), `write` ([`write()`]),
//! `crc32`, and `embed` ([`include_model!`](crate::include_model) and its compile-time check).
//!
//! ```
//! use picorl_core::model::{self, Model, ModelSpec, HeadSpec, BodySpec, LayerSpec};
//! use picorl_core::nn::Activation;
//! // A 2-input, 2-action linear policy.
//! let w = [1.0f32, 0.0, 0.0, 1.0];
//! let b = [0.0f32, 0.5];
//! let layers = [LayerSpec { in_dim: 2, out_dim: 2, weights: &w, bias: &b, activation: Activation::Identity }];
//! let spec = ModelSpec {
//!     obs_dim: 2,
//!     normalization: None,
//!     head: HeadSpec::Discrete { n: 2 },
//!     body: BodySpec::MlpF32 { layers: &layers },
//! };
//! let mut buf = [0u32; 64]; // word-aligned storage
//! let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut buf);
//! let n = model::write(&spec, bytes).unwrap();
//! let m = Model::parse(&bytes[..n]).unwrap();
//! assert_eq!((m.obs_dim(), m.macs()), (2, 4));
//! ```

mod check;
mod crc32;
mod embed;
mod error;
mod format;
mod layout;
mod meta;
mod read;
mod view;
mod write;

pub use crc32::{crc32, crc32_const, Crc32};
pub use embed::{assert_embedded, check_embedded};
pub use error::ModelError;
pub use format::{
    header, layer_record, limits, ActionSpec, HeadKind, ModelKind, QuantKind, ALIGN, BUFFER_ALIGN,
    FLAG_NORMALIZATION, HEADER_LEN, LAYER_RECORD_LEN, MAGIC, MAX_META_LEN, VERSION, VERSION_1,
    VERSION_2,
};
pub use layout::{Section, Span, ACT_TABLE_LEN};
pub use meta::Meta;
pub use view::{Aligned, LayerData, LayerView, Layers, Model, ModelView, Normalization, Table};
pub use write::{
    required_len, required_len_with_meta, write, write_with_meta, BodySpec, HeadSpec, LayerSpec,
    MetaSpec, ModelSpec, NormSpec, WriteError,
};

pub(crate) use check::check_bytes;
pub(crate) use view::{action_bounds_of, layers_of, normalization_of, table_of};
