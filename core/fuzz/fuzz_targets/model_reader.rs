//! Fuzzes the `.picorl` reader and everything reachable from a parsed model.
//!
//! Run (nightly, or stable with `RUSTC_BOOTSTRAP=1`):
//! `cargo install cargo-fuzz && cd core && RUSTC_BOOTSTRAP=1 cargo fuzz run model_reader`
//! The first input byte picks the mode: odd → the rest is the file as is; even → the CRC at the end
//! is repaired first, so that mutations reach the structural checks instead of stopping at the CRC.
//! `core/tests/model_fuzz.rs` runs a seeded stand-in on stable Rust as part of the tests.
//! Tried on stable 1.95: `cargo install cargo-fuzz` (2 min 41 s), then
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run model_reader -- -max_total_time=60` ran 2.7 M inputs, no crash.
#![no_main]

use libfuzzer_sys::fuzz_target;
use picorl_core::model::{crc32, Model, ModelView};
use picorl_core::policy::Policy;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    // Word-aligned storage, as a real caller holds a model.
    let mut words = vec![0u32; rest.len().div_ceil(4)];
    let bytes = &mut bytemuck::cast_slice_mut::<u32, u8>(&mut words)[..rest.len()];
    bytes.copy_from_slice(rest);
    if mode & 1 == 0 && bytes.len() >= 4 {
        let n = bytes.len();
        let c = crc32(&bytes[..n - 4]);
        bytes[n - 4..].copy_from_slice(&c.to_le_bytes());
    }
    let bytes: &[u8] = bytes;
    let u = ModelView::new_unchecked(bytes);
    let _ = (u.macs(), u.layers().count(), u.table().is_some());
    if let Ok(m) = Model::parse(bytes) {
        let _ = (
            m.kind(),
            m.head(),
            m.action(),
            m.macs(),
            m.normalization().is_some(),
        );
        for l in m.layers() {
            let _ = l.tflite_bias(0);
        }
        if let Ok(mut p) = Policy::<'_, 256>::new(m) {
            let obs: Vec<f32> = (0..m.obs_dim()).map(|i| i as f32 - 1.5).collect();
            let _ = p.act(&obs);
            let _ = p.outputs();
        }
    }
});
