//! One typed [`Settings`], built in layers: defaults, then an optional TOML file
//! (`--config FILE` / `PASSMINT_CONFIG`), then `PASSMINT_*` environment variables, then flags.
//!
//! Every layer is a [`Layer`] of optional values; later layers win field by field. The
//! environment is read through a lookup function, never from a global, so tests can build
//! settings without touching the process environment.
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// A value that must never be printed: `Debug` shows `<redacted>`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself; call only where it is used, never to log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Where the embedded default database lives inside the data dir.
pub const SQLITE_FILE: &str = "passmint.db";

/// The resolved configuration of one server.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; the URL can hold a password, so it is a secret.
    pub database_url: Secret,
    /// External base URL; `None` means `http://<bound address>`.
    pub public_url: Option<String>,
    pub admin_token: Option<Secret>,
    /// 32 bytes, base64; `None` means generated into the data dir.
    pub master_key: Option<Secret>,
    pub apns_url: String,
    pub apns_ca_file: Option<PathBuf>,
    pub max_template_bytes: u64,
    /// How many events are kept (the oldest are pruned).
    pub max_events: i64,
    /// How many timeline entries each pass keeps (the oldest are dropped).
    pub timeline_cap: i64,
    /// How many device-side records (device logs, failed device authentications, push
    /// outcomes) are kept, at most.
    pub max_device_records: i64,
    /// Bytes of device-side records kept, at most, all together.
    pub max_device_record_bytes: i64,
    /// Most connections open at once.
    pub max_connections: usize,
    /// How long a connection may take to send a request's headers.
    pub header_read_timeout: Duration,
    /// The longest a request may take, body included.
    pub request_timeout: Duration,
    /// A connection on which nothing moved for this long (no request in flight) is closed.
    pub idle_timeout: Duration,
    /// After SIGTERM/SIGINT, how long connections get to finish before they are cut off.
    pub shutdown_grace: Duration,
    /// Per-client-address limit of the public routes; `None` is `off`.
    pub public_rate_limit: Option<RateLimit>,
    /// Bytes of restored templates (prepared files + decrypted signer) kept in memory.
    pub template_cache_bytes: u64,
    /// Bytes of passes' signed files kept in memory, so re-downloads cost no signature.
    pub signed_cache_bytes: u64,
    /// `json` for JSON log lines, anything else for human-readable ones.
    pub log_format: String,
    /// How long a rollout claim holds without progress before another process takes it over.
    pub rollout_lease_seconds: u64,
    /// Passes a rollout re-renders per batch (and per transaction).
    pub rollout_batch: u64,
    /// Whether this process runs rollouts (`off`: it serves requests and leaves rollouts to
    /// the other processes on the same database).
    pub rollout_worker: bool,
    /// Webhook delivery (SPEC 10): how long a receiver has to answer.
    pub webhook_timeout_ms: u64,
    /// First retry delay of a failed delivery (doubling, with jitter, up to an hour).
    pub webhook_retry_base_ms: u64,
    /// How long a failing delivery is retried before it is given up.
    pub webhook_retry_for_seconds: u64,
    /// How often the certificate expiry sweep runs.
    pub webhook_sweep_interval_seconds: u64,
    /// Google Wallet (SPEC 13): `None` (off) unless both the issuer id and the key file are set.
    pub google: Option<GoogleSettings>,
}

/// Google Wallet's settings (SPEC 13); the key file is read when the server starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoogleSettings {
    /// `PASSMINT_GOOGLE_ISSUER_ID`.
    pub issuer_id: String,
    /// `PASSMINT_GOOGLE_SERVICE_ACCOUNT_FILE`: the service account's JSON key.
    pub service_account_file: PathBuf,
    /// `PASSMINT_GOOGLE_API_URL`.
    pub api_url: String,
    /// `PASSMINT_GOOGLE_TOKEN_URL`; `None` is the key's `token_uri`.
    pub token_url: Option<String>,
    /// `PASSMINT_GOOGLE_SAVE_URL`: links are `<save URL>/<JWT>`.
    pub save_url: String,
}

impl Settings {
    /// Settings for a server keeping everything in `data_dir`, with every other value at its
    /// default (used by tests and as the base layer).
    pub fn for_data_dir(data_dir: &Path) -> Self {
        Layer::default()
            .resolve(Some(data_dir.to_path_buf()))
            .expect("defaults are valid")
    }

