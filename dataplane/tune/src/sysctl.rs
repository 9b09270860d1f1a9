//! Sysctls under `/proc/sys`: key syntax, existence, writability and value shape are checked
//! before anything is written.

use std::collections::BTreeMap;

use super::step::{Check, Step, Target};
use super::sysfs::{read_trimmed, Sysfs};

/// The `/proc/sys` path of a dotted sysctl key (`net.core.busy_poll`), or why the key is wrong.
/// Keys with `/` are taken as paths (the way `sysctl` allows `net/ipv4/conf/eth0.100/rp_filter`).
pub fn sysctl_path(key: &str) -> Result<String, String> {
    let parts: Vec<&str> = if key.contains('/') {
        key.split('/').collect()
    } else {
        key.split('.').collect()
    };
    let valid = |p: &&str| {
        !p.is_empty()
            && *p != "."
            && *p != ".."
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.:@".contains(&b))
    };
    if key.is_empty() || !parts.iter().all(valid) {
        return Err(format!(
            "sysctl {key:?}: not a sysctl name; write it like net.core.busy_poll"
        ));
    }
    Ok(format!("/proc/sys/{}", parts.join("/")))
}

/// Validates the plan's sysctls and returns their steps; one error per wrong key.
pub(crate) fn steps(
    sysctls: &BTreeMap<String, String>,
    fs: &dyn Sysfs,
    errors: &mut Vec<String>,
) -> Vec<Step> {
    let mut steps = Vec::new();
    for (key, value) in sysctls {
        let path = match sysctl_path(key) {
            Ok(path) => path,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        let item = format!("sysctl {key}");
        if !fs.exists(&path) {
            errors.push(format!(
                "{item}: unknown key ({path} does not exist on this kernel)"
            ));
            continue;
        }
        if !fs.is_writable(&path) {
            errors.push(format!("{item}: read-only on this kernel"));
            continue;
        }
        if value.trim().is_empty() || value.contains('\n') {
            errors.push(format!(
                "{item}: value {value:?} is empty or has a line break"
            ));
            continue;
        }
        let current = match read_trimmed(fs, &path) {
            Ok(current) => current,
            Err(e) => {
                errors.push(format!("{item}: {e}"));
                continue;
            }
        };
        if let Some(problem) = shape_mismatch(&current, value) {
            errors.push(format!("{item}: value {value:?} {problem}"));
            continue;
        }
        steps.push(Step {
            item,
            target: Target::File { path },
            want: value.trim().to_owned(),
            check: Check::Exact,
        });
    }
    steps
}

/// A numeric sysctl (its current value is one or more integers) only takes the same number of
/// integers; the kernel refuses anything else with EINVAL.
fn shape_mismatch(current: &str, value: &str) -> Option<String> {
    let is_int = |s: &str| s.parse::<i64>().is_ok() || s.parse::<u64>().is_ok();
    let now: Vec<&str> = current.split_whitespace().collect();
    if now.is_empty() || !now.iter().all(|s| is_int(s)) {
        return None;
    }
    let new: Vec<&str> = value.split_whitespace().collect();
    if new.len() != now.len() || !new.iter().all(|s| is_int(s)) {
        return Some(format!(
            "is not {} integer(s) like the current {current:?}",
            now.len()
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_to_proc_sys_paths() {
        assert_eq!(
            sysctl_path("net.core.busy_poll"),
            Ok("/proc/sys/net/core/busy_poll".into())
        );
        assert_eq!(
            sysctl_path("net/ipv4/conf/eth0.100/rp_filter"),
            Ok("/proc/sys/net/ipv4/conf/eth0.100/rp_filter".into())
        );
        for bad in [
            "",
            "net..core",
            "../etc/passwd",
            "net/../../x",
            "a b",
            "net.core.x\n",
        ] {
            assert!(sysctl_path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn numeric_sysctls_take_numbers_of_the_same_arity() {
        assert_eq!(shape_mismatch("0", "50"), None);
        assert_eq!(
            shape_mismatch("4096\t131072\t6291456", "4096 87380 16777216"),
            None
        );
        assert!(shape_mismatch("0", "fast").is_some());
        assert!(shape_mismatch("4096\t131072\t6291456", "4096").is_some());
        assert_eq!(shape_mismatch("cubic", "bbr"), None);
    }
}
