//! The application: shared state, the router, and [`launch`] (which tests call with a port-0
//! listener and a shutdown future).
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;

use crate::api;
use crate::config::Settings;
use crate::domain::crypto::{CryptoError, MasterKey};
use crate::domain::{Domain, DomainConfig};
use crate::listener;
use crate::logtext;
use crate::metrics::Metrics;
use crate::ops;
use crate::ratelimit::RateLimiter;
use crate::store::{Store, StoreError};

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Everything a handler may use. Cheap to clone. Surfaces call the [`Domain`]; the store and
/// master key are here for the workers (push) and for tests.
#[derive(Debug, Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub domain: Domain,
    pub store: Store,
    pub master_key: MasterKey,
    pub metrics: Arc<Metrics>,
    /// The management API's body validators, compiled from `/openapi.json` at start.
    pub schemas: Arc<api::body::Schemas>,
    /// The management API's OpenAPI document, as `/openapi.json` serves it.
    pub openapi: Arc<serde_json::Value>,
    /// `PASSMINT_PUBLIC_URL`, or `http://<bound address>`; no trailing slash.
    pub public_url: String,
    /// The public routes' per-client rate limit (`None`: `PASSMINT_PUBLIC_RATE_LIMIT=off`).
    pub rate_limiter: Option<Arc<RateLimiter>>,
    /// The dashboard's signed-in sessions (bounded, in memory).
    pub sessions: Arc<crate::dashboard::session::Sessions>,
    /// The Google Wallet API client, when Google Wallet is configured (SPEC 13).
    pub google: Option<Arc<gwallet::Client>>,
}

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    MasterKey(#[from] CryptoError),
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Push(#[from] crate::push::PushError),
    #[error(transparent)]
    Webhooks(#[from] crate::webhooks::ClientError),
    #[error("Google Wallet: {0}")]
    Google(String),
    #[error("the published API schema does not compile: {0}")]
    Schema(String),
    #[error("server failed: {0}")]
    Io(#[from] std::io::Error),
}

impl AppState {
    /// Creates the data dir, loads (or creates) the master key, opens the database and applies
    /// its migrations. `bound` is where the server listens (for the default public URL).
    pub async fn prepare(settings: Settings, bound: SocketAddr) -> Result<Self, LaunchError> {
        // Settings that only the workers read are checked here too, so `serve` reports a wrong
        // APNs URL or CA file before it prints its banner, not after.
        crate::push::endpoint_from_settings(&settings)?;
        crate::private_files::create_private_dir(&settings.data_dir).map_err(|source| {
            LaunchError::DataDir {
                path: settings.data_dir.clone(),
                source,
            }
        })?;
        let master_key = MasterKey::load_or_create(
            settings.master_key.as_ref().map(|s| s.expose()),
            &settings.data_dir,
        )?;
        let public_url = settings
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{bound}"));
        // Before the database: a bad key file stops the start at once, said once.
        let google = crate::google::prepare(settings.google.as_ref(), &public_url)?;
        let store = Store::connect(settings.database_url.expose())
            .await?
            .with_device_limits(crate::store::DeviceLimits {
                records: settings.max_device_records,
                bytes: settings.max_device_record_bytes,
            })
            .with_google_sync(google.is_some());
        store.set_timeline_cap(settings.timeline_cap).await?;
        if public_url.starts_with("http://") {
            tracing::warn!(
                %public_url,
                "the public URL is plain http://: iPhones only call it with developer settings; \
                 set PASSMINT_PUBLIC_URL to an https:// URL for real devices"
            );
        }
        let metrics = Arc::new(Metrics::default());
        let settings_limit = settings.public_rate_limit;
        let domain = Domain::start(
            store.clone(),
            master_key.clone(),
            metrics.clone(),
            DomainConfig {
                web_service_url: format!("{public_url}/passkit"),
                max_template_bytes: settings.max_template_bytes,
                keep_events: settings.max_events,
                max_devices_per_pass: crate::passkit::MAX_DEVICES_PER_PASS,
                template_cache_bytes: settings.template_cache_bytes,
                signed_cache_bytes: settings.signed_cache_bytes,
                google: google.as_ref().map(|(config, _)| config.clone()),
            },
        );
        let document = api::openapi::document();
        let schemas =
            api::body::Schemas::compile(&document, api::BODY_SCHEMAS).map_err(LaunchError::Schema)?;
        Ok(Self {
            settings: Arc::new(settings),
            domain,
            store,
            master_key,
            metrics,
            schemas: Arc::new(schemas),
            openapi: Arc::new(document),
            public_url,
            rate_limiter: settings_rate_limiter(&settings_limit),
            sessions: Arc::default(),
            google: google.map(|(_, client)| Arc::new(client)),
        })
    }
}

fn settings_rate_limiter(limit: &Option<crate::config::RateLimit>) -> Option<Arc<RateLimiter>> {
    limit.map(|l| Arc::new(RateLimiter::new(l)))
}

/// The full router: management API, operations endpoints, request ids, metrics and logs.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(api::router(&state))
        .merge(ops::router())
        .merge(crate::dashboard::router(&state))
        .merge(crate::passkit::router())
        .merge(crate::share::router())
        .merge(crate::assets::router())
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), edge))
        .with_state(state)
}

