//! Runs the command-line tools the suites drive (helm, kubectl, kind, kubernetes-validate) with clear errors.

use anyhow::{Context, bail};
use std::path::PathBuf;
use std::process::{Command, Output};

/// The workspace root (the e2e crate lives one level below it).
pub fn repo_root() -> PathBuf {
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    crate_dir.parent().map(PathBuf::from).unwrap_or(crate_dir)
}

/// Runs `program args` from the repository root and returns what it printed.
pub fn output(program: &str, args: &[&str]) -> anyhow::Result<Output> {
    Command::new(program)
        .args(args)
        .current_dir(repo_root())
        .output()
        .with_context(|| format!("could not start `{program}`"))
}

/// Runs `program args` and returns its stdout; a non-zero exit is an error carrying its stderr.
pub fn run(program: &str, args: &[&str]) -> anyhow::Result<String> {
    let out = output(program, args)?;
    if !out.status.success() {
        bail!(
            "`{program} {}` failed ({}):\n{}{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `program args` expecting it to fail, and returns its stderr and stdout together.
pub fn run_failing(program: &str, args: &[&str]) -> anyhow::Result<String> {
    let out = output(program, args)?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    if out.status.success() {
        bail!(
            "`{program} {}` succeeded but should have failed:\n{text}",
            args.join(" ")
        );
    }
    Ok(text)
}