    /// The database URL without its password, for messages.
    pub fn database_url_for_display(&self) -> String {
        redact_url(self.database_url.expose())
    }

    pub fn is_postgres(&self) -> bool {
        let url = self.database_url.expose();
        url.starts_with("postgres://") || url.starts_with("postgresql://")
    }
}

/// Replaces the password of a URL (`scheme://user:password@host`) with `***`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_string();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

/// One layer of configuration: every field optional.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layer {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<Secret>,
    pub public_url: Option<String>,
    pub admin_token: Option<Secret>,
    pub master_key: Option<Secret>,
    pub apns_url: Option<String>,
    pub apns_ca_file: Option<PathBuf>,
    pub max_template_bytes: Option<u64>,
    pub max_events: Option<i64>,
    pub timeline_cap: Option<i64>,
    pub max_device_logs: Option<i64>,
    pub max_device_records: Option<i64>,
    pub max_device_record_bytes: Option<u64>,
    pub max_connections: Option<u64>,
    pub header_read_timeout_seconds: Option<u64>,
    pub request_timeout_seconds: Option<u64>,
    pub idle_timeout_seconds: Option<u64>,
    pub shutdown_grace_seconds: Option<u64>,
    pub public_rate_limit: Option<String>,
    pub template_cache_bytes: Option<u64>,
    pub signed_cache_bytes: Option<u64>,
    pub log_format: Option<String>,
    pub rollout_lease_seconds: Option<u64>,
    pub rollout_batch: Option<u64>,
    pub rollout_worker: Option<String>,
    pub webhook_timeout_ms: Option<u64>,
    pub webhook_retry_base_ms: Option<u64>,
    pub webhook_retry_for_seconds: Option<u64>,
    pub webhook_sweep_interval_seconds: Option<u64>,
    pub google_issuer_id: Option<String>,
    pub google_service_account_file: Option<PathBuf>,
    pub google_api_url: Option<String>,
    pub google_token_url: Option<String>,
    pub google_save_url: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config file {path} is not valid: {message}")]
    Toml { path: PathBuf, message: String },
    #[error("{name} is not valid: {message}")]
    Invalid { name: &'static str, message: String },
}

impl Layer {
    /// Reads a TOML file whose keys are the env var names without `PASSMINT_`, in lower case
    /// (`listen`, `data_dir`, `database_url`, …).
    pub fn from_toml_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Toml {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }

