//! Zipping a signed pass: static files copied as prepared, rendered files compressed anew.
use std::io::{Cursor, Write};
use std::sync::Arc;

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

/// Files compressed once, kept as a zip so each pass copies their compressed bytes as they are.
#[derive(Debug, Clone)]
pub struct PackedFiles {
    archive: ZipArchive<Cursor<Arc<[u8]>>>,
    /// Total compressed size, to size each pass's buffer up front.
    size: usize,
}

/// Compression for one file: deflate when it saves at least 5 %, otherwise store (PNGs are
/// already compressed, and storing makes both packing and unpacking cheaper).
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

impl PackedFiles {
    /// Compresses `files` once.
    pub fn new<'a>(files: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> zip::result::ZipResult<Self> {
        let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
        for (name, bytes) in files {
            writer.start_file(name, options_for(bytes))?;
            writer.write_all(bytes)?;
        }
        let bytes: Arc<[u8]> = writer.finish()?.into_inner().into();
        let size = bytes.len();
        Ok(Self {
            archive: ZipArchive::new(Cursor::new(bytes))?,
            size,
        })
    }

    /// Writes a `.pkpass`: the packed files as they are, then `fresh` files compressed now.
    pub fn bundle(&self, fresh: &[(&str, &[u8])]) -> zip::result::ZipResult<Vec<u8>> {
        let extra: usize = fresh.iter().map(|(_, b)| b.len() + 128).sum();
        let mut writer = ZipWriter::new(Cursor::new(Vec::with_capacity(self.size + extra)));
        let mut archive = self.archive.clone();
        for i in 0..archive.len() {
            writer.raw_copy_file(archive.by_index_raw(i)?)?;
        }
        let deflated = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Deflated)
            .compression_level(Some(6));
        for (name, bytes) in fresh {
            writer.start_file(*name, deflated)?;
            writer.write_all(bytes)?;
        }
        Ok(writer.finish()?.into_inner())
    }
}
