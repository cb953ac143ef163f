//! An in-process cache of pass heads (id, token, `last_modified` by pass type + serial) and of
//! each device's registered passes (serial, update tag, by device + pass type) for the SQLite
//! backend, so the device hot paths (token check, 304, serial-number query) need no database
//! round trip.
//!
//! Why it is safe on SQLite only: an SQLite database belongs to one `serve` process (several
//! processes share a PostgreSQL database instead, where this cache is off), so every write to
//! a pass goes through this process's [`Store`](super::Store), which drops the entry in the
//! same call. A reader that looked a head up in the database while a writer changed it must
//! not put the old head back: every drop bumps a generation, and a reader only caches what it
//! read if the generation is still the one it saw before reading.
//!
//! A device's serials go stale when a registration of that device is written (drop by device),
//! when one of the passes listed changes its tag or is deleted (drop every device that lists
//! that pass id: pass writes already drop heads by id, which now does both), or when
//! registrations go by push token or by cascade (drop them all). Heads and serials share one
//! generation, so any drop also refuses every fill that raced it.
//!
//! Bounded in bytes (SPEC 6): heads take at most [`HEAD_BYTES`], devices' serials at most
//! [`SERIAL_BYTES`], each entry weighed by its strings plus a fixed allowance for the maps'
//! overhead; when full, each part starts over empty. Only what exists takes room: a head is
//! cached only for a pass that was found, and a device's serials only when it has passes of
//! that type, so a flood naming unknown pass types, serials or devices leaves the cache as it
//! was. A (device, pass type) with more than [`MAX_SERIALS_PER_ENTRY`] passes is never cached
//! (the caller queries the database).
use std::collections::HashMap;
use std::sync::Mutex;

use super::PassHead;

/// Bytes of heads kept, at most.
pub const HEAD_BYTES: usize = 48 * 1024 * 1024;
/// Bytes of devices' serials kept, at most.
pub const SERIAL_BYTES: usize = 48 * 1024 * 1024;
/// What one map entry costs beyond its strings (hash slot, `String` headers, `Vec`s).
const ENTRY_OVERHEAD: usize = 128;
/// Most passes cached for one (device, pass type).
pub const MAX_SERIALS_PER_ENTRY: usize = 1000;

/// One registered pass of a device, as the serial-number query needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredPass {
    pub pass_id: String,
    pub serial_number: String,
    pub update_tag: i64,
}

#[derive(Debug, Default)]
pub struct PassHeads {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    by_key: HashMap<(String, String), PassHead>,
    /// Pass id -> key, to drop an entry by id.
    keys: HashMap<String, (String, String)>,
    /// Device -> pass type -> every pass of that type the device is registered for.
    serials: HashMap<String, HashMap<String, Vec<RegisteredPass>>>,
    /// Pass id -> devices whose cached serials list it, to drop them when the pass changes.
    /// May name devices no longer cached (dropping those is a no-op).
    devices_by_pass: HashMap<String, Vec<String>>,
    /// Bytes held by `by_key` and `keys`.
    head_bytes: usize,
    /// Bytes held by `serials` and `devices_by_pass`, all devices together.
    serial_bytes: usize,
    generation: u64,
}

fn head_weight(pass_type: &str, serial: &str, head: &PassHead) -> usize {
    2 * (pass_type.len() + serial.len() + ENTRY_OVERHEAD)
        + 2 * head.id.len()
        + head.template_id.len()
        + head.auth_token.len()
}

fn serials_weight(device: &str, pass_type: &str, passes: &[RegisteredPass]) -> usize {
    let rows: usize = passes
        .iter()
        // The row itself, and its pass's entry in `devices_by_pass`.
        .map(|p| 2 * p.pass_id.len() + p.serial_number.len() + device.len() + 2 * ENTRY_OVERHEAD)
        .sum();
    device.len() + pass_type.len() + ENTRY_OVERHEAD + rows
}

impl Inner {
    fn drop_devices_listing(&mut self, pass_id: &str) {
        if let Some(devices) = self.devices_by_pass.remove(pass_id) {
            for device in devices {
                self.remove_device(&device);
            }
        }
    }

    fn remove_device(&mut self, device: &str) {
        if let Some(types) = self.serials.remove(device) {
            let bytes: usize = types
                .iter()
                .map(|(pass_type, passes)| serials_weight(device, pass_type, passes))
                .sum();
            self.serial_bytes = self.serial_bytes.saturating_sub(bytes);
        }
    }

