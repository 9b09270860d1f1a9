//! Which cores the workers pin to: the configured ones when the process may run on them,
//! otherwise the first cores of the affinity mask the process was given.
//!
//! Under Kubernetes' static CPU manager a Guaranteed pod gets exclusive cores that the kubelet
//! picks, and the container starts with exactly those in its affinity mask; pinning a worker to
//! a core outside it fails (`EINVAL`) or, worse, lands on a core shared with other pods. So the
//! mask wins over the configuration, with a warning naming both lists. [`choose`] is pure.

use crate::error::{Error, Result};

/// The cores chosen for the workers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    /// One core per worker, in worker order.
    pub cores: Vec<usize>,
    /// Whether the configured cores were replaced by the first cores of the mask.
    pub from_mask: bool,
}

/// Picks one core per worker: `configured` if every one of them is in `allowed` (the process's
/// affinity mask), else the first `configured.len()` cores of `allowed`. Fails only when the
/// mask has fewer cores than there are workers.
pub fn choose(configured: &[usize], allowed: &[usize]) -> Result<Choice> {
    if configured.iter().all(|c| allowed.contains(c)) {
        return Ok(Choice {
            cores: configured.to_vec(),
            from_mask: false,
        });
    }
    let workers = configured.len();
    if allowed.len() < workers {
        return Err(Error::invalid(
            "workerCores",
            format!(
                "{workers} workers need {workers} cores but this process may only run on {} \
                 ({}): grant the pod one CPU per worker (Guaranteed QoS, integer CPU requests) \
                 or lower `queues`",
                allowed.len(),
                list(allowed)
            ),
        ));
    }
    Ok(Choice {
        cores: allowed[..workers].to_vec(),
        from_mask: true,
    })
}

/// The cores for the workers of this process: [`choose`] against `sched_getaffinity`, with a
/// warning when the mask wins.
pub fn for_this_process(configured: &[usize]) -> Result<Vec<usize>> {
    let allowed = oxidize_xdp::syscall::allowed_cpus()
        .map_err(|e| Error::io("sched_getaffinity() for the worker cores", e))?;
    let choice = choose(configured, &allowed)?;
    if choice.from_mask {
        tracing::warn!(
            configured = %list(configured),
            allowed = %list(&allowed),
            chosen = %list(&choice.cores),
            "relay: the configured worker cores are not all in this process's CPU affinity \
             (the cores the pod was granted); pinning to the first cores of the affinity instead"
        );
    } else {
        tracing::info!(cores = %list(&choice.cores), allowed = %list(&allowed), "relay: worker cores");
    }
    Ok(choice.cores)
}

fn list(cores: &[usize]) -> String {
    let text: Vec<String> = cores.iter().map(usize::to_string).collect();
    format!("[{}]", text.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_cores_inside_the_mask_are_kept() {
        let choice = choose(&[2, 3], &[0, 1, 2, 3]).expect("fits");
        assert_eq!(choice.cores, [2, 3]);
        assert!(!choice.from_mask);
    }

    #[test]
    fn cores_outside_the_mask_are_replaced_by_the_first_of_the_mask() {
        // A static CPU manager granted cores 5 and 7; the config says 0 and 1.
        let choice = choose(&[0, 1], &[5, 7, 9]).expect("fits");
        assert_eq!(choice.cores, [5, 7]);
        assert!(choice.from_mask);
        // One configured core outside is enough to take the mask's.
        assert_eq!(choose(&[1, 4], &[1, 2, 3]).expect("fits").cores, [1, 2]);
    }

    #[test]
    fn too_small_a_mask_is_refused_with_both_counts() {
        let err = choose(&[0, 1, 2], &[4, 5]).expect_err("two cores for three workers");
        let text = err.to_string();
        assert!(text.contains("3 workers need 3 cores"), "{text}");
        assert!(text.contains("may only run on 2 ([4,5])"), "{text}");
    }

    #[test]
    fn this_process_has_a_mask() {
        let allowed = oxidize_xdp::syscall::allowed_cpus().expect("sched_getaffinity");
        assert!(!allowed.is_empty());
        assert_eq!(
            for_this_process(&allowed[..1]).expect("own core"),
            allowed[..1]
        );
    }
}
