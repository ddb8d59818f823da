//! Everything between a trained policy and the files that carry it.
//!
//! **The room.** `export/` turns the [`PolicyExport`] an algorithm hands over into files:
//! calibration ([`calib`], [`fit`]), quantization and the `.picorl` writer (core's), the report of
//! what the export costs ([`report`]), the same policy as ONNX and TensorFlow Lite
//! ([`interop`]), reading `.picorl` files back ([`picorl_file`]) and ONNX policies trained
//! elsewhere ([`import`]). It may use `envs` (rollouts for calibration and the report) and
//! `util`; never `algo`, `train`, `cli` or `viz`.
//!
//! - [`policy`]: what a policy hands to the exporter (re-exported here);
//! - [`pipeline`]: `picorl export`'s steps, shared by `export` and `import`.

pub mod budget;
pub mod calib;
pub mod fit;
pub mod import;
pub mod interop;
pub mod picorl_file;
pub mod pipeline;
pub mod policy;
pub mod qat;
pub mod report;

pub use policy::*;
