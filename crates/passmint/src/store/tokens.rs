//! Admin API tokens, stored as SHA-256 hashes. The tokens are 256-bit random values, so a fast
//! hash is enough: nothing can be guessed from it, and looking one up is an index probe.
use super::{Store, StoreError, now_millis, on_pool};

impl Store {
    pub async fn insert_api_token(
        &self,
        id: &str,
        token_hash: &[u8; 32],
        label: Option<&str>,
    ) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO api_tokens (id, token_hash, label, created_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(id)
            .bind(token_hash.as_slice())
            .bind(label)
            .bind(now_millis())
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// Whether a token with this hash exists.
    pub async fn api_token_exists(&self, token_hash: &[u8; 32]) -> Result<bool, StoreError> {
        let found: Option<String> = on_pool!(self, pool => {
            sqlx::query_scalar("SELECT id FROM api_tokens WHERE token_hash = $1")
                .bind(token_hash.as_slice())
                .fetch_optional(pool)
                .await
        })?;
        Ok(found.is_some())
    }
}
