//! TensorBoard event files (`events.out.tfevents.*`) beside `metrics.csv`, so that
//! `tensorboard --logdir runs/` shows picorl's runs as it shows stable-baselines3's.
//!
//! Written here rather than with a crate: the one crate for it (`tensorboard-rs` 0.5.9) pins
//! `protobuf` 2 (superseded, and open to RUSTSEC-2024-0437) and `image` 0.23, and what picorl
//! needs — scalars — is a few dozen lines of two documented formats:
//!
//! - TFRecord framing (TensorFlow's `tfrecord` format): per record the length as a little-endian
//!   `u64`, the masked CRC-32C of those 8 bytes, the data, the masked CRC-32C of the data; a
//!   masked CRC is `((crc >> 15) | (crc << 17)) + 0xa282ead8`.
//! - Each record is an `Event` protocol buffer (`tensorflow/core/util/event.proto`):
//!   `double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5;` with
//!   `Summary { repeated Value value = 1; }` and `Value { string tag = 1; float simple_value = 2; }`.
//!   The first event of a file carries `file_version = "brain.Event:2"`.
//!
//! Tags follow SB3's names where there is one (`rollout/ep_rew_mean`, `eval/mean_reward`,
//! `time/fps`); an algorithm's own `metrics.csv` columns are `train/<column>`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};

/// CRC-32C's byte table (Castagnoli, reflected polynomial 0x82F63B78), built at compile time.
const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

/// CRC-32C, a byte at a time (a metrics row is about a hundred bytes).
pub fn crc32c(data: &[u8]) -> u32 {
    !data.iter().fold(!0u32, |crc, &b| {
        CRC_TABLE[((crc ^ u32::from(b)) & 0xFF) as usize] ^ (crc >> 8)
    })
}

/// TFRecord's masked CRC.
pub fn masked_crc(data: &[u8]) -> u32 {
    let c = crc32c(data);
    c.rotate_right(15).wrapping_add(0xa282_ead8)
}

/// One TFRecord holding `data`.
pub fn record(data: &[u8]) -> Vec<u8> {
    let len = (data.len() as u64).to_le_bytes();
    let mut out = Vec::with_capacity(data.len() + 16);
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked_crc(&len).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&masked_crc(data).to_le_bytes());
    out
}

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A length-delimited field (wire type 2).
fn bytes_field(field: u32, data: &[u8], out: &mut Vec<u8>) {
    varint(u64::from(field << 3 | 2), out);
    varint(data.len() as u64, out);
    out.extend_from_slice(data);
}

