//! Every request to the identity provider goes through here (spec section 9): 10 s timeout,
//! no redirects followed, responses capped at 1 MiB, link-local and cloud-metadata addresses
//! refused (also when a name resolves to one, or hides in an IPv6 form of an IPv4 address), and
//! at most [`MAX_IN_FLIGHT`] requests under way at once.
//! Errors say what went wrong in words fit for an admin; response bodies never end up in them.

use openidconnect::reqwest;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

pub const TIMEOUT: Duration = Duration::from_secs(10);
pub const MAX_BODY: usize = 1024 * 1024;
/// Requests to the provider under way at once. A provider that hangs holds each for the whole
/// timeout; beyond this many the others fail at once instead of piling up tasks and sockets.
/// Well above what a healthy provider needs: it answers in milliseconds, so even 64 sign-ins
/// at once hold a few permits at a time.
pub const MAX_IN_FLIGHT: usize = 64;

#[derive(Debug, Clone, thiserror::Error)]
pub enum OutboundError {
    #[error("not a valid URL")]
    InvalidUrl,
    #[error("refused: the address is link-local or a cloud metadata service")]
    Blocked,
    #[error("timed out after {} s", .0.as_secs_f32())]
    Timeout(Duration),
    #[error("could not connect ({0})")]
    Unreachable(String),
    #[error("too many requests to the provider under way already")]
    Busy,
    #[error("answered with a redirect (HTTP {0}); redirects are not followed")]
    Redirect(u16),
    #[error("answered HTTP {0}")]
    Status(u16),
    #[error("sent more than 1 MiB")]
    TooLarge,
    #[error("did not send valid JSON")]
    NotJson,
    /// OIDC Discovery 4.3: the document must name exactly the issuer it was fetched for.
    #[error("names another issuer in its discovery document")]
    IssuerMismatch,
}

/// Link-local (169.254.0.0/16, fe80::/10) and well-known metadata addresses, also inside the
/// IPv6 forms that reach an IPv4 address: IPv4-mapped and -compatible, NAT64 (64:ff9b::/96 and
/// the local-use 64:ff9b:1::/48) and 6to4 (2002::/16).
pub fn blocked(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_link_local() || [[100, 100, 100, 200], [192, 0, 0, 192]].contains(&v4.octets())
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = embedded_ipv4(v6) {
                return blocked(IpAddr::V4(v4));
            }
            (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6.segments() == [0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254]
        }
    }
}

/// The IPv4 address an IPv6 address leads to, for the forms that carry one.
fn embedded_ipv4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    let low = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    match s {
        // ::a.b.c.d and ::ffff:a.b.c.d (`::` and `::1` are not IPv4 addresses).
        [0, 0, 0, 0, 0, 0 | 0xffff, _, _] => v6.to_ipv4(),
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] | [0x64, 0xff9b, 1, _, _, _, hi, lo] => {
            Some(low(hi, lo))
        }
        [0x2002, hi, lo, ..] => Some(low(hi, lo)),
        _ => None,
    }
}

