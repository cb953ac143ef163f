//! The per-client-address rate limit of the public routes (SPEC 6): a GCRA ("leaky bucket as a
//! meter") per address, in bounded memory.
//!
//! An IPv6 client is keyed by its /64 (one subscriber usually holds a whole /64, so per-address
//! keys would let one client take 2^64 buckets). Memory is bounded by [`MAX_CLIENTS`] keys: a
//! key whose bucket is full again (its theoretical arrival time has passed) holds nothing a
//! fresh key wouldn't, so a full table first drops those; when every key is live, clients
//! beyond the table share one overflow bucket, which limits them all together rather than
//! letting them through or growing the table.
//!
//! Why not the `governor` crate: its keyed limiter's map only shrinks through a manual
//! `retain_recent` sweep and has no hard cap; the cap and the overflow bucket here are what
//! bound memory under an address-rotating flood, and GCRA itself is a few lines.
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::RateLimit;

/// Most client keys tracked (about 40 bytes each with the map's overhead).
pub const MAX_CLIENTS: usize = 100_000;
/// How often a full table may be swept for keys whose bucket is full again.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// The rate limiter of one server.
#[derive(Debug)]
pub struct RateLimiter {
    /// Time between two requests at the sustained rate, in nanoseconds.
    interval: u64,
    /// How far ahead of now a client's theoretical arrival time may run (burst - 1 intervals).
    tolerance: u64,
    started: Instant,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Client key -> theoretical arrival time (ns since `started`).
    clients: HashMap<IpAddr, u64>,
    overflow: u64,
    last_sweep: u64,
}

impl RateLimiter {
    pub fn new(limit: RateLimit) -> Self {
        let interval = (1e9 / limit.per_second).clamp(1.0, 1e18) as u64;
        Self {
            interval,
            tolerance: interval.saturating_mul(u64::from(limit.burst.max(1) - 1)),
            started: Instant::now(),
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Takes one request of `client`: `Ok` within its rate, else `Err(retry after)`.
    pub fn check(&self, client: IpAddr) -> Result<(), Duration> {
        let now = u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let key = client_key(client);
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if !inner.clients.contains_key(&key) && inner.clients.len() >= MAX_CLIENTS {
            if now.saturating_sub(inner.last_sweep) >= SWEEP_EVERY.as_nanos() as u64 {
                inner.last_sweep = now;
                inner.clients.retain(|_, tat| *tat > now);
            }
            if inner.clients.len() >= MAX_CLIENTS {
                let (interval, tolerance) = (self.interval, self.tolerance);
                return take(&mut inner.overflow, now, interval, tolerance);
            }
        }
        let tat = inner.clients.entry(key).or_insert(0);
        take(tat, now, self.interval, self.tolerance)
    }

    /// Client keys tracked now (for tests and `/metrics`).
    pub fn tracked(&self) -> usize {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).clients.len()
    }
}

/// One GCRA step on the theoretical arrival time `tat`.
fn take(tat: &mut u64, now: u64, interval: u64, tolerance: u64) -> Result<(), Duration> {
    let start = (*tat).max(now);
    let ahead = start - now;
    if ahead > tolerance {
        return Err(Duration::from_nanos(ahead - tolerance));
    }
    *tat = start.saturating_add(interval);
    Ok(())
}

/// The key a client is limited by: its IPv4 address, or the /64 of its IPv6 address.
fn client_key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(bits.into())
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(per_second: f64, burst: u32) -> RateLimiter {
        RateLimiter::new(RateLimit { per_second, burst })
    }

    #[test]
    fn lets_a_burst_through_then_refuses_with_the_time_to_wait() {
        // One request per 100 s: nothing refills while the test runs.
        let l = limiter(0.01, 3);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..3 {
            assert!(l.check(a).is_ok());
        }
        let wait = l.check(a).unwrap_err();
        assert!(wait > Duration::from_secs(90), "{wait:?}");
        // Another client has its own bucket.
        assert!(l.check("192.0.2.2".parse().unwrap()).is_ok());
    }

    #[test]
    fn keys_an_ipv6_client_by_its_slash_64() {
        let l = limiter(0.01, 1);
        assert!(l.check("2001:db8::1".parse().unwrap()).is_ok());
        assert!(l.check("2001:db8::ffff:2".parse().unwrap()).is_err());
        assert!(l.check("2001:db8:0:1::1".parse().unwrap()).is_ok());
        assert!(l.check("::ffff:192.0.2.9".parse().unwrap()).is_ok());
        assert!(l.check("192.0.2.9".parse().unwrap()).is_err());
    }

    #[test]
    fn never_tracks_more_than_the_cap_and_limits_the_rest_together() {
        let l = limiter(0.01, 2);
        for i in 0..MAX_CLIENTS as u32 {
            let address = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            assert!(l.check(address).is_ok());
        }
        assert_eq!(l.tracked(), MAX_CLIENTS);
        // Every tracked bucket is live: newcomers share the overflow bucket (burst 2).
        let mut allowed = 0;
        for i in 0..100u32 {
            let address = IpAddr::V4(std::net::Ipv4Addr::from(0x0b00_0000 + i));
            allowed += usize::from(l.check(address).is_ok());
        }
        assert_eq!(allowed, 2);
        assert_eq!(l.tracked(), MAX_CLIENTS);
    }
}
