//! A webhook receiver for tests: a real HTTP server on loopback that records every delivery and
//! answers as scripted (a status, or hanging until the client gives up).
#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;
use serde_json::Value;
use tokio::sync::watch;

/// How the receiver answers one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Status(u16),
    /// Never answer (the sender's timeout ends it).
    Hang,
}

/// One delivery as it arrived.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub headers: HeaderMap,
    pub raw: Bytes,
    pub body: Value,
    pub answered: Answer,
}

impl Delivery {
    pub fn event_id(&self) -> &str {
        self.body["id"].as_str().unwrap_or_default()
    }

    pub fn event_type(&self) -> &str {
        self.body["type"].as_str().unwrap_or_default()
    }

    /// Whether `Passmint-Signature` is `t=…,v1=hex(HMAC-SHA256(secret, "t." + raw body))`.
    pub fn signed_with(&self, secret: &str) -> bool {
        let Some(header) = self
            .headers
            .get("passmint-signature")
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        let Some((t, v1)) = header.strip_prefix("t=").and_then(|rest| rest.split_once(",v1=")) else {
            return false;
        };
        if t.parse::<i64>().is_err() {
            return false;
        }
        let key = PKey::hmac(secret.as_bytes()).unwrap();
        let mut signer = Signer::new(MessageDigest::sha256(), &key).unwrap();
        signer.update(t.as_bytes()).unwrap();
        signer.update(b".").unwrap();
        signer.update(&self.raw).unwrap();
        hex::encode(signer.sign_to_vec().unwrap()) == v1
    }
}

#[derive(Default)]
struct Inner {
    script: VecDeque<Answer>,
    received: Vec<Delivery>,
    /// Answers held until `release` (a slow receiver).
    holding: bool,
}

#[derive(Clone)]
struct Shared {
    inner: Arc<Mutex<Inner>>,
    gate: watch::Receiver<bool>,
}

/// A running receiver; dropped, it stops.
pub struct Receiver {
    pub url: String,
    pub port: u16,
    inner: Arc<Mutex<Inner>>,
    gate: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    /// On a free loopback port.
    pub async fn start() -> Self {
        Self::start_on(0).await
    }

    /// On loopback port `port` (0: any free one).
    pub async fn start_on(port: u16) -> Self {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let inner = Arc::new(Mutex::new(Inner::default()));
        let (gate, gate_rx) = watch::channel(true);
        let app = Router::new().route("/hook", post(receive)).with_state(Shared {
            inner: inner.clone(),
            gate: gate_rx,
        });
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            url: format!("http://127.0.0.1:{port}/hook"),
            port,
            inner,
            gate,
            task,
        }
    }

    /// Answers the next deliveries with these, in order (then 200).
    pub fn script(&self, answers: &[Answer]) {
        self.inner.lock().unwrap().script.extend(answers.iter().copied());
    }

    /// Holds every answer until [`Self::release`] (a receiver that is slow, not down).
    pub fn hold(&self) {
        let _ = self.gate.send(false);
    }

    pub fn release(&self) {
        let _ = self.gate.send(true);
    }

    pub fn received(&self) -> Vec<Delivery> {
        self.inner.lock().unwrap().received.clone()
    }

    /// Deliveries answered with a 2xx.
    pub fn accepted(&self) -> Vec<Delivery> {
        self.received()
            .into_iter()
            .filter(|d| matches!(d.answered, Answer::Status(s) if (200..300).contains(&s)))
            .collect()
    }

    /// Waits (bounded) until `ok` holds for the accepted deliveries.
    pub async fn wait_until(&self, what: &str, ok: impl Fn(&[Delivery]) -> bool) -> Vec<Delivery> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let accepted = self.accepted();
            if ok(&accepted) {
                return accepted;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "receiver never saw {what}; accepted so far: {:?}",
                accepted
                    .iter()
                    .map(|d| d.event_type().to_string())
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn stop(self) {
        self.task.abort();
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(State(shared): State<Shared>, headers: HeaderMap, raw: Bytes) -> StatusCode {
    let answer = shared
        .inner
        .lock()
        .unwrap()
        .script
        .pop_front()
        .unwrap_or(Answer::Status(200));
    let body: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    let holding = !*shared.gate.borrow();
    if holding {
        let mut gate = shared.gate.clone();
        let _ = gate.wait_for(|open| *open).await;
    }
    if answer == Answer::Hang {
        shared.inner.lock().unwrap().received.push(Delivery {
            headers,
            raw,
            body,
            answered: answer,
        });
        std::future::pending::<()>().await;
        return StatusCode::OK;
    }
    shared.inner.lock().unwrap().received.push(Delivery {
        headers,
        raw,
        body,
        answered: answer,
    });
    let Answer::Status(code) = answer else {
        unreachable!()
    };
    StatusCode::from_u16(code).unwrap_or(StatusCode::OK)
}
