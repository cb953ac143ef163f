//! Templates: created, listed in creation order (by `seq`), replaced, deleted with everything
//! issued from them (foreign keys cascade to passes, registrations and queued pushes).
use sqlx::query::QueryAs;

use super::{Backend, NewTemplate, Store, StoreError, TemplateMaterial, TemplateRecord, now_millis, on_pool};

/// Advisory lock key serialising template inserts on PostgreSQL ("pmtmpl" in ASCII).
const TEMPLATE_INSERT_LOCK: i64 = 0x706d_746d_706c;

/// Binds the 11 parameters shared by insert and replace: id, fields, blobs, expiry, now.
fn bind_template<'q, DB, O>(
    query: QueryAs<'q, DB, O, <DB as sqlx::Database>::Arguments>,
    t: &'q NewTemplate,
    now: i64,
) -> QueryAs<'q, DB, O, <DB as sqlx::Database>::Arguments>
where
    DB: sqlx::Database,
    String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Vec<u8>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    query
        .bind(&t.id)
        .bind(&t.name)
        .bind(&t.file_name)
        .bind(&t.team_identifier)
        .bind(&t.pass_type_identifier)
        .bind(&t.template_zip)
        .bind(&t.signer_cert_der)
        .bind(&t.wwdr_der)
        .bind(&t.signer_key_sealed)
        .bind(t.certificate_expires_at)
        .bind(now)
}

const RECORD_COLUMNS: &str = "seq, id, name, file_name, team_identifier, pass_type_identifier, \
     certificate_expires_at, revision, created_at, updated_at";

impl Store {
    /// Stores a new template; its `seq` orders it after every template created before.
    pub async fn insert_template(&self, t: &NewTemplate) -> Result<TemplateRecord, StoreError> {
        let now = now_millis();
        let sql = format!(
            "INSERT INTO templates (id, name, file_name, team_identifier, pass_type_identifier, \
             template_zip, signer_cert_der, wwdr_der, signer_key_sealed, certificate_expires_at, \
             revision, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 1, $11, $11) RETURNING {RECORD_COLUMNS}"
        );
        let record = match &self.backend {
            // SQLite has one writer at a time, so `seq` values become visible in order.
            Backend::Sqlite(pool) => {
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                let record = bind_template(
                    sqlx::query_as::<_, TemplateRecord>(sqlx::AssertSqlSafe(sql)),
                    t,
                    now,
                )
                .fetch_one(&mut *tx)
                .await?;
                super::google::enqueue_class!(self.google_sync, &mut *tx, &t.id, now);
                tx.commit().await?;
                record
            }
            // PostgreSQL hands out identity values before commit, so two concurrent inserts
            // could become visible out of order and a reader holding a cursor past the later
            // one would never see the earlier. Serialising template inserts (rare) with a
            // transaction-scoped advisory lock makes commit order equal `seq` order.
            Backend::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(TEMPLATE_INSERT_LOCK)
                    .execute(&mut *tx)
                    .await?;
                let record = bind_template(
                    sqlx::query_as::<_, TemplateRecord>(sqlx::AssertSqlSafe(sql)),
                    t,
                    now,
                )
                .fetch_one(&mut *tx)
                .await?;
                super::google::enqueue_class!(self.google_sync, &mut *tx, &t.id, now);
                tx.commit().await?;
                record
            }
        };
        self.google_enqueued();
        Ok(record)
    }

    /// Replaces every stored field of template `t.id`, bumps its revision and starts its
    /// rollout (see [`Store::replace_template_with_rollout`]); `None` if there is no such
    /// template, a conflict if it has passes and its identifiers would change.
    pub async fn replace_template(&self, t: &NewTemplate) -> Result<Option<TemplateRecord>, StoreError> {
        let rollout_id = uuid::Uuid::new_v4().to_string();
        match self.replace_template_with_rollout(t, &rollout_id, "").await? {
            super::ReplaceOutcome::Replaced { template, .. } => Ok(Some(*template)),
            super::ReplaceOutcome::Missing => Ok(None),
            super::ReplaceOutcome::IdentifiersChanged(fields) => Err(StoreError::Conflict(format!(
                "the template has passes; {} cannot change",
                fields.join(", ")
            ))),
        }
    }

    pub async fn get_template(&self, id: &str) -> Result<Option<TemplateRecord>, StoreError> {
        let sql = format!("SELECT {RECORD_COLUMNS} FROM templates WHERE id = $1");
        let record = on_pool!(self, pool => {
            sqlx::query_as::<_, TemplateRecord>(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .fetch_optional(pool)
                .await
        })?;
        Ok(record)
    }

    /// The .zip and signing material of a template (the key still sealed).
    pub async fn get_template_material(&self, id: &str) -> Result<Option<TemplateMaterial>, StoreError> {
        let sql = "SELECT id, revision, file_name, team_identifier, pass_type_identifier, template_zip, \
                   signer_cert_der, wwdr_der, signer_key_sealed FROM templates WHERE id = $1";
        let material = on_pool!(self, pool => {
            sqlx::query_as::<_, TemplateMaterial>(sql)
                .bind(id)
                .fetch_optional(pool)
                .await
        })?;
        Ok(material)
    }

    /// Up to `limit` templates created after position `after_seq` (all when `None`), oldest
    /// first.
    pub async fn list_templates(
        &self,
        after_seq: Option<i64>,
        limit: i64,
    ) -> Result<Vec<TemplateRecord>, StoreError> {
        let sql = format!("SELECT {RECORD_COLUMNS} FROM templates WHERE seq > $1 ORDER BY seq ASC LIMIT $2");
        let records = on_pool!(self, pool => {
            sqlx::query_as::<_, TemplateRecord>(sqlx::AssertSqlSafe(sql))
                .bind(after_seq.unwrap_or(0))
                .bind(limit)
                .fetch_all(pool)
                .await
        })?;
        Ok(records)
    }

    /// Deletes a template and (by cascade) its passes, their registrations and queued pushes;
    /// `false` if there was no such template.
    pub async fn delete_template(&self, id: &str) -> Result<bool, StoreError> {
        let result = on_pool!(self, pool => {
            sqlx::query("DELETE FROM templates WHERE id = $1")
                .bind(id)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        // Its passes went by cascade: no cached head may authorise them any more.
        self.forget_all_pass_heads();
        Ok(result > 0)
    }

    pub async fn count_templates(&self) -> Result<i64, StoreError> {
        let count: i64 = on_pool!(self, pool => {
            sqlx::query_scalar("SELECT COUNT(*) FROM templates").fetch_one(pool).await
        })?;
        Ok(count)
    }
}
