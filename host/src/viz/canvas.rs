//! The drawing surface every picture of picorl uses: an RGB [`Image`] painted with plotters'
//! bitmap backend and the embedded font (DejaVu Sans, nothing to install), written as PNG, or
//! as an animated GIF whose frames use one fixed 256-colour palette (a 6×6×6 colour cube and 40
//! greys) and carry only the rectangle that changed since the previous frame.

use std::borrow::Cow;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::util::fs::write_atomic;

static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

/// Registers the embedded font once.
pub fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // The font is a valid TrueType file committed with the source; failure would be a bug.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// An RGB picture, row-major, 3 bytes a pixel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width * height * 3` bytes.
    pub rgb: Vec<u8>,
}

/// What a drawing step returns (plotters' errors boxed).
pub type DrawResult = std::result::Result<(), Box<dyn std::error::Error>>;
/// A plotters drawing area over an [`Image`]'s pixels.
pub type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// Draws on a white `width`×`height` canvas.
pub fn paint(width: u32, height: u32, f: impl FnOnce(&Area<'_>) -> DrawResult) -> Result<Image> {
    register_font();
    if width == 0 || height == 0 || width > 8192 || height > 8192 {
        bail!("picture size {width}x{height}: each side must be within 1..=8192");
    }
    let mut rgb = vec![255u8; (width * height * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (width, height)).into_drawing_area();
        f(&root).map_err(|e| anyhow!("drawing: {e}"))?;
        root.present().map_err(|e| anyhow!("drawing: {e}"))?;
    }
    Ok(Image { width, height, rgb })
}

/// Encodes `img` as a PNG file.
pub fn png_bytes(img: &Image) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, img.width, img.height);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        // Charts are flat colours and thin lines: the best deflate with adaptive filters keeps
        // them several times smaller than the default.
        enc.set_compression(png::Compression::Best);
        enc.set_adaptive_filter(png::AdaptiveFilterType::Adaptive);
        let mut w = enc.write_header().context("encoding PNG")?;
        w.write_image_data(&img.rgb).context("encoding PNG")?;
    }
    Ok(out)
}

/// Writes `img` to `path` as a PNG, atomically.
pub fn save_png(img: &Image, path: &Path) -> Result<()> {
    write_atomic(path, &png_bytes(img)?)
}

/// An animated GIF built frame by frame in memory.
pub struct GifEncoder {
    enc: gif::Encoder<Vec<u8>>,
    width: u32,
    height: u32,
    prev: Option<Vec<u8>>,
    frames: usize,
}

/// The fixed palette: a 6×6×6 colour cube (indices 0..216), then 40 greys.
fn palette() -> Vec<u8> {
    let mut p = Vec::with_capacity(768);
    for r in 0..6u32 {
        for g in 0..6u32 {
            for b in 0..6u32 {
                p.extend([r * 51, g * 51, b * 51].map(|v| v as u8));
            }
        }
    }
    for i in 0..40u32 {
        let v = (i * 255 / 39) as u8;
        p.extend([v, v, v]);
    }
    p
}

/// The palette index nearest to a colour: a grey ramp entry for greys, else the colour cube.
fn palette_index(r: u8, g: u8, b: u8) -> u8 {
    let (lo, hi) = (r.min(g).min(b), r.max(g).max(b));
    if hi - lo <= 12 {
        let avg = (u32::from(r) + u32::from(g) + u32::from(b)) / 3;
        216 + ((avg * 39 + 127) / 255) as u8
    } else {
        let q = |v: u8| (u32::from(v) * 5 + 127) / 255;
        (q(r) * 36 + q(g) * 6 + q(b)) as u8
    }
}

impl std::fmt::Debug for GifEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GifEncoder")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("frames", &self.frames)
            .finish_non_exhaustive()
    }
}

impl GifEncoder {
    /// A looping GIF of `width`×`height` frames.
    pub fn new(width: u32, height: u32) -> Result<Self> {
        let (w, h) = (
            u16::try_from(width).map_err(|_| anyhow!("GIF width {width} exceeds 65535"))?,
            u16::try_from(height).map_err(|_| anyhow!("GIF height {height} exceeds 65535"))?,
        );
        let mut enc = gif::Encoder::new(Vec::new(), w, h, &palette()).context("encoding GIF")?;
        enc.set_repeat(gif::Repeat::Infinite)
            .context("encoding GIF")?;
        Ok(Self {
            enc,
            width,
            height,
            prev: None,
            frames: 0,
        })
    }

    /// Appends a frame shown for `delay_cs` hundredths of a second.
    pub fn push(&mut self, img: &Image, delay_cs: u16) -> Result<()> {
        if (img.width, img.height) != (self.width, self.height) {
            bail!(
                "internal: a {}x{} frame in a {}x{} GIF",
                img.width,
                img.height,
                self.width,
                self.height
            );
        }
        let idx: Vec<u8> = img
            .rgb
            .chunks_exact(3)
            .map(|p| palette_index(p[0], p[1], p[2]))
            .collect();
        let (w, h) = (self.width as usize, self.height as usize);
        // The rectangle that changed since the previous frame (all of the first frame).
        let (x0, y0, x1, y1) = match &self.prev {
            None => (0, 0, w - 1, h - 1),
            Some(prev) => {
                let (mut x0, mut y0, mut x1, mut y1) = (w, h, 0, 0);
                for y in 0..h {
                    let row = y * w;
                    for x in 0..w {
                        if idx[row + x] != prev[row + x] {
                            x0 = x0.min(x);
                            x1 = x1.max(x);
                            y0 = y0.min(y);
                            y1 = y1.max(y);
                        }
                    }
                }
                if x0 > x1 {
                    (0, 0, 0, 0) // nothing changed: one unchanged pixel keeps the timing
                } else {
                    (x0, y0, x1, y1)
                }
            }
        };
        let mut buf = Vec::with_capacity((x1 - x0 + 1) * (y1 - y0 + 1));
        for y in y0..=y1 {
            buf.extend_from_slice(&idx[y * w + x0..=y * w + x1]);
        }
        let frame = gif::Frame {
            delay: delay_cs,
            dispose: gif::DisposalMethod::Keep,
            left: x0 as u16,
            top: y0 as u16,
            width: (x1 - x0 + 1) as u16,
            height: (y1 - y0 + 1) as u16,
            buffer: Cow::Owned(buf),
            ..gif::Frame::default()
        };
        self.enc.write_frame(&frame).context("encoding GIF")?;
        self.prev = Some(idx);
        self.frames += 1;
        Ok(())
    }

