//! Decides, before anything runs, whether a suite can run here, must skip, or must fail (in CI).

use std::env;
use std::path::Path;

/// What a suite does with its checks given the tools this machine has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    /// Everything needed is here: run the checks.
    Run,
    /// Something is missing on a developer machine: mark every check ignored and say why in one line.
    Skip(String),
    /// Something is missing while `CI` is set: a CI run that skipped its checks would be a lie.
    Fail(String),
}

impl Gate {
    /// `missing` names what is absent; `ci` is whether the `CI` variable is set (non-empty).
    pub fn decide(missing: &[String], ci: bool) -> Gate {
        if missing.is_empty() {
            return Gate::Run;
        }
        let reason = format!("{} not found", missing.join(", "));
        if ci {
            Gate::Fail(reason)
        } else {
            Gate::Skip(reason)
        }
    }
}

/// Whether the `CI` environment variable is set to something other than empty or `false`.
pub fn in_ci() -> bool {
    env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// The tools among `tools` that are not executable files on `PATH`.
pub fn missing_tools(tools: &[&str]) -> Vec<String> {
    let path = env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<_> = env::split_paths(&path).collect();
    tools
        .iter()
        .filter(|tool| !dirs.iter().any(|dir| is_executable(&dir.join(tool))))
        .map(|tool| (*tool).to_string())
        .collect()
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_missing_runs_even_in_ci() {
        assert_eq!(Gate::decide(&[], true), Gate::Run);
        assert_eq!(Gate::decide(&[], false), Gate::Run);
    }

    #[test]
    fn missing_tools_skip_locally_and_fail_in_ci_naming_each_tool() {
        let missing = vec!["kind".to_string(), "helm".to_string()];
        assert_eq!(
            Gate::decide(&missing, false),
            Gate::Skip("kind, helm not found".into())
        );
        assert_eq!(
            Gate::decide(&missing, true),
            Gate::Fail("kind, helm not found".into())
        );
    }

    #[test]
    fn finds_a_tool_every_unix_has_and_reports_an_absent_one() {
        let missing = missing_tools(&["sh", "surely-not-a-real-tool-3f9a"]);
        assert_eq!(missing, vec!["surely-not-a-real-tool-3f9a".to_string()]);
    }
}