/// Resolves names like the system does, minus blocked addresses. `pinned` names answer first,
/// as `/etc/hosts` entries would, and pass the same guard.
struct GuardedResolver {
    pinned: Arc<HashMap<String, Vec<IpAddr>>>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let pinned = self.pinned.get(name.as_str()).cloned();
        Box::pin(async move {
            let found: Vec<SocketAddr> = match pinned {
                Some(ips) => ips.into_iter().map(|ip| SocketAddr::new(ip, 0)).collect(),
                None => tokio::net::lookup_host((name.as_str(), 0)).await?.collect(),
            };
            let allowed: Vec<SocketAddr> = found.into_iter().filter(|a| !blocked(a.ip())).collect();
            if allowed.is_empty() {
                return Err(
                    Box::new(OutboundError::Blocked) as Box<dyn std::error::Error + Send + Sync>
                );
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

#[derive(Clone)]
pub struct Outbound {
    client: reqwest::Client,
    timeout: Duration,
    /// Shared by the clones: the bound holds for the process.
    in_flight: Arc<Semaphore>,
}

pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Result<serde_json::Value, OutboundError> {
        serde_json::from_slice(&self.body).map_err(|_| OutboundError::NotJson)
    }
}

impl Default for Outbound {
    fn default() -> Self {
        Self::new()
    }
}

impl Outbound {
    pub fn new() -> Self {
        Self::with_timeout(TIMEOUT)
    }

    /// The policy with another timeout than spec section 9's (tests of a provider that hangs).
    pub fn with_timeout(timeout: Duration) -> Self {
        Self::build(timeout, &[], HashMap::new())
    }

    /// The policy, with `names` resolved to the given addresses before the system is asked:
    /// tests of a name that leads to a blocked address, without editing the machine's hosts
    /// file.
    pub fn with_pinned_names(names: HashMap<String, Vec<IpAddr>>) -> Self {
        Self::build(TIMEOUT, &[], names)
    }

    /// The policy, trusting `roots` besides the built-in ones (`GRIMMORY_EXTRA_CA_FILE`).
    pub fn trusting(roots: &[reqwest::Certificate]) -> Self {
        Self::build(TIMEOUT, roots, HashMap::new())
    }

    fn build(
        timeout: Duration,
        roots: &[reqwest::Certificate],
        pinned: HashMap<String, Vec<IpAddr>>,
    ) -> Self {
        let builder = roots.iter().fold(reqwest::Client::builder(), |b, root| {
            b.add_root_certificate(root.clone())
        });
        let client = builder
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would resolve names itself, around the link-local guard below.
            .no_proxy()
            .timeout(timeout)
            .connect_timeout(timeout)
            .dns_resolver(Arc::new(GuardedResolver {
                pinned: Arc::new(pinned),
            }))
            .user_agent(concat!("grimmory/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("a reqwest client with static settings builds");
        Self {
            client,
            timeout,
            in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        }
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// How long one request may take at most.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Checks a URL before use: http(s), and no blocked address literal (names are checked
    /// when resolved).
    pub fn check_url(raw: &str) -> Result<reqwest::Url, OutboundError> {
        let url = reqwest::Url::parse(raw).map_err(|_| OutboundError::InvalidUrl)?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(OutboundError::InvalidUrl);
        }
        match url.host() {
            Some(url::Host::Ipv4(v4)) if blocked(IpAddr::V4(v4)) => Err(OutboundError::Blocked),
            Some(url::Host::Ipv6(v6)) if blocked(IpAddr::V6(v6)) => Err(OutboundError::Blocked),
            Some(_) => Ok(url),
            None => Err(OutboundError::InvalidUrl),
        }
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Result<Reply, OutboundError> {
        // Held until the whole answer is read.
        let _permit = self
            .in_flight
            .try_acquire()
            .map_err(|_| OutboundError::Busy)?;
        let classify = |e| classify(e, self.timeout);
        let again = request.try_clone();
        let mut response = match (request.send().await, again) {
            (Ok(response), _) => response,
            // A kept-alive connection the provider closed just as it was reused fails at once,
            // before the provider read the request: one more try, on a fresh connection.
            (Err(e), Some(again)) if !e.is_timeout() && !e.is_connect() => {
                tracing::debug!(error = %e, "outbound request failed on a reused connection; trying once more");
                again.send().await.map_err(classify)?
            }
            (Err(e), _) => return Err(classify(e)),
        };
        let status = response.status().as_u16();
        if (300..400).contains(&status) {
            return Err(OutboundError::Redirect(status));
        }
        if response
            .content_length()
            .is_some_and(|n| n as usize > MAX_BODY)
        {
            return Err(OutboundError::TooLarge);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(classify)? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(OutboundError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Reply { status, body })
    }

    /// GET a JSON document that must answer 200.
    pub async fn get_json(&self, url: &str) -> Result<serde_json::Value, OutboundError> {
        let url = Self::check_url(url)?;
        let reply = self
            .send(self.client.get(url).header("accept", "application/json"))
            .await?;
        if reply.status != 200 {
            return Err(OutboundError::Status(reply.status));
        }
        reply.json()
    }
}

fn classify(e: reqwest::Error, timeout: Duration) -> OutboundError {
    if e.is_timeout() {
        return OutboundError::Timeout(timeout);
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(err) = source {
        if err.downcast_ref::<OutboundError>().is_some() {
            return OutboundError::Blocked;
        }
        source = err.source();
    }
    let reason = if e.is_connect() {
        "connection refused or host not found"
    } else {
        "network error"
    };
    OutboundError::Unreachable(reason.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_and_link_local_are_blocked() {
        for ip in [
            "169.254.169.254",
            "fe80::1",
            "::ffff:169.254.169.254",
            "100.100.100.200",
            "fd00:ec2::254",
        ] {
            assert!(blocked(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["127.0.0.1", "10.0.0.5", "8.8.8.8", "::1"] {
            assert!(!blocked(ip.parse().unwrap()), "{ip}");
        }
        assert!(matches!(
            Outbound::check_url("http://169.254.169.254/latest"),
            Err(OutboundError::Blocked)
        ));
        assert!(Outbound::check_url("https://auth.example.com/x").is_ok());
    }

    #[test]
    fn oracle_cloud_metadata_is_blocked() {
        assert!(blocked("192.0.0.192".parse().unwrap()));
        assert!(!blocked("192.0.0.193".parse().unwrap()));
    }

    #[test]
    fn ipv4_compatible_and_mapped_forms_are_blocked() {
        for ip in [
            "::169.254.169.254",
            "::ffff:192.0.0.192",
            "::ffff:100.100.100.200",
        ] {
            assert!(blocked(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["::8.8.8.8", "::ffff:8.8.8.8", "::"] {
            assert!(!blocked(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn nat64_of_a_refused_address_is_blocked() {
        for ip in [
            "64:ff9b::169.254.169.254",
            "64:ff9b::a9fe:1",
            "64:ff9b:1::c000:c0",
        ] {
            assert!(blocked(ip.parse().unwrap()), "{ip}");
        }
        // NAT64 to an ordinary address is how IPv6-only hosts reach IPv4 providers.
        assert!(!blocked("64:ff9b::8.8.8.8".parse().unwrap()));
    }

    #[test]
    fn six_to_four_of_a_refused_address_is_blocked() {
        for ip in [
            "2002:a9fe:a9fe::1",
            "2002:6464:64c8::",
            "2002:c000:00c0:1::5",
        ] {
            assert!(blocked(ip.parse().unwrap()), "{ip}");
        }
        assert!(!blocked("2002:0808:0808::1".parse().unwrap()));
        assert!(matches!(
            Outbound::check_url("http://[2002:a9fe:a9fe::]/latest"),
            Err(OutboundError::Blocked)
        ));
    }

    /// A provider that closes a kept-alive connection when it is used again (as one whose
    /// keep-alive ran out just then): the request goes through on a fresh connection.
    #[tokio::test]
    async fn a_connection_closed_by_the_provider_on_reuse_is_retried_fresh() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            // Bounded: the test makes three requests at most.
            for _ in 0..3 {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    // The first request on each connection is answered and kept alive; the
                    // next one on it finds the connection closed.
                    if socket.read(&mut buf).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let body = "{\"ok\":true}";
                    let head = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: keep-alive\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(head.as_bytes()).await;
                    let _ = socket.read(&mut buf).await;
                });
            }
        });
        let outbound = Outbound::new();
        let url = format!("http://{addr}/doc");
        assert_eq!(outbound.get_json(&url).await.unwrap()["ok"], true);
        assert_eq!(
            outbound.get_json(&url).await.unwrap()["ok"],
            true,
            "the second request reuses the closed connection, then succeeds on a new one"
        );
    }
}
