//! OAuth 2 access tokens for the service account (JWT-bearer grant, RFC 7523), cached.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use serde_json::json;
use tokio::sync::Mutex;

use crate::ServiceAccount;

/// The one scope the walletobjects API needs.
pub const WALLET_SCOPE: &str = "https://www.googleapis.com/auth/wallet_object.issuer";

/// The grant type of a signed-assertion token request.
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// Renew a token this long before Google says it expires, so a request never carries one that
/// expires on the way.
const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// An assertion is valid for at most an hour (Google's limit).
const ASSERTION_LIFETIME: u64 = 3600;

/// A bearer token for the walletobjects API. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken(Arc<str>);

impl AccessToken {
    /// The token text, for an `Authorization: Bearer` header.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken(<redacted>)")
    }
}

/// Why no token could be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The token endpoint did not answer, or answered 429/5xx: try again later.
    #[error("token endpoint unavailable: {0}")]
    Unavailable(String),
    /// The token endpoint refused the assertion (`invalid_grant`, `invalid_client`, …): the key is
    /// wrong, disabled or deleted, or the clock is far off. Retrying will not help.
    #[error("token endpoint refused the service account ({status} {error}: {description})")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// OAuth's `error` code.
        error: String,
        /// OAuth's `error_description`.
        description: String,
    },
}

/// Gets and caches access tokens for one service account.
///
/// A token is reused until five minutes before it expires. Only one refresh runs at a time: callers
/// arriving while a token is being fetched wait for it rather than fetching their own, so a burst
/// of requests on a cold source costs one token request.
pub struct TokenSource {
    http: reqwest::Client,
    account: ServiceAccount,
    token_url: String,
    current: Mutex<Option<(AccessToken, Instant)>>,
    fetches: AtomicU64,
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSource")
            .field("account", &self.account)
            .field("token_url", &self.token_url)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

#[derive(Deserialize, Default)]
struct OAuthError {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
}

impl TokenSource {
    /// A token source posting to `token_url` (`PASSMINT_GOOGLE_TOKEN_URL`), or to the key's
    /// `token_uri` when `None`.
    #[must_use]
    pub fn new(http: reqwest::Client, account: ServiceAccount, token_url: Option<String>) -> Self {
        let token_url = token_url.unwrap_or_else(|| account.token_uri().to_owned());
        Self {
            http,
            account,
            token_url,
            current: Mutex::new(None),
            fetches: AtomicU64::new(0),
        }
    }

    /// The service account.
    #[must_use]
    pub fn account(&self) -> &ServiceAccount {
        &self.account
    }

    /// How many tokens have been fetched so far (for metrics and tests).
    #[must_use]
    pub fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// A valid token: the cached one, or a new one.
    ///
    /// # Errors
    /// [`TokenError`] when the token endpoint gives none.
    pub async fn token(&self) -> Result<AccessToken, TokenError> {
        let mut current = self.current.lock().await;
        if let Some((token, refresh_at)) = current.as_ref()
            && Instant::now() < *refresh_at
        {
            return Ok(token.clone());
        }
        let (token, lifetime) = self.fetch().await?;
        let refresh_at = Instant::now() + lifetime.saturating_sub(REFRESH_MARGIN);
        *current = Some((token.clone(), refresh_at));
        Ok(token)
    }

    /// Forgets `rejected` after the API answered 401 to it, so the next [`Self::token`] fetches a
    /// new one. A token another caller already replaced is left alone.
    pub async fn invalidate(&self, rejected: &AccessToken) {
        let mut current = self.current.lock().await;
        if current.as_ref().is_some_and(|(token, _)| token == rejected) {
            *current = None;
        }
    }

    fn assertion(&self) -> Result<String, TokenError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|_| TokenError::Unavailable("the system clock is before 1970".into()))?
            .as_secs();
        let claims = json!({
            "iss": self.account.client_email(),
            "scope": WALLET_SCOPE,
            // Google checks the audience against its own token URI, also when the request goes
            // through a proxy at another URL.
            "aud": self.account.token_uri(),
            "iat": now,
            "exp": now + ASSERTION_LIFETIME,
        });
        self.account
            .sign_jwt(&claims)
            .map_err(|e| TokenError::Unavailable(e.to_string()))
    }

    async fn fetch(&self) -> Result<(AccessToken, Duration), TokenError> {
        let assertion = self.assertion()?;
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let response = self
            .http
            .post(&self.token_url)
            .form(&[("grant_type", JWT_BEARER), ("assertion", assertion.as_str())])
            .send()
            .await
            .map_err(|e| TokenError::Unavailable(describe(&e)))?;
        let status = response.status().as_u16();
        let body = response
            .bytes()
            .await
            .map_err(|e| TokenError::Unavailable(describe(&e)))?;
        if status == 200 {
            let parsed: TokenResponse = serde_json::from_slice(&body)
                .map_err(|e| TokenError::Unavailable(format!("unreadable token response: {e}")))?;
            let lifetime = Duration::from_secs(parsed.expires_in.unwrap_or(3600));
            return Ok((AccessToken(parsed.access_token.into()), lifetime));
        }
        let error: OAuthError = serde_json::from_slice(&body).unwrap_or_default();
        if status == 429 || status >= 500 {
            return Err(TokenError::Unavailable(format!("HTTP {status} {}", error.error)));
        }
        Err(TokenError::Refused {
            status,
            error: error.error,
            description: error.error_description,
        })
    }
}

/// A reqwest error with its causes (reqwest's own text is often just "error sending request").
pub(crate) fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
