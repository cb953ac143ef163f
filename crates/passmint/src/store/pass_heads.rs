//! An in-process cache of pass heads (id, token, `last_modified` by pass type + serial) for the
//! SQLite backend, so the device hot path (token check, 304) needs no database round trip.
//!
//! Why it is safe on SQLite only: an SQLite database belongs to one `serve` process (several
//! processes share a PostgreSQL database instead, where this cache is off), so every write to
//! a pass goes through this process's [`Store`](super::Store), which drops the entry in the
//! same call. A reader that looked a head up in the database while a writer changed it must
//! not put the old head back: every drop bumps a generation, and a reader only caches what it
//! read if the generation is still the one it saw before reading.
//!
//! Bounded: at most [`MAX_ENTRIES`] heads; when full it starts over empty.
use std::collections::HashMap;
use std::sync::Mutex;

use super::PassHead;

/// Most heads kept (about 200 bytes each).
pub const MAX_ENTRIES: usize = 200_000;

#[derive(Debug, Default)]
pub struct PassHeads {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    by_key: HashMap<(String, String), PassHead>,
    /// Pass id -> key, to drop an entry by id.
    keys: HashMap<String, (String, String)>,
    generation: u64,
}

impl PassHeads {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The cached head, or the generation to hand to [`PassHeads::put`] after reading it from
    /// the database.
    pub fn get(&self, pass_type: &str, serial: &str) -> Result<PassHead, u64> {
        let key = (pass_type.to_string(), serial.to_string());
        let inner = self.lock();
        match inner.by_key.get(&key) {
            Some(head) => Ok(head.clone()),
            None => Err(inner.generation),
        }
    }

    /// Caches `head` read from the database, unless a drop happened since `generation`.
    pub fn put(&self, generation: u64, pass_type: &str, serial: &str, head: &PassHead) {
        let mut inner = self.lock();
        if inner.generation != generation {
            return;
        }
        if inner.by_key.len() >= MAX_ENTRIES {
            inner.by_key.clear();
            inner.keys.clear();
        }
        let key = (pass_type.to_string(), serial.to_string());
        inner.keys.insert(head.id.clone(), key.clone());
        inner.by_key.insert(key, head.clone());
    }

    /// Drops the heads of these pass ids (call after writing them).
    pub fn forget<'a>(&self, ids: impl IntoIterator<Item = &'a str>) {
        let mut inner = self.lock();
        inner.generation += 1;
        for id in ids {
            if let Some(key) = inner.keys.remove(id) {
                inner.by_key.remove(&key);
            }
        }
    }

    /// Drops every head (after deleting a template, whose passes go by cascade).
    pub fn forget_all(&self) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.by_key.clear();
        inner.keys.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(id: &str, last_modified: i64) -> PassHead {
        PassHead {
            id: id.into(),
            template_id: "t".into(),
            auth_token: "token".into(),
            last_modified,
        }
    }

    #[test]
    fn never_caches_a_head_read_before_a_write_it_raced() {
        let heads = PassHeads::default();
        let generation = heads.get("type", "1").unwrap_err();
        // A writer changes the pass and drops its head while the reader is in the database.
        heads.forget(["p1"]);
        heads.put(generation, "type", "1", &head("p1", 10));
        assert!(heads.get("type", "1").is_err());

        let generation = heads.get("type", "1").unwrap_err();
        heads.put(generation, "type", "1", &head("p1", 11));
        assert_eq!(heads.get("type", "1").unwrap().last_modified, 11);
        heads.forget(["p1"]);
        assert!(heads.get("type", "1").is_err());
        let generation = heads.get("type", "1").unwrap_err();
        heads.put(generation, "type", "1", &head("p1", 12));
        heads.forget_all();
        assert!(heads.get("type", "1").is_err());
    }
}
