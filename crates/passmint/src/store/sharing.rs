//! Share links and bundles (SPEC 9): a pass's current share token, bundles of passes with their
//! own tokens. Tokens are found by their SHA-256 (see `migrations/*/0009_sharing.sql`); the
//! callers hash, the store only compares bytes.
use std::collections::HashMap;

use super::passes::RECORD_COLUMNS;
use super::{PassRecord, Store, StoreError, in_transaction, now_millis, on_pool};

/// A stored bundle, with the passes still in it (in the order given at creation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleRecord {
    pub id: String,
    pub token: String,
    pub pass_ids: Vec<String>,
    pub created_at: i64,
}

/// What creating a bundle did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewBundleOutcome {
    Created(BundleRecord),
    /// No pass has this id (it went away, or never was).
    UnknownPass {
        index: usize,
        id: String,
    },
}

impl Store {
    /// The share tokens of `pass_ids` (by pass id): each pass without one gets `fresh()`'s
    /// token (with `hash` of it) first. A pass that doesn't exist (any more) is left out.
    pub async fn share_tokens(
        &self,
        pass_ids: &[&str],
        fresh: impl Fn() -> (String, [u8; 32]) + Send + Sync,
    ) -> Result<HashMap<String, String>, StoreError> {
        if pass_ids.is_empty() {
            return Ok(HashMap::new());
        }
        let mut found = self.existing_share_tokens(pass_ids).await?;
        let missing: Vec<&str> = pass_ids
            .iter()
            .copied()
            .filter(|id| !found.contains_key(*id))
            .collect();
        if missing.is_empty() {
            return Ok(found);
        }
        let now = now_millis();
        let turn = self.write_turn().await;
        in_transaction!(self, tx => async {
            for id in &missing {
                let (token, hash) = fresh();
                // Two first readers race to create the link: the first insert wins, both
                // read the winner back below.
                sqlx::query(
                    "INSERT INTO share_links (pass_id, token, token_hash, created_at) \
                     SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM passes WHERE id = $1) \
                     ON CONFLICT (pass_id) DO NOTHING",
                )
                .bind(id)
                .bind(&token)
                .bind(&hash[..])
                .bind(now)
                .execute(&mut **tx)
                .await?;
            }
            Ok::<_, StoreError>(())
        });
        drop(turn);
        found.extend(self.existing_share_tokens(&missing).await?);
        Ok(found)
    }

