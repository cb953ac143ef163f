//! The HTTP server: the token endpoint, the walletobjects resources, faults and the record.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use openssl::pkey::{PKey, Public};
use serde_json::{Value, json};

use crate::account::verify_with;
use crate::discovery::{Check, Discovery};
use crate::fault::{Action, Fault};
use crate::{Error, RecordedRequest, TestServiceAccount};

/// The token endpoint's path.
pub const TOKEN_PATH: &str = "/token";
/// The walletobjects API's path prefix.
pub const API_PREFIX: &str = "/walletobjects/v1/";
/// The scope a token must be asked for.
pub const WALLET_SCOPE: &str = "https://www.googleapis.com/auth/wallet_object.issuer";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// The class and object resources served, with their discovery schema names.
const RESOURCES: [(&str, &str); 12] = [
    ("eventTicketClass", "EventTicketClass"),
    ("eventTicketObject", "EventTicketObject"),
    ("flightClass", "FlightClass"),
    ("flightObject", "FlightObject"),
    ("transitClass", "TransitClass"),
    ("transitObject", "TransitObject"),
    ("loyaltyClass", "LoyaltyClass"),
    ("loyaltyObject", "LoyaltyObject"),
    ("offerClass", "OfferClass"),
    ("offerObject", "OfferObject"),
    ("genericClass", "GenericClass"),
    ("genericObject", "GenericObject"),
];

/// Bodies larger than this are refused with a 413 (Google's own limits are far below).
const MAX_BODY: usize = 4 * 1024 * 1024;
/// Server threads; each serves many connections at once (a hanging request holds none).
const WORKERS: usize = 2;

/// Configures a [`TestServer`].
#[derive(Debug, Clone)]
pub struct Builder {
    audience: Option<String>,
    token_lifetime: u64,
    issuer_id: Option<String>,
    check_discovery: bool,
}

impl Default for Builder {
    fn default() -> Self {
        Self {
            audience: None,
            token_lifetime: 3600,
            issuer_id: None,
            check_discovery: true,
        }
    }
}

impl Builder {
    /// The `aud` a token assertion must carry (default: the server's own token URL, which is the
    /// `token_uri` of accounts made with [`TestServer::new_service_account`]).
    #[must_use]
    pub fn audience(mut self, audience: &str) -> Self {
        self.audience = Some(audience.to_owned());
        self
    }

    /// The `expires_in` of issued tokens, in seconds (default 3600, like Google); tokens stop
    /// working after it.
    #[must_use]
    pub fn token_lifetime(mut self, seconds: u64) -> Self {
        self.token_lifetime = seconds;
        self
    }

    /// Requires every class and object id to be `<issuer_id>.<identifier>`.
    #[must_use]
    pub fn issuer_id(mut self, issuer_id: &str) -> Self {
        self.issuer_id = Some(issuer_id.to_owned());
        self
    }

    /// Accepts any JSON for classes and objects instead of checking it against the discovery
    /// document.
    #[must_use]
    pub fn skip_discovery_checks(mut self) -> Self {
        self.check_discovery = false;
        self
    }

    /// Binds `127.0.0.1:0` and starts serving on a thread of its own (with its own runtime, so
    /// it works from sync and async tests alike). The server stops when the [`TestServer`] is
    /// dropped.
    ///
    /// # Errors
    /// [`Error::Start`] if the socket cannot be bound.
    pub fn start(self) -> Result<TestServer, Error> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| Error::Start(e.to_string()))?;
        let addr = listener.local_addr().map_err(|e| Error::Start(e.to_string()))?;
        let token_url = format!("http://{addr}{TOKEN_PATH}");
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            config: Config {
                audience: self.audience.unwrap_or_else(|| token_url.clone()),
                token_lifetime: self.token_lifetime,
                issuer_id: self.issuer_id,
                check_discovery: self.check_discovery,
            },
        });
        let (started, started_rx) = std::sync::mpsc::channel();
        let app_state = shared.clone();
        let thread = std::thread::spawn(move || {
            let system = actix_web::rt::System::new();
            system.block_on(async move {
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(web::Data::new(app_state.clone()))
                        .app_data(web::PayloadConfig::new(MAX_BODY))
                        .default_service(web::to(handle))
                })
                .workers(WORKERS)
                // A test process's signals are the test runner's business.
                .disable_signals()
                .shutdown_timeout(0)
                .listen(listener);
                match server {
                    Ok(server) => {
                        let running = server.run();
                        let _ = started.send(Ok(running.handle()));
                        let _ = running.await;
                    }
                    Err(e) => {
                        let _ = started.send(Err(Error::Start(e.to_string())));
                    }
                }
            });
        });
        let handle = started_rx
            .recv()
            .map_err(|_| Error::Start("the server thread ended before it started".into()))??;
        Ok(TestServer {
            addr,
            token_url,
            shared,
            handle,
            thread: Some(thread),
        })
    }
}

