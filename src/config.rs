//! Typed settings, read once at start from environment variables and matching CLI flags.
//!
//! Every value arrives as text and is checked here, so a bad value stops start-up with one
//! clear line naming the setting instead of clap's multi-line usage dump.

use clap::Args;
use ipnet::IpNet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use url::Url;

/// The settings as given, before checking. Each has an environment variable and a flag. No
/// `Debug`: it holds secrets as typed.
#[derive(Args)]
pub struct RawSettings {
    /// Database URL: `sqlite://path?mode=rwc` or `postgres://…` (default: SQLite under ./data/).
    #[arg(long, env = "DATABASE_URL", global = true)]
    pub database_url: Option<String>,
    /// Address and port to listen on.
    #[arg(long = "bind", env = "GRIMMORY_BIND", global = true)]
    pub bind: Option<String>,
    /// The URL users reach Grimmory at, e.g. https://books.example.com.
    #[arg(long, env = "GRIMMORY_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,
    /// Key that encrypts secrets at rest (at least 16 characters, e.g. `openssl rand -hex 32`).
    /// With SQLite it is generated into the data folder when not given; PostgreSQL needs it.
    #[arg(
        long,
        env = "GRIMMORY_SECRET_KEY",
        global = true,
        hide_env_values = true
    )]
    pub secret_key: Option<String>,
    /// File holding the secret key (instead of GRIMMORY_SECRET_KEY).
    #[arg(long, env = "GRIMMORY_SECRET_KEY_FILE", global = true)]
    pub secret_key_file: Option<PathBuf>,
    /// Turn OIDC off everywhere, whatever the database says (true/false).
    #[arg(long, env = "FORCE_DISABLE_OIDC", global = true)]
    pub force_disable_oidc: Option<String>,
    /// Comma-separated CIDRs of reverse proxies whose X-Forwarded-* headers are trusted.
    #[arg(long, env = "GRIMMORY_TRUSTED_PROXIES", global = true)]
    pub trusted_proxies: Option<String>,
    /// Hours of inactivity after which a session ends (default 168).
    #[arg(long, env = "GRIMMORY_SESSION_IDLE_HOURS", global = true)]
    pub session_idle_hours: Option<String>,
    /// Bearer token /metrics asks for; without one, /metrics answers loopback clients only.
    #[arg(
        long,
        env = "GRIMMORY_METRICS_TOKEN",
        global = true,
        hide_env_values = true
    )]
    pub metrics_token: Option<String>,
    /// Folder holding the built site (pkg/, style); default target/site.
    #[arg(long, env = "LEPTOS_SITE_ROOT", global = true)]
    pub site_root: Option<String>,
    /// PEM file of extra certificate authorities to trust for the identity provider (one
    /// behind a private CA); the built-in public roots stay trusted.
    #[arg(long, env = "GRIMMORY_EXTRA_CA_FILE", global = true)]
    pub extra_ca_file: Option<PathBuf>,
    /// Milliseconds a request waits for a database that does not answer before it answers 503
    /// (default 2000).
    #[arg(long, env = "GRIMMORY_DB_ACQUIRE_TIMEOUT_MS", global = true)]
    pub db_acquire_timeout_ms: Option<String>,
}

/// A configured secret: `Debug` and logs show it as redacted; `expose` is the one way to read it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(redacted)")
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    pub bind: SocketAddr,
    /// Origin only (scheme, host, port), without a trailing slash.
    pub public_url: Option<String>,
    pub force_disable_oidc: bool,
    pub trusted_proxies: Vec<IpNet>,
    pub session_idle_ms: i64,
    pub metrics_token: Option<Secret>,
    /// The configured key material, when given; see [`crate::AppState::new`] for the default.
    pub secret_key: Option<Secret>,
    pub site_root: String,
    /// Certificate authorities trusted for outbound requests besides the built-in roots.
    pub extra_roots: ExtraRoots,
    /// How long a request waits for the database: when it does not answer (a probe on a
    /// connection of its own says so), requests fail with 503 by then instead of piling up; a
    /// database that answers but is busy is waited for.
    pub db_acquire_timeout: Duration,
}

/// The certificates of `GRIMMORY_EXTRA_CA_FILE`, read and checked at start.
#[derive(Clone, Default)]
pub struct ExtraRoots(pub Vec<openidconnect::reqwest::Certificate>);

impl std::fmt::Debug for ExtraRoots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ExtraRoots({} certificates)", self.0.len())
    }
}

/// The shortest secret key accepted, configured or found in a key file.
pub const MIN_SECRET_KEY_CHARS: usize = 16;

pub const DEFAULT_SQLITE_URL: &str = "sqlite://data/grimmory.db?mode=rwc";
const HOUR_MS: i64 = 3_600_000;