    async fn existing_share_tokens(&self, pass_ids: &[&str]) -> Result<HashMap<String, String>, StoreError> {
        let mut found = HashMap::new();
        for chunk in pass_ids.chunks(500) {
            let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT pass_id, token FROM share_links WHERE pass_id IN ({})",
                placeholders.join(", ")
            );
            let rows: Vec<(String, String)> = on_pool!(self, pool => {
                let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()));
                for id in chunk {
                    query = query.bind(*id);
                }
                query.fetch_all(pool).await
            })?;
            found.extend(rows);
        }
        Ok(found)
    }

    /// Gives `pass_id` the share token `token` (hashed as `hash`), replacing any; `false` when
    /// there is no such pass.
    pub async fn replace_share_token(
        &self,
        pass_id: &str,
        token: &str,
        hash: &[u8; 32],
    ) -> Result<bool, StoreError> {
        let now = now_millis();
        let turn = self.write_turn().await;
        let done = on_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO share_links (pass_id, token, token_hash, created_at) \
                 SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM passes WHERE id = $1) \
                 ON CONFLICT (pass_id) DO UPDATE SET token = excluded.token, \
                 token_hash = excluded.token_hash, created_at = excluded.created_at",
            )
            .bind(pass_id)
            .bind(token)
            .bind(&hash[..])
            .bind(now)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        drop(turn);
        Ok(done > 0)
    }

    /// The pass whose current share token hashes to `hash`.
    pub async fn pass_by_share_hash(&self, hash: &[u8; 32]) -> Result<Option<PassRecord>, StoreError> {
        let sql = format!(
            "SELECT {RECORD_COLUMNS} FROM share_links s JOIN passes p ON p.id = s.pass_id \
             WHERE s.token_hash = $1"
        );
        let record = on_pool!(self, pool => {
            sqlx::query_as::<_, PassRecord>(sqlx::AssertSqlSafe(sql))
                .bind(&hash[..])
                .fetch_optional(pool)
                .await
        })?;
        Ok(record)
    }

    /// Stores a bundle of `pass_ids` (distinct, checked by the caller) in one transaction;
    /// nothing is stored when one of them names no pass.
    pub async fn insert_bundle(
        &self,
        id: &str,
        token: &str,
        hash: &[u8; 32],
        pass_ids: &[String],
    ) -> Result<NewBundleOutcome, StoreError> {
        let now = now_millis();
        let turn = self.write_turn().await;
        let outcome = in_transaction!(self, tx => async {
            sqlx::query("INSERT INTO bundles (id, token, token_hash, created_at) VALUES ($1, $2, $3, $4)")
                .bind(id)
                .bind(token)
                .bind(&hash[..])
                .bind(now)
                .execute(&mut **tx)
                .await?;
            for (index, pass_id) in pass_ids.iter().enumerate() {
                let added = sqlx::query(
                    "INSERT INTO bundle_passes (bundle_id, pass_id, position) \
                     SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM passes WHERE id = $2)",
                )
                .bind(id)
                .bind(pass_id)
                .bind(index as i64)
                .execute(&mut **tx)
                .await?;
                if added.rows_affected() == 0 {
                    // Nothing of the bundle may stay: the cascade removes the passes added.
                    sqlx::query("DELETE FROM bundles WHERE id = $1")
                        .bind(id)
                        .execute(&mut **tx)
                        .await?;
                    return Ok(NewBundleOutcome::UnknownPass {
                        index,
                        id: pass_id.clone(),
                    });
                }
            }
            Ok::<_, StoreError>(NewBundleOutcome::Created(BundleRecord {
                id: id.to_string(),
                token: token.to_string(),
                pass_ids: pass_ids.to_vec(),
                created_at: now,
            }))
        });
        drop(turn);
        Ok(outcome)
    }

    /// A bundle by id, with the passes still in it.
    pub async fn get_bundle(&self, id: &str) -> Result<Option<BundleRecord>, StoreError> {
        let row: Option<(String, String, i64)> = on_pool!(self, pool => {
            sqlx::query_as("SELECT id, token, created_at FROM bundles WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await
        })?;
        self.with_passes(row).await
    }

    /// The bundle whose token hashes to `hash`, with the passes still in it.
    pub async fn bundle_by_hash(&self, hash: &[u8; 32]) -> Result<Option<BundleRecord>, StoreError> {
        let row: Option<(String, String, i64)> = on_pool!(self, pool => {
            sqlx::query_as("SELECT id, token, created_at FROM bundles WHERE token_hash = $1")
                .bind(&hash[..])
                .fetch_optional(pool)
                .await
        })?;
        self.with_passes(row).await
    }

    async fn with_passes(
        &self,
        row: Option<(String, String, i64)>,
    ) -> Result<Option<BundleRecord>, StoreError> {
        let Some((id, token, created_at)) = row else {
            return Ok(None);
        };
        let pass_ids: Vec<String> = on_pool!(self, pool => {
            sqlx::query_scalar("SELECT pass_id FROM bundle_passes WHERE bundle_id = $1 ORDER BY position")
                .bind(&id)
                .fetch_all(pool)
                .await
        })?;
        Ok(Some(BundleRecord {
            id,
            token,
            pass_ids,
            created_at,
        }))
    }

    /// Deletes a bundle (not its passes); `false` if there was none.
    pub async fn delete_bundle(&self, id: &str) -> Result<bool, StoreError> {
        let turn = self.write_turn().await;
        let done = on_pool!(self, pool => {
            sqlx::query("DELETE FROM bundles WHERE id = $1")
                .bind(id)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        drop(turn);
        Ok(done > 0)
    }
}
