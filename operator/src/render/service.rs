//! The metrics Service (headless, one endpoint per relay pod) and the ServiceMonitor.

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use kube::ResourceExt;
use oxidize_crds::RelayNode;

use super::{owned_meta, selector_labels, Names};

/// The Prometheus Operator's ServiceMonitor kind.
pub fn service_monitor_resource() -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk(
        "monitoring.coreos.com",
        "v1",
        "ServiceMonitor",
    ))
}

/// A headless Service selecting the relay pods' metrics port.
pub fn service(rn: &RelayNode) -> Service {
    let names = Names::for_relaynode(&rn.name_any());
    Service {
        metadata: owned_meta(rn, &names.service),
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".into()),
            selector: Some(selector_labels(rn)),
            ports: Some(vec![ServicePort {
                name: Some("metrics".into()),
                port: rn.spec.dataplane.metrics_port,
                target_port: Some(IntOrString::String("metrics".into())),
                protocol: Some("TCP".into()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

/// A ServiceMonitor scraping the metrics Service every 15 s (applied only when the CRD exists).
/// Its `jobLabel` makes the job `oxidize-relay` (the Service's `app.kubernetes.io/name`) for every
/// RelayNode, the job the chart's dashboard and alerts select.
pub fn service_monitor(rn: &RelayNode) -> DynamicObject {
    let names = Names::for_relaynode(&rn.name_any());
    let mut obj = DynamicObject::new(&names.service, &service_monitor_resource());
    obj.metadata = owned_meta(rn, &names.service);
    obj.data = serde_json::json!({
        "spec": {
            "jobLabel": "app.kubernetes.io/name",
            "selector": {"matchLabels": selector_labels(rn)},
            "endpoints": [{"port": "metrics", "path": "/metrics", "interval": "15s"}],
        }
    });
    obj
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::testutil::relaynode;

    #[test]
    fn service_is_headless_on_the_metrics_port() {
        let svc = service(&relaynode());
        assert_eq!(svc.metadata.name.as_deref(), Some("edge-metrics"));
        let spec = svc.spec.expect("spec");
        assert_eq!(spec.cluster_ip.as_deref(), Some("None"));
        assert_eq!(
            spec.selector.expect("selector")["relay.oxidize.dev/relaynode"],
            "edge"
        );
        let port = &spec.ports.expect("ports")[0];
        assert_eq!((port.port, port.name.as_deref()), (9460, Some("metrics")));
        assert_eq!(
            port.target_port,
            Some(IntOrString::String("metrics".into()))
        );
    }

    #[test]
    fn service_monitor_targets_the_service() {
        let sm = service_monitor(&relaynode());
        let json = serde_json::to_value(&sm).expect("json");
        assert_eq!(json["apiVersion"], "monitoring.coreos.com/v1");
        assert_eq!(json["kind"], "ServiceMonitor");
        assert_eq!(json["metadata"]["name"], "edge-metrics");
        assert_eq!(json["metadata"]["ownerReferences"][0]["kind"], "RelayNode");
        assert_eq!(json["spec"]["endpoints"][0]["port"], "metrics");
        assert_eq!(json["spec"]["jobLabel"], "app.kubernetes.io/name");
        assert_eq!(
            service(&relaynode()).metadata.labels.unwrap_or_default()["app.kubernetes.io/name"],
            "oxidize-relay",
            "the job name the chart's rules select"
        );
        assert_eq!(
            json["spec"]["selector"]["matchLabels"]["app.kubernetes.io/instance"],
            "edge"
        );
    }
}
