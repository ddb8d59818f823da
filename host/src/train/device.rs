//! Where libtorch learns, and which libtorch this process loaded.

use anyhow::{bail, Result};
use tch::Device;

/// Resolves `--device auto|cpu|cuda|cuda:N`: `auto` is CUDA when libtorch sees a GPU.
pub fn resolve(spec: &str) -> Result<Device> {
    match spec {
        "auto" => Ok(Device::cuda_if_available()),
        "cpu" => Ok(Device::Cpu),
        "cuda" | "cuda:0" if tch::Cuda::is_available() => Ok(Device::Cuda(0)),
        s if s.starts_with("cuda") => {
            if !tch::Cuda::is_available() {
                bail!("--device {s}: libtorch sees no CUDA device (use --device cpu or auto)");
            }
            let n = tch::Cuda::device_count();
            match s.strip_prefix("cuda:").map(str::parse::<i64>) {
                Some(Ok(i)) if (0..n).contains(&i) => Ok(Device::Cuda(i as usize)),
                _ => bail!("--device {s}: expected cuda or cuda:N with N in 0..{n}"),
            }
        }
        s => bail!("--device {s}: expected auto, cpu, cuda or cuda:N"),
    }
}

/// A device as users write it: `cpu`, `cuda:0`, ...
pub fn name(device: Device) -> String {
    match device {
        Device::Cpu => "cpu".into(),
        Device::Cuda(i) => format!("cuda:{i}"),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// The version of the libtorch this process loaded: read from the `version.py` of the torch
/// package that holds the loaded `libtorch_cpu.so` (found in /proc/self/maps), so that a GPU
/// machine's own torch, picked through `LD_LIBRARY_PATH`, reports its own version. Falls back to
/// the libtorch found at build time.
pub fn libtorch_version() -> String {
    let loaded = std::fs::read_to_string("/proc/self/maps")
        .ok()
        .and_then(|maps| {
            maps.lines()
                .filter_map(|l| l.split_whitespace().nth(5))
                .find(|p| p.ends_with("/libtorch_cpu.so"))
                .map(std::path::PathBuf::from)
        });
    let build = option_env!("PICORL_LIBTORCH_BUILD_DIR")
        .map(|d| std::path::Path::new(d).join("libtorch_cpu.so"));
    for lib in loaded.into_iter().chain(build) {
        if let Some(v) = lib
            .parent()
            .and_then(|d| d.parent())
            .and_then(|torch| std::fs::read_to_string(torch.join("version.py")).ok())
            .and_then(|text| {
                text.lines().find_map(|l| {
                    l.strip_prefix("__version__ = ")
                        .map(|v| v.trim_matches(|c| c == '\'' || c == '"').to_string())
                })
            })
        {
            return v;
        }
    }
    "unknown".into()
}
