//! Zipping a signed pass fast: the template's static files are compressed once into a ready-made
//! block of zip entries placed at the start of every pass, so issuing a pass copies that block
//! with one `memcpy` and appends only the few files rendered for it (stored, not deflated: they
//! are a few KB).
use std::io::{Cursor, Read, Write};

use bytes::Bytes;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

/// Static files as finished zip entries.
#[derive(Debug, Clone)]
pub struct PackedFiles {
    /// Local headers and data of every static file, starting at offset 0 of the pass. Shared
    /// (`Bytes`), so a pass can be sent as this block plus its own few KB without copying it.
    entries: Bytes,
    /// Their central directory records (offsets already right, as `entries` comes first).
    central: Vec<u8>,
    count: usize,
}

/// Zip's "language encoding" flag: names are UTF-8.
const UTF8_NAMES: u16 = 1 << 11;
/// 1980-01-01 00:00, zip's epoch: passes don't need file times, and fixed ones keep zips
/// reproducible.
const DOS_DATE: u16 = (1 << 5) | 1;
const DOS_TIME: u16 = 0;

/// Compression for one file: deflate when it saves at least 5 %, otherwise store (PNGs are
/// already compressed, and storing makes unpacking cheaper too).
fn options_for(bytes: &[u8]) -> SimpleFileOptions {
    let deflated = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .compression_level(Some(6));
    let mut probe = ZipWriter::new(Cursor::new(Vec::new()));
    let worth_it = probe
        .start_file("probe", deflated)
        .and_then(|()| probe.write_all(bytes).map_err(Into::into))
        .and_then(|()| probe.finish())
        .is_ok_and(|c| (c.get_ref().len() as f64) < bytes.len() as f64 * 0.95);
    if worth_it {
        deflated
    } else {
        SimpleFileOptions::default().compression_method(CompressionMethod::Stored)
    }
}

struct Entry<'a> {
    name: &'a str,
    method: u16,
    crc: u32,
    data: &'a [u8],
    size: u32,
}

/// Appends one entry's local header and data to `out` and its central record to `central`.
fn write_entry(out: &mut Vec<u8>, central: &mut Vec<u8>, e: &Entry<'_>) {
    write_entry_at(0, out, central, e);
}

/// Like [`write_entry`] for an `out` that will follow `base` bytes of other entries in the zip.
fn write_entry_at(base: usize, out: &mut Vec<u8>, central: &mut Vec<u8>, e: &Entry<'_>) {
    let offset = u32::try_from(base + out.len()).expect("a pass is far below 4 GiB");
    let csize = u32::try_from(e.data.len()).expect("a file is far below 4 GiB");
    let name_len = u16::try_from(e.name.len()).expect("names are short");
    let u16le = |v: u16| v.to_le_bytes();
    let u32le = |v: u32| v.to_le_bytes();

    out.extend_from_slice(&u32le(0x0403_4b50));
    out.extend_from_slice(&u16le(20)); // version needed: 2.0
    out.extend_from_slice(&u16le(UTF8_NAMES));
    out.extend_from_slice(&u16le(e.method));
    out.extend_from_slice(&u16le(DOS_TIME));
    out.extend_from_slice(&u16le(DOS_DATE));
    out.extend_from_slice(&u32le(e.crc));
    out.extend_from_slice(&u32le(csize));
    out.extend_from_slice(&u32le(e.size));
    out.extend_from_slice(&u16le(name_len));
    out.extend_from_slice(&u16le(0)); // extra field length
    out.extend_from_slice(e.name.as_bytes());
    out.extend_from_slice(e.data);

    central.extend_from_slice(&u32le(0x0201_4b50));
    central.extend_from_slice(&u16le(0x0314)); // made by: Unix, zip 2.0
    central.extend_from_slice(&u16le(20));
    central.extend_from_slice(&u16le(UTF8_NAMES));
    central.extend_from_slice(&u16le(e.method));
    central.extend_from_slice(&u16le(DOS_TIME));
    central.extend_from_slice(&u16le(DOS_DATE));
    central.extend_from_slice(&u32le(e.crc));
    central.extend_from_slice(&u32le(csize));
    central.extend_from_slice(&u32le(e.size));
    central.extend_from_slice(&u16le(name_len));
    central.extend_from_slice(&u16le(0)); // extra field length
    central.extend_from_slice(&u16le(0)); // comment length
    central.extend_from_slice(&u16le(0)); // disk number
    central.extend_from_slice(&u16le(0)); // internal attributes
    central.extend_from_slice(&u32le(0o100_644 << 16)); // a regular file, rw-r--r--
    central.extend_from_slice(&u32le(offset));
    central.extend_from_slice(e.name.as_bytes());
}

