//! Helpers shared by the fuzz targets and the corpus seeder: one framing for inputs made of
//! several fields, and the fixtures the render target renders.
//!
//! A target that needs several inputs (a certificate, a key, a passphrase…) reads them from one
//! byte string: every field but the last is a little-endian `u16` length then that many bytes,
//! the last field is whatever remains. A length past the end is cut to what is there, so every
//! byte string is a valid input; [`frame`] writes the same layout for seeds.
#![forbid(unsafe_code)]

use std::path::PathBuf;

/// Splits `data` into exactly `n` fields (see the module docs).
#[must_use]
pub fn fields(data: &[u8], n: usize) -> Vec<&[u8]> {
    let mut out = Vec::with_capacity(n);
    let mut rest = data;
    for _ in 1..n {
        let (len, after) = match rest {
            [a, b, after @ ..] => (usize::from(u16::from_le_bytes([*a, *b])), after),
            _ => (0, &[][..]),
        };
        let len = len.min(after.len());
        out.push(&after[..len]);
        rest = &after[len..];
    }
    out.push(rest);
    out
}

/// The inverse of [`fields`]: `parts` framed as one input.
///
/// # Panics
/// If a field but the last is longer than 65535 bytes.
#[must_use]
pub fn frame(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    let Some((last, init)) = parts.split_last() else {
        return out;
    };
    for part in init {
        let len = u16::try_from(part.len()).expect("a framed field fits in u16");
        out.extend(len.to_le_bytes());
        out.extend_from_slice(part);
    }
    out.extend_from_slice(last);
    out
}

/// The repository's root (fixtures are read from it).
#[must_use]
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The multipart boundary the upload-form target's inputs use.
pub const BOUNDARY: &str = "FUZZBOUNDARY";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_and_fields_agree() {
        let parts: [&[u8]; 3] = [b"cert", b"", b"the rest\0with nul"];
        assert_eq!(fields(&frame(&parts), 3), parts.to_vec());
        assert_eq!(fields(b"", 3), vec![&b""[..], b"", b""]);
        assert_eq!(fields(&[9, 0, b'a'], 2), vec![&b"a"[..], b""]);
    }
}
