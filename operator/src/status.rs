//! Pure status: replica counts, selector, current image and conditions computed from the observed Deployment.

use crate::crd::{StatelessService, StatelessServiceStatus, condition};
use crate::resources::CONTAINER_NAME;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

/// A problem that stopped this reconcile before the children matched the spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// The spec passed the schema but cannot be built; the message names the field.
    InvalidSpec(String),
    /// The API server refused or failed a write.
    ApplyFailed(String),
}

/// Condition reasons herd sets (PascalCase, as the API conventions ask).
pub mod reason {
    pub const MINIMUM_REPLICAS_AVAILABLE: &str = "MinimumReplicasAvailable";
    pub const MINIMUM_REPLICAS_UNAVAILABLE: &str = "MinimumReplicasUnavailable";
    pub const NEW_REPLICA_SET_AVAILABLE: &str = "NewReplicaSetAvailable";
    pub const ROLLOUT_IN_PROGRESS: &str = "RolloutInProgress";
    pub const PROGRESS_DEADLINE_EXCEEDED: &str = "ProgressDeadlineExceeded";
    pub const INVALID_SPEC: &str = "InvalidSpec";
    pub const APPLY_FAILED: &str = "ApplyFailed";
    pub const AS_EXPECTED: &str = "AsExpected";
}

/// The status herd wants on `ss`, given the Deployment as it runs and the problem (if any) of this reconcile.
///
/// Fields herd does not own (e.g. the autoscaling summary) are carried over unchanged, so comparing the
/// result with the current status tells exactly whether a patch is needed. A condition keeps its
/// `lastTransitionTime` unless its status flips.
pub fn desired(
    ss: &StatelessService,
    deployment: Option<&Deployment>,
    problem: Option<&Problem>,
    now: Timestamp,
) -> StatelessServiceStatus {
    let current = ss.status.clone().unwrap_or_default();
    let generation = ss.metadata.generation;
    let rollout = deployment.map(Rollout::of);
    let dep_status = deployment.and_then(|d| d.status.as_ref());
    // Start from the current status so fields owned by others stay as they are.
    let mut next = current.clone();
    next.observed_generation = match problem {
        // An apply that failed has not acted on this generation yet.
        Some(Problem::ApplyFailed(_)) => current.observed_generation,
        _ => generation,
    };
    next.replicas = Some(dep_status.and_then(|s| s.replicas).unwrap_or(0));
    next.ready_replicas = Some(dep_status.and_then(|s| s.ready_replicas).unwrap_or(0));
    next.updated_replicas = Some(dep_status.and_then(|s| s.updated_replicas).unwrap_or(0));
    next.available_replicas = Some(dep_status.and_then(|s| s.available_replicas).unwrap_or(0));
    next.selector = deployment.and_then(selector).or(current.selector.clone());
    if let Some(rollout) = rollout.as_ref().filter(|r| r.complete) {
        next.current_image = rollout.image.clone().or(current.current_image.clone());
    }

    let available = match deployment.and_then(|d| deployment_condition(d, "Available")) {
        Some(c) => (
            c.status.clone(),
            c.reason.clone().unwrap_or_default(),
            c.message.clone().unwrap_or_default(),
        ),
        None => (
            "False".into(),
            reason::MINIMUM_REPLICAS_UNAVAILABLE.into(),
            "the Deployment has not reported available replicas yet".into(),
        ),
    };
    let deadline_exceeded = deployment
        .and_then(|d| deployment_condition(d, "Progressing"))
        .filter(|c| c.status == "False" && c.reason.as_deref() == Some(reason::PROGRESS_DEADLINE_EXCEEDED));
    let progressing = match (&rollout, deadline_exceeded) {
        (_, Some(c)) => (
            "False",
            reason::PROGRESS_DEADLINE_EXCEEDED,
            c.message
                .clone()
                .unwrap_or_else(|| "the rollout exceeded its progress deadline".into()),
        ),
        (Some(r), None) if r.complete => {
            let image = r.image.as_deref().unwrap_or("the pod template");
            (
                "False",
                reason::NEW_REPLICA_SET_AVAILABLE,
                format!("every replica runs {image}"),
            )
        }
        (Some(r), None) => ("True", reason::ROLLOUT_IN_PROGRESS, r.describe()),
        (None, None) => (
            "True",
            reason::ROLLOUT_IN_PROGRESS,
            "the Deployment is being created".into(),
        ),
    };
    let degraded = match (problem, deadline_exceeded) {
        (Some(Problem::InvalidSpec(message)), _) => ("True", reason::INVALID_SPEC, message.clone()),
        (Some(Problem::ApplyFailed(message)), _) => ("True", reason::APPLY_FAILED, message.clone()),
        (None, Some(c)) => (
            "True",
            reason::PROGRESS_DEADLINE_EXCEEDED,
            c.message
                .clone()
                .unwrap_or_else(|| "the rollout exceeded its progress deadline".into()),
        ),
        (None, None) => ("False", reason::AS_EXPECTED, "the children match the spec".into()),
    };

    let previous = &current.conditions;
    next.conditions = vec![
        condition(
            previous,
            condition::AVAILABLE,
            &available.0,
            &available.1,
            &available.2,
            generation,
            now,
        ),
        condition(
            previous,
            condition::PROGRESSING,
            progressing.0,
            progressing.1,
            &progressing.2,
            generation,
            now,
        ),
        condition(
            previous,
            condition::DEGRADED,
            degraded.0,
            degraded.1,
            &degraded.2,
            generation,
            now,
        ),
    ];
    next
}

