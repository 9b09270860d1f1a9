//! Whether this replica is Ready, as controller-runtime's managers decide it: a replica that
//! serves its endpoints and does not lead is Ready (a standby has nothing to sync, and a
//! Deployment whose standby never turns Ready never finishes rolling out); the leader is Ready
//! once its RelayNode watch has listed everything.
//!
//! "Synced" comes from the RelayNode watch stream itself (`InitDone`, seen in
//! [`crate::controller::run`]), never from `Store::wait_until_ready`: with kube 5.0.0 a second
//! waiter on the same store starves the first (see the regression test below), and the
//! controller is already one waiter.

/// What readiness is decided from; a snapshot of [`crate::controller::State`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Readiness {
    /// The HTTP server has bound its address.
    pub serving: bool,
    /// This replica runs the controller (it holds the Lease, or election is off).
    pub leading: bool,
    /// The controller's RelayNode watch has completed its initial list.
    pub synced: bool,
}

impl Readiness {
    /// True when the replica should receive traffic and count as available.
    pub fn is_ready(self) -> bool {
        self.serving && (!self.leading || self.synced)
    }

    /// Why the replica is not ready (None when it is), for the `/readyz` body.
    pub fn waiting_for(self) -> Option<&'static str> {
        if !self.serving {
            Some("the HTTP server is starting")
        } else if self.leading && !self.synced {
            Some("the RelayNode watch to sync")
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::runtime::{reflector, watcher};

    use super::*;

    #[test]
    fn a_standby_is_ready_once_serving_and_the_leader_once_synced() {
        let r = |serving, leading, synced| Readiness {
            serving,
            leading,
            synced,
        };
        // Nothing is ready before the server listens.
        assert!(!r(false, false, false).is_ready());
        assert!(!r(false, true, true).is_ready());
        // A standby is ready: it serves and has nothing to sync.
        assert!(r(true, false, false).is_ready());
        // The leader waits for its watch.
        assert!(!r(true, true, false).is_ready());
        assert!(r(true, true, true).is_ready());
        assert_eq!(
            r(true, true, false).waiting_for(),
            Some("the RelayNode watch to sync")
        );
        assert_eq!(
            r(false, false, false).waiting_for(),
            Some("the HTTP server is starting")
        );
        assert_eq!(r(true, false, false).waiting_for(), None);
        // Losing the lead (a standby again) keeps it ready.
        assert!(r(true, false, true).is_ready());
    }

    /// Regression (issue 16 item 3): with kube 5.0.0, `Store::wait_until_ready` wakes only the
    /// waiter that polled last; the first one stays pending although the store is ready (its
    /// `DelayedInit` holds a oneshot receiver that keeps one waker). The operator used to have
    /// two waiters (the controller's runner and the readiness task), so either reconciles or
    /// `/readyz` could hang. Readiness no longer waits on the store at all. If this test fails
    /// because both waiters wake, kube fixed it: keep readiness as it is and turn the assertion
    /// around.
    #[tokio::test]
    async fn kube_store_wait_until_ready_wakes_only_the_last_of_two_waiters() {
        let (reader, mut writer) = reflector::store::<ConfigMap>();
        let waiter = |r: reflector::Store<ConfigMap>| async move { r.wait_until_ready().await };
        let first = tokio::spawn(waiter(reader.clone()));
        for _ in 0..3 {
            tokio::task::yield_now().await;
        }
        let second = tokio::spawn(waiter(reader.clone()));
        for _ in 0..3 {
            tokio::task::yield_now().await;
        }
        assert!(!first.is_finished() && !second.is_finished());

        writer.apply_watcher_event(&watcher::Event::InitDone);

        let second = tokio::time::timeout(Duration::from_secs(1), second).await;
        assert!(
            matches!(second, Ok(Ok(Ok(())))),
            "the last waiter wakes: {second:?}"
        );
        let first = tokio::time::timeout(Duration::from_millis(300), first).await;
        assert!(
            first.is_err(),
            "kube 5.0.0 leaves the first waiter pending; it woke: {first:?}"
        );
        // The store is ready all the same: a fresh waiter returns at once.
        assert!(reader.wait_until_ready().await.is_ok());
    }
}