    /// Reads the `PASSMINT_*` variables through `lookup` (e.g. `|k| std::env::var(k).ok()`).
    pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.is_empty());
        let number = |name: &'static str| -> Result<Option<i64>, ConfigError> {
            get(name)
                .map(|v| {
                    v.trim().parse::<i64>().map_err(|e| ConfigError::Invalid {
                        name,
                        message: e.to_string(),
                    })
                })
                .transpose()
        };
        let bytes = |name: &'static str| -> Result<Option<u64>, ConfigError> {
            number(name)?
                .map(|v| {
                    u64::try_from(v).map_err(|_| ConfigError::Invalid {
                        name,
                        message: "must be positive".into(),
                    })
                })
                .transpose()
        };
        let max_template_bytes = bytes("PASSMINT_MAX_TEMPLATE_BYTES")?;
        Ok(Self {
            listen: get("PASSMINT_LISTEN"),
            data_dir: get("PASSMINT_DATA_DIR").map(PathBuf::from),
            database_url: get("PASSMINT_DATABASE_URL").map(Secret),
            public_url: get("PASSMINT_PUBLIC_URL"),
            admin_token: get("PASSMINT_ADMIN_TOKEN").map(Secret),
            master_key: get("PASSMINT_MASTER_KEY").map(Secret),
            apns_url: get("PASSMINT_APNS_URL"),
            apns_ca_file: get("PASSMINT_APNS_CA_FILE").map(PathBuf::from),
            max_template_bytes,
            max_events: number("PASSMINT_MAX_EVENTS")?,
            timeline_cap: number("PASSMINT_TIMELINE_CAP")?,
            max_device_logs: number("PASSMINT_MAX_DEVICE_LOGS")?,
            max_device_records: number("PASSMINT_MAX_DEVICE_RECORDS")?,
            max_device_record_bytes: bytes("PASSMINT_MAX_DEVICE_RECORD_BYTES")?,
            max_connections: bytes("PASSMINT_MAX_CONNECTIONS")?,
            header_read_timeout_seconds: bytes("PASSMINT_HEADER_READ_TIMEOUT_SECONDS")?,
            request_timeout_seconds: bytes("PASSMINT_REQUEST_TIMEOUT_SECONDS")?,
            idle_timeout_seconds: bytes("PASSMINT_IDLE_TIMEOUT_SECONDS")?,
            shutdown_grace_seconds: bytes("PASSMINT_SHUTDOWN_GRACE_SECONDS")?,
            public_rate_limit: get("PASSMINT_PUBLIC_RATE_LIMIT"),
            template_cache_bytes: bytes("PASSMINT_TEMPLATE_CACHE_BYTES")?,
            signed_cache_bytes: bytes("PASSMINT_SIGNED_CACHE_BYTES")?,
            log_format: get("PASSMINT_LOG_FORMAT"),
            rollout_lease_seconds: bytes("PASSMINT_ROLLOUT_LEASE_SECONDS")?,
            rollout_batch: bytes("PASSMINT_ROLLOUT_BATCH")?,
            rollout_worker: get("PASSMINT_ROLLOUT_WORKER"),
            webhook_timeout_ms: bytes("PASSMINT_WEBHOOK_TIMEOUT_MS")?,
            webhook_retry_base_ms: bytes("PASSMINT_WEBHOOK_RETRY_BASE_MS")?,
            webhook_retry_for_seconds: bytes("PASSMINT_WEBHOOK_RETRY_FOR_SECONDS")?,
            webhook_sweep_interval_seconds: bytes("PASSMINT_WEBHOOK_SWEEP_INTERVAL_SECONDS")?,
            google_issuer_id: get("PASSMINT_GOOGLE_ISSUER_ID"),
            google_service_account_file: get("PASSMINT_GOOGLE_SERVICE_ACCOUNT_FILE").map(PathBuf::from),
            google_api_url: get("PASSMINT_GOOGLE_API_URL"),
            google_token_url: get("PASSMINT_GOOGLE_TOKEN_URL"),
            google_save_url: get("PASSMINT_GOOGLE_SAVE_URL"),
        })
    }

    /// `other` wins wherever it has a value.
    #[must_use]
    pub fn overlay(self, other: Layer) -> Layer {
        Layer {
            listen: other.listen.or(self.listen),
            data_dir: other.data_dir.or(self.data_dir),
            database_url: other.database_url.or(self.database_url),
            public_url: other.public_url.or(self.public_url),
            admin_token: other.admin_token.or(self.admin_token),
            master_key: other.master_key.or(self.master_key),
            apns_url: other.apns_url.or(self.apns_url),
            apns_ca_file: other.apns_ca_file.or(self.apns_ca_file),
            max_template_bytes: other.max_template_bytes.or(self.max_template_bytes),
            max_events: other.max_events.or(self.max_events),
            timeline_cap: other.timeline_cap.or(self.timeline_cap),
            max_device_logs: other.max_device_logs.or(self.max_device_logs),
            max_device_records: other.max_device_records.or(self.max_device_records),
            max_device_record_bytes: other.max_device_record_bytes.or(self.max_device_record_bytes),
            max_connections: other.max_connections.or(self.max_connections),
            header_read_timeout_seconds: other
                .header_read_timeout_seconds
                .or(self.header_read_timeout_seconds),
            request_timeout_seconds: other.request_timeout_seconds.or(self.request_timeout_seconds),
            idle_timeout_seconds: other.idle_timeout_seconds.or(self.idle_timeout_seconds),
            shutdown_grace_seconds: other.shutdown_grace_seconds.or(self.shutdown_grace_seconds),
            public_rate_limit: other.public_rate_limit.or(self.public_rate_limit),
            template_cache_bytes: other.template_cache_bytes.or(self.template_cache_bytes),
            signed_cache_bytes: other.signed_cache_bytes.or(self.signed_cache_bytes),
            log_format: other.log_format.or(self.log_format),
            rollout_lease_seconds: other.rollout_lease_seconds.or(self.rollout_lease_seconds),
            rollout_batch: other.rollout_batch.or(self.rollout_batch),
            rollout_worker: other.rollout_worker.or(self.rollout_worker),
            webhook_timeout_ms: other.webhook_timeout_ms.or(self.webhook_timeout_ms),
            webhook_retry_base_ms: other.webhook_retry_base_ms.or(self.webhook_retry_base_ms),
            webhook_retry_for_seconds: other.webhook_retry_for_seconds.or(self.webhook_retry_for_seconds),
            webhook_sweep_interval_seconds: other
                .webhook_sweep_interval_seconds
                .or(self.webhook_sweep_interval_seconds),
            google_issuer_id: other.google_issuer_id.or(self.google_issuer_id),
            google_service_account_file: other
                .google_service_account_file
                .or(self.google_service_account_file),
            google_api_url: other.google_api_url.or(self.google_api_url),
            google_token_url: other.google_token_url.or(self.google_token_url),
            google_save_url: other.google_save_url.or(self.google_save_url),
        }
    }

    /// Fills every gap with its default and checks the values. `data_dir_default` overrides the
    /// default data dir (`./passmint-data`).
    pub fn resolve(self, data_dir_default: Option<PathBuf>) -> Result<Settings, ConfigError> {
        let google = self.google_settings()?;
        let listen_text = self.listen.unwrap_or_else(|| "127.0.0.1:8080".into());
        let listen: SocketAddr = listen_text.parse().map_err(|e| ConfigError::Invalid {
            name: "PASSMINT_LISTEN",
            message: format!("{listen_text:?}: {e}"),
        })?;
        let data_dir = self
            .data_dir
            .or(data_dir_default)
            .unwrap_or_else(|| PathBuf::from("./passmint-data"));
        let database_url = self.database_url.unwrap_or_else(|| {
            Secret(format!(
                "sqlite://{}",
                data_dir.join(SQLITE_FILE).to_string_lossy()
            ))
        });
        let url = database_url.expose();
        if !(url.starts_with("sqlite:") || url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            return Err(ConfigError::Invalid {
                name: "PASSMINT_DATABASE_URL",
                message: "must start with sqlite:// or postgres://".into(),
            });
        }
        if let Some(public) = &self.public_url
            && !(public.starts_with("http://") || public.starts_with("https://"))
        {
            return Err(ConfigError::Invalid {
                name: "PASSMINT_PUBLIC_URL",
                message: "must start with http:// or https://".into(),
            });
        }
        let max_template_bytes = self
            .max_template_bytes
            .unwrap_or(pkpass::template::DEFAULT_MAX_ZIP_BYTES);
        if max_template_bytes == 0 {
            return Err(ConfigError::Invalid {
                name: "PASSMINT_MAX_TEMPLATE_BYTES",
                message: "must be at least 1".into(),
            });
        }
        let public_rate_limit = match self.public_rate_limit.as_deref() {
            None => Some(RateLimit::DEFAULT),
            Some(text) => RateLimit::parse(text).map_err(|message| ConfigError::Invalid {
                name: "PASSMINT_PUBLIC_RATE_LIMIT",
                message,
            })?,
        };
        let rollout_lease_seconds = self.rollout_lease_seconds.unwrap_or(30);
        if rollout_lease_seconds == 0 {
            return Err(ConfigError::Invalid {
                name: "PASSMINT_ROLLOUT_LEASE_SECONDS",
                message: "must be at least 1".into(),
            });
        }
        let rollout_batch = self.rollout_batch.unwrap_or(500);
        if !(1..=10_000).contains(&rollout_batch) {
            return Err(ConfigError::Invalid {
                name: "PASSMINT_ROLLOUT_BATCH",
                message: "must be 1 to 10000".into(),
            });
        }
        let rollout_worker = match self.rollout_worker.as_deref().map(str::trim) {
            None | Some("on" | "true" | "1") => true,
            Some("off" | "false" | "0") => false,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    name: "PASSMINT_ROLLOUT_WORKER",
                    message: format!("{other:?}: must be on or off"),
                });
            }
        };
        Ok(Settings {
            google,
            rollout_worker,
            rollout_lease_seconds,
            rollout_batch,
            listen,
            data_dir,
            database_url,
            public_url: self.public_url.map(|u| u.trim_end_matches('/').to_string()),
            admin_token: self.admin_token,
            master_key: self.master_key,
            apns_url: self
                .apns_url
                .unwrap_or_else(|| "https://api.push.apple.com".into()),
            apns_ca_file: self.apns_ca_file,
            max_template_bytes,
            max_events: self.max_events.unwrap_or(100_000).max(1),
            timeline_cap: self.timeline_cap.unwrap_or(200).max(1),
            // PASSMINT_MAX_DEVICE_LOGS is the older name of the count cap.
            max_device_records: self
                .max_device_records
                .or(self.max_device_logs)
                .unwrap_or(10_000)
                .max(1),
            max_device_record_bytes: i64::try_from(self.max_device_record_bytes.unwrap_or(8 * 1024 * 1024))
                .unwrap_or(i64::MAX)
                .max(1),
            max_connections: usize::try_from(self.max_connections.unwrap_or(10_000))
                .unwrap_or(usize::MAX)
                .max(1),
            header_read_timeout: seconds(self.header_read_timeout_seconds, 10),
            request_timeout: seconds(self.request_timeout_seconds, 60),
            idle_timeout: seconds(self.idle_timeout_seconds, 60),
            shutdown_grace: Duration::from_secs(self.shutdown_grace_seconds.unwrap_or(30)),
            public_rate_limit,
            template_cache_bytes: self.template_cache_bytes.unwrap_or(256 * 1024 * 1024),
            signed_cache_bytes: self.signed_cache_bytes.unwrap_or(64 * 1024 * 1024),
            log_format: self.log_format.unwrap_or_else(|| "text".into()),
            webhook_timeout_ms: self.webhook_timeout_ms.unwrap_or(10_000).max(1),
            webhook_retry_base_ms: self.webhook_retry_base_ms.unwrap_or(10_000).max(1),
            webhook_retry_for_seconds: self.webhook_retry_for_seconds.unwrap_or(3 * 86_400),
            webhook_sweep_interval_seconds: self.webhook_sweep_interval_seconds.unwrap_or(86_400).max(1),
        })
    }
}