/// An `Event` with `wall_time`, `step` and either a file version or scalar values.
pub fn event(
    wall_time: f64,
    step: i64,
    file_version: Option<&str>,
    scalars: &[(&str, f32)],
) -> Vec<u8> {
    let mut out = Vec::new();
    out.push(1 << 3 | 1); // wall_time, fixed64
    out.extend_from_slice(&wall_time.to_le_bytes());
    out.push(2 << 3); // step, varint (two's complement as u64, as protobuf encodes int64)
    varint(step as u64, &mut out);
    if let Some(v) = file_version {
        bytes_field(3, v.as_bytes(), &mut out);
    }
    if !scalars.is_empty() {
        let mut summary = Vec::new();
        for (tag, value) in scalars {
            let mut v = Vec::new();
            bytes_field(1, tag.as_bytes(), &mut v);
            v.push(2 << 3 | 5); // simple_value, fixed32
            v.extend_from_slice(&value.to_le_bytes());
            bytes_field(1, &v, &mut summary);
        }
        bytes_field(5, &summary, &mut out);
    }
    out
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// The TensorBoard tag of a `metrics.csv` column.
pub fn tag(column: &str) -> String {
    match column {
        "ep_return" => "rollout/ep_rew_mean".into(),
        "ep_length" => "rollout/ep_len_mean".into(),
        "episodes" => "time/episodes".into(),
        "steps_per_second" => "time/fps".into(),
        other => format!("train/{other}"),
    }
}

/// An event file being written: a new one per run, which `--resume` continues
/// ([`EventWriter::resume`]) after cutting it back to its length at the checkpoint, so that a
/// killed and resumed run has one file with each record once, as an uninterrupted run has.
#[derive(Debug)]
pub struct EventWriter {
    path: PathBuf,
    out: BufWriter<File>,
}

impl EventWriter {
    /// Creates `events.out.tfevents.<unix seconds>.picorl.<pid>` in `dir`.
    pub fn create(dir: &Path) -> Result<Self> {
        let t = now();
        let path = dir.join(format!(
            "events.out.tfevents.{}.picorl.{}",
            t as u64,
            std::process::id()
        ));
        let file = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        let mut w = Self {
            path,
            out: BufWriter::new(file),
        };
        w.write(&event(t, 0, Some("brain.Event:2"), &[]))?;
        Ok(w)
    }

    /// Continues the event file `name` in `dir`, cut back to `len` bytes (its length at the
    /// checkpoint: what a killed session wrote after it, possibly a half record, goes, and is
    /// written again). `None` when the file is missing or shorter than `len` (then a resumed run
    /// starts a new file).
    pub fn resume(dir: &Path, name: &str, len: u64) -> Result<Option<Self>> {
        let path = dir.join(name);
        let file = match std::fs::OpenOptions::new().write(true).open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("opening {}", path.display())),
        };
        let have = file
            .metadata()
            .with_context(|| format!("reading {}", path.display()))?
            .len();
        if have < len {
            return Ok(None);
        }
        file.set_len(len)
            .with_context(|| format!("--resume: truncating {}", path.display()))?;
        let mut file = file;
        std::io::Seek::seek(&mut file, std::io::SeekFrom::End(0))
            .with_context(|| format!("opening {}", path.display()))?;
        Ok(Some(Self {
            path,
            out: BufWriter::new(file),
        }))
    }

    /// The file's name in its directory.
    pub fn file_name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    fn write(&mut self, data: &[u8]) -> Result<()> {
        self.out
            .write_all(&record(data))
            .with_context(|| format!("writing {}", self.path.display()))
    }

    /// Writes the finite ones of `values` at `step`, each under `tags[i]`.
    pub fn scalars(&mut self, step: u64, tags: &[String], values: &[f64]) -> Result<()> {
        let scalars: Vec<(&str, f32)> = tags
            .iter()
            .zip(values)
            .filter(|(_, v)| v.is_finite())
            .map(|(t, v)| (t.as_str(), *v as f32))
            .collect();
        if scalars.is_empty() {
            return Ok(());
        }
        self.write(&event(now(), step as i64, None, &scalars))
    }

    /// Flushes to the OS, so that TensorBoard sees what is written.
    pub fn flush(&mut self) -> Result<()> {
        self.out
            .flush()
            .with_context(|| format!("writing {}", self.path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_check_value() {
        // The CRC catalogue's check value of CRC-32C (iSCSI) for "123456789".
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(b""), 0);
    }

    #[test]
    fn one_scalar_event_by_hand() {
        let e = event(1.5, 300, None, &[("a", 2.0)]);
        let mut want = vec![0x09];
        want.extend_from_slice(&1.5f64.to_le_bytes());
        // step 300 = 0b10_0101100: varint 0xAC 0x02.
        want.extend_from_slice(&[0x10, 0xAC, 0x02]);
        // summary (field 5, 10 bytes) ⊃ value (field 1, 8 bytes) ⊃ tag "a", simple_value 2.0.
        want.extend_from_slice(&[0x2A, 10, 0x0A, 8, 0x0A, 1, b'a', 0x15]);
        want.extend_from_slice(&2.0f32.to_le_bytes());
        assert_eq!(e, want);
        let r = record(&e);
        assert_eq!(r.len(), e.len() + 16);
        assert_eq!(&r[..8], &(e.len() as u64).to_le_bytes());
        assert_eq!(&r[8..12], &masked_crc(&r[..8]).to_le_bytes());
        assert_eq!(&r[12..12 + e.len()], &e[..]);
        assert_eq!(&r[12 + e.len()..], &masked_crc(&e).to_le_bytes());
    }

    /// `--resume` cuts a killed session's records (and a half-written one) after the checkpoint
    /// and continues the same file; a missing or shorter file gives `None`.
    #[test]
    fn resume_cuts_back_to_the_checkpoint_and_appends() {
        let dir = std::env::temp_dir().join(format!("picorl-tb-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let tags = ["train/a".to_string()];
        let mut w = EventWriter::create(&dir).unwrap();
        w.scalars(1, &tags, &[1.0]).unwrap();
        w.flush().unwrap();
        let name = w.file_name();
        let path = dir.join(&name);
        let at_checkpoint = std::fs::read(&path).unwrap();
        // After the checkpoint: a whole record, then the first bytes of another (a kill).
        w.scalars(2, &tags, &[2.0]).unwrap();
        w.flush().unwrap();
        drop(w);
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(&record(b"half a record")[..7]).unwrap();
        drop(f);
        let len = at_checkpoint.len() as u64;
        let mut w = EventWriter::resume(&dir, &name, len).unwrap().unwrap();
        assert_eq!(w.file_name(), name);
        w.scalars(2, &tags, &[3.0]).unwrap();
        w.flush().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes[..at_checkpoint.len()], at_checkpoint[..]);
        let rest = &bytes[at_checkpoint.len()..];
        let data_len = u64::from_le_bytes(rest[..8].try_into().unwrap()) as usize;
        assert_eq!(
            rest.len(),
            data_len + 16,
            "one whole record after the checkpoint"
        );
        let data = &rest[12..12 + data_len];
        assert_eq!(data[data_len - 4..], 3.0f32.to_le_bytes());
        assert!(EventWriter::resume(&dir, &name, bytes.len() as u64 + 1)
            .unwrap()
            .is_none());
        assert!(EventWriter::resume(&dir, "events.out.tfevents.none", 0)
            .unwrap()
            .is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn tags_follow_sb3() {
        assert_eq!(tag("ep_return"), "rollout/ep_rew_mean");
        assert_eq!(tag("approx_kl"), "train/approx_kl");
    }
}