impl Config {
    pub fn from_raw(raw: &RawSettings) -> Result<Self, String> {
        Ok(Self {
            database_url: parse_database_url(raw.database_url.as_deref())?,
            bind: parse_bind(raw.bind.as_deref())?,
            public_url: raw
                .public_url
                .as_deref()
                .filter(|v| !v.trim().is_empty())
                .map(parse_public_url)
                .transpose()?,
            force_disable_oidc: parse_bool(
                "FORCE_DISABLE_OIDC",
                raw.force_disable_oidc.as_deref(),
            )?,
            trusted_proxies: parse_proxies(raw.trusted_proxies.as_deref())?,
            session_idle_ms: parse_idle_hours(raw.session_idle_hours.as_deref())? * HOUR_MS,
            metrics_token: raw
                .metrics_token
                .clone()
                .filter(|t| !t.trim().is_empty())
                .map(Secret),
            secret_key: parse_secret_key(
                raw.secret_key.as_deref(),
                raw.secret_key_file.as_deref(),
            )?
            .map(Secret),
            extra_roots: parse_extra_ca(raw.extra_ca_file.as_deref())?,
            site_root: raw
                .site_root
                .clone()
                .unwrap_or_else(|| "target/site".to_owned()),
            db_acquire_timeout: parse_acquire_timeout(raw.db_acquire_timeout_ms.as_deref())?,
        })
    }

    /// Whether every request counts as https for its cookies (`Secure`, `__Host-`): the public
    /// URL is https. Without it a trusted proxy may still say so per request (`Client::https`).
    pub fn secure_cookies(&self) -> bool {
        self.public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"))
    }
}

fn parse_database_url(value: Option<&str>) -> Result<String, String> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(DEFAULT_SQLITE_URL.to_owned()),
        Some(v)
            if v.starts_with("sqlite:")
                || v.starts_with("postgres://")
                || v.starts_with("postgresql://") =>
        {
            Ok(v.to_owned())
        }
        Some(_) => Err("DATABASE_URL must start with sqlite: or postgres://".to_owned()),
    }
}

fn parse_bind(value: Option<&str>) -> Result<SocketAddr, String> {
    let v = value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .unwrap_or("127.0.0.1:3000");
    v.parse().map_err(|_| {
        format!(
            "GRIMMORY_BIND \"{v}\" is not an address and port, e.g. 127.0.0.1:3000 or 0.0.0.0:3000"
        )
    })
}

fn parse_public_url(value: &str) -> Result<String, String> {
    let bad = |why: &str| format!("GRIMMORY_PUBLIC_URL \"{value}\" {why}");
    let url = Url::parse(value.trim())
        .map_err(|_| bad("is not an absolute URL, e.g. https://books.example.com"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("must use http or https"));
    }
    if url.host_str().is_none() {
        return Err(bad("has no host"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(bad(
            "must be an origin without a path, e.g. https://books.example.com",
        ));
    }
    Ok(url.origin().ascii_serialization())
}

fn parse_bool(name: &str, value: Option<&str>) -> Result<bool, String> {
    match value.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") | Some("false") | Some("0") | Some("no") => Ok(false),
        Some("true") | Some("1") | Some("yes") => Ok(true),
        Some(other) => Err(format!("{name} \"{other}\" must be true or false")),
    }
}

fn parse_proxies(value: Option<&str>) -> Result<Vec<IpNet>, String> {
    value
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.parse::<IpNet>()
                .or_else(|_| p.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    format!("GRIMMORY_TRUSTED_PROXIES entry \"{p}\" is not an IP address or CIDR")
                })
        })
        .collect()
}

fn parse_secret_key(
    value: Option<&str>,
    file: Option<&std::path::Path>,
) -> Result<Option<String>, String> {
    let value = value.map(str::trim).filter(|v| !v.is_empty());
    let (name, material) = match (value, file) {
        (Some(_), Some(_)) => {
            return Err(
                "GRIMMORY_SECRET_KEY and GRIMMORY_SECRET_KEY_FILE are both set: keep one"
                    .to_owned(),
            )
        }
        (Some(v), None) => ("GRIMMORY_SECRET_KEY", v.to_owned()),
        (None, Some(path)) => (
            "GRIMMORY_SECRET_KEY_FILE",
            std::fs::read_to_string(path)
                .map_err(|e| {
                    format!(
                        "GRIMMORY_SECRET_KEY_FILE \"{}\" cannot be read: {e}",
                        path.display()
                    )
                })?
                .trim()
                .to_owned(),
        ),
        (None, None) => return Ok(None),
    };
    if material.chars().count() < MIN_SECRET_KEY_CHARS {
        return Err(format!(
            "{name} must hold at least {MIN_SECRET_KEY_CHARS} characters, e.g. from: openssl rand -hex 32"
        ));
    }
    Ok(Some(material))
}

fn parse_extra_ca(file: Option<&std::path::Path>) -> Result<ExtraRoots, String> {
    let Some(path) = file.filter(|p| !p.as_os_str().is_empty()) else {
        return Ok(ExtraRoots::default());
    };
    let name = path.display();
    let pem = std::fs::read(path)
        .map_err(|e| format!("GRIMMORY_EXTRA_CA_FILE \"{name}\" cannot be read: {e}"))?;
    let certificates =
        openidconnect::reqwest::Certificate::from_pem_bundle(&pem).map_err(|_| {
            format!("GRIMMORY_EXTRA_CA_FILE \"{name}\" is not a PEM certificate bundle")
        })?;
    if certificates.is_empty() {
        return Err(format!(
            "GRIMMORY_EXTRA_CA_FILE \"{name}\" holds no certificate (-----BEGIN CERTIFICATE-----)"
        ));
    }
    Ok(ExtraRoots(certificates))
}