impl PackedFiles {
    /// Compresses `files` once (with the `zip` crate) and keeps them as finished entries.
    pub fn new<'a>(files: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> zip::result::ZipResult<Self> {
        let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
        for (name, bytes) in files {
            writer.start_file(name, options_for(bytes))?;
            writer.write_all(bytes)?;
        }
        let mut archive = ZipArchive::new(writer.finish()?)?;
        let (mut entries, mut central) = (Vec::new(), Vec::new());
        for i in 0..archive.len() {
            let mut file = archive.by_index_raw(i)?;
            let method = match file.compression() {
                CompressionMethod::Deflated => 8,
                _ => 0,
            };
            let (name, crc, size) = (file.name()?.into_owned(), file.crc32(), file.size());
            let mut data = Vec::new();
            file.read_to_end(&mut data)?;
            let size = u32::try_from(size)
                .map_err(|_| zip::result::ZipError::UnsupportedArchive("a file of 4 GiB or more"))?;
            write_entry(
                &mut entries,
                &mut central,
                &Entry {
                    name: &name,
                    method,
                    crc,
                    data: &data,
                    size,
                },
            );
        }
        Ok(Self {
            entries: Bytes::from(entries),
            central,
            count: archive.len(),
        })
    }

    /// Writes a `.pkpass`: the packed files as they are, then `fresh` files stored.
    #[must_use]
    pub fn bundle(&self, fresh: &[(&str, &[u8])]) -> Vec<u8> {
        self.bundle_parts(fresh).to_vec()
    }

    /// The same `.pkpass` as [`Self::bundle`], as two parts: the shared block of packed entries
    /// (not copied) and the rest (the fresh files, the central directory and its end record).
    #[must_use]
    pub fn bundle_parts(&self, fresh: &[(&str, &[u8])]) -> PassBytes {
        let fresh_len: usize = fresh.iter().map(|(n, b)| b.len() + 2 * n.len() + 76).sum();
        let mut tail = Vec::with_capacity(self.central.len() + fresh_len + 22);
        let mut central = Vec::with_capacity(self.central.len() + fresh.len() * 80);
        central.extend_from_slice(&self.central);
        let base = self.entries.len();
        for (name, data) in fresh {
            let size = u32::try_from(data.len()).expect("a rendered file is far below 4 GiB");
            write_entry_at(
                base,
                &mut tail,
                &mut central,
                &Entry {
                    name,
                    method: 0,
                    crc: crc32(data),
                    data,
                    size,
                },
            );
        }
        let count = u16::try_from(self.count + fresh.len()).expect("templates have few files");
        let cd_offset = u32::try_from(base + tail.len()).expect("a pass is far below 4 GiB");
        let cd_size = u32::try_from(central.len()).expect("a pass is far below 4 GiB");
        tail.extend_from_slice(&central);
        tail.extend_from_slice(&0x0605_4b50_u32.to_le_bytes());
        tail.extend_from_slice(&[0, 0, 0, 0]); // this disk, disk with the central directory
        tail.extend_from_slice(&count.to_le_bytes());
        tail.extend_from_slice(&count.to_le_bytes());
        tail.extend_from_slice(&cd_size.to_le_bytes());
        tail.extend_from_slice(&cd_offset.to_le_bytes());
        tail.extend_from_slice(&[0, 0]); // comment length
        PassBytes {
            head: self.entries.clone(),
            tail: Bytes::from(tail),
        }
    }
}

/// A `.pkpass` in two parts: `head` (the template's packed files, shared between passes) then
/// `tail`. Sending them one after the other sends the zip; [`PassBytes::to_vec`] joins them.
#[derive(Debug, Clone)]
pub struct PassBytes {
    /// The template's static entries (shared, not copied per pass).
    pub head: Bytes,
    /// The pass's own entries, the central directory and the end record.
    pub tail: Bytes,
}

impl PassBytes {
    /// Total length of the zip.
    #[must_use]
    pub fn len(&self) -> usize {
        self.head.len() + self.tail.len()
    }

    /// Whether the zip is empty (never, for a real pass).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The zip as one buffer.
    #[must_use]
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len());
        out.extend_from_slice(&self.head);
        out.extend_from_slice(&self.tail);
        out
    }
}

/// CRC-32 (IEEE), as zip needs.
#[must_use]
pub fn crc32(data: &[u8]) -> u32 {
    crc32fast::hash(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn a_bundle_reads_back_with_the_zip_crate_and_checks_every_crc() {
        let big: Vec<u8> = (0..50_000u32).map(|i| (i % 7) as u8).collect();
        // xorshift noise: deflate can't shrink it, so it is stored.
        let mut x = 0x2545_f491_u32;
        let random: Vec<u8> = (0..5_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        let packed = PackedFiles::new([("a.txt", big.as_slice()), ("b.png", random.as_slice())]).unwrap();
        let bytes = packed.bundle(&[
            ("pass.json", b"{}"),
            ("de.lproj/pass.strings", "\"é\" = \"x\";".as_bytes()),
        ]);
        let mut archive = ZipArchive::new(Cursor::new(bytes)).unwrap();
        let mut names = Vec::new();
        for i in 0..archive.len() {
            let mut f = archive.by_index(i).unwrap();
            let mut data = Vec::new();
            f.read_to_end(&mut data).unwrap(); // the zip crate checks the CRC at the end
            names.push((f.name().unwrap().into_owned(), data.len(), f.compression()));
        }
        assert_eq!(
            names,
            vec![
                ("a.txt".into(), 50_000, CompressionMethod::Deflated),
                ("b.png".into(), 5_000, CompressionMethod::Stored),
                ("pass.json".into(), 2, CompressionMethod::Stored),
                ("de.lproj/pass.strings".into(), 11, CompressionMethod::Stored),
            ]
        );
    }
}