/// A running Google Wallet API look-alike on `127.0.0.1`, plain HTTP/1.1. See the crate
/// documentation.
pub struct TestServer {
    addr: SocketAddr,
    token_url: String,
    shared: Arc<Shared>,
    handle: ServerHandle,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for TestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // Not graceful: requests held by a `Hang` fault are dropped with their connections.
        drop(self.handle.stop(false));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Config {
    audience: String,
    token_lifetime: u64,
    issuer_id: Option<String>,
    check_discovery: bool,
}

struct Shared {
    state: Mutex<State>,
    /// Woken when a request is recorded.
    changed: Condvar,
    config: Config,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(Default)]
struct State {
    accounts: HashMap<String, PKey<Public>>,
    tokens: HashMap<String, Instant>,
    tokens_issued: u64,
    resources: HashMap<&'static str, BTreeMap<String, Value>>,
    requests: Vec<RecordedRequest>,
    faults: VecDeque<Fault>,
}

impl TestServer {
    /// A builder with the defaults.
    #[must_use]
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// Starts a server with the defaults.
    ///
    /// # Errors
    /// As [`Builder::start`].
    pub fn start() -> Result<Self, Error> {
        Builder::default().start()
    }

    /// `http://127.0.0.1:<port>`: the API base URL (`PASSMINT_GOOGLE_API_URL`).
    #[must_use]
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The token endpoint (`PASSMINT_GOOGLE_TOKEN_URL`, or a test account's `token_uri`).
    #[must_use]
    pub fn token_url(&self) -> &str {
        &self.token_url
    }

    /// The socket address.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Makes a service account whose `token_uri` is this server, and accepts it.
    ///
    /// # Errors
    /// [`Error::Crypto`] if the key cannot be made.
    pub fn new_service_account(&self, client_email: &str) -> Result<TestServiceAccount, Error> {
        let account = TestServiceAccount::generate(client_email, &self.token_url)?;
        self.accept_service_account(&account.client_email, &account.public_key_pem)?;
        Ok(account)
    }

    /// Accepts token assertions from `client_email` signed by the key whose public half is
    /// `public_key_pem`.
    ///
    /// # Errors
    /// [`Error::Crypto`] if the key is not a PEM public key.
    pub fn accept_service_account(&self, client_email: &str, public_key_pem: &str) -> Result<(), Error> {
        let key = PKey::public_key_from_pem(public_key_pem.as_bytes())?;
        self.shared.state().accounts.insert(client_email.to_owned(), key);
        Ok(())
    }

    /// Scripts a fault; faults apply in the order given, each to the next requests it matches.
    pub fn inject(&self, fault: Fault) {
        self.shared.state().faults.push_back(fault);
    }

    /// Invalidates every token issued so far: the next API call with one gets a 401.
    pub fn revoke_tokens(&self) {
        self.shared.state().tokens.clear();
    }

    /// How many tokens the token endpoint has issued.
    #[must_use]
    pub fn tokens_issued(&self) -> u64 {
        self.shared.state().tokens_issued
    }

    /// Every request so far, in arrival order.
    #[must_use]
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.state().requests.clone()
    }

    /// The walletobjects requests so far (the token endpoint's left out).
    #[must_use]
    pub fn api_requests(&self) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(|r| !r.is_token_request())
            .collect()
    }

    /// Waits until at least `count` requests have been recorded.
    ///
    /// # Errors
    /// [`Error::Timeout`] if they have not arrived within `timeout`.
    pub fn wait_for_requests(&self, count: usize, timeout: Duration) -> Result<Vec<RecordedRequest>, Error> {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.state();
        while state.requests.len() < count {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::Timeout(format!(
                    "{} of {count} requests arrived",
                    state.requests.len()
                )));
            }
            state = self
                .shared
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        Ok(state.requests.clone())
    }

    /// A stored resource (`eventTicketObject`, id), as the last insert, update or patch left it.
    #[must_use]
    pub fn resource(&self, resource: &str, id: &str) -> Option<Value> {
        self.shared.state().resources.get(resource)?.get(id).cloned()
    }

    /// A stored class of any type.
    #[must_use]
    pub fn class(&self, id: &str) -> Option<Value> {
        self.find(id, "Class")
    }

    /// A stored object of any type.
    #[must_use]
    pub fn object(&self, id: &str) -> Option<Value> {
        self.find(id, "Object")
    }

    fn find(&self, id: &str, suffix: &str) -> Option<Value> {
        let state = self.shared.state();
        state
            .resources
            .iter()
            .filter(|(name, _)| name.ends_with(suffix))
            .find_map(|(_, items)| items.get(id).cloned())
    }
}

