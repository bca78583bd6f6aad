//! Prometheus metrics: requests by route and status, sign-ins by method and outcome, and live
//! sessions (read from the database at scrape time, so every replica reports the same).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    sign_ins: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
}

impl Metrics {
    /// `route` is the route pattern, never the raw path, so labels stay few.
    pub fn record_request(&self, route: &str, status: u16) {
        if let Ok(mut map) = self.requests.lock() {
            *map.entry((route.to_owned(), status)).or_default() += 1;
        }
    }

    pub fn record_sign_in(&self, method: &'static str, outcome: &'static str) {
        if let Ok(mut map) = self.sign_ins.lock() {
            *map.entry((method, outcome)).or_default() += 1;
        }
    }

    pub fn render(&self, live_sessions: i64) -> String {
        let mut out = String::new();
        out.push_str("# HELP grimmory_http_requests_total HTTP requests by route and status.\n");
        out.push_str("# TYPE grimmory_http_requests_total counter\n");
        if let Ok(map) = self.requests.lock() {
            for ((route, status), n) in map.iter() {
                let _ = writeln!(
                    out,
                    "grimmory_http_requests_total{{route=\"{}\",status=\"{status}\"}} {n}",
                    escape(route)
                );
            }
        }
        out.push_str("# HELP grimmory_sign_ins_total Sign-in attempts by method and outcome.\n");
        out.push_str("# TYPE grimmory_sign_ins_total counter\n");
        if let Ok(map) = self.sign_ins.lock() {
            for ((method, outcome), n) in map.iter() {
                let _ = writeln!(
                    out,
                    "grimmory_sign_ins_total{{method=\"{method}\",outcome=\"{outcome}\"}} {n}"
                );
            }
        }
        out.push_str("# HELP grimmory_live_sessions Sessions that have not expired.\n");
        out.push_str("# TYPE grimmory_live_sessions gauge\n");
        let _ = writeln!(out, "grimmory_live_sessions {live_sessions}");
        out
    }
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        m.record_request("/api/v1/auth/login", 401);
        m.record_request("/api/v1/auth/login", 401);
        m.record_sign_in("local", "failure");
        let text = m.render(3);
        assert!(text.contains(
            "grimmory_http_requests_total{route=\"/api/v1/auth/login\",status=\"401\"} 2\n"
        ));
        assert!(text.contains("grimmory_sign_ins_total{method=\"local\",outcome=\"failure\"} 1\n"));
        assert!(text.contains("grimmory_live_sessions 3\n"));
    }
}
