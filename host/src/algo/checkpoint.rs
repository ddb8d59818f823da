//! Reading a checkpoint's tensors.

use anyhow::{Context, Result};
use tch::Tensor;

/// Reads a safetensors checkpoint into `(name, tensor)` pairs, naming the file on failure.
pub fn read_checkpoint(path: &std::path::Path) -> Result<Vec<(String, Tensor)>> {
    Tensor::read_safetensors(path).with_context(|| format!("reading checkpoint {}", path.display()))
}
