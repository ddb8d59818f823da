//! Shared helpers for picorl's benchmarks (the suite is `benches/benches/main.rs`).
