//! The client stops with exit code 2 and a clear message when the relay refuses its token
//! (403) or gets none (401), instead of retrying forever; nothing is left behind.

mod e2e_common;

use std::time::{Duration, Instant};

use e2e_common::{Bed, NsId};

fn wait_exit(bed: &mut Bed, n: usize) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        let child = bed.clients[n].child.as_mut().expect("client running");
        if let Some(status) = child.child_mut().try_wait().expect("wait for the client") {
            return status;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the client kept running after an auth failure; its log:\n{}",
            bed.client_log(n)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn root_e2e_client_exits_on_auth_failure() {
    let name = "root_e2e_client_exits_on_auth_failure";
    if !oxidize_testbed::require_root(name) {
        return;
    }
    let mut bed = Bed::new();
    bed.start_relay();
    let wrong = bed.dir.path().join("wrong.token");
    std::fs::write(&wrong, "not-the-token\n").expect("write wrong token");
    for (token, status, words) in [(Some(wrong), 403, "Forbidden"), (None, 401, "Unauthorized")] {
        bed.token_file = token;
        let n = bed.start_client(NsId::Client, "oxc0", &[]);
        let exit = wait_exit(&mut bed, n);
        let log = bed.client_log(n);
        let line = log
            .lines()
            .find(|l| l.contains("refused the tunnel"))
            .unwrap_or("");
        println!("HTTP {status}: exit {exit}, says: {line}");
        assert_eq!(exit.code(), Some(2), "log:\n{log}");
        assert!(
            line.contains(&format!("HTTP {status}")) && line.contains(words),
            "log:\n{log}"
        );
        let links = bed.topo.client.ip("-o link show").expect("links");
        assert!(
            !links.contains("oxc0"),
            "TUN left after an auth failure: {links}"
        );
    }
    let failures = bed.wait_metric(
        "oxidize_relay_auth_failures_total",
        None,
        Duration::from_secs(5),
        |v| v >= 2,
    );
    println!("relay auth failures counted: {failures}");
}
