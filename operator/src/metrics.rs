//! The operator's Prometheus metrics, registered under the prefix `oxidize_operator`.

use std::time::Instant;

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::ErrorKind;

/// Label set of the error counter: a fixed string per error kind ([`ErrorKind::label`]).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    /// The error kind.
    pub error: String,
}

impl From<ErrorKind> for ErrorLabels {
    fn from(kind: ErrorKind) -> Self {
        ErrorLabels {
            error: kind.label().to_owned(),
        }
    }
}

/// Label set of per-RelayNode node counts.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NodeLabels {
    /// The RelayNode's namespace.
    pub namespace: String,
    /// The RelayNode's name.
    pub relaynode: String,
    /// `desired`, `ready` or `tuned`.
    pub state: String,
}

/// Label set of per-RelayNode conditions.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConditionLabels {
    /// The RelayNode's namespace.
    pub namespace: String,
    /// The RelayNode's name.
    pub relaynode: String,
    /// The condition type.
    pub condition: String,
}

/// Every metric the operator exports.
pub struct Metrics {
    registry: Registry,
    /// Reconciles started.
    pub reconciliations: Counter,
    /// Reconcile failures by kind.
    pub errors: Family<ErrorLabels, Counter>,
    /// Reconcile duration in seconds.
    pub duration: Histogram,
    /// RelayNodes in the cluster (as last listed).
    pub relaynodes: Gauge,
    /// Nodes per RelayNode and state.
    pub nodes: Family<NodeLabels, Gauge>,
    /// 1 when a RelayNode's condition is True.
    pub conditions: Family<ConditionLabels, Gauge>,
    /// 1 while this replica holds the leader Lease (or runs without leader election).
    pub leader: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("oxidize_operator");
        let reconciliations = Counter::default();
        let errors = Family::<ErrorLabels, Counter>::default();
        // Every kind at zero from the start: a healthy operator shows the series (and the
        // dashboard and alerts have data) before the first failure of a kind.
        for kind in ErrorKind::ALL {
            let _ = errors.get_or_create(&ErrorLabels::from(*kind));
        }
        let duration = Histogram::new([
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ]);
        let relaynodes = Gauge::default();
        let nodes = Family::<NodeLabels, Gauge>::default();
        let conditions = Family::<ConditionLabels, Gauge>::default();
        let leader = Gauge::default();
        registry.register(
            "reconciliations",
            "Reconciles started",
            reconciliations.clone(),
        );
        registry.register(
            "reconcile_errors",
            "Reconcile failures by kind",
            errors.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Time one reconcile took",
            duration.clone(),
        );
        registry.register(
            "relaynodes",
            "RelayNodes in the cluster",
            relaynodes.clone(),
        );
        registry.register(
            "relaynode_nodes",
            "Nodes per RelayNode: desired, ready, tuned",
            nodes.clone(),
        );
        registry.register(
            "relaynode_condition",
            "1 when the RelayNode condition is True",
            conditions.clone(),
        );
        registry.register(
            "leader",
            "1 while this replica is the active one",
            leader.clone(),
        );
        Metrics {
            registry,
            reconciliations,
            errors,
            duration,
            relaynodes,
            nodes,
            conditions,
            leader,
        }
    }
}

/// Times one reconcile; records the duration when dropped.
pub struct ReconcileTimer<'a> {
    start: Instant,
    histogram: &'a Histogram,
}

impl Drop for ReconcileTimer<'_> {
    fn drop(&mut self) {
        self.histogram.observe(self.start.elapsed().as_secs_f64());
    }
}

