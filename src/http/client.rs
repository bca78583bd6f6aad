//! Who is on the other end: the client IP and the origin the request was addressed to, read
//! through trusted reverse proxies only.

use crate::AppState;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The client as seen through trusted proxies.
#[derive(Debug, Clone)]
pub struct Client {
    pub ip: IpAddr,
    /// `scheme://host[:port]` this request was sent to.
    pub own_origin: Option<String>,
    /// The browser reached us over https: the public URL is https, or a trusted proxy says so.
    /// Cookies then carry `Secure` and the `__Host-` prefix.
    pub https: bool,
    /// The client is on this machine: a loopback address as seen through trusted proxies, and
    /// no forwarding headers from a proxy we do not trust (which would hide who is behind it).
    pub on_this_host: bool,
}

impl Client {
    pub fn ip_string(&self) -> String {
        self.ip.to_string()
    }
}

fn trusted(ip: IpAddr, proxies: &[IpNet]) -> bool {
    proxies.iter().any(|net| net.contains(&ip))
}

/// The client IP: the socket address, or — when that is a trusted proxy — the rightmost
/// `X-Forwarded-For` entry that is not itself a trusted proxy. Entries further left are
/// written by the client and cannot be believed; so is everything left of an entry that does
/// not parse, and then the proxy's own address is used. IPv4-mapped IPv6 addresses (from a
/// dual-stack listener) count as the IPv4 address they carry.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, proxies: &[IpNet]) -> IpAddr {
    let peer = peer.to_canonical();
    if !trusted(peer, proxies) {
        return peer;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut last_trusted = peer;
    for hop in hops.iter().rev() {
        let Ok(ip) = hop.parse::<IpAddr>().map(|ip| ip.to_canonical()) else {
            return last_trusted;
        };
        if !trusted(ip, proxies) {
            return ip;
        }
        last_trusted = ip;
    }
    last_trusted
}

/// The first value of a (possibly comma-separated) header.
fn first_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(',').next().unwrap_or("").trim().to_owned())
}

/// The scheme the browser used: what a trusted proxy reports, else plain http (our listener
/// speaks nothing else).
fn scheme(peer_trusted: bool, headers: &HeaderMap) -> String {
    match first_value(headers, "x-forwarded-proto") {
        Some(proto) if peer_trusted && !proto.is_empty() => proto.to_ascii_lowercase(),
        _ => "http".to_owned(),
    }
}

fn own_origin(peer_trusted: bool, headers: &HeaderMap) -> Option<String> {
    let host = if peer_trusted {
        first_value(headers, "x-forwarded-host").or_else(|| first_value(headers, "host"))
    } else {
        first_value(headers, "host")
    };
    host.filter(|h| !h.is_empty()).map(|h| {
        format!(
            "{}://{}",
            scheme(peer_trusted, headers),
            h.to_ascii_lowercase()
        )
    })
}

/// Headers a reverse proxy adds about the client.
const FORWARDING_HEADERS: &[&str] = &["x-forwarded-for", "forwarded", "x-forwarded-proto"];

/// Remembers whether this server has already warned about an untrusted proxy on its own host,
/// so the log says it once instead of on every request.
#[derive(Debug, Clone, Default)]
pub struct ProxyWarning(Arc<AtomicBool>);

impl ProxyWarning {
    /// A proxy on this host that is not trusted makes every client look like the loopback
    /// address: one login limit for everyone, and `/metrics` open to all of them.
    fn check(&self, peer: IpAddr, peer_trusted: bool, headers: &HeaderMap) {
        if peer_trusted
            || !peer.is_loopback()
            || !FORWARDING_HEADERS.iter().any(|h| headers.contains_key(*h))
            || self.0.swap(true, Ordering::Relaxed)
        {
            return;
        }
        tracing::warn!(
            %peer,
            "a reverse proxy on this host sends X-Forwarded-For/Forwarded headers, but {peer} is not in \
             GRIMMORY_TRUSTED_PROXIES: every client looks like {peer}, so they share one login rate \
             limit and /metrics answers all of them. Set GRIMMORY_TRUSTED_PROXIES={peer} (shown once)"
        );
    }
}

/// Puts a [`Client`] in the request's extensions.
pub async fn identify(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
        .to_canonical();
    let proxies = &state.config.trusted_proxies;
    let peer_trusted = trusted(peer, proxies);
    state.proxy_warning.check(peer, peer_trusted, req.headers());
    let ip = client_ip(peer, req.headers(), proxies);
    let forwarded_untrusted = !peer_trusted
        && FORWARDING_HEADERS
            .iter()
            .any(|h| req.headers().contains_key(*h));
    let client = Client {
        ip,
        own_origin: own_origin(peer_trusted, req.headers()),
        https: state.config.secure_cookies() || scheme(peer_trusted, req.headers()) == "https",
        on_this_host: ip.is_loopback() && !forwarded_untrusted,
    };
    req.extensions_mut().insert(client);
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xff(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", v.parse().unwrap());
        h
    }

    #[test]
    fn forwarded_for_is_read_only_from_trusted_proxies() {
        let proxies: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let peer: IpAddr = "10.0.0.2".parse().unwrap();
        let outsider: IpAddr = "203.0.113.9".parse().unwrap();
        // Not a proxy: the header is ignored.
        assert_eq!(client_ip(outsider, &xff("1.2.3.4"), &proxies), outsider);
        // Through a proxy: the rightmost untrusted hop, not the spoofable leftmost.
        assert_eq!(
            client_ip(peer, &xff("6.6.6.6, 198.51.100.7, 10.0.0.3"), &proxies).to_string(),
            "198.51.100.7"
        );
        // No header: the proxy itself.
        assert_eq!(client_ip(peer, &HeaderMap::new(), &proxies), peer);
        // A hop that does not parse: nothing left of it is believed.
        assert_eq!(
            client_ip(peer, &xff("6.6.6.6, 1.2.3.4:5678"), &proxies),
            peer
        );
        // A dual-stack listener sees IPv4 clients as mapped IPv6.
        let mapped: IpAddr = "::ffff:10.0.0.2".parse().unwrap();
        assert_eq!(
            client_ip(mapped, &xff("198.51.100.7"), &proxies).to_string(),
            "198.51.100.7"
        );
    }
}
