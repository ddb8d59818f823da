//! Reading a checkpoint's tensors and loading them into a network's variables by name.

use anyhow::{bail, Context, Result};
use tch::{nn, Kind, Tensor};

/// Reads a safetensors checkpoint into `(name, tensor)` pairs, naming the file on failure.
pub fn read_checkpoint(path: &std::path::Path) -> Result<Vec<(String, Tensor)>> {
    Tensor::read_safetensors(path).with_context(|| format!("reading checkpoint {}", path.display()))
}

/// Copies the tensors named `prefix` + a variable's name in `saved` into `vs`; every variable must
/// be present.
pub fn load_vars(
    vs: &nn::VarStore,
    saved: &[(String, Tensor)],
    prefix: &str,
    path: &std::path::Path,
) -> Result<()> {
    tch::no_grad(|| {
        for (name, mut var) in vs.variables() {
            let key = format!("{prefix}{name}");
            let Some((_, t)) = saved.iter().find(|(n, _)| *n == key) else {
                bail!(
                    "{}: no tensor `{key}` (a checkpoint of another network shape?)",
                    path.display()
                );
            };
            if t.size() != var.size() {
                bail!(
                    "{}: `{key}` has shape {:?}, the network expects {:?}",
                    path.display(),
                    t.size(),
                    var.size()
                );
            }
            var.copy_(&t.to_kind(Kind::Float).to_device(var.device()));
        }
        Ok(())
    })
}