impl Metrics {
    /// Counts a reconcile and returns the guard that times it.
    pub fn reconcile_started(&self) -> ReconcileTimer<'_> {
        self.reconciliations.inc();
        ReconcileTimer {
            start: Instant::now(),
            histogram: &self.duration,
        }
    }

    /// Counts a failure of this kind (labelled with [`ErrorKind::label`]).
    pub fn reconcile_failed(&self, kind: ErrorKind) {
        self.errors.get_or_create(&ErrorLabels::from(kind)).inc();
    }

    /// Sets the per-RelayNode gauges from its status.
    pub fn set_relaynode(&self, ns: &str, name: &str, status: &oxidize_crds::RelayNodeStatus) {
        for (state, v) in [
            ("desired", status.desired_nodes),
            ("ready", status.ready_nodes),
            ("tuned", status.tuned_nodes),
        ] {
            self.nodes
                .get_or_create(&NodeLabels {
                    namespace: ns.into(),
                    relaynode: name.into(),
                    state: state.into(),
                })
                .set(i64::from(v));
        }
        for c in &status.conditions {
            self.conditions
                .get_or_create(&ConditionLabels {
                    namespace: ns.into(),
                    relaynode: name.into(),
                    condition: c.type_.clone(),
                })
                .set(i64::from(c.status == "True"));
        }
    }

    /// Removes the per-RelayNode series of a deleted RelayNode.
    pub fn forget_relaynode(&self, ns: &str, name: &str) {
        for state in ["desired", "ready", "tuned"] {
            self.nodes.remove(&NodeLabels {
                namespace: ns.into(),
                relaynode: name.into(),
                state: state.into(),
            });
        }
        for t in oxidize_crds::relaynode::ConditionType::ALL {
            self.conditions.remove(&ConditionLabels {
                namespace: ns.into(),
                relaynode: name.into(),
                condition: t.as_str().into(),
            });
        }
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.push_str("# encoding failed\n");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_the_documented_series() {
        let m = Metrics::default();
        {
            let _t = m.reconcile_started();
        }
        m.reconcile_failed(crate::ErrorKind::Conflict);
        m.leader.set(1);
        let status = oxidize_crds::RelayNodeStatus {
            desired_nodes: 3,
            ready_nodes: 2,
            ..Default::default()
        };
        m.set_relaynode("relays", "edge", &status);
        let text = m.encode();
        for line in [
            "oxidize_operator_reconciliations_total 1",
            "oxidize_operator_reconcile_errors_total{error=\"conflict\"} 1",
            "oxidize_operator_reconcile_duration_seconds_count 1",
            "oxidize_operator_relaynode_nodes{namespace=\"relays\",relaynode=\"edge\",state=\"desired\"} 3",
            "oxidize_operator_relaynode_nodes{namespace=\"relays\",relaynode=\"edge\",state=\"ready\"} 2",
            "oxidize_operator_leader 1",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
        m.forget_relaynode("relays", "edge");
        assert!(!m.encode().contains("relaynode=\"edge\""));
    }

    /// A fresh registry (a healthy operator that never failed) already shows every error kind
    /// at zero, and a failure counts under its own kind only.
    #[test]
    fn fresh_registry_shows_every_error_kind_at_zero() {
        let m = Metrics::default();
        let text = m.encode();
        for kind in crate::ErrorKind::ALL {
            let line = format!(
                "oxidize_operator_reconcile_errors_total{{error=\"{}\"}} 0",
                kind.label()
            );
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        let series = text
            .lines()
            .filter(|l| l.starts_with("oxidize_operator_reconcile_errors_total{"))
            .count();
        assert_eq!(series, crate::ErrorKind::ALL.len(), "{text}");
        m.reconcile_failed(crate::ErrorKind::Throttled);
        let text = m.encode();
        assert!(text
            .lines()
            .any(|l| l == "oxidize_operator_reconcile_errors_total{error=\"throttled\"} 1"));
        assert!(text
            .lines()
            .any(|l| l == "oxidize_operator_reconcile_errors_total{error=\"conflict\"} 0"));
    }

    /// The exposition is valid OpenMetrics (the format `/metrics` declares) by the strict parser
    /// of the Python `prometheus_client`, and Prometheus' own linter (`promtool check metrics`)
    /// finds nothing wrong with names, units or help texts. promtool 2.42 reads the classic text
    /// format, where a counter's HELP names the `_total` series; OpenMetrics names the family
    /// without the suffix, so exactly those "no help text" findings are expected and the counters
    /// that cause them are checked to have a HELP line under their family name.
    #[test]
    fn exposition_passes_openmetrics_parser_and_promtool() {
        let m = Metrics::default();
        {
            let _t = m.reconcile_started();
        }
        m.reconcile_failed(crate::ErrorKind::ApiServer);
        let status = oxidize_crds::RelayNodeStatus {
            desired_nodes: 2,
            ready_nodes: 1,
            ..Default::default()
        };
        m.set_relaynode("relays", "edge", &status);
        let text = m.encode();

        let python = concat!(env!("CARGO_MANIFEST_DIR"), "/../.venv/bin/python");
        let parser = "import sys\n\
            from prometheus_client.openmetrics.parser import text_string_to_metric_families as p\n\
            print(len(list(p(sys.stdin.read()))))";
        let Some(out) = run_with_stdin(python, &["-c", parser], &text) else {
            return;
        };
        assert!(
            out.0,
            "OpenMetrics parser refused the exposition: {}\n{text}",
            out.1
        );
        assert_eq!(out.1.trim(), "6", "metric families parsed");

        let Some((_, findings)) = run_with_stdin("promtool", &["check", "metrics"], &text) else {
            return;
        };
        for finding in findings.lines().filter(|l| !l.trim().is_empty()) {
            let family = finding
                .strip_suffix(" no help text")
                .and_then(|series| series.strip_suffix("_total"))
                .unwrap_or_else(|| panic!("promtool check metrics: {finding}\n{text}"));
            assert!(
                text.contains(&format!("# HELP {family} "))
                    && text.contains(&format!("# TYPE {family} counter")),
                "{finding}: no HELP for the counter family {family}"
            );
        }
    }

    /// Runs a checker with `input` on stdin; `None` (test skipped) when it is not installed and
    /// `CI` is unset. Returns whether it succeeded and its stdout + stderr.
    fn run_with_stdin(program: &str, args: &[&str], input: &str) -> Option<(bool, String)> {
        use std::io::Write;
        use std::process::{Command, Stdio};
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = match child {
            Ok(child) => child,
            Err(e) if std::env::var_os("CI").is_none() => {
                eprintln!("{program} not runnable ({e}); skipping (CI=1 makes this a failure)");
                return None;
            }
            Err(e) => panic!("{program} is not installed ({e}): run scripts/setup.sh"),
        };
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
        let out = child.wait_with_output().expect("wait");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Some((out.status.success(), text))
    }
}
