//! Rate limits by client (spec section 9), counted in the database so they hold across
//! replicas. A client is its IP address, except that IPv6 clients count by their /64: one
//! host usually holds a whole /64 and could otherwise take a fresh address per request.

use super::session::SessionToken;
use crate::clock::Millis;
use crate::error::{AppError, AppResult};
use crate::state::Services;
use std::net::{IpAddr, Ipv6Addr};

/// Sign-ins started (authorize and link) per client per minute.
pub const STARTS_PER_MINUTE: i64 = 30;
/// Sign-ins started per IPv6 /48 per minute: a site or customer holds a whole /48, so one
/// host could otherwise start from thousands of /64s at once.
pub const STARTS_PER_MINUTE_PER_48: i64 = 120;
/// Failed callbacks per client in ten minutes. Each is audited and may cost a call to the
/// provider, so a flood is cut off well before it fills the audit log.
pub const CALLBACK_FAILURES: i64 = 60;
pub const CALLBACK_WINDOW_MS: Millis = 10 * 60_000;
/// Refused back-channel logout requests per client per minute. Only refusals count, so a
/// provider that ends many sessions at once is never held back.
pub const BACKCHANNEL_FAILURES: i64 = 60;
const MINUTE_MS: Millis = 60_000;

/// The key a client's requests count under: an IPv4 address as it is (also when it comes
/// IPv4-mapped from a dual-stack listener), an IPv6 address by its /64.
pub fn client_key(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let prefix = Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
            format!("{prefix}/64")
        }
    }
}

/// The IPv6 /48 an address belongs to, for the coarser limits; `None` for IPv4.
pub fn site_key(ip: &str) -> Option<String> {
    match ip.parse::<IpAddr>().ok()?.to_canonical() {
        IpAddr::V4(_) => None,
        IpAddr::V6(v6) => {
            let s = v6.segments();
            Some(format!(
                "{}/48",
                Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, 0)
            ))
        }
    }
}

/// [`client_key`] of an address as the edges pass it on, in text; text that is no address
/// counts as itself.
pub fn key_of(ip: &str) -> String {
    ip.parse().map(client_key).unwrap_or_else(|_| ip.to_owned())
}

/// An attempt counted before the work it limits, so requests sent at once cannot all slip in
/// under the limit. [`Attempt::forget`] takes it back when it turns out not to count.
#[must_use]
pub struct Attempt(String);

impl Attempt {
    pub async fn forget(self, state: &Services) -> AppResult<()> {
        Ok(state.db.forget_attempt(&self.0).await?)
    }

    /// Takes the attempt back from `bucket` only; it stays counted in the others.
    pub async fn forget_in(&self, state: &Services, bucket: &str) -> AppResult<()> {
        Ok(state.db.forget_hit(bucket, &self.0).await?)
    }

    /// The id its hits are recorded under.
    pub fn id(&self) -> &str {
        &self.0
    }
}

/// Records one attempt in each of `buckets`; answers it with each bucket's count in the
/// window, this attempt included.
pub async fn record(
    state: &Services,
    buckets: &[&str],
    window_ms: Millis,
) -> AppResult<(Attempt, Vec<i64>)> {
    let now = state.clock.now();
    let attempt = SessionToken::generate().hash();
    let counts = state
        .db
        .record_attempt(buckets, &attempt, now, now - window_ms)
        .await?;
    Ok((Attempt(attempt), counts))
}

/// Counts one attempt in `bucket`; over `limit` within the window it is taken back (so
/// waiting out the window always works) and refused.
async fn count(
    state: &Services,
    bucket: &str,
    limit: i64,
    window_ms: Millis,
    refusal: &str,
) -> AppResult<Attempt> {
    let (attempt, counts) = record(state, &[bucket], window_ms).await?;
    if counts[0] > limit {
        attempt.forget(state).await?;
        return Err(AppError::TooManyRequests(refusal.to_owned()));
    }
    Ok(attempt)
}

/// A sign-in started at the provider (authorize, or link from /profile).
pub async fn start(state: &Services, ip: &str) -> AppResult<()> {
    let bucket = format!("authorize-ip:{}", key_of(ip));
    let refusal = "Too many sign-in attempts. Please try again in a minute.";
    // Started sign-ins stay counted, successful or not.
    let _counted = count(state, &bucket, STARTS_PER_MINUTE, MINUTE_MS, refusal).await?;
    if let Some(site) = site_key(ip) {
        let bucket = format!("authorize-48:{site}");
        let limit = STARTS_PER_MINUTE_PER_48;
        let _counted = count(state, &bucket, limit, MINUTE_MS, refusal).await?;
    }
    Ok(())
}

/// A callback from the provider; forget the attempt when the sign-in succeeds.
pub async fn callback(state: &Services, ip: &str) -> AppResult<Attempt> {
    let bucket = format!("callback-ip:{}", key_of(ip));
    let refusal = "Too many failed sign-ins. Please try again later.";
    count(
        state,
        &bucket,
        CALLBACK_FAILURES,
        CALLBACK_WINDOW_MS,
        refusal,
    )
    .await
}

/// A back-channel logout request, counted before its token is checked; forget the attempt
/// when the token is accepted. Over the limit it is still checked (a genuine logout must
/// never be refused), but without the costly parts of a refusal: see [`Counted::over`].
pub async fn backchannel(state: &Services, ip: &str) -> AppResult<Counted> {
    let bucket = format!("backchannel-ip:{}", key_of(ip));
    let (attempt, counts) = record(state, &[bucket.as_str()], MINUTE_MS).await?;
    Ok(Counted {
        attempt,
        over: counts[0] > BACKCHANNEL_FAILURES,
    })
}

/// An attempt counted, and whether the client is over its limit with it.
pub struct Counted {
    pub attempt: Attempt,
    pub over: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_count_by_their_64_and_ipv4_by_address() {
        let key = |ip: &str| key_of(ip);
        assert_eq!(key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(key("2001:db8:1:2:ffff:ffff:ffff:ffff"), "2001:db8:1:2::/64");
        assert_ne!(key("2001:db8:1:3::1"), key("2001:db8:1:2::1"));
        assert_eq!(key("198.51.100.7"), "198.51.100.7");
        assert_ne!(key("198.51.100.7"), key("198.51.100.8"));
        assert_eq!(key("::ffff:198.51.100.7"), "198.51.100.7");
        assert_eq!(key("not an address"), "not an address");
    }

    #[test]
    fn ipv6_sites_are_their_48() {
        assert_eq!(
            site_key("2001:db8:1:2:aaaa::1").as_deref(),
            Some("2001:db8:1::/48")
        );
        assert_eq!(site_key("2001:db8:1:ffff::1"), site_key("2001:db8:1:2::1"));
        assert_eq!(site_key("198.51.100.7"), None);
        assert_eq!(site_key("::ffff:198.51.100.7"), None);
    }
}
