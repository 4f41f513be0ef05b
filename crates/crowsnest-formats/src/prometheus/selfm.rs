//! Small encoders for metrics that are not cAdvisor's: one counter, gauge or histogram family
//! at a time, and the agent's own `crowsnest_*` metrics from a plain snapshot.

use super::text::{MetricType, write_float, write_header, write_label, write_sample};

/// Appends a counter family with one series.
pub fn encode_counter(
    out: &mut String,
    name: &str,
    help: &str,
    labels: &[(&str, &str)],
    value: f64,
) {
    write_header(out, name, help, MetricType::Counter);
    write_sample(out, name, labels, value, None);
}

/// Appends a gauge family with one series.
pub fn encode_gauge(out: &mut String, name: &str, help: &str, labels: &[(&str, &str)], value: f64) {
    write_header(out, name, help, MetricType::Gauge);
    write_sample(out, name, labels, value, None);
}

/// Appends a histogram family with one series: `name_bucket{...,le="b"}` per bound with the
/// cumulative count, `le="+Inf"` with the total count, then `name_sum` and `name_count`.
pub fn encode_histogram(
    out: &mut String,
    name: &str,
    help: &str,
    labels: &[(&str, &str)],
    h: &HistogramView<'_>,
) {
    write_header(out, name, help, MetricType::Histogram);
    let bucket = |out: &mut String, le: f64, n: u64| {
        out.push_str(name);
        out.push_str("_bucket{");
        for (k, v) in labels {
            write_label(out, k, v);
            out.push(',');
        }
        out.push_str("le=\"");
        write_float(out, le);
        out.push_str("\"} ");
        write_float(out, n as f64);
        out.push('\n');
    };
    for (&le, &n) in h.bounds.iter().zip(h.cumulative_counts) {
        bucket(out, le, n);
    }
    bucket(out, f64::INFINITY, h.count);
    let mut sub = String::with_capacity(name.len() + 6);
    sub.push_str(name);
    sub.push_str("_sum");
    write_sample(out, &sub, labels, h.sum, None);
    sub.truncate(name.len());
    sub.push_str("_count");
    write_sample(out, &sub, labels, h.count as f64, None);
}

/// A histogram's state: bounds, cumulative counts per bound, sum and count.
#[derive(Debug, Clone, Copy, Default)]
pub struct HistogramView<'a> {
    /// Upper bounds of the buckets (without `+Inf`).
    pub bounds: &'a [f64],
    /// Observations `<=` each bound (cumulative), one per bound.
    pub cumulative_counts: &'a [u64],
    /// Sum of all observations.
    pub sum: f64,
    /// Number of observations.
    pub count: u64,
}

/// A snapshot of the agent's own metrics.
#[derive(Debug, Clone, Copy, Default)]
pub struct SelfMetricsView<'a> {
    /// Seconds spent housekeeping one container.
    pub container_housekeeping: HistogramView<'a>,
    /// Seconds spent on one housekeeping pass over all due containers.
    pub housekeeping_pass: HistogramView<'a>,
    /// Collection errors since start.
    pub collection_errors: u64,
    /// Containers known now.
    pub containers: u64,
    /// Containers added since start.
    pub containers_added: u64,
    /// Containers removed since start.
    pub containers_removed: u64,
    /// Housekeeping rounds that started late by more than one interval.
    pub housekeeping_late: u64,
}

/// Appends the `crowsnest_*` families, sorted by name.
pub fn encode_self_metrics(out: &mut String, m: &SelfMetricsView<'_>) {
    encode_counter(
        out,
        "crowsnest_collection_errors_total",
        "Errors while collecting container statistics (a container going away is not one).",
        &[],
        m.collection_errors as f64,
    );
    encode_gauge(
        out,
        "crowsnest_containers",
        "Containers known to the agent.",
        &[],
        m.containers as f64,
    );
    encode_counter(
        out,
        "crowsnest_containers_added_total",
        "Containers added since the agent started.",
        &[],
        m.containers_added as f64,
    );
    encode_counter(
        out,
        "crowsnest_containers_removed_total",
        "Containers removed since the agent started.",
        &[],
        m.containers_removed as f64,
    );
    encode_histogram(
        out,
        "crowsnest_housekeeping_duration_seconds",
        "Time spent collecting the statistics of one container.",
        &[],
        &m.container_housekeeping,
    );
    encode_counter(
        out,
        "crowsnest_housekeeping_late_total",
        "Housekeeping rounds that started more than one interval late.",
        &[],
        m.housekeeping_late as f64,
    );
    encode_histogram(
        out,
        "crowsnest_housekeeping_pass_duration_seconds",
        "Time spent on one housekeeping pass over every container that was due.",
        &[],
        &m.housekeeping_pass,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_text() {
        let mut out = String::new();
        encode_histogram(
            &mut out,
            "h_seconds",
            "H.",
            &[("a", "b")],
            &HistogramView {
                bounds: &[0.00025, 1.0],
                cumulative_counts: &[1, 3],
                sum: 1.5,
                count: 4,
            },
        );
        assert_eq!(
            out,
            "# HELP h_seconds H.\n# TYPE h_seconds histogram\n\
             h_seconds_bucket{a=\"b\",le=\"0.00025\"} 1\n\
             h_seconds_bucket{a=\"b\",le=\"1\"} 3\n\
             h_seconds_bucket{a=\"b\",le=\"+Inf\"} 4\n\
             h_seconds_sum{a=\"b\"} 1.5\n\
             h_seconds_count{a=\"b\"} 4\n"
        );
        let mut out = String::new();
        encode_histogram(&mut out, "h", "H.", &[], &HistogramView::default());
        assert!(
            out.ends_with("h_bucket{le=\"+Inf\"} 0\nh_sum 0\nh_count 0\n"),
            "{out}"
        );
    }

    #[test]
    fn self_metrics_are_sorted() {
        let mut out = String::new();
        encode_self_metrics(
            &mut out,
            &SelfMetricsView {
                containers: 3,
                ..Default::default()
            },
        );
        let names: Vec<&str> = out
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
        assert!(out.contains("crowsnest_containers 3\n"));
    }
}
