//! The firmware's output, without `core::fmt`: lines assembled in a small buffer and written to
//! the host by semihosting. Integers are written in decimal, floats as their IEEE-754 bits for the
//! host to format (see `host-tools/floatfmt.rs`): `f64:` or `f32:` and the bits in hex, and slices
//! as `[f32:…, f32:…]` like Rust's `{:?}` of a slice.
//!
//! `core::fmt` (its `Formatter`, padding, `Display` for integers and `str`, the `{:?}` escaping with
//! its Unicode tables) and core's error messages took about 8 KB of flash; nothing here uses them.

use cortex_m_semihosting::hio;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// One output line, written out by [`Line::print`] (or in pieces, if it outgrows the buffer).
pub struct Line {
    buf: [u8; 128],
    len: usize,
}

impl Line {
    /// An empty line.
    pub fn new() -> Self {
        Self {
            buf: [0; 128],
            len: 0,
        }
    }

    fn byte(&mut self, b: u8) -> &mut Self {
        if self.len == self.buf.len() {
            self.flush();
        }
        self.buf[self.len] = b;
        self.len += 1;
        self
    }

    /// Appends text.
    pub fn str(&mut self, s: &str) -> &mut Self {
        for &b in s.as_bytes() {
            self.byte(b);
        }
        self
    }

    /// Appends `v` in decimal. Long division by 10 over 16-bit limbs keeps to 32-bit arithmetic:
    /// Cortex-M4 has no 64-bit divide, and the library routine for one would cost 500 bytes.
    pub fn uint(&mut self, v: u64) -> &mut Self {
        let mut limbs = [
            (v >> 48) as u32,
            (v >> 32) as u32 & 0xFFFF,
            (v >> 16) as u32 & 0xFFFF,
            v as u32 & 0xFFFF,
        ];
        let mut digits = [0u8; 20];
        let mut n = 0;
        loop {
            let mut rem = 0;
            for limb in &mut limbs {
                let cur = (rem << 16) | *limb;
                *limb = cur / 10;
                rem = cur % 10;
            }
            digits[n] = b'0' + rem as u8;
            n += 1;
            if limbs == [0; 4] {
                break;
            }
        }
        for &d in digits[..n].iter().rev() {
            self.byte(d);
        }
        self
    }

    fn hex(&mut self, bits: u64, digits: u32) -> &mut Self {
        for i in (0..digits).rev() {
            self.byte(HEX[((bits >> (4 * i)) & 0xF) as usize]);
        }
        self
    }

    /// Appends an `f64` as `f64:` and its 16 hex digits.
    pub fn f64(&mut self, v: f64) -> &mut Self {
        self.str("f64:").hex(v.to_bits(), 16)
    }

    /// Appends `f32` values as `[f32:…, f32:…]` (8 hex digits each).
    #[cfg_attr(picorl_learn, allow(dead_code))]
    pub fn f32s(&mut self, values: &[f32]) -> &mut Self {
        self.byte(b'[');
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                self.str(", ");
            }
            self.str("f32:").hex(u64::from(v.to_bits()), 8);
        }
        self.byte(b']')
    }

    fn flush(&mut self) {
        // Nothing to do if the host's console is gone: the exit status still tells.
        if let Ok(mut out) = hio::hstdout() {
            let _ = out.write_all(&self.buf[..self.len]);
        }
        self.len = 0;
    }

    /// Ends the line and writes it to the host.
    pub fn print(&mut self) {
        self.byte(b'\n');
        self.flush();
    }
}

/// Prints one line of text.
pub fn println(s: &str) {
    Line::new().str(s).print();
}
