//! Every metric the gateway exports, described once: its type, unit and `# HELP` text, and a
//! zero series from the start for those whose labels are known in advance, so that dashboards
//! and alerts see them before the first event. Latencies are Prometheus histograms (they sum
//! across gateways; summaries do not), with [`BUCKETS_SECONDS`].

use metrics::{SharedString, Unit};

/// Histogram buckets of every `*_seconds` histogram: 0.5 ms to a minute.
pub const BUCKETS_SECONDS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Histogram buckets of `osg_db_writes_per_transaction`.
pub const BUCKETS_WRITES: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// Name, kind, unit and meaning of each metric.
pub const METRICS: &[(&str, Kind, Option<Unit>, &str)] = &[
    (
        "osg_requests_total",
        Kind::Counter,
        None,
        "Requests answered, by operation and HTTP status.",
    ),
    (
        "osg_request_duration_seconds",
        Kind::Histogram,
        Some(Unit::Seconds),
        "Time to answer a request (to its last byte), by operation.",
    ),
    (
        "osg_received_bytes_total",
        Kind::Counter,
        Some(Unit::Bytes),
        "Request bytes announced by clients.",
    ),
    (
        "osg_sent_bytes_total",
        Kind::Counter,
        Some(Unit::Bytes),
        "Response bytes sent to clients.",
    ),
    (
        "osg_provider_request_duration_seconds",
        Kind::Histogram,
        Some(Unit::Seconds),
        "Time of a request to a provider, by provider and operation.",
    ),
    (
        "osg_provider_errors_total",
        Kind::Counter,
        None,
        "Failed requests to providers, by provider and operation.",
    ),
    (
        "osg_provider_bytes_total",
        Kind::Counter,
        Some(Unit::Bytes),
        "Bytes to (in) and from (out) providers, by provider.",
    ),
    (
        "osg_db_write_wait_seconds",
        Kind::Histogram,
        Some(Unit::Seconds),
        "Time a metadata write waited for its transaction.",
    ),
    (
        "osg_db_writes_per_transaction",
        Kind::Histogram,
        None,
        "Metadata writes committed together in one transaction.",
    ),
    (
        "osg_db_write_conflicts_total",
        Kind::Counter,
        None,
        "Metadata writes run again after colliding with another.",
    ),
    (
        "osg_db_pool_connections",
        Kind::Gauge,
        None,
        "Metadata store connections, idle or busy.",
    ),
    (
        "osg_reaper_deleted_blobs_total",
        Kind::Counter,
        None,
        "Blobs of removed objects deleted from providers.",
    ),
    (
        "osg_reaper_backlog_blobs",
        Kind::Gauge,
        None,
        "Blobs waiting for the reaper: of writes never committed (writing) or of removed objects (dead).",
    ),
    (
        "osg_lifecycle_examined_total",
        Kind::Counter,
        None,
        "Versions a lifecycle run examined, by bucket.",
    ),
    (
        "osg_lifecycle_expired_total",
        Kind::Counter,
        None,
        "What lifecycle rules removed, by bucket and kind (current, noncurrent, delete_marker, upload).",
    ),
    (
        "osg_lifecycle_freed_bytes_total",
        Kind::Counter,
        Some(Unit::Bytes),
        "Bytes of versions lifecycle rules removed, by bucket.",
    ),
    (
        "osg_lifecycle_kept_locked_total",
        Kind::Counter,
        None,
        "Versions a lifecycle rule would have removed but Object Lock kept, by bucket.",
    ),
    (
        "osg_lifecycle_last_run_timestamp_seconds",
        Kind::Gauge,
        Some(Unit::Seconds),
        "When this gateway last finished a bucket's lifecycle run (Unix time), by bucket.",
    ),
];

/// Describes every metric and sets the known series to zero. Call once, after the recorder
/// is installed.
pub fn describe() {
    for &(name, kind, unit, help) in METRICS {
        let help = SharedString::const_str(help);
        match (kind, unit) {
            (Kind::Counter, Some(u)) => metrics::describe_counter!(name, u, help),
            (Kind::Counter, None) => metrics::describe_counter!(name, help),
            (Kind::Gauge, Some(u)) => metrics::describe_gauge!(name, u, help),
            (Kind::Gauge, None) => metrics::describe_gauge!(name, help),
            (Kind::Histogram, Some(u)) => metrics::describe_histogram!(name, u, help),
            (Kind::Histogram, None) => metrics::describe_histogram!(name, help),
        }
    }
    // The series whose labels are known before anything happens.
    for name in [
        "osg_received_bytes_total",
        "osg_sent_bytes_total",
        "osg_db_write_conflicts_total",
        "osg_reaper_deleted_blobs_total",
    ] {
        metrics::counter!(name).absolute(0);
    }
    for state in ["writing", "dead"] {
        metrics::gauge!("osg_reaper_backlog_blobs", "state" => state).set(0.0);
    }
    for state in ["idle", "busy"] {
        metrics::gauge!("osg_db_pool_connections", "state" => state).set(0.0);
    }
}

#[cfg(test)]
mod tests {
    /// The dashboard in the repository charts only metrics that exist.
    #[test]
    fn the_grafana_dashboard_charts_existing_metrics() {
        let dashboard: serde_json::Value =
            serde_json::from_str(include_str!("../../../docs/grafana/osg-dashboard.json")).unwrap();
        let mut exprs = Vec::new();
        collect_exprs(&dashboard, &mut exprs);
        assert!(exprs.len() >= 8, "{exprs:?}");
        for expr in exprs {
            for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                let Some(name) = word.strip_prefix("osg_").map(|_| word) else {
                    continue;
                };
                let base = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| name.strip_suffix(s))
                    .unwrap_or(name);
                assert!(super::METRICS.iter().any(|m| m.0 == base), "{name} in {expr}");
            }
        }
    }

    fn collect_exprs(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    match v.as_str() {
                        Some(e) if k == "expr" => out.push(e.to_owned()),
                        _ => collect_exprs(v, out),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| collect_exprs(v, out)),
            _ => {}
        }
    }
}
