//! Dashboard sessions: signing in with an admin token opens a server-side session, named by a
//! random cookie (`HttpOnly; SameSite=Strict; Path=/dashboard`, `Secure` behind an https
//! public URL), with its own CSRF token for every form.
//!
//! Kept in memory, bounded: at most [`MAX_SESSIONS`] (the least recently used goes first), each
//! for [`IDLE`] without use and [`LIFETIME`] at most. Why memory and not the store: a session
//! is a convenience for people at a browser, not data; losing them on restart only means
//! signing in again, and nothing is written to the database per page view. Several `serve`
//! processes behind a load balancer need sticky sessions for the dashboard (said in the README).
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Sessions kept at most.
pub const MAX_SESSIONS: usize = 10_000;
/// A session unused this long ends.
pub const IDLE: Duration = Duration::from_secs(12 * 3600);
/// A session ends this long after sign-in, used or not.
pub const LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);
/// The cookie's name.
pub const COOKIE: &str = "passmint_session";

#[derive(Debug, Clone)]
struct Entry {
    csrf: String,
    created: Instant,
    used: Instant,
}

/// An open session, as a request sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The token every form of this session carries.
    pub csrf: String,
}

/// The open sessions, by the SHA-256 of their cookie value.
#[derive(Debug, Default)]
pub struct Sessions {
    inner: Mutex<HashMap<[u8; 32], Entry>>,
}

fn random_token() -> String {
    let mut raw = [0u8; 32];
    rand::fill(&mut raw);
    URL_SAFE_NO_PAD.encode(raw)
}

impl Sessions {
    /// Opens a session; returns its cookie value.
    pub fn open(&self) -> String {
        let id = random_token();
        let now = Instant::now();
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.retain(|_, e| alive(e, now));
        if inner.len() >= MAX_SESSIONS
            && let Some(oldest) = inner.iter().min_by_key(|(_, e)| e.used).map(|(k, _)| *k)
        {
            inner.remove(&oldest);
        }
        inner.insert(
            crate::tokens::hash(&id),
            Entry {
                csrf: random_token(),
                created: now,
                used: now,
            },
        );
        id
    }

    /// The session named by cookie value `id`, if open (and marks it used).
    pub fn get(&self, id: &str) -> Option<Session> {
        let now = Instant::now();
        let key = crate::tokens::hash(id);
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let entry = inner.get_mut(&key)?;
        if !alive(entry, now) {
            inner.remove(&key);
            return None;
        }
        entry.used = now;
        Some(Session {
            csrf: entry.csrf.clone(),
        })
    }

    /// Ends the session named by `id`.
    pub fn close(&self, id: &str) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.remove(&crate::tokens::hash(id));
    }

    /// Sessions open now.
    pub fn len(&self) -> usize {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn alive(e: &Entry, now: Instant) -> bool {
    now.duration_since(e.used) < IDLE && now.duration_since(e.created) < LIFETIME
}

/// The `Set-Cookie` value that opens session `id`.
pub fn set_cookie(id: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{COOKIE}={id}; Path=/dashboard; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        LIFETIME.as_secs()
    )
}

/// The `Set-Cookie` value that ends the session cookie.
pub fn clear_cookie(secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}=; Path=/dashboard; HttpOnly; SameSite=Strict; Max-Age=0{secure}")
}

/// The session cookie's value in a `Cookie` header.
pub fn cookie_value(header: &str) -> Option<&str> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_opens_is_found_by_its_cookie_and_closes() {
        let sessions = Sessions::default();
        let id = sessions.open();
        let session = sessions.get(&id).expect("open");
        assert!(session.csrf.len() >= 43);
        assert_ne!(session.csrf, id);
        assert_eq!(sessions.get("not-a-session"), None);
        sessions.close(&id);
        assert_eq!(sessions.get(&id), None);
    }

    #[test]
    fn sessions_are_bounded_dropping_the_least_recently_used() {
        let sessions = Sessions::default();
        let first = sessions.open();
        let second = sessions.open();
        for _ in 0..MAX_SESSIONS {
            // Keep the second one in use; the first goes when room runs out.
            sessions.get(&second);
            sessions.open();
        }
        assert_eq!(sessions.len(), MAX_SESSIONS);
        assert!(sessions.get(&first).is_none());
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_scoped_to_the_dashboard() {
        let c = set_cookie("abc", true);
        assert!(c.starts_with("passmint_session=abc; Path=/dashboard; HttpOnly; SameSite=Strict"));
        assert!(c.ends_with("; Secure"));
        assert!(!set_cookie("abc", false).contains("Secure"));
        assert_eq!(cookie_value("a=1; passmint_session=xyz; b=2"), Some("xyz"));
        assert_eq!(cookie_value("passmint_session="), None);
    }
}
