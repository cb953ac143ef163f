//! The signed versions of passes, kept so that fetching a pass that hasn't changed costs no
//! new signature (SPEC 6): every device `GET` without `If-Modified-Since`, every download.
//!
//! What is kept is a pass's own signed files (pass.json, manifest, signature, rendered
//! strings: a few KB), not the whole `.pkpass`: the template's static files are shared by
//! every pass of its revision ([`pkpass::PreparedTemplate::assemble`]), so a bounded number of
//! bytes covers many passes. An entry is valid for the pass's update tag and the template
//! revision it was rendered with; any change to either misses and is signed afresh. Works the
//! same on both backends: the tag and revision come with the pass row.
use std::sync::Arc;

use pkpass::SignedFiles;

/// One kept signed version.
#[derive(Debug, Clone)]
pub struct Kept {
    pub update_tag: i64,
    pub revision: i64,
    pub files: Arc<SignedFiles>,
}

#[derive(Clone)]
struct BySize;

impl quick_cache::Weighter<String, Kept> for BySize {
    fn weight(&self, id: &String, kept: &Kept) -> u64 {
        (id.len() + kept.files.size() + 64) as u64
    }
}

/// Signed versions by pass id, bounded in bytes.
#[derive(Clone)]
pub struct SignedPasses {
    inner: Arc<quick_cache::sync::Cache<String, Kept, BySize>>,
}

impl std::fmt::Debug for SignedPasses {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedPasses")
            .field("bytes", &self.inner.weight())
            .field("passes", &self.inner.len())
            .finish()
    }
}

impl SignedPasses {
    /// Keeps about `max_bytes` of signed files (0 keeps nothing).
    pub fn new(max_bytes: u64) -> Self {
        Self {
            inner: Arc::new(quick_cache::sync::Cache::with_weighter(
                1024,
                max_bytes.max(1),
                BySize,
            )),
        }
    }

    /// The kept version of `pass_id` if it is still current.
    pub fn get(&self, pass_id: &str, update_tag: i64, revision: i64) -> Option<Arc<SignedFiles>> {
        self.inner
            .get(pass_id)
            .filter(|k| k.update_tag == update_tag && k.revision == revision)
            .map(|k| k.files)
    }

    pub fn put(&self, pass_id: &str, update_tag: i64, revision: i64, files: Arc<SignedFiles>) {
        self.inner.insert(
            pass_id.to_string(),
            Kept {
                update_tag,
                revision,
                files,
            },
        );
    }

    pub fn forget(&self, pass_id: &str) {
        self.inner.remove(pass_id);
    }

    /// Bytes held now.
    pub fn bytes(&self) -> u64 {
        self.inner.weight()
    }
}