/// The merge patch for `/status` carrying only the fields herd owns, so a concurrent writer of other status
/// fields (the autoscaling summary) is never overwritten with a stale copy.
pub fn patch(status: &StatelessServiceStatus) -> Value {
    json!({
        "status": {
            "observedGeneration": status.observed_generation,
            "replicas": status.replicas,
            "readyReplicas": status.ready_replicas,
            "updatedReplicas": status.updated_replicas,
            "availableReplicas": status.available_replicas,
            "selector": status.selector,
            "currentImage": status.current_image,
            "conditions": status.conditions,
            "autoscaling": status.autoscaling,
        }
    })
}

/// The condition of `type_` in `status`, if set.
pub fn find<'a>(status: &'a StatelessServiceStatus, type_: &str) -> Option<&'a Condition> {
    status.conditions.iter().find(|c| c.type_ == type_)
}

fn condition(
    previous: &[Condition],
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    now: Timestamp,
) -> Condition {
    let last_transition_time = previous
        .iter()
        .find(|c| c.type_ == type_ && c.status == status)
        .map(|c| c.last_transition_time.clone())
        .unwrap_or(Time(now));
    Condition {
        type_: type_.into(),
        status: status.into(),
        reason: reason.into(),
        message: message.into(),
        observed_generation: generation,
        last_transition_time,
    }
}

/// How far the Deployment's rollout got, judged like `kubectl rollout status` does.
struct Rollout {
    complete: bool,
    image: Option<String>,
    desired: i32,
    updated: i32,
    available: i32,
    old: i32,
}

impl Rollout {
    fn of(deployment: &Deployment) -> Self {
        let status = deployment.status.clone().unwrap_or_default();
        let desired = deployment.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
        let observed = status.observed_generation.unwrap_or(0) >= deployment.metadata.generation.unwrap_or(0);
        let replicas = status.replicas.unwrap_or(0);
        let updated = status.updated_replicas.unwrap_or(0);
        let available = status.available_replicas.unwrap_or(0);
        let image = deployment
            .spec
            .as_ref()
            .and_then(|s| s.template.spec.as_ref())
            .and_then(|p| {
                p.containers
                    .iter()
                    .find(|c| c.name == CONTAINER_NAME)
                    .or(p.containers.first())
            })
            .and_then(|c| c.image.clone());
        Rollout {
            // Old replicas still count in `replicas` until they are gone, so `replicas == updated` means none left.
            complete: observed && updated == desired && replicas == updated && available == updated,
            image,
            desired,
            updated,
            available,
            old: (replicas - updated).max(0),
        }
    }

    fn describe(&self) -> String {
        format!(
            "{} of {} replicas updated, {} available, {} old replicas remaining",
            self.updated, self.desired, self.available, self.old
        )
    }
}

fn deployment_condition<'a>(deployment: &'a Deployment, type_: &str) -> Option<&'a DeploymentCondition> {
    deployment
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
}

/// The Deployment's pod selector as a label selector string (`k=v,k=v`), for the scale subresource.
fn selector(deployment: &Deployment) -> Option<String> {
    let labels = deployment.spec.as_ref()?.selector.match_labels.as_ref()?;
    Some(
        labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(","),
    )
}
