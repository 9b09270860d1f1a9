use super::*;

fn config() -> EgressConfig {
    EgressConfig::new("10.99.0.0/24".parse().expect("valid"), 2, "r-wan", 1400)
}

#[test]
fn ipv4_plan() {
    let plan = EgressPlan::new(&config()).expect("valid plan");
    assert_eq!(
        plan.tun,
        TunSpec {
            name: "oxz0".into(),
            queues: 2,
            mtu: 1400
        }
    );
    assert_eq!(
        plan.routes,
        vec!["10.99.0.0/24".parse::<IpNet>().expect("net")]
    );
    assert_eq!(plan.forwarding, vec![Forwarding::Ipv4]);
    assert_eq!(plan.nft.table, "oxidize");
    assert_eq!(plan.nft.postrouting.len(), 1);
    assert_eq!(plan.nft.forward.len(), 2);
    assert_eq!(plan.egress_interface, "r-wan");
}

#[test]
fn dual_stack_plan_renders_as_nft_script() {
    let mut c = config();
    c.pool_v6 = Some("fd99::/64".parse().expect("valid"));
    let plan = EgressPlan::new(&c).expect("valid plan");
    assert_eq!(plan.routes.len(), 2);
    assert_eq!(plan.forwarding, vec![Forwarding::Ipv4, Forwarding::Ipv6]);
    let script = plan.nft.to_string();
    let expected = "table inet oxidize {
\tchain postrouting {
\t\ttype nat hook postrouting priority srcnat; policy accept;
\t\tip saddr 10.99.0.0/24 oifname \"r-wan\" masquerade
\t\tip6 saddr fd99::/64 oifname \"r-wan\" masquerade
\t}
\tchain forward {
\t\ttype filter hook forward priority filter; policy accept;
\t\tiifname \"oxz0\" oifname \"r-wan\" ip saddr 10.99.0.0/24 accept
\t\tiifname \"r-wan\" oifname \"oxz0\" ip daddr 10.99.0.0/24 ct state established,related accept
\t\tiifname \"oxz0\" oifname \"r-wan\" ip6 saddr fd99::/64 accept
\t\tiifname \"r-wan\" oifname \"oxz0\" ip6 daddr fd99::/64 ct state established,related accept
\t}
}
";
    assert_eq!(script, expected);
}

#[test]
fn sysctl_keys_and_paths() {
    assert_eq!(Forwarding::Ipv4.key(), "net.ipv4.ip_forward");
    assert_eq!(Forwarding::Ipv4.relative_path(), "net/ipv4/ip_forward");
    assert_eq!(Forwarding::Ipv6.key(), "net.ipv6.conf.all.forwarding");
    assert_eq!(
        Forwarding::Ipv6.relative_path(),
        "net/ipv6/conf/all/forwarding"
    );
}

#[test]
fn rejects_bad_names() {
    for bad in ["", "a-name-longer-than-15", "a/b", "a b", "x:1", ".", ".."] {
        let mut c = config();
        c.tun_name = bad.into();
        assert!(
            matches!(EgressPlan::new(&c), Err(PlanError::InterfaceName { .. })),
            "{bad:?} accepted as TUN name"
        );
        let mut c = config();
        c.egress_interface = bad.into();
        assert!(
            matches!(EgressPlan::new(&c), Err(PlanError::InterfaceName { .. })),
            "{bad:?} accepted as egress interface"
        );
    }
    let mut c = config();
    c.egress_interface = "oxz0".into();
    assert_eq!(
        EgressPlan::new(&c),
        Err(PlanError::SameInterface("oxz0".into()))
    );
    let mut c = config();
    c.nft_table = "9bad".into();
    assert_eq!(
        EgressPlan::new(&c),
        Err(PlanError::TableName("9bad".into()))
    );
}

#[test]
fn rejects_bad_queue_counts() {
    for queues in [0, 257, u16::MAX] {
        let mut c = config();
        c.queues = queues;
        assert_eq!(EgressPlan::new(&c), Err(PlanError::Queues(queues)));
    }
    let mut c = config();
    c.queues = 256;
    assert!(EgressPlan::new(&c).is_ok());
}

#[test]
fn rejects_pools_with_host_bits() {
    let mut c = config();
    c.pool_v4 = "10.99.0.1/24".parse().expect("parses");
    let err = EgressPlan::new(&c).expect_err("host bits");
    assert!(
        err.to_string().contains("did you mean 10.99.0.0/24"),
        "{err}"
    );
    let mut c = config();
    c.pool_v6 = Some("fd99::1/64".parse().expect("parses"));
    assert!(matches!(
        EgressPlan::new(&c),
        Err(PlanError::PoolHostBits { .. })
    ));
}

#[test]
fn mtu_limits_depend_on_families() {
    let mut c = config();
    c.inner_mtu = 575;
    assert!(matches!(EgressPlan::new(&c), Err(PlanError::Mtu { .. })));
    c.inner_mtu = 576;
    assert!(EgressPlan::new(&c).is_ok());
    c.pool_v6 = Some("fd99::/64".parse().expect("valid"));
    let err = EgressPlan::new(&c).expect_err("v6 needs 1280");
    assert!(err.to_string().contains("1280"), "{err}");
    c.inner_mtu = 1280;
    assert!(EgressPlan::new(&c).is_ok());
    c.inner_mtu = 65_536;
    assert!(matches!(EgressPlan::new(&c), Err(PlanError::Mtu { .. })));
}
