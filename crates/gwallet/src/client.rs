//! The walletobjects v1 REST client: insert, update, patch and get classes and objects.

use std::fmt;
use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use crate::outcome::GoogleError;
use crate::token::{TokenError, TokenSource, describe};
use crate::{Error, GiveUpReason, Outcome, PassKind, RetryReason, ServiceAccount};

/// Google's API host (`PASSMINT_GOOGLE_API_URL` overrides it).
pub const DEFAULT_API_URL: &str = "https://walletobjects.googleapis.com";

/// Where and how to reach Google.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The API's base URL, without `/walletobjects/v1` (default [`DEFAULT_API_URL`]).
    pub api_url: String,
    /// Where to get tokens; `None` is the key's `token_uri`.
    pub token_url: Option<String>,
    /// Per-request timeout, connecting included (default 30 s).
    pub timeout: Duration,
    /// Extra PEM root certificates to trust (a TLS proxy or a local test server).
    pub extra_roots_pem: Option<Vec<u8>>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            api_url: DEFAULT_API_URL.to_owned(),
            token_url: None,
            timeout: Duration::from_secs(30),
            extra_roots_pem: None,
        }
    }
}

impl Settings {
    /// The configured URLs that are plain `http://`: allowed (tests, a local proxy), but the
    /// server should say so in a warning, since tokens and passes then travel unencrypted.
    #[must_use]
    pub fn plain_http_urls(&self) -> Vec<&str> {
        std::iter::once(self.api_url.as_str())
            .chain(self.token_url.as_deref())
            .filter(|u| u.starts_with("http://"))
            .collect()
    }
}

/// What a GET found.
#[derive(Debug, Clone, PartialEq)]
pub enum Fetched {
    /// The resource as Google has it.
    Found(Value),
    /// 404.
    Missing,
    /// Anything else, mapped as for a write.
    Failed(Outcome),
}

/// A client for one issuer's service account. Cheap to share (`Arc` it); calls may run
/// concurrently and share one cached token.
pub struct Client {
    http: reqwest::Client,
    api: String,
    tokens: TokenSource,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("api", &self.api)
            .field("tokens", &self.tokens)
            .finish_non_exhaustive()
    }
}

/// One answer, read whole.
struct Answer {
    status: u16,
    retry_after: Option<String>,
    body: Vec<u8>,
}

impl Answer {
    fn outcome(&self) -> Outcome {
        Outcome::from_response(self.status, self.retry_after.as_deref(), &self.body)
    }

    /// A 409 that means "already exists" (not a concurrent write that aborted).
    fn already_exists(&self) -> bool {
        self.status == 409 && GoogleError::parse(&self.body).status != "ABORTED"
    }
}

fn check_url(url: &str) -> Result<(), Error> {
    let parsed = reqwest::Url::parse(url).map_err(|e| Error::InvalidUrl {
        url: url.to_owned(),
        problem: e.to_string(),
    })?;
    if !matches!(parsed.scheme(), "https" | "http") || parsed.host_str().is_none() {
        return Err(Error::InvalidUrl {
            url: url.to_owned(),
            problem: "must be an http:// or https:// URL with a host".into(),
        });
    }
    Ok(())
}