async fn not_found() -> api::error::ApiError {
    api::error::ApiError::not_found("no such route")
}

/// Serves `state` on `listener` until `shutdown` completes, then stops accepting and finishes
/// the requests in flight.
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), LaunchError> {
    let endpoint = crate::push::endpoint_from_settings(&state.settings)?;
    let worker = crate::push::PushWorker::new(
        state.store.clone(),
        state.master_key.clone(),
        endpoint,
        state.metrics.clone(),
        crate::push::WorkerConfig {
            keep_events: state.settings.max_events,
            ..Default::default()
        },
    )
    .spawn();
    let rollouts = state.settings.rollout_worker.then(|| {
        crate::rollout::RolloutWorker::new(
            state.domain.clone(),
            crate::rollout::RolloutWorkerConfig {
                lease: std::time::Duration::from_secs(state.settings.rollout_lease_seconds),
                batch_size: i64::try_from(state.settings.rollout_batch).unwrap_or(500),
                ..Default::default()
            },
        )
        .spawn()
    });
    let webhooks = crate::webhooks::WebhookWorker::new(
        state.store.clone(),
        state.master_key.clone(),
        state.metrics.clone(),
        crate::webhooks::WebhookConfig::from_settings(&state.settings),
    )?
    .spawn();
    let google = state.google.clone().map(|client| {
        crate::google::GoogleWorker::new(
            state.domain.clone(),
            client,
            state.metrics.clone(),
            crate::google::GoogleWorkerConfig::default(),
        )
        .spawn()
    });
    let limits = listener::Limits {
        max_connections: state.settings.max_connections,
        header_read_timeout: state.settings.header_read_timeout,
        idle_timeout: state.settings.idle_timeout,
        shutdown_grace: state.settings.shutdown_grace,
    };
    let app = router(state);
    // One deadline for the whole shutdown, counted from the signal.
    let signalled = Arc::new(std::sync::OnceLock::new());
    let mark = signalled.clone();
    let shutdown = async move {
        shutdown.await;
        let _ = mark.set(Instant::now());
    };
    let served = listener::serve(listener, app, limits, shutdown).await;
    let left = signalled.get().map_or(limits.shutdown_grace, |at: &Instant| {
        limits.shutdown_grace.saturating_sub(at.elapsed())
    });
    // Requests are done (or cut off): hand the rollout in progress back (the next claimer
    // resumes at its cursor), then stop the other workers (in-flight sends finish, the rest
    // stay queued), all in what is left of the grace period, so a stalled APNs or webhook
    // connection can't hold the exit either (claimed work comes back when its lease runs out).
    let workers = async {
        if let Some(rollouts) = rollouts {
            rollouts.shutdown().await;
        }
        let google = async {
            if let Some(google) = google {
                google.shutdown().await;
            }
        };
        tokio::join!(worker.shutdown(), webhooks.shutdown(), google);
    };
    if tokio::time::timeout(left, workers).await.is_err() {
        tracing::warn!("the workers did not stop within the grace period; their work stays queued");
    }
    served?;
    Ok(())
}

