use super::*;
use oxidize_crds::config::DataplaneConfig;

const DOC: &str = r#"
apiVersion: relay.oxidize.dev/v1alpha1
kind: DataplaneConfig
interface: eth1
queues: 2
workerCores: [2, 3]
port: 443
metricsAddr: 0.0.0.0:9100
tlsCertFile: /etc/oxidize/tls/tls.crt
tlsKeyFile: /etc/oxidize/tls/tls.key
tokensDir: /etc/oxidize/tokens
clientPoolIpv4: 10.99.0.0/24
egress: nat
zeroCopy: auto
busyPoll: false
"#;

fn doc() -> DataplaneConfig {
    DataplaneConfig::from_yaml(DOC).expect("sample document parses")
}

#[test]
fn document_defaults() {
    let s = settings(&doc(), &Overrides::default()).expect("valid");
    assert_eq!(s.interface, "eth1");
    assert_eq!(s.egress_interface, "eth1");
    assert_eq!(s.workers, 2);
    assert_eq!(s.cores, vec![2, 3]);
    assert_eq!(s.idle_timeout, DEFAULT_IDLE_TIMEOUT);
    assert_eq!(s.drain_timeout, DEFAULT_DRAIN_TIMEOUT);
    assert_eq!(s.retry_above_handshakes, Some(DEFAULT_RETRY_ABOVE));
    assert_eq!(s.pools.workers(), 2);
}

#[test]
fn relay_options_are_read() {
    let text = format!(
        "{DOC}relay:\n  egressInterface: wan0\n  idleTimeoutSeconds: 7\n  drainTimeoutSeconds: 1\n  retryAboveHandshakes: 0\n"
    );
    let d = DataplaneConfig::from_yaml(&text).expect("parses");
    let s = settings(&d, &Overrides::default()).expect("valid");
    assert_eq!(s.egress_interface, "wan0");
    assert_eq!(s.idle_timeout, Duration::from_secs(7));
    assert_eq!(s.drain_timeout, Duration::from_secs(1));
    assert_eq!(s.retry_above_handshakes, None);
}

#[test]
fn environment_overrides_win() {
    let env = Overrides {
        interface: Some("eth9".into()),
        workers: Some("1".into()),
        cpu_cores: Some("5-6".into()),
    };
    let s = settings(&doc(), &env).expect("valid");
    assert_eq!(s.interface, "eth9");
    assert_eq!(s.workers, 1);
    assert_eq!(s.cores, vec![5]);
}

#[test]
fn invalid_settings_name_the_field() {
    let cases: [(Overrides, &str); 4] = [
        (
            Overrides {
                workers: Some("three".into()),
                ..Overrides::default()
            },
            "OXIDIZE_WORKERS",
        ),
        (
            Overrides {
                workers: Some("3".into()),
                ..Overrides::default()
            },
            "2 cores for 3 workers",
        ),
        (
            Overrides {
                cpu_cores: Some("1,1".into()),
                ..Overrides::default()
            },
            "names a core twice",
        ),
        (
            Overrides {
                cpu_cores: Some("3-1".into()),
                ..Overrides::default()
            },
            "runs backwards",
        ),
    ];
    for (env, want) in cases {
        let e = settings(&doc(), &env).expect_err("invalid");
        assert!(e.to_string().contains(want), "{e} lacks {want}");
    }
    let mut d = doc();
    d.metrics_addr = "nowhere".into();
    let e = settings(&d, &Overrides::default()).expect_err("bad addr");
    assert!(e.to_string().contains("metricsAddr"), "{e}");
    let mut d = doc();
    d.client_pool_ipv4 = "10.0.0.0/40".into();
    assert!(settings(&d, &Overrides::default()).is_err());
}

#[test]
fn core_lists() {
    assert_eq!(parse_core_list("0,2-4"), Ok(vec![0, 2, 3, 4]));
    assert!(parse_core_list("").is_err());
    assert!(parse_core_list("a").is_err());
}

#[test]
fn missing_file_says_what_to_do() {
    let e = load(Path::new("/nonexistent/relay.yaml")).expect_err("missing");
    assert!(e.to_string().contains("--config"), "{e}");
}