/// A timeout in whole seconds, at least one (zero would close everything at once).
impl Layer {
    /// Google Wallet's settings: on only with both the issuer id and the key file; the URLs
    /// must be http(s) URLs (plain http is allowed, and warned about when the server starts).
    fn google_settings(&self) -> Result<Option<GoogleSettings>, ConfigError> {
        let url = |name: &'static str, value: &Option<String>, default: &str| {
            let value = value.clone().unwrap_or_else(|| default.to_string());
            if value.starts_with("https://") || value.starts_with("http://") {
                Ok(value.trim_end_matches('/').to_string())
            } else {
                Err(ConfigError::Invalid {
                    name,
                    message: "must start with https:// (or http:// for tests and local proxies)".into(),
                })
            }
        };
        let api_url = url(
            "PASSMINT_GOOGLE_API_URL",
            &self.google_api_url,
            gwallet::DEFAULT_API_URL,
        )?;
        let save_url = url(
            "PASSMINT_GOOGLE_SAVE_URL",
            &self.google_save_url,
            gwallet::DEFAULT_SAVE_URL,
        )?;
        let token_url = match &self.google_token_url {
            Some(_) => Some(url("PASSMINT_GOOGLE_TOKEN_URL", &self.google_token_url, "")?),
            None => None,
        };
        let issuer_id = self.google_issuer_id.as_deref().map(str::trim);
        if let Some(id) = issuer_id
            && (id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(ConfigError::Invalid {
                name: "PASSMINT_GOOGLE_ISSUER_ID",
                message: "must be the issuer ID the Google Pay & Wallet Console shows (digits only)".into(),
            });
        }
        Ok(match (issuer_id, &self.google_service_account_file) {
            (Some(issuer_id), Some(file)) => Some(GoogleSettings {
                issuer_id: issuer_id.to_string(),
                service_account_file: file.clone(),
                api_url,
                token_url,
                save_url,
            }),
            _ => None,
        })
    }
}