    /// Frames so far.
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// The finished file.
    pub fn finish(self) -> Result<Vec<u8>> {
        self.enc.into_inner().context("encoding GIF")
    }
}

/// Height of a picture's caption strip, in pixels.
pub const TITLE: u32 = 30;
/// Margin around a grid world's map, in pixels.
pub const MARGIN: u32 = 8;
/// Width of a grid world's colour bar, in pixels.
pub const BAR: u32 = 78;

/// The embedded font at `size` points, black.
pub fn font(size: f64) -> TextStyle<'static> {
    ("sans-serif", size).into_font().color(&BLACK)
}

/// Viridis (matplotlib's default colour map), from 9 of its points, interpolated.
pub fn viridis(t: f64) -> RGBColor {
    const P: [(u8, u8, u8); 9] = [
        (68, 1, 84),
        (71, 44, 122),
        (59, 81, 139),
        (44, 113, 142),
        (33, 144, 141),
        (39, 173, 129),
        (92, 200, 99),
        (170, 220, 50),
        (253, 231, 37),
    ];
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let x = t * 8.0;
    let i = (x.floor() as usize).min(7);
    let f = x - i as f64;
    let mix = |a: u8, b: u8| (f64::from(a) + (f64::from(b) - f64::from(a)) * f).round() as u8;
    let (a, b) = (P[i], P[i + 1]);
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Parses `--size WxH`.
pub fn parse_size(text: &str) -> Result<(u32, u32)> {
    let (w, h) = text
        .split_once(['x', 'X'])
        .ok_or_else(|| anyhow!("--size {text}: expected WIDTHxHEIGHT, e.g. 600x400"))?;
    let parse = |v: &str| {
        v.trim()
            .parse::<u32>()
            .ok()
            .filter(|n| (16..=4096).contains(n))
            .ok_or_else(|| anyhow!("--size {text}: each side must be a whole number in 16..=4096"))
    };
    Ok((parse(w)?, parse(h)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn palette_maps_cube_colours_and_greys_exactly() {
        let p = palette();
        assert_eq!(p.len(), 768);
        for (r, g, b) in [(0, 0, 0), (255, 255, 255), (255, 0, 0), (51, 102, 153)] {
            let i = palette_index(r, g, b) as usize;
            assert_eq!(&p[3 * i..3 * i + 3], &[r, g, b], "{r},{g},{b}");
        }
        // A grey between cube entries goes to the ramp: 128 → ramp step round(128·39/255) = 20,
        // whose value is 20·255/39 = 130.
        assert_eq!(palette_index(128, 128, 128), 236);
        assert_eq!(p[3 * 236], 130);
    }

    #[test]
    fn gif_frames_composite_back_to_the_pictures() {
        let blank = paint(40, 30, |_| Ok(())).unwrap();
        let boxed = paint(40, 30, |a| {
            a.draw(&Rectangle::new(
                [(5, 6), (12, 20)],
                RGBColor(255, 0, 0).filled(),
            ))?;
            Ok(())
        })
        .unwrap();
        let pictures = [&blank, &boxed, &boxed, &blank];
        let mut enc = GifEncoder::new(40, 30).unwrap();
        for p in pictures {
            enc.push(p, 5).unwrap();
        }
        let bytes = enc.finish().unwrap();
        let mut d = gif::DecodeOptions::new()
            .read_info(bytes.as_slice())
            .unwrap();
        let mut canvas = vec![0u8; 40 * 30];
        let mut rects = Vec::new();
        for p in pictures {
            let f = d.read_next_frame().unwrap().expect("a frame per picture");
            rects.push((f.left, f.top, f.width, f.height));
            for y in 0..f.height as usize {
                for x in 0..f.width as usize {
                    canvas[(f.top as usize + y) * 40 + f.left as usize + x] =
                        f.buffer[y * f.width as usize + x];
                }
            }
            let want: Vec<u8> = p
                .rgb
                .chunks_exact(3)
                .map(|c| palette_index(c[0], c[1], c[2]))
                .collect();
            assert_eq!(canvas, want);
        }
        assert!(d.read_next_frame().unwrap().is_none());
        // The first frame is whole, the second only the red box (plotters fills x 5..12 and
        // y 6..20, ends excluded: 7×14 pixels), the third (no change) one pixel, the fourth the
        // box again.
        assert_eq!(
            rects,
            [(0, 0, 40, 30), (5, 6, 7, 14), (0, 0, 1, 1), (5, 6, 7, 14)]
        );
    }

    #[test]
    fn viridis_ends() {
        assert_eq!(viridis(0.0), RGBColor(68, 1, 84));
        assert_eq!(viridis(1.0), RGBColor(253, 231, 37));
        assert_eq!(viridis(f64::NAN), RGBColor(68, 1, 84));
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("600x400").unwrap(), (600, 400));
        assert!(parse_size("600").is_err());
        assert!(parse_size("0x10").is_err());
    }
}
