//! Running external commands (`ip`, `ping`, ...) with errors that show the command line.

use std::process::Command;

use crate::{Error, Result};

/// Runs `program args...` and returns its stdout; a non-zero exit becomes [`Error::Command`].
pub fn run<I, S>(program: &str, args: I) -> Result<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let args: Vec<String> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let command = format!("{program} {}", args.join(" "));
    let output = Command::new(program)
        .args(&args)
        .output()
        .map_err(|source| Error::Spawn {
            command: program.to_owned(),
            source,
        })?;
    if !output.status.success() {
        return Err(Error::Command {
            command,
            status: output.status,
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Runs `ip args...` (whitespace-separated) and returns its stdout.
pub fn ip(args: &str) -> Result<String> {
    run("ip", args.split_whitespace())
}
