//! Device registrations (Apple's PassKit web service): one row per (device, pass) with the
//! device's push token.
use std::collections::{HashMap, HashSet};

use super::pass_heads::{MAX_SERIALS_PER_ENTRY, RegisteredPass};
use super::{Backend, Store, StoreError, now_millis, on_pool};

/// How a registration request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegisterOutcome {
    /// A new registration (Apple: 201).
    Created,
    /// The device was already registered; its push token is refreshed (Apple: 200).
    Refreshed,
    /// The pass already has `cap` devices; nothing stored.
    TooMany,
    /// The pass was deleted before the registration was written (e.g. while its batch
    /// waited); nothing stored, and the other registrations of the batch are unaffected.
    PassGone,
}

impl Store {
    /// Registers `device` for pass `pass_id`, or refreshes its push token. At most `cap`
    /// devices per pass.
    ///
    /// One statement (its own transaction on both backends, so the common case costs one round
    /// trip): insert unless the pass already has `cap` devices, or on conflict refresh the
    /// token. `created_at = now` tells a new row from a refreshed one. Only when nothing was
    /// written (the pass is at its cap) does a second query tell a refresh of a device already
    /// registered (allowed) from a new device (refused). On PostgreSQL, concurrent first
    /// registrations of one pass may overshoot the cap by the number racing, which still
    /// bounds storage.
    pub async fn register_device(
        &self,
        device: &str,
        pass_id: &str,
        pass_type_identifier: &str,
        push_token: &str,
        cap: i64,
    ) -> Result<RegisterOutcome, StoreError> {
        let turn = self.write_turn().await;
        let outcome = self
            .write_registration(device, pass_id, pass_type_identifier, push_token, cap)
            .await;
        drop(turn);
        // Whatever the outcome (an error may come after a commit): the device's cached serials
        // may now lack this pass.
        self.pass_heads.forget_devices([device]);
        outcome
    }

