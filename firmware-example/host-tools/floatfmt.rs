//! Host-side formatting of the firmware's floats (the defmt approach): the firmware writes each
//! float as its IEEE-754 bits (`f64:400921fb54442d18`, `f32:3fc00000`), which costs a few hundred
//! bytes of flash instead of core's ~25 KB of float-formatting code, and `firmware-example/run`
//! pipes its output through this filter, which prints each value as Rust's `{:?}` (shortest
//! round-trip) — the same text `picorl eval` prints on the desktop for the same bits.
//!
//! Built by `run` with the host's `rustc` (no dependencies).
use std::io::{BufRead, Write};

fn decode(token: &str) -> Option<String> {
    if let Some(h) = token.strip_prefix("f64:") {
        return u64::from_str_radix(h, 16).ok().map(|b| format!("{:?}", f64::from_bits(b)));
    }
    if let Some(h) = token.strip_prefix("f32:") {
        return u32::from_str_radix(h, 16).ok().map(|b| format!("{:?}", f32::from_bits(b)));
    }
    None
}

fn main() {
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let mut result = String::with_capacity(line.len());
        let mut rest = line.as_str();
        while let Some(pos) = rest.find("f64:").into_iter().chain(rest.find("f32:")).min() {
            result.push_str(&rest[..pos]);
            let tail = &rest[pos..];
            let end = tail[4..].find(|c: char| !c.is_ascii_hexdigit()).map_or(tail.len(), |e| e + 4);
            match decode(&tail[..end]) {
                Some(text) => result.push_str(&text),
                None => result.push_str(&tail[..end]),
            }
            rest = &tail[end..];
        }
        result.push_str(rest);
        if writeln!(out, "{result}").is_err() {
            break;
        }
        let _ = out.flush();
    }
}