    fn clear_serials(&mut self) {
        self.serials.clear();
        self.devices_by_pass.clear();
        self.serial_bytes = 0;
    }

    fn clear_heads(&mut self) {
        self.by_key.clear();
        self.keys.clear();
        self.head_bytes = 0;
    }
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
        let weight = head_weight(pass_type, serial, head);
        if inner.head_bytes + weight > HEAD_BYTES {
            inner.clear_heads();
        }
        let key = (pass_type.to_string(), serial.to_string());
        if let Some(old_key) = inner.keys.insert(head.id.clone(), key.clone())
            && let Some(old) = inner.by_key.remove(&old_key)
        {
            let old_weight = head_weight(&old_key.0, &old_key.1, &old);
            inner.head_bytes = inner.head_bytes.saturating_sub(old_weight);
        }
        if let Some(old) = inner.by_key.insert(key, head.clone()) {
            let old_weight = head_weight(pass_type, serial, &old);
            inner.head_bytes = inner.head_bytes.saturating_sub(old_weight);
        }
        inner.head_bytes += weight;
    }

    /// Drops the heads of these pass ids, and the cached serials of every device listing one
    /// of them (call after writing them).
    pub fn forget<'a>(&self, ids: impl IntoIterator<Item = &'a str>) {
        let mut inner = self.lock();
        inner.generation += 1;
        for id in ids {
            if let Some(key) = inner.keys.remove(id)
                && let Some(old) = inner.by_key.remove(&key)
            {
                let weight = head_weight(&key.0, &key.1, &old);
                inner.head_bytes = inner.head_bytes.saturating_sub(weight);
            }
            inner.drop_devices_listing(id);
        }
    }

    /// Drops every head and every device's serials (after deleting a template, whose passes
    /// and registrations go by cascade).
    pub fn forget_all(&self) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.clear_heads();
        inner.clear_serials();
    }

    /// The passes of `pass_type` that `device` is registered for, updated after `since`,
    /// oldest tag first, at most `limit` (as the database query answers); or the generation
    /// to hand to [`PassHeads::put_serials`] after reading them from the database.
    pub fn serials_since(
        &self,
        device: &str,
        pass_type: &str,
        since: i64,
        limit: usize,
    ) -> Result<Vec<(String, i64)>, u64> {
        let inner = self.lock();
        let Some(passes) = inner.serials.get(device).and_then(|types| types.get(pass_type)) else {
            return Err(inner.generation);
        };
        let mut rows: Vec<(String, i64)> = passes
            .iter()
            .filter(|p| p.update_tag > since)
            .map(|p| (p.serial_number.clone(), p.update_tag))
            .collect();
        rows.sort_by_key(|(_, tag)| *tag);
        rows.truncate(limit);
        Ok(rows)
    }

    /// Caches every pass of `pass_type` that `device` is registered for, read from the
    /// database, unless a drop happened since `generation`, there are too many, or there are
    /// none (an unknown device or pass type must take no room).
    pub fn put_serials(&self, generation: u64, device: &str, pass_type: &str, passes: Vec<RegisteredPass>) {
        if passes.is_empty() || passes.len() > MAX_SERIALS_PER_ENTRY {
            return;
        }
        let mut inner = self.lock();
        if inner.generation != generation {
            return;
        }
        let weight = serials_weight(device, pass_type, &passes);
        if inner.serial_bytes + weight > SERIAL_BYTES {
            inner.clear_serials();
        }
        inner.serial_bytes += weight;
        for p in &passes {
            let devices = inner.devices_by_pass.entry(p.pass_id.clone()).or_default();
            if !devices.iter().any(|d| d == device) {
                devices.push(device.to_string());
            }
        }
        let replaced = inner
            .serials
            .entry(device.to_string())
            .or_default()
            .insert(pass_type.to_string(), passes);
        if let Some(replaced) = replaced {
            let old = serials_weight(device, pass_type, &replaced);
            inner.serial_bytes = inner.serial_bytes.saturating_sub(old);
        }
    }

    /// Drops the cached serials of these devices (call after writing their registrations).
    pub fn forget_devices<'a>(&self, devices: impl IntoIterator<Item = &'a str>) {
        let mut inner = self.lock();
        inner.generation += 1;
        for device in devices {
            inner.remove_device(device);
        }
    }

    /// Drops every device's cached serials (after registrations were deleted by push token).
    pub fn forget_all_serials(&self) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.clear_serials();
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

    fn registered(id: &str, serial: &str, update_tag: i64) -> RegisteredPass {
        RegisteredPass {
            pass_id: id.into(),
            serial_number: serial.into(),
            update_tag,
        }
    }

    #[test]
    fn never_caches_serials_read_before_a_write_they_raced() {
        let heads = PassHeads::default();
        let generation = heads.serials_since("dev", "type", 0, 10).unwrap_err();
        // A registration of the device is written while the reader is in the database.
        heads.forget_devices(["dev"]);
        heads.put_serials(generation, "dev", "type", vec![]);
        assert!(heads.serials_since("dev", "type", 0, 10).is_err());

        // Same when a pass the reader read is updated meanwhile.
        let generation = heads.serials_since("dev", "type", 0, 10).unwrap_err();
        heads.forget(["p1"]);
        heads.put_serials(generation, "dev", "type", vec![registered("p1", "1", 5)]);
        assert!(heads.serials_since("dev", "type", 0, 10).is_err());
    }

    #[test]
    fn answers_serials_like_the_query_and_drops_them_on_every_kind_of_write() {
        let heads = PassHeads::default();
        let fill = |heads: &PassHeads| {
            let generation = heads.serials_since("dev", "type", 0, 10).unwrap_err();
            heads.put_serials(
                generation,
                "dev",
                "type",
                vec![registered("p1", "1", 9), registered("p2", "2", 4)],
            );
        };
        fill(&heads);
        assert_eq!(
            heads.serials_since("dev", "type", 0, 10).unwrap(),
            vec![("2".to_string(), 4), ("1".to_string(), 9)]
        );
        assert_eq!(
            heads.serials_since("dev", "type", 4, 10).unwrap(),
            vec![("1".to_string(), 9)]
        );
        assert_eq!(
            heads.serials_since("dev", "type", 0, 1).unwrap(),
            vec![("2".to_string(), 4)]
        );
        assert!(heads.serials_since("dev", "type", 9, 10).unwrap().is_empty());
        assert!(heads.serials_since("dev", "other", 0, 10).is_err());

        heads.forget(["p2"]);
        assert!(heads.serials_since("dev", "type", 0, 10).is_err());
        fill(&heads);
        heads.forget_devices(["dev"]);
        assert!(heads.serials_since("dev", "type", 0, 10).is_err());
        fill(&heads);
        heads.forget_all_serials();
        assert!(heads.serials_since("dev", "type", 0, 10).is_err());
        fill(&heads);
        heads.forget_all();
        assert!(heads.serials_since("dev", "type", 0, 10).is_err());
        // Unrelated writes leave it.
        fill(&heads);
        heads.forget(["p3"]);
        heads.forget_devices(["dev-2"]);
        assert!(heads.serials_since("dev", "type", 0, 10).is_ok());
        // Drops keep the count of cached bytes exact.
        assert!(heads.lock().serial_bytes > 0);
        heads.forget_devices(["dev"]);
        assert_eq!(heads.lock().serial_bytes, 0);
    }

    #[test]
    fn keeps_nothing_for_a_device_or_pass_type_without_passes() {
        let heads = PassHeads::default();
        for i in 0..1000 {
            let pass_type = format!("pass.unknown.{i}");
            let generation = heads.serials_since("dev", &pass_type, 0, 10).unwrap_err();
            heads.put_serials(generation, "dev", &pass_type, vec![]);
        }
        let inner = heads.lock();
        assert!(inner.serials.is_empty());
        assert_eq!(inner.serial_bytes, 0);
    }

    #[test]
    fn never_holds_more_bytes_than_its_budget() {
        let heads = PassHeads::default();
        let long = "s".repeat(1000);
        for i in 0..(HEAD_BYTES / 2000 + 100) {
            let generation = heads.get("type", &format!("{long}{i}")).unwrap_err();
            heads.put(
                generation,
                "type",
                &format!("{long}{i}"),
                &head(&format!("p{i}"), 1),
            );
            assert!(heads.lock().head_bytes <= HEAD_BYTES);
        }
        for i in 0..(SERIAL_BYTES / 2000 + 100) {
            let device = format!("{long}{i}");
            let generation = heads.serials_since(&device, "type", 0, 10).unwrap_err();
            heads.put_serials(
                generation,
                &device,
                "type",
                vec![registered(&format!("p{i}"), "1", 1)],
            );
            assert!(heads.lock().serial_bytes <= SERIAL_BYTES);
        }
    }
}