/// Prepares the state (data dir, master key, database, migrations) and serves until
/// `shutdown`. Tests call this with a listener bound to port 0.
pub async fn launch(
    settings: Settings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), LaunchError> {
    let state = AppState::prepare(settings, listener.local_addr()?).await?;
    serve(state, listener, shutdown).await
}

/// The request's id (the client's `x-request-id` if sane, else a new UUID), available to
/// handlers as an extension and echoed on the response.
#[derive(Debug, Clone)]
pub struct RequestId(pub Arc<str>);

impl RequestId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for RequestId {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<RequestId>()
            .cloned()
            .unwrap_or_else(|| RequestId(uuid::Uuid::new_v4().to_string().into())))
    }
}

fn sane_request_id(value: &HeaderValue) -> Option<&str> {
    let text = value.to_str().ok()?;
    let ok = (1..=128).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    ok.then_some(text)
}

/// Methods counted by name in the metrics; any other is `OTHER` (labels only from known
/// values, so made-up methods can't grow `/metrics`).
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "OTHER",
    }
}

/// The management API (bearer auth), which the public rate limit leaves alone.
fn is_management(path: &str) -> bool {
    path.starts_with("/v2/")
}

/// Request id, rate limit, time limit, structured log line and metrics for every request.
///
/// The client's `x-request-id` is adopted only on a management request with a valid admin
/// token; anonymous requests get a fresh id (the client's value is only logged, escaped), so
/// no one can file device-side records under a management request's id.
async fn edge(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let path = request.uri().path().to_string();
    let management = is_management(&path);
    let client_id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(sane_request_id)
        .map(str::to_string);
    let adopt = match &client_id {
        Some(_) if management => api::auth::is_admin(&state, request.headers())
            .await
            .unwrap_or(false),
        _ => false,
    };
    let id: Arc<str> = match (adopt, &client_id) {
        (true, Some(client)) => client.as_str().into(),
        _ => uuid::Uuid::new_v4().to_string().into(),
    };
    request.extensions_mut().insert(RequestId(id.clone()));
    let method = method_label(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let span = match (&client_id, adopt) {
        (Some(client), false) => tracing::info_span!(
            "request", request_id = %id, method, %route, client_request_id = %logtext::escape(client)
        ),
        _ => tracing::info_span!("request", request_id = %id, method, %route),
    };
    let peer = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    let limited = match (&state.rate_limiter, peer) {
        (Some(limiter), Some(peer)) if !management => limiter.check(peer).err(),
        _ => None,
    };
    let mut response = if let Some(wait) = limited {
        too_many_requests(wait)
    } else {
        let limit = state.settings.request_timeout;
        match tokio::time::timeout(
            limit,
            tracing::Instrument::instrument(next.run(request), span.clone()),
        )
        .await
        {
            Ok(response) => response,
            Err(_) if management => api::error::ApiError::timed_out(limit.as_secs()).into_response(),
            Err(_) => axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response(),
        }
    };
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    state.metrics.observe_request(method, &route, status, elapsed);
    span.in_scope(|| {
        tracing::info!(
            status,
            latency_ms = elapsed.as_secs_f64() * 1000.0,
            "request finished"
        );
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response.into_response()
}

/// 429 with `Retry-After` in whole seconds (at least one).
fn too_many_requests(wait: std::time::Duration) -> Response {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    (
        axum::http::StatusCode::TOO_MANY_REQUESTS,
        [(axum::http::header::RETRY_AFTER, seconds.max(1).to_string())],
    )
        .into_response()
}
