//! The run directory's files: atomic writes, CSV logs, the default directory name.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

pub use crate::util::fs::{tmp_path, write_atomic};

/// A CSV file that rows are appended to (the header is written when the file is new).
#[derive(Debug)]
pub struct CsvLog {
    path: PathBuf,
    out: BufWriter<File>,
    columns: usize,
}

impl CsvLog {
    /// Opens `path` for appending, writing `header` first if the file is new or empty.
    pub fn open(path: &Path, header: &[&str]) -> Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        let new = file.metadata().map(|m| m.len() == 0).unwrap_or(true);
        let mut out = BufWriter::new(file);
        if new {
            writeln!(out, "{}", header.join(","))
                .with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(Self {
            path: path.to_path_buf(),
            out,
            columns: header.len(),
        })
    }

    /// Appends one row of already formatted cells.
    pub fn row(&mut self, cells: &[String]) -> Result<()> {
        debug_assert_eq!(
            cells.len(),
            self.columns,
            "row width of {}",
            self.path.display()
        );
        writeln!(self.out, "{}", cells.join(","))
            .with_context(|| format!("writing {}", self.path.display()))
    }

    /// Flushes to the OS.
    pub fn flush(&mut self) -> Result<()> {
        self.out
            .flush()
            .with_context(|| format!("writing {}", self.path.display()))
    }
}

/// A float cell: Rust's shortest round-trip text (`{:?}`), empty for NaN (no value).
pub fn cell(x: f64) -> String {
    if x.is_nan() {
        String::new()
    } else {
        format!("{x:?}")
    }
}

/// `runs/<algo>-<env>-<seed>-<UTC time>` under the current directory.
pub fn default_run_dir(algo: &str, env: &str, seed: u64) -> PathBuf {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let s = secs % 86_400;
    PathBuf::from("runs").join(format!(
        "{algo}-{env}-{seed}-{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        s / 3600,
        s / 60 % 60,
        s % 60
    ))
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        // 2026-11-25 is day 20_782 since the epoch.
        assert_eq!(civil_from_days(20_782), (2026, 11, 25));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn atomic_write_and_csv() {
        let dir = std::env::temp_dir().join(format!("picorl-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("a.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert!(!tmp_path(&p).exists());
        let c = dir.join("m.csv");
        {
            let mut log = CsvLog::open(&c, &["a", "b"]).unwrap();
            log.row(&[cell(1.5), cell(f64::NAN)]).unwrap();
            log.flush().unwrap();
        }
        let mut log = CsvLog::open(&c, &["a", "b"]).unwrap();
        log.row(&[cell(0.1), cell(2.0)]).unwrap();
        log.flush().unwrap();
        assert_eq!(std::fs::read_to_string(&c).unwrap(), "a,b\n1.5,\n0.1,2.0\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
