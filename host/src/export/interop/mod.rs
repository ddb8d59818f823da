//! Exports for other runtimes: the policy a `.picorl` file holds, written as an ONNX model (f32)
//! or a TensorFlow Lite flatbuffer (int8) that computes the same function.
//!
//! Both writers read a checked core [`Model`], not the trainer's networks: the `.picorl` bytes are
//! the single source of the numbers (weights, scales, zero points, requantization multipliers), so
//! a `.tflite` file computes, bit for bit, what the `.picorl` int8 file of the same export computes,
//! and an `.onnx` file the same f32 function as the `.picorl` f32 file.
//!
//! - [`onnx`]: protobuf through `prost`, message structs written against `onnx/onnx.proto`.
//! - [`tflite`]: flatbuffer through the `flatbuffers` builder, tables written against
//!   `tensorflow/compiler/mlir/lite/schema/schema.fbs`.
//!
//! Both models have the same interface: the observation in (`obs`), and two outputs, `outputs`
//! (the head's inputs as f32: logits, Q-values or means, what `picorl infer` prints as `outputs`)
//! and `action` (argmax, or the squashed / clipped continuous action).

pub mod onnx;
pub mod tflite;

use std::path::Path;

use anyhow::{bail, Result};
use picorl_core::model::{Model, ModelKind};

use crate::export::Quant;

/// The file format `picorl export` writes, chosen by the extension of `--out`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `.picorl`: core's own format (f32 or int8).
    Picorl,
    /// `.onnx`: ONNX, f32 only.
    Onnx,
    /// `.tflite`: TensorFlow Lite, int8 only.
    Tflite,
}

impl Format {
    /// The format of `out`, checked against `quant`; the error names the option at fault.
    pub fn for_output(out: &Path, quant: Quant) -> Result<Self> {
        let f = match out.extension().and_then(|e| e.to_str()) {
            Some("picorl") => Format::Picorl,
            Some("onnx") => Format::Onnx,
            Some("tflite") => Format::Tflite,
            _ => bail!(
                "--out {}: the extension picks the format; supported: .picorl, .onnx, .tflite",
                out.display()
            ),
        };
        match (f, quant) {
            (Format::Onnx, Quant::Int8) => bail!(
                "--out {}: ONNX export is f32 (drop --quant int8, or write .tflite for int8)",
                out.display()
            ),
            (Format::Tflite, Quant::F32) => bail!(
                "--out {}: TFLite export is int8: add --quant int8",
                out.display()
            ),
            _ => Ok(f),
        }
    }

    /// The bytes of `model` (given as checked `.picorl` bytes) in this format.
    pub fn encode(self, picorl_bytes: &[u8], model: &Model<'_>) -> Result<Vec<u8>> {
        if self != Format::Picorl && !matches!(model.kind(), ModelKind::MlpF32 | ModelKind::MlpInt8)
        {
            bail!("ONNX and TFLite export cover network policies; a tabular policy exports to .picorl only");
        }
        Ok(match self {
            Format::Picorl => picorl_bytes.to_vec(),
            Format::Onnx => onnx::encode(model)?,
            Format::Tflite => tflite::encode(model)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_extension_picks_the_format_and_the_quantization_must_fit() {
        let f = |p: &str, q| Format::for_output(Path::new(p), q);
        assert_eq!(f("a/b.picorl", Quant::Int8).unwrap(), Format::Picorl);
        assert_eq!(f("b.onnx", Quant::F32).unwrap(), Format::Onnx);
        assert_eq!(f("b.tflite", Quant::Int8).unwrap(), Format::Tflite);
        let err = |p: &str, q| f(p, q).unwrap_err().to_string();
        assert!(err("b.onnx", Quant::Int8).contains("--out b.onnx: ONNX export is f32"));
        assert!(err("b.tflite", Quant::F32).contains("add --quant int8"));
        assert!(err("b.pb", Quant::F32).contains("supported: .picorl, .onnx, .tflite"));
        assert!(err("noext", Quant::F32).contains("--out noext"));
    }
}
