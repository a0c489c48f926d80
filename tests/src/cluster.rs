//! The kind cluster as the suite sees it: a client pinned to one kube context, a namespace per test, bounded waits.

use anyhow::{Context, bail};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{DeleteParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::process::Command;

/// Label on every namespace the suite creates, so leftovers are easy to find and delete.
pub const E2E_LABEL: &str = "herd.dev/e2e";

/// A client and kubectl, both pinned to one kube context: the suite never touches whatever else is current.
#[derive(Clone)]
pub struct Cluster {
    pub client: Client,
    pub context: String,
}

impl Cluster {
    /// Connects through `context` of the user's kubeconfig and checks that the API server answers.
    pub async fn connect(context: &str) -> anyhow::Result<Cluster> {
        let kubeconfig = Kubeconfig::read().context("no kubeconfig")?;
        if !kubeconfig.contexts.iter().any(|c| c.name == context) {
            bail!("kube context {context} is not in the kubeconfig");
        }
        let options = KubeConfigOptions {
            context: Some(context.to_string()),
            ..Default::default()
        };
        let config = Config::from_custom_kubeconfig(kubeconfig, &options).await?;
        let client = Client::try_from(config)?;
        tokio::time::timeout(Duration::from_secs(10), client.apiserver_version())
            .await
            .with_context(|| format!("the API server of {context} did not answer within 10s"))?
            .with_context(|| format!("the API server of {context} refused"))?;
        Ok(Cluster {
            client,
            context: context.to_string(),
        })
    }

    /// Runs kubectl against this context (and `namespace`, when given) and returns its stdout.
    pub async fn kubectl(&self, namespace: Option<&str>, args: &[&str]) -> anyhow::Result<String> {
        let out = self.kubectl_output(namespace, args).await?;
        if !out.status.success() {
            bail!(
                "`kubectl {}` failed ({}): {}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    pub async fn kubectl_output(
        &self,
        namespace: Option<&str>,
        args: &[&str],
    ) -> anyhow::Result<std::process::Output> {
        let mut cmd = Command::new("kubectl");
        cmd.arg("--context")
            .arg(&self.context)
            .arg("--request-timeout=30s");
        if let Some(ns) = namespace {
            cmd.arg("--namespace").arg(ns);
        }
        let run = cmd
            .args(args)
            .current_dir(crate::cmd::repo_root())
            .kill_on_drop(true)
            .output();
        tokio::time::timeout(Duration::from_secs(120), run)
            .await
            .with_context(|| format!("`kubectl {}` ran over 120s", args.join(" ")))?
            .context("could not start kubectl")
    }
}

/// A namespace of its own for one test: labelled, and deleted when the test is done.
pub struct TestNamespace {
    pub name: String,
    cluster: Cluster,
}

impl TestNamespace {
    pub async fn create(cluster: &Cluster, test: &str) -> anyhow::Result<TestNamespace> {
        let name = namespace_name(test, unique_suffix());
        let namespace: Namespace = serde_json::from_value(serde_json::json!({
            "metadata": { "name": name, "labels": { E2E_LABEL: "true", "herd.dev/e2e-test": slug(test, 63) } }
        }))?;
        Api::<Namespace>::all(cluster.client.clone())
            .create(&PostParams::default(), &namespace)
            .await
            .with_context(|| format!("creating namespace {name}"))?;
        Ok(TestNamespace {
            name,
            cluster: cluster.clone(),
        })
    }

    /// Deletes the namespace; Kubernetes removes what is in it in the background.
    pub async fn delete(&self) -> anyhow::Result<()> {
        Api::<Namespace>::all(self.cluster.client.clone())
            .delete(&self.name, &DeleteParams::background())
            .await
            .with_context(|| format!("deleting namespace {}", self.name))?;
        Ok(())
    }

    /// What a person debugging a failed test looks at first: objects, descriptions, events, logs.
    pub async fn dump(&self) -> String {
        let ns = Some(self.name.as_str());
        let mut report = format!("==== state of namespace {} ====\n", self.name);
        let steps: [(Option<&str>, &[&str]); 8] = [
            (
                ns,
                &[
                    "get",
                    "statelessservices,deployments,replicasets,pods,services,hpa,pdb,endpointslices",
                    "-o",
                    "wide",
                ],
            ),
            (ns, &["describe", "statelessservices"]),
            (ns, &["describe", "pods"]),
            // Names the metric an autoscaler cannot read, and why.
            (ns, &["describe", "hpa"]),
            (ns, &["get", "events", "--sort-by=.lastTimestamp"]),
            (
                ns,
                &[
                    "logs",
                    "--all-containers",
                    "--prefix",
                    "--tail=100",
                    "-l",
                    "app.kubernetes.io/managed-by=herd-operator",
                ],
            ),
            (
                Some("herd-system"),
                &["logs", "--all-containers", "--tail=200", "deployment/herd"],
            ),
            (
                Some("herd-system"),
                &[
                    "logs",
                    "--all-containers",
                    "--tail=100",
                    "deployment/herd-metrics-api",
                ],
            ),
        ];
        for (namespace, args) in steps {
            report.push_str(&format!("---- kubectl {}\n", args.join(" ")));
            match self.cluster.kubectl_output(namespace, args).await {
                Ok(out) => {
                    report.push_str(&String::from_utf8_lossy(&out.stdout));
                    report.push_str(&String::from_utf8_lossy(&out.stderr));
                }
                Err(e) => report.push_str(&format!("{e:#}\n")),
            }
        }
        report
    }
}

/// `e2e-<test>-<suffix>`, a valid namespace name (DNS label, at most 63 characters) for any test name.
pub fn namespace_name(test: &str, suffix: String) -> String {
    let room = 63 - "e2e-".len() - 1 - suffix.len();
    format!("e2e-{}-{suffix}", slug(test, room))
}

/// Lowercase alphanumerics and single dashes, at most `max` characters, no dash at either end.
fn slug(text: &str, max: usize) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.truncate(max);
    out.trim_matches('-').to_string()
}

/// Five base-36 digits from the clock: two runs of one test never share a namespace.
fn unique_suffix() -> String {
    let mut n = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
        / 1000;
    let mut out = String::new();
    for _ in 0..5 {
        let digit = (n % 36) as u32;
        out.push(char::from_digit(digit, 36).unwrap_or('0'));
        n /= 36;
    }
    out
}

/// What one look at the cluster found: the awaited value, or a description of how things stand instead.
pub enum Check<T> {
    Done(T),
    NotYet(String),
}

/// Polls `probe` every half second until it is `Done`, failing after `timeout` with the last state seen.
/// An error from `probe` counts as "not yet": the API server may briefly refuse while things change.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Check<T>>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let last = match probe().await {
            Ok(Check::Done(value)) => return Ok(value),
            Ok(Check::NotYet(state)) => state,
            Err(e) => format!("error: {e:#}"),
        };
        if tokio::time::Instant::now() >= deadline {
            bail!(
                "timed out after {}s waiting for {what}; last seen: {last}",
                timeout.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_names_are_dns_labels_whatever_the_test_is_called() {
        let name = namespace_name("rollout::image_change_keeps_serving", "ab1cd".into());
        assert_eq!(name, "e2e-rollout-image-change-keeps-serving-ab1cd");
        let long = namespace_name(&"Very_Long Name ".repeat(10), "zzzzz".into());
        assert!(long.len() <= 63, "{long} is {} chars", long.len());
        assert!(
            long.starts_with("e2e-very-long-name-") && long.ends_with("-zzzzz"),
            "{long}"
        );
        assert!(!long.contains("--"), "{long}");
    }

    #[test]
    fn suffixes_are_five_base36_digits() {
        let suffix = unique_suffix();
        assert_eq!(suffix.len(), 5);
        assert!(
            suffix
                .chars()
                .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase()),
            "{suffix}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn wait_for_reports_the_last_state_when_it_gives_up() {
        let mut polls = 0;
        let err = wait_for("3 ready replicas", Duration::from_secs(2), || {
            polls += 1;
            let seen = polls;
            async move { Ok(Check::<()>::NotYet(format!("{seen} ready"))) }
        })
        .await
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("timed out after 2s waiting for 3 ready replicas"),
            "{err}"
        );
        assert!(err.ends_with(&format!("last seen: {polls} ready")), "{err}");
    }

    #[tokio::test(start_paused = true)]
    async fn wait_for_returns_as_soon_as_the_probe_is_done_and_retries_errors() {
        let mut polls = 0;
        let value = wait_for("a value", Duration::from_secs(30), || {
            polls += 1;
            let seen = polls;
            async move {
                match seen {
                    1 => anyhow::bail!("connection refused"),
                    2 => Ok(Check::NotYet("pending".into())),
                    _ => Ok(Check::Done(seen)),
                }
            }
        })
        .await
        .unwrap();
        assert_eq!(value, 3);
    }
}