fn seconds(value: Option<u64>, default: u64) -> Duration {
    Duration::from_secs(value.unwrap_or(default).max(1))
}

/// A per-client rate: `per_second` requests a second on average, `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub per_second: f64,
    pub burst: u32,
}

impl RateLimit {
    /// Generous enough for a venue's worth of iPhones behind one NAT address: each device
    /// makes a handful of calls per pass update.
    pub const DEFAULT: Self = Self {
        per_second: 100.0,
        burst: 1000,
    };

    /// `<requests per second>/<burst>` (e.g. `50/200`, `0.5/10`), or `off` (`Ok(None)`).
    pub fn parse(text: &str) -> Result<Option<Self>, String> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        let problem = || format!("{text:?}: expected <requests per second>/<burst> (e.g. 50/200) or off");
        let (rate, burst) = text.split_once('/').ok_or_else(problem)?;
        let per_second: f64 = rate.trim().parse().map_err(|_| problem())?;
        let burst: u32 = burst.trim().parse().map_err(|_| problem())?;
        if !(per_second.is_finite() && per_second > 0.0) || burst == 0 {
            return Err(format!("{text:?}: the rate and the burst must be above zero"));
        }
        Ok(Some(Self { per_second, burst }))
    }
}

/// Builds settings from all layers: defaults, TOML (`config_file`, else `PASSMINT_CONFIG`),
/// environment, flags.
pub fn load(
    config_file: Option<&Path>,
    env: impl Fn(&str) -> Option<String>,
    flags: Layer,
) -> Result<Settings, ConfigError> {
    let file = config_file.map(Path::to_path_buf).or_else(|| {
        env("PASSMINT_CONFIG")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    });
    let mut layer = Layer::default();
    if let Some(file) = file {
        layer = layer.overlay(Layer::from_toml_file(&file)?);
    }
    layer = layer.overlay(Layer::from_env(&env)?);
    layer.overlay(flags).resolve(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_from_defaults_with_nothing_configured() {
        let s = load(None, |_| None, Layer::default()).unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(s.data_dir, PathBuf::from("./passmint-data"));
        assert_eq!(s.database_url.expose(), "sqlite://./passmint-data/passmint.db");
        assert_eq!(s.max_template_bytes, 1_048_576);
        assert!(s.public_url.is_none());
    }

    #[test]
    fn lets_env_override_the_file_and_flags_override_env() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("passmint.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9000\"\nmax_template_bytes = 10\npublic_url = \"https://file.example\"\n",
        )
        .unwrap();
        let env = |k: &str| match k {
            "PASSMINT_MAX_TEMPLATE_BYTES" => Some("20".to_string()),
            "PASSMINT_PUBLIC_URL" => Some("https://env.example/".to_string()),
            _ => None,
        };
        let flags = Layer {
            public_url: Some("https://flag.example".into()),
            ..Layer::default()
        };
        let s = load(Some(&file), env, flags).unwrap();
        assert_eq!(s.listen.port(), 9000);
        assert_eq!(s.max_template_bytes, 20);
        assert_eq!(s.public_url.as_deref(), Some("https://flag.example"));
    }

    #[test]
    fn reads_the_config_file_named_by_passmint_config() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "data_dir = \"/srv/pm\"\n").unwrap();
        let path = file.to_string_lossy().to_string();
        let env = move |k: &str| (k == "PASSMINT_CONFIG").then(|| path.clone());
        let s = load(None, env, Layer::default()).unwrap();
        assert_eq!(s.data_dir, PathBuf::from("/srv/pm"));
        assert_eq!(s.database_url.expose(), "sqlite:///srv/pm/passmint.db");
    }

    #[test]
    fn never_shows_secrets_in_debug_output() {
        let env = |k: &str| match k {
            "PASSMINT_ADMIN_TOKEN" => Some("tok-very-secret".to_string()),
            "PASSMINT_MASTER_KEY" => Some("bWFzdGVyLXNlY3JldA==".to_string()),
            "PASSMINT_DATABASE_URL" => Some("postgres://u:pw-secret@db/x".to_string()),
            _ => None,
        };
        let s = load(None, env, Layer::default()).unwrap();
        let shown = format!("{s:?}");
        assert!(!shown.contains("tok-very-secret"), "{shown}");
        assert!(!shown.contains("bWFzdGVyLXNlY3JldA"), "{shown}");
        assert!(!shown.contains("pw-secret"), "{shown}");
        assert_eq!(s.database_url_for_display(), "postgres://u:***@db/x");
    }

    #[test]
    fn rejects_a_listen_address_that_does_not_parse() {
        let env = |k: &str| (k == "PASSMINT_LISTEN").then(|| "nowhere".to_string());
        let err = load(None, env, Layer::default()).unwrap_err();
        assert!(err.to_string().contains("PASSMINT_LISTEN"), "{err}");
    }

    #[test]
    fn reads_the_public_surface_limits_with_their_defaults() {
        let s = load(None, |_| None, Layer::default()).unwrap();
        assert_eq!(s.max_connections, 10_000);
        assert_eq!(s.shutdown_grace, Duration::from_secs(30));
        assert_eq!(s.max_device_record_bytes, 8 * 1024 * 1024);
        assert_eq!(s.public_rate_limit, Some(RateLimit::DEFAULT));
        let env = |k: &str| {
            match k {
                "PASSMINT_MAX_CONNECTIONS" => Some("50"),
                "PASSMINT_SHUTDOWN_GRACE_SECONDS" => Some("5"),
                "PASSMINT_MAX_DEVICE_RECORD_BYTES" => Some("4096"),
                "PASSMINT_PUBLIC_RATE_LIMIT" => Some("50/200"),
                "PASSMINT_MAX_DEVICE_LOGS" => Some("7"),
                _ => None,
            }
            .map(str::to_string)
        };
        let s = load(None, env, Layer::default()).unwrap();
        assert_eq!(s.max_connections, 50);
        assert_eq!(s.shutdown_grace, Duration::from_secs(5));
        assert_eq!(s.max_device_record_bytes, 4096);
        assert_eq!(s.max_device_records, 7);
        assert_eq!(
            s.public_rate_limit,
            Some(RateLimit {
                per_second: 50.0,
                burst: 200
            })
        );
        let off = |k: &str| (k == "PASSMINT_PUBLIC_RATE_LIMIT").then(|| "off".to_string());
        assert_eq!(load(None, off, Layer::default()).unwrap().public_rate_limit, None);
    }

    #[test]
    fn rejects_a_rate_limit_that_does_not_parse_naming_the_setting() {
        for bad in ["fast", "50", "0/10", "10/0", "-1/5", "x/y", "inf/3"] {
            let env = move |k: &str| (k == "PASSMINT_PUBLIC_RATE_LIMIT").then(|| bad.to_string());
            let err = load(None, env, Layer::default()).unwrap_err();
            assert!(
                err.to_string().contains("PASSMINT_PUBLIC_RATE_LIMIT"),
                "{bad}: {err}"
            );
        }
    }

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k: &str| {
            pairs
                .iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn google_wallet_is_on_only_with_both_the_issuer_id_and_the_key_file() {
        let off = load(None, env_of(&[]), Layer::default()).unwrap();
        assert_eq!(off.google, None);
        let half = load(
            None,
            env_of(&[("PASSMINT_GOOGLE_ISSUER_ID", "3388000000012345678")]),
            Layer::default(),
        )
        .unwrap();
        assert_eq!(half.google, None);
        let on = load(
            None,
            env_of(&[
                ("PASSMINT_GOOGLE_ISSUER_ID", "3388000000012345678"),
                (
                    "PASSMINT_GOOGLE_SERVICE_ACCOUNT_FILE",
                    "/etc/passmint/google.json",
                ),
                ("PASSMINT_GOOGLE_TOKEN_URL", "http://127.0.0.1:9/token"),
            ]),
            Layer::default(),
        )
        .unwrap()
        .google
        .unwrap();
        assert_eq!(on.issuer_id, "3388000000012345678");
        assert_eq!(
            on.service_account_file,
            PathBuf::from("/etc/passmint/google.json")
        );
        assert_eq!(on.api_url, "https://walletobjects.googleapis.com");
        assert_eq!(on.token_url.as_deref(), Some("http://127.0.0.1:9/token"));
        assert_eq!(on.save_url, "https://pay.google.com/gp/v/save");
    }

    #[test]
    fn rejects_google_wallet_settings_that_cannot_work_naming_the_setting() {
        for (name, value) in [
            ("PASSMINT_GOOGLE_ISSUER_ID", "my-issuer"),
            ("PASSMINT_GOOGLE_API_URL", "walletobjects.googleapis.com"),
            ("PASSMINT_GOOGLE_TOKEN_URL", "ftp://example.com/token"),
            ("PASSMINT_GOOGLE_SAVE_URL", "pay.google.com"),
        ] {
            let env = move |k: &str| (k == name).then(|| value.to_string());
            let err = load(None, env, Layer::default()).unwrap_err();
            assert!(err.to_string().contains(name), "{name}: {err}");
        }
    }
}