/// An answer before it is sent.
struct Reply {
    status: u16,
    body: String,
    retry_after: Option<u64>,
}

impl Reply {
    fn json(status: u16, body: &Value) -> Self {
        Self {
            status,
            body: body.to_string(),
            retry_after: None,
        }
    }
}

/// Google's JSON error body, with the canonical status and legacy reason it uses for each code.
fn google_error(code: u16, message: &str, canonical: Option<&str>, reason: Option<&str>) -> Reply {
    let (default_status, default_reason) = match code {
        400 => ("INVALID_ARGUMENT", "invalid"),
        401 => ("UNAUTHENTICATED", "authError"),
        403 => ("PERMISSION_DENIED", "forbidden"),
        404 => ("NOT_FOUND", "notFound"),
        409 => ("ALREADY_EXISTS", "duplicate"),
        429 => ("RESOURCE_EXHAUSTED", "rateLimitExceeded"),
        500 => ("INTERNAL", "backendError"),
        503 => ("UNAVAILABLE", "backendError"),
        _ => ("UNKNOWN", "unknown"),
    };
    Reply::json(
        code,
        &json!({
            "error": {
                "code": code,
                "message": message,
                "errors": [{ "message": message, "domain": "global", "reason": reason.unwrap_or(default_reason) }],
                "status": canonical.unwrap_or(default_status),
            }
        }),
    )
}

fn oauth_error(status: u16, error: &str, description: &str) -> Reply {
    Reply::json(
        status,
        &json!({ "error": error, "error_description": description }),
    )
}

fn default_message(code: u16) -> &'static str {
    match code {
        400 => "Request contains an invalid argument.",
        401 => "Request had invalid authentication credentials.",
        403 => "The caller does not have permission",
        404 => "Requested entity was not found.",
        409 => "Requested entity already exists",
        429 => "Quota exceeded.",
        500 => "Internal error encountered.",
        503 => "The service is currently unavailable.",
        _ => "Error",
    }
}

async fn handle(request: HttpRequest, body: web::Bytes, shared: web::Data<Arc<Shared>>) -> HttpResponse {
    let shared: &Shared = &shared;
    let method = request.method().as_str().to_owned();
    let path = request.path().to_owned();
    let headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = body.to_vec();
    let is_token = path == TOKEN_PATH;
    let resource = path
        .strip_prefix(API_PREFIX)
        .map(|rest| rest.split('/').next().unwrap_or_default().to_owned());

    let action = {
        let mut state = shared.state();
        let found = state
            .faults
            .iter()
            .position(|f| f.matches(is_token, resource.as_deref()));
        found.map(|i| {
            let fault = &mut state.faults[i];
            let action = fault.action.clone();
            fault.times = fault.times.saturating_sub(1);
            if fault.times == 0 {
                state.faults.remove(i);
            }
            action
        })
    };
    let mut recorded = RecordedRequest {
        method: method.clone(),
        path: path.clone(),
        headers: headers.clone(),
        body: body.clone(),
        status: 0,
        faulted: action.is_some(),
    };
    let reply = match action {
        Some(Action::Hang) => {
            record(shared, recorded);
            // Dropped, with the connection, when the server stops.
            std::future::pending::<()>().await;
            unreachable!("a pending future never completes")
        }
        Some(Action::Status {
            status,
            retry_after,
            canonical,
            reason,
        }) => {
            let mut reply = if is_token {
                let error = if status >= 500 {
                    "internal_failure"
                } else {
                    "invalid_grant"
                };
                oauth_error(status, error, default_message(status))
            } else {
                google_error(
                    status,
                    default_message(status),
                    canonical.as_deref(),
                    reason.as_deref(),
                )
            };
            reply.retry_after = retry_after;
            reply
        }
        Some(Action::Delay(delay)) => {
            actix_web::rt::time::sleep(delay).await;
            recorded.faulted = false;
            route(shared, &method, &path, &headers, &body)
        }
        None => route(shared, &method, &path, &headers, &body),
    };
    recorded.status = reply.status;
    let status = actix_web::http::StatusCode::from_u16(reply.status)
        .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = HttpResponse::build(status);
    response.content_type("application/json; charset=UTF-8");
    if let Some(seconds) = reply.retry_after {
        response.insert_header(("Retry-After", seconds.to_string()));
    }
    // Record before answering, so a client that has its answer finds the request recorded.
    record(shared, recorded);
    response.body(reply.body)
}

