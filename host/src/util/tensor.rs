//! libtorch tensors read back into plain vectors.

use tch::{Kind, Tensor};

/// A tensor's values as a flat `Vec<f32>` (moved to the CPU first).
pub fn tensor_to_vec(t: &Tensor) -> Vec<f32> {
    let t = t
        .to_device(tch::Device::Cpu)
        .to_kind(Kind::Float)
        .contiguous()
        .view(-1);
    Vec::<f32>::try_from(&t).expect("a contiguous float tensor converts to Vec<f32>")
}