/// Percent-encodes a resource id for a path segment (ids passmint makes never need it; ids read
/// from elsewhere might).
fn segment(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Client {
    /// A client writing with `account` as configured in `settings`.
    ///
    /// # Errors
    /// [`Error::InvalidUrl`] for an unusable URL, [`Error::ExtraRoots`] for unreadable roots,
    /// [`Error::Http`] if the HTTP client cannot be built.
    pub fn new(account: ServiceAccount, settings: &Settings) -> Result<Self, Error> {
        check_url(&settings.api_url)?;
        if let Some(url) = &settings.token_url {
            check_url(url)?;
        }
        check_url(account.token_uri())?;
        for url in settings.plain_http_urls() {
            tracing::warn!(%url, "Google Wallet URL is plain http: tokens and passes travel unencrypted");
        }
        let mut builder = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .user_agent(concat!("passmint-gwallet/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = &settings.extra_roots_pem {
            let roots =
                reqwest::Certificate::from_pem_bundle(pem).map_err(|e| Error::ExtraRoots(e.to_string()))?;
            if roots.is_empty() {
                return Err(Error::ExtraRoots("no certificate in the PEM".into()));
            }
            for root in roots {
                builder = builder.add_root_certificate(root);
            }
        }
        let http = builder.build().map_err(|e| Error::Http(describe(&e)))?;
        let tokens = TokenSource::new(http.clone(), account, settings.token_url.clone());
        Ok(Self {
            http,
            api: format!("{}/walletobjects/v1", settings.api_url.trim_end_matches('/')),
            tokens,
        })
    }

    /// The token source (to see how many tokens were fetched, or to share it).
    #[must_use]
    pub fn tokens(&self) -> &TokenSource {
        &self.tokens
    }

    /// Writes a class: insert, and on `409` (it exists) update. For a class that is probably new.
    pub async fn insert_class(&self, kind: PassKind, class: &Value) -> Outcome {
        self.insert_first(kind.class_resource(), class, false).await
    }

    /// Writes a class: update, and on `404` (it does not exist) insert. For a class that probably
    /// exists (a template replaced).
    pub async fn update_class(&self, kind: PassKind, class: &Value) -> Outcome {
        self.update_first(kind.class_resource(), class, false).await
    }

    /// Writes an object: insert, and on `409` update. A `404` means its class is missing
    /// ([`RetryReason::ClassNotFound`]).
    pub async fn insert_object(&self, kind: PassKind, object: &Value) -> Outcome {
        self.insert_first(kind.object_resource(), object, true).await
    }

    /// Writes an object: update, and on `404` insert. For every pass change (PATCH, rollout,
    /// void): the object usually exists already.
    pub async fn update_object(&self, kind: PassKind, object: &Value) -> Outcome {
        self.update_first(kind.object_resource(), object, true).await
    }

    /// Patches an object: only the members of `patch` change (for example
    /// `{"state": "INACTIVE"}`). A missing object is [`GiveUpReason::NotFound`].
    pub async fn patch_object(&self, kind: PassKind, id: &str, patch: &Value) -> Outcome {
        let url = self.item_url(kind.object_resource(), id);
        match self.call(Method::PATCH, &url, Some(patch)).await {
            Ok(answer) => answer.outcome(),
            Err(outcome) => outcome,
        }
    }

    /// Reads a class.
    pub async fn get_class(&self, kind: PassKind, id: &str) -> Fetched {
        self.get(kind.class_resource(), id).await
    }

    /// Reads an object.
    pub async fn get_object(&self, kind: PassKind, id: &str) -> Fetched {
        self.get(kind.object_resource(), id).await
    }

    async fn get(&self, resource: &str, id: &str) -> Fetched {
        let url = self.item_url(resource, id);
        match self.call(Method::GET, &url, None).await {
            Ok(answer) if answer.status == 200 => match serde_json::from_slice(&answer.body) {
                Ok(value) => Fetched::Found(value),
                Err(e) => Fetched::Failed(Outcome::Retry {
                    reason: RetryReason::Connection(format!("unreadable JSON from Google: {e}")),
                    after: None,
                }),
            },
            Ok(answer) if answer.status == 404 => Fetched::Missing,
            Ok(answer) => Fetched::Failed(answer.outcome()),
            Err(outcome) => Fetched::Failed(outcome),
        }
    }

    fn collection_url(&self, resource: &str) -> String {
        format!("{}/{resource}", self.api)
    }

    fn item_url(&self, resource: &str, id: &str) -> String {
        format!("{}/{resource}/{}", self.api, segment(id))
    }

    fn id_of(body: &Value) -> Result<&str, Outcome> {
        body.get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| Outcome::GiveUp {
                reason: GiveUpReason::BadRequest,
                message: "the resource has no \"id\"".into(),
            })
    }

    async fn insert_first(&self, resource: &str, body: &Value, is_object: bool) -> Outcome {
        let id = match Self::id_of(body) {
            Ok(id) => id,
            Err(outcome) => return outcome,
        };
        let answer = match self
            .call(Method::POST, &self.collection_url(resource), Some(body))
            .await
        {
            Ok(answer) => answer,
            Err(outcome) => return outcome,
        };
        if answer.already_exists() {
            return match self
                .call(Method::PUT, &self.item_url(resource, id), Some(body))
                .await
            {
                Ok(answer) => answer.outcome(),
                Err(outcome) => outcome,
            };
        }
        Self::after_insert(&answer, is_object)
    }

    async fn update_first(&self, resource: &str, body: &Value, is_object: bool) -> Outcome {
        let id = match Self::id_of(body) {
            Ok(id) => id,
            Err(outcome) => return outcome,
        };
        let item = self.item_url(resource, id);
        let answer = match self.call(Method::PUT, &item, Some(body)).await {
            Ok(answer) => answer,
            Err(outcome) => return outcome,
        };
        if answer.status != 404 {
            return answer.outcome();
        }
        let answer = match self
            .call(Method::POST, &self.collection_url(resource), Some(body))
            .await
        {
            Ok(answer) => answer,
            Err(outcome) => return outcome,
        };
        if answer.already_exists() {
            // Someone inserted it between our update and insert: update once more.
            return match self.call(Method::PUT, &item, Some(body)).await {
                Ok(answer) => answer.outcome(),
                Err(outcome) => outcome,
            };
        }
        Self::after_insert(&answer, is_object)
    }

    fn after_insert(answer: &Answer, is_object: bool) -> Outcome {
        if is_object && answer.status == 404 {
            // Inserting an object whose class Google doesn't know.
            return Outcome::Retry {
                reason: RetryReason::ClassNotFound,
                after: None,
            };
        }
        answer.outcome()
    }

    /// One request with a token; on a 401 (Google may revoke a token before it expires) one more
    /// try with a freshly fetched token.
    async fn call(&self, method: Method, url: &str, body: Option<&Value>) -> Result<Answer, Outcome> {
        let token = self.tokens.token().await.map_err(token_outcome)?;
        let answer = self.send(method.clone(), url, body, token.as_str()).await?;
        if answer.status != 401 {
            return Ok(answer);
        }
        self.tokens.invalidate(&token).await;
        let token = self.tokens.token().await.map_err(token_outcome)?;
        self.send(method, url, body, token.as_str()).await
    }

    async fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
        token: &str,
    ) -> Result<Answer, Outcome> {
        let mut request = self.http.request(method, url).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(transport_outcome)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response.bytes().await.map_err(transport_outcome)?.to_vec();
        Ok(Answer {
            status,
            retry_after,
            body,
        })
    }
}

fn token_outcome(error: TokenError) -> Outcome {
    match error {
        TokenError::Unavailable(why) => Outcome::Retry {
            reason: RetryReason::TokenUnavailable(why),
            after: None,
        },
        refused @ TokenError::Refused { .. } => Outcome::GiveUp {
            reason: GiveUpReason::CredentialsRefused,
            message: refused.to_string(),
        },
    }
}

fn transport_outcome(error: reqwest::Error) -> Outcome {
    let reason = if error.is_timeout() {
        RetryReason::Timeout
    } else {
        RetryReason::Connection(describe(&error))
    };
    Outcome::Retry { reason, after: None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_percent_encoded_in_paths_only_when_needed() {
        assert_eq!(segment("3388.0190f3a2_x-y"), "3388.0190f3a2_x-y");
        assert_eq!(segment("a/b c"), "a%2Fb%20c");
    }

    #[test]
    fn plain_http_urls_are_listed_for_a_warning() {
        let settings = Settings {
            api_url: "http://127.0.0.1:9".into(),
            token_url: Some("https://oauth2.googleapis.com/token".into()),
            ..Settings::default()
        };
        assert_eq!(settings.plain_http_urls(), ["http://127.0.0.1:9"]);
    }
}
