//! The metadata section of format version 2: [`Meta`], its parser, and how a checked model's
//! metadata is found.
use super::format::{header, HEADER_LEN, MAX_META_LEN};
use super::layout::{self, LayerDims, Section};
use super::read::{rd_u16, rd_u32};
use super::view::{layer_dims_of, ModelView};

/// The `meta_len` header field (0 before version 2).
pub(super) fn meta_len_of(b: &[u8]) -> usize {
    if rd_u16(b, header::VERSION).unwrap_or(0) >= 2 {
        (rd_u32(b, header::META_LEN).unwrap_or(0) as usize).min(MAX_META_LEN)
    } else {
        0
    }
}

/// The metadata of a checked model.
pub(super) fn meta_of(b: &[u8]) -> Option<Meta<'_>> {
    let v = ModelView::new_unchecked(b);
    let shape = v.shape();
    if shape.meta_len == 0 {
        return None;
    }
    let spans = v.prefix_spans();
    let n = v.n_layers();
    let dims = |l: usize| {
        if l < n {
            layer_dims_of(b, shape.kind, spans[0], l)
        } else {
            LayerDims::ONE
        }
    };
    let mut found = None;
    layout::walk(&shape, HEADER_LEN, &dims, &mut |s, span| {
        if s == Section::Meta {
            found = Some(span);
        }
        Ok(())
    })
    .ok()?;
    let span = found?;
    Meta::parse(b.get(span.start..span.end())?).ok()
}

/// The metadata section (format version 2): the environment id, its options as `key=value`
/// strings (Gymnasium's `make` keywords, as `--env-kwargs` takes them) and the algorithm.
///
/// Layout: `u8` length and the UTF-8 bytes of the environment id (at least 1); `u8` length and the
/// bytes of the algorithm; `u8` count of options, then each as a `u8` length and the bytes of
/// `key=value` (a non-empty key before the first `=`). No control characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta<'a> {
    env: &'a str,
    algo: &'a str,
    kwargs: &'a [u8],
    n_kwargs: usize,
}

/// One length-prefixed UTF-8 string of the metadata: the string and the bytes after it.
fn meta_str(b: &[u8]) -> Result<(&str, &[u8]), (usize, &'static str)> {
    let (&len, rest) = b.split_first().ok_or((0, "ends inside a length"))?;
    let len = len as usize;
    let bytes = rest.get(..len).ok_or((1, "ends inside a string"))?;
    let text = core::str::from_utf8(bytes).map_err(|_| (1, "string is not UTF-8"))?;
    if text.chars().any(char::is_control) {
        return Err((1, "string holds a control character"));
    }
    Ok((text, rest.get(len..).unwrap_or(&[])))
}

impl<'a> Meta<'a> {
    /// Reads and checks a metadata section; on error, the byte offset in it and the reason.
    pub fn parse(b: &'a [u8]) -> Result<Self, (usize, &'static str)> {
        let at = |rest: &[u8], (off, why): (usize, &'static str)| (b.len() - rest.len() + off, why);
        let (env, rest) = meta_str(b).map_err(|e| at(b, e))?;
        if env.is_empty() {
            return Err((0, "environment id is empty"));
        }
        let (algo, rest2) = meta_str(rest).map_err(|e| at(rest, e))?;
        let (&n, kwargs) = rest2
            .split_first()
            .ok_or(at(rest2, (0, "ends before the option count")))?;
        let mut cur = kwargs;
        for _ in 0..n {
            let (kv, next) = meta_str(cur).map_err(|e| at(cur, e))?;
            match kv.split_once('=') {
                Some((k, _)) if !k.is_empty() => {}
                _ => return Err(at(cur, (1, "option is not key=value"))),
            }
            cur = next;
        }
        if !cur.is_empty() {
            return Err(at(cur, (0, "bytes after the last option")));
        }
        Ok(Self {
            env,
            algo,
            kwargs,
            n_kwargs: n as usize,
        })
    }

    /// The environment id (`CartPole-v1`).
    pub fn env_id(&self) -> &'a str {
        self.env
    }

    /// The algorithm that trained the policy (`ppo`; may be empty).
    pub fn algo(&self) -> &'a str {
        self.algo
    }

    /// The environment options, `(key, value)`, in file order.
    pub fn kwargs(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        let mut cur = self.kwargs;
        (0..self.n_kwargs).filter_map(move |_| {
            let (kv, next) = meta_str(cur).ok()?;
            cur = next;
            kv.split_once('=')
        })
    }
}