fn record(shared: &Shared, recorded: RecordedRequest) {
    shared.state().requests.push(recorded);
    shared.changed.notify_all();
}

fn route(shared: &Shared, method: &str, path: &str, headers: &[(String, String)], body: &[u8]) -> Reply {
    if path == TOKEN_PATH {
        return if method == "POST" {
            token(shared, body)
        } else {
            oauth_error(405, "invalid_request", "the token endpoint takes POST")
        };
    }
    let Some(rest) = path.strip_prefix(API_PREFIX) else {
        return google_error(404, "The requested URL was not found on this server.", None, None);
    };
    let bearer = headers
        .iter()
        .find(|(n, _)| n == "authorization")
        .and_then(|(_, v)| v.strip_prefix("Bearer "));
    let authorized = bearer.is_some_and(|t| {
        let state = shared.state();
        state
            .tokens
            .get(t)
            .is_some_and(|expires| Instant::now() < *expires)
    });
    if !authorized {
        return google_error(
            401,
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or \
             other valid authentication credential.",
            None,
            None,
        );
    }
    let (resource, id) = match rest.split_once('/') {
        Some((resource, id)) => (resource, Some(percent_decode(id))),
        None => (rest, None),
    };
    let Some(&(resource, schema)) = RESOURCES.iter().find(|(r, _)| *r == resource) else {
        return google_error(404, "The requested URL was not found on this server.", None, None);
    };
    match (method, id) {
        ("POST", None) => write(shared, resource, schema, None, body, Check::Full),
        ("GET", Some(id)) => {
            let found = shared
                .state()
                .resources
                .get(resource)
                .and_then(|r| r.get(&id))
                .cloned();
            match found {
                Some(value) => Reply::json(200, &value),
                None => not_found(resource, &id),
            }
        }
        ("PUT", Some(id)) => write(shared, resource, schema, Some(&id), body, Check::Full),
        ("PATCH", Some(id)) => write(shared, resource, schema, Some(&id), body, Check::Partial),
        _ => google_error(404, "The requested URL was not found on this server.", None, None),
    }
}

fn not_found(resource: &str, id: &str) -> Reply {
    let what = if resource.ends_with("Class") {
        "Wallet Object Class"
    } else {
        "Wallet Object"
    };
    google_error(404, &format!("{what} {{{id}}} not found."), None, None)
}