    async fn write_registration(
        &self,
        device: &str,
        pass_id: &str,
        pass_type_identifier: &str,
        push_token: &str,
        cap: i64,
    ) -> Result<RegisterOutcome, StoreError> {
        let now = now_millis();
        let created_at: Option<i64> = on_pool!(self, pool => {
            sqlx::query_scalar(
                "INSERT INTO registrations (device_library_identifier, pass_id, \
                 pass_type_identifier, push_token, created_at, updated_at) \
                 SELECT $1, $2, $3, $4, $5, $5 \
                 WHERE (SELECT COUNT(*) FROM registrations WHERE pass_id = $2) < $6 \
                 AND EXISTS (SELECT 1 FROM passes WHERE id = $2) \
                 ON CONFLICT (device_library_identifier, pass_id) \
                 DO UPDATE SET push_token = excluded.push_token, updated_at = excluded.updated_at \
                 RETURNING created_at",
            )
            .bind(device)
            .bind(pass_id)
            .bind(pass_type_identifier)
            .bind(push_token)
            .bind(now)
            .bind(cap)
            .persistent(true)
            .fetch_optional(pool)
            .await
        })?;
        match created_at {
            Some(at) if at == now => Ok(RegisterOutcome::Created),
            Some(_) => Ok(RegisterOutcome::Refreshed),
            None => {
                let refreshed = on_pool!(self, pool => {
                    sqlx::query(
                        "UPDATE registrations SET push_token = $3, updated_at = $4 \
                         WHERE device_library_identifier = $1 AND pass_id = $2",
                    )
                    .bind(device)
                    .bind(pass_id)
                    .bind(push_token)
                    .bind(now)
                    .execute(pool)
                    .await
                    .map(|r| r.rows_affected())
                })?;
                if refreshed > 0 {
                    return Ok(RegisterOutcome::Refreshed);
                }
                let exists: bool = on_pool!(self, pool => {
                    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM passes WHERE id = $1)")
                        .bind(pass_id)
                        .fetch_one(pool)
                        .await
                })?;
                Ok(if exists {
                    RegisterOutcome::TooMany
                } else {
                    RegisterOutcome::PassGone
                })
            }
        }
    }

    /// Removes `device`'s registration for `pass_id`; `false` if there was none.
    pub async fn unregister_device(&self, device: &str, pass_id: &str) -> Result<bool, StoreError> {
        let turn = self.write_turn().await;
        let rows = on_pool!(self, pool => {
            sqlx::query(
                "DELETE FROM registrations WHERE device_library_identifier = $1 AND pass_id = $2",
            )
            .bind(device)
            .bind(pass_id)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        });
        drop(turn);
        self.pass_heads.forget_devices([device]);
        Ok(rows? > 0)
    }

    /// Serial numbers (with their tags) of the passes of `pass_type_identifier` that `device`
    /// is registered for and that were updated after tag `since` (all when `None`), oldest tag
    /// first. One index range on (device, pass type), then the pass by primary key.
    ///
    /// On SQLite, answered from the in-process cache of each device's registered passes (see
    /// `pass_heads.rs`), filled on a miss with all of them; PostgreSQL always queries.
    pub async fn serials_updated_since(
        &self,
        device: &str,
        pass_type_identifier: &str,
        since: Option<i64>,
        limit: i64,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let since = since.unwrap_or(i64::MIN);
        if let Backend::Sqlite(pool) = &self.backend {
            let limit_rows = usize::try_from(limit).unwrap_or(0);
            let generation =
                match self
                    .pass_heads
                    .serials_since(device, pass_type_identifier, since, limit_rows)
                {
                    Ok(rows) => return Ok(rows),
                    Err(generation) => generation,
                };
            // One more than the cache takes: a longer list is not cached.
            let fill_limit = i64::try_from(MAX_SERIALS_PER_ENTRY + 1).unwrap_or(i64::MAX);
            let passes = sqlx::query_as::<_, (String, String, i64)>(
                "SELECT p.id, p.serial_number, p.update_tag FROM registrations r \
                 JOIN passes p ON p.id = r.pass_id \
                 WHERE r.device_library_identifier = $1 AND r.pass_type_identifier = $2 \
                 ORDER BY p.update_tag LIMIT $3",
            )
            .bind(device)
            .bind(pass_type_identifier)
            .bind(fill_limit)
            .persistent(true)
            .fetch_all(pool)
            .await?;
            if passes.len() <= MAX_SERIALS_PER_ENTRY {
                let passes: Vec<RegisteredPass> = passes
                    .into_iter()
                    .map(|(pass_id, serial_number, update_tag)| RegisteredPass {
                        pass_id,
                        serial_number,
                        update_tag,
                    })
                    .collect();
                let rows = passes
                    .iter()
                    .filter(|p| p.update_tag > since)
                    .take(limit_rows)
                    .map(|p| (p.serial_number.clone(), p.update_tag))
                    .collect();
                self.pass_heads
                    .put_serials(generation, device, pass_type_identifier, passes);
                return Ok(rows);
            }
        }
        let rows = on_pool!(self, pool => {
            sqlx::query_as::<_, (String, i64)>(
                "SELECT p.serial_number, p.update_tag FROM registrations r \
                 JOIN passes p ON p.id = r.pass_id \
                 WHERE r.device_library_identifier = $1 AND r.pass_type_identifier = $2 \
                 AND p.update_tag > $3 ORDER BY p.update_tag LIMIT $4",
            )
            .bind(device)
            .bind(pass_type_identifier)
            .bind(since)
            .bind(limit)
            .persistent(true)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows)
    }

    /// Push tokens registered for a pass (distinct).
    pub async fn push_tokens_for_pass(&self, pass_id: &str) -> Result<Vec<String>, StoreError> {
        let rows = on_pool!(self, pool => {
            sqlx::query_scalar::<_, String>(
                "SELECT DISTINCT push_token FROM registrations WHERE pass_id = $1 ORDER BY push_token",
            )
            .bind(pass_id)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows)
    }
}

/// One registration of a batch.
#[derive(Debug, Clone)]
pub struct NewRegistration {
    pub device: String,
    pub pass_id: String,
    pub pass_type_identifier: String,
    pub push_token: String,
}

impl Store {
    /// `now` (Unix ms) stamps the batch's rows; a row whose `created_at` is `now` was created
    /// by this batch, so the caller must give each batch a distinct, increasing `now`.
    ///
    /// Registers a batch of devices in one transaction (group commit: one lock hand-over and
    /// one WAL commit for many registrations), with the events `event_for` makes of each
    /// outcome, pruning events to `keep_events`. Same rules per registration as
    /// [`Store::register_device`].
    pub async fn register_devices(
        &self,
        batch: &[NewRegistration],
        cap: i64,
        event_for: impl Fn(usize, RegisterOutcome) -> Option<super::NewEvent> + Send + Sync,
        keep_events: i64,
        now: i64,
    ) -> Result<Vec<RegisterOutcome>, StoreError> {
        let turn = self.write_turn().await;
        let outcomes = self
            .write_registrations(batch, cap, event_for, keep_events, now)
            .await;
        drop(turn);
        // Whatever the outcome (an error may come after a commit).
        self.pass_heads
            .forget_devices(batch.iter().map(|r| r.device.as_str()));
        outcomes
    }

    async fn write_registrations(
        &self,
        batch: &[NewRegistration],
        cap: i64,
        event_for: impl Fn(usize, RegisterOutcome) -> Option<super::NewEvent> + Send + Sync,
        keep_events: i64,
        now: i64,
    ) -> Result<Vec<RegisterOutcome>, StoreError> {
        let outcomes = super::in_transaction!(self, tx => async {
            // The batch's distinct (device, pass) pairs, the last push token of each winning,
            // written in multi-row statements: one round trip per 200 registrations instead
            // of one each. The per-pass cap is checked per row against the rows stored before
            // the statement, so one batch can overshoot it by at most its own size.
            let mut unique: Vec<&NewRegistration> = Vec::new();
            let mut position: HashMap<(&str, &str), usize> = HashMap::new();
            for r in batch {
                match position.get(&(r.device.as_str(), r.pass_id.as_str())) {
                    Some(&k) => unique[k] = r,
                    None => {
                        position.insert((r.device.as_str(), r.pass_id.as_str()), unique.len());
                        unique.push(r);
                    }
                }
            }
            let mut written: HashMap<(String, String), i64> = HashMap::new();
            for chunk in unique.chunks(200) {
                let mut insert = sqlx::QueryBuilder::new(
                    "INSERT INTO registrations (device_library_identifier, pass_id, \
                     pass_type_identifier, push_token, created_at, updated_at) \
                     SELECT v.column1, v.column2, v.column3, v.column4, ",
                );
                insert.push_bind(now);
                insert.push(", ");
                insert.push_bind(now);
                insert.push(" FROM (");
                insert.push_values(chunk, |mut row, r: &&NewRegistration| {
                    row.push_bind(&r.device)
                        .push_bind(&r.pass_id)
                        .push_bind(&r.pass_type_identifier)
                        .push_bind(&r.push_token);
                });
                insert.push(
                    ") AS v WHERE EXISTS (SELECT 1 FROM passes p WHERE p.id = v.column2) \
                     AND (SELECT COUNT(*) FROM registrations x WHERE x.pass_id = v.column2) < ",
                );
                insert.push_bind(cap);
                insert.push(
                    " ON CONFLICT (device_library_identifier, pass_id) \
                     DO UPDATE SET push_token = excluded.push_token, updated_at = excluded.updated_at \
                     RETURNING device_library_identifier, pass_id, created_at",
                );
                let rows: Vec<(String, String, i64)> =
                    insert.build_query_as().fetch_all(&mut **tx).await?;
                written.extend(rows.into_iter().map(|(d, p, at)| ((d, p), at)));
            }
            let mut outcomes = Vec::with_capacity(batch.len());
            let mut events = Vec::new();
            let mut seen: HashSet<(&str, &str)> = HashSet::new();
            for (i, r) in batch.iter().enumerate() {
                let first = seen.insert((r.device.as_str(), r.pass_id.as_str()));
                let outcome = match written.get(&(r.device.clone(), r.pass_id.clone())) {
                    // A second request of the same device in this batch is a refresh.
                    Some(&at) if at == now && first => RegisterOutcome::Created,
                    Some(_) => RegisterOutcome::Refreshed,
                    None => {
                        // Nothing written: the pass is at its cap. A device already registered
                        // may still refresh its token.
                        let refreshed = sqlx::query(
                            "UPDATE registrations SET push_token = $3, updated_at = $4 \
                             WHERE device_library_identifier = $1 AND pass_id = $2",
                        )
                        .bind(&r.device)
                        .bind(&r.pass_id)
                        .bind(&r.push_token)
                        .bind(now)
                        .execute(&mut **tx)
                        .await?
                        .rows_affected();
                        if refreshed > 0 {
                            RegisterOutcome::Refreshed
                        } else {
                            // A pass deleted while the batch waited fails only its own
                            // registrations (no foreign-key error failing the whole batch).
                            let exists: bool = sqlx::query_scalar(
                                "SELECT EXISTS (SELECT 1 FROM passes WHERE id = $1)",
                            )
                            .bind(&r.pass_id)
                            .fetch_one(&mut **tx)
                            .await?;
                            if exists {
                                RegisterOutcome::TooMany
                            } else {
                                RegisterOutcome::PassGone
                            }
                        }
                    }
                };
                events.extend(event_for(i, outcome));
                outcomes.push(outcome);
            }
            super::events::append_events!(&mut **tx, &events, keep_events, self.device_limits);
            Ok::<_, StoreError>(outcomes)
        });
        Ok(outcomes)
    }
}