fn parse_idle_hours(value: Option<&str>) -> Result<i64, String> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(168),
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|h| (1..=87_600).contains(h))
            .ok_or_else(|| format!("GRIMMORY_SESSION_IDLE_HOURS \"{v}\" must be a whole number of hours from 1 to 87600")),
    }
}

fn parse_acquire_timeout(value: Option<&str>) -> Result<Duration, String> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(Duration::from_millis(2000)),
        Some(v) => v
            .parse::<u64>()
            .ok()
            .filter(|ms| (1_000..=60_000).contains(ms))
            .map(Duration::from_millis)
            .ok_or_else(|| format!("GRIMMORY_DB_ACQUIRE_TIMEOUT_MS \"{v}\" must be a whole number of milliseconds from 1000 to 60000")),
    }
}

/// Where the default SQLite database lives; created on first start.
pub fn default_data_dir() -> PathBuf {
    PathBuf::from("data")
}

/// The folder of a SQLite database file, where a generated secret key is kept beside it.
pub fn sqlite_dir(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or("");
    if path.is_empty() || path.starts_with(":memory:") {
        return None;
    }
    let parent = std::path::Path::new(path)
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default();
    Some(if parent.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        parent
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw() -> RawSettings {
        RawSettings {
            database_url: None,
            bind: None,
            public_url: None,
            force_disable_oidc: None,
            trusted_proxies: None,
            session_idle_hours: None,
            metrics_token: None,
            secret_key: None,
            secret_key_file: None,
            site_root: None,
            extra_ca_file: None,
            db_acquire_timeout_ms: None,
        }
    }

    #[test]
    fn defaults_are_loopback_sqlite_and_a_week_idle() {
        let c = Config::from_raw(&raw()).unwrap();
        assert_eq!(c.bind.to_string(), "127.0.0.1:3000");
        assert_eq!(c.database_url, DEFAULT_SQLITE_URL);
        assert_eq!(c.session_idle_ms, 168 * HOUR_MS);
        assert!(!c.force_disable_oidc);
        assert_eq!(c.db_acquire_timeout, Duration::from_millis(2000));
    }

    #[test]
    fn bad_values_name_their_setting() {
        for (set, name) in [
            (
                RawSettings {
                    bind: Some("nope".into()),
                    ..raw()
                },
                "GRIMMORY_BIND",
            ),
            (
                RawSettings {
                    public_url: Some("books.example.com".into()),
                    ..raw()
                },
                "GRIMMORY_PUBLIC_URL",
            ),
            (
                RawSettings {
                    public_url: Some("https://x.org/books".into()),
                    ..raw()
                },
                "GRIMMORY_PUBLIC_URL",
            ),
            (
                RawSettings {
                    force_disable_oidc: Some("maybe".into()),
                    ..raw()
                },
                "FORCE_DISABLE_OIDC",
            ),
            (
                RawSettings {
                    trusted_proxies: Some("10.0.0.0/8, x".into()),
                    ..raw()
                },
                "GRIMMORY_TRUSTED_PROXIES",
            ),
            (
                RawSettings {
                    session_idle_hours: Some("0".into()),
                    ..raw()
                },
                "GRIMMORY_SESSION_IDLE_HOURS",
            ),
            (
                RawSettings {
                    db_acquire_timeout_ms: Some("5".into()),
                    ..raw()
                },
                "GRIMMORY_DB_ACQUIRE_TIMEOUT_MS",
            ),
            (
                RawSettings {
                    database_url: Some("mysql://x".into()),
                    ..raw()
                },
                "DATABASE_URL",
            ),
        ] {
            let err = Config::from_raw(&set).unwrap_err();
            assert!(err.starts_with(name), "{err}");
            assert!(!err.contains('\n'));
        }
    }

    #[test]
    fn public_url_is_reduced_to_its_origin() {
        let c = Config::from_raw(&RawSettings {
            public_url: Some("https://Books.Example.com/".into()),
            ..raw()
        })
        .unwrap();
        assert_eq!(c.public_url.as_deref(), Some("https://books.example.com"));
        assert!(c.secure_cookies());
    }

    #[test]
    fn the_extra_ca_file_must_hold_certificates() {
        let dir = std::env::temp_dir().join(format!("grimmory-extra-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = dir.join("missing.pem");
        let err = parse_extra_ca(Some(&missing)).unwrap_err();
        assert!(
            err.contains("GRIMMORY_EXTRA_CA_FILE") && err.contains("cannot be read"),
            "{err}"
        );
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let err = parse_extra_ca(Some(&empty)).unwrap_err();
        assert!(err.contains("GRIMMORY_EXTRA_CA_FILE"), "{err}");
        assert!(parse_extra_ca(None).unwrap().0.is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