fn percent_decode(s: &str) -> String {
    form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

fn valid_identifier(id: &str, issuer: Option<&str>) -> bool {
    let Some((prefix, rest)) = id.split_once('.') else {
        return false;
    };
    !rest.is_empty()
        && prefix.bytes().all(|b| b.is_ascii_digit())
        && issuer.is_none_or(|i| i == prefix)
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// Insert (`path_id` `None`), update or patch.
fn write(
    shared: &Shared,
    resource: &'static str,
    schema: &str,
    path_id: Option<&str>,
    body: &[u8],
    check: Check,
) -> Reply {
    let value: Value = match serde_json::from_slice(body) {
        Ok(v @ Value::Object(_)) => v,
        _ => return google_error(400, "Invalid JSON payload received.", None, None),
    };
    if shared.config.check_discovery {
        let findings = Discovery::bundled().validate(schema, &value, check);
        if !findings.is_empty() {
            let list: Vec<String> = findings.iter().map(ToString::to_string).collect();
            return google_error(
                400,
                &format!("Invalid JSON payload received for {schema}: {}", list.join("; ")),
                None,
                None,
            );
        }
    }
    let body_id = value.get("id").and_then(Value::as_str).map(str::to_owned);
    let id = match (path_id, body_id) {
        (Some(path), Some(body)) if path != body => {
            return google_error(
                400,
                &format!("The id in the URL ({path}) and in the body ({body}) differ."),
                None,
                None,
            );
        }
        (Some(path), _) => path.to_owned(),
        (None, Some(body)) => body,
        (None, None) => {
            return google_error(
                400,
                "Request contains an invalid argument. Missing resource ID.",
                None,
                None,
            );
        }
    };
    if !valid_identifier(&id, shared.config.issuer_id.as_deref()) {
        return google_error(
            400,
            &format!("Request contains an invalid argument. Invalid resource ID: {{{id}}}."),
            None,
            None,
        );
    }
    let mut state = shared.state();
    if let Some(class_resource) = resource.strip_suffix("Object").map(|stem| format!("{stem}Class"))
        && let Some(class_id) = value.get("classId").and_then(Value::as_str)
        && !state
            .resources
            .get(class_resource.as_str())
            .is_some_and(|classes| classes.contains_key(class_id))
    {
        return google_error(
            404,
            &format!("Wallet Object Class {{{class_id}}} not found."),
            None,
            None,
        );
    }
    let items = state.resources.entry(resource).or_default();
    let stored = match (path_id, check) {
        (None, _) => {
            if items.contains_key(&id) {
                return google_error(409, &format!("Resource already exists: {{{id}}}."), None, None);
            }
            value
        }
        (Some(_), Check::Full) => {
            if !items.contains_key(&id) {
                return not_found(resource, &id);
            }
            value
        }
        (Some(_), Check::Partial) => {
            let Some(Value::Object(existing)) = items.get(&id).cloned() else {
                return not_found(resource, &id);
            };
            let mut merged = existing;
            if let Value::Object(patch) = value {
                merged.extend(patch);
            }
            Value::Object(merged)
        }
    };
    items.insert(id, stored.clone());
    Reply::json(200, &stored)
}

fn token(shared: &Shared, body: &[u8]) -> Reply {
    let form: HashMap<String, String> = form_urlencoded::parse(body).into_owned().collect();
    match form.get("grant_type").map(String::as_str) {
        Some(JWT_BEARER) => {}
        Some(other) => {
            return oauth_error(
                400,
                "unsupported_grant_type",
                &format!("Invalid grant_type: {other}"),
            );
        }
        None => return oauth_error(400, "invalid_request", "Missing required parameter: grant_type"),
    }
    let Some(assertion) = form.get("assertion") else {
        return oauth_error(400, "invalid_request", "Missing required parameter: assertion");
    };
    // Which account: the unverified `iss`; then that account's key must verify the signature.
    let iss = assertion
        .split('.')
        .nth(1)
        .and_then(|c| base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, c).ok())
        .and_then(|c| serde_json::from_slice::<Value>(&c).ok())
        .and_then(|c| c.get("iss").and_then(Value::as_str).map(str::to_owned));
    let Some(iss) = iss else {
        return oauth_error(400, "invalid_grant", "Invalid JWT: no issuer");
    };
    let key = shared.state().accounts.get(&iss).cloned();
    let Some(key) = key else {
        return oauth_error(400, "invalid_grant", "Invalid grant: account not found");
    };
    let verified = match verify_with(assertion, &key) {
        Ok(v) => v,
        Err(why) => return oauth_error(400, "invalid_grant", &format!("Invalid JWT Signature. ({why})")),
    };
    let claims = &verified.claims;
    if claims.get("aud").and_then(Value::as_str) != Some(shared.config.audience.as_str()) {
        return oauth_error(
            400,
            "invalid_grant",
            "Invalid JWT: the audience is not this token endpoint",
        );
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (Some(iat), Some(exp)) = (
        claims.get("iat").and_then(Value::as_u64),
        claims.get("exp").and_then(Value::as_u64),
    ) else {
        return oauth_error(400, "invalid_grant", "Invalid JWT: iat and exp are required");
    };
    if exp <= iat || exp - iat > 3600 || exp <= now || iat > now + 300 {
        return oauth_error(
            400,
            "invalid_grant",
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.",
        );
    }
    let scopes = claims.get("scope").and_then(Value::as_str).unwrap_or_default();
    if !scopes.split(' ').any(|s| s == WALLET_SCOPE) {
        return oauth_error(
            400,
            "invalid_scope",
            "the wallet_object.issuer scope was not requested",
        );
    }
    let mut state = shared.state();
    state.tokens_issued += 1;
    let token = format!(
        "ya29.test-{}-{}",
        state.tokens_issued,
        uuid::Uuid::new_v4().simple()
    );
    let lifetime = shared.config.token_lifetime;
    state
        .tokens
        .insert(token.clone(), Instant::now() + Duration::from_secs(lifetime));
    Reply::json(
        200,
        &json!({ "access_token": token, "expires_in": lifetime, "token_type": "Bearer" }),
    )
}
