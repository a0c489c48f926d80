//! The reconciler: fetch → build → apply → status for one StatelessService, with events and per-object backoff.

use crate::apply::{self, Change, ChangeKind, ChildStores, FIELD_MANAGER, Verified};
use crate::crd::{StatelessService, condition};
use crate::error::{Error, Result};
use crate::events::EventRecorder;
use crate::metrics::{Metrics, Outcome};
use crate::resources;
use crate::status::{self, Problem};
use crate::traffic::hpa_status::autoscaling_status;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Reporter};
use kube::runtime::reflector::ObjectRef;
use kube::{Client, Resource, ResourceExt};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::{info, instrument, warn};

/// How often an unchanged object is looked at again to catch anything a watch may have missed. Cheap: a
/// resync of an unchanged object sends no request.
pub const RESYNC: Duration = Duration::from_secs(300);
/// Upper bound of the per-object retry delay after API errors.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// What every reconcile shares.
pub struct Context {
    pub client: Client,
    pub recorder: EventRecorder,
    pub metrics: Arc<Metrics>,
    pub children: ChildStores,
    /// Children already compared with their desired state at their current resourceVersion.
    verified: Verified,
    /// Consecutive transient failures per object; drives the retry delay and is reset by a success.
    failures: Mutex<HashMap<ObjectRef<StatelessService>, u32>>,
}

impl Context {
    pub fn new(client: Client, metrics: Arc<Metrics>, children: ChildStores) -> Self {
        let reporter = Reporter {
            controller: FIELD_MANAGER.into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Self {
            recorder: EventRecorder::new(client.clone(), reporter),
            client,
            metrics,
            children,
            verified: Verified::default(),
            failures: Mutex::default(),
        }
    }

    fn note_failure(&self, key: ObjectRef<StatelessService>) -> u32 {
        let mut failures = self
            .failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = failures.entry(key).or_insert(0);
        *count = count.saturating_add(1);
        *count
    }

    fn reset_failures(&self, key: &ObjectRef<StatelessService>) {
        self.failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(key);
    }

    /// Consecutive failures recorded for `key` (0 after a success).
    pub fn failures(&self, key: &ObjectRef<StatelessService>) -> u32 {
        let failures = self
            .failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        failures.get(key).copied().unwrap_or(0)
    }
}

/// Reconciles one StatelessService. Sends no request at all when its children and status already match.
#[instrument(skip_all, fields(object = %format!("{}/{}", ss.namespace().unwrap_or_default(), ss.name_any())))]
pub async fn reconcile(ss: Arc<StatelessService>, ctx: Arc<Context>) -> Result<Action> {
    let _timer = ctx.metrics.reconcile_timer();
    let result = reconcile_steps(&ss, &ctx).await;
    match &result {
        Ok(outcome) => {
            ctx.metrics.record_outcome(*outcome);
            ctx.reset_failures(&ObjectRef::from_obj(&*ss));
        }
        Err(error) => {
            ctx.metrics.record_failure(error.metric_label());
            let outcome = if error.is_transient() {
                Outcome::Error
            } else {
                Outcome::InvalidSpec
            };
            ctx.metrics.record_outcome(outcome);
        }
    }
    result.map(|_| Action::requeue(RESYNC))
}

async fn reconcile_steps(ss: &StatelessService, ctx: &Context) -> Result<Outcome> {
    let namespace = ss
        .namespace()
        .ok_or(Error::MissingMetadata("metadata.namespace"))?;
    let name = ss.name_any();
    if !ctx.children.wait_until_ready().await {
        return Err(Error::CachesStopped);
    }
    let live = ctx.children.live(&namespace, &name);

    let desired = match resources::build(ss) {
        Ok(children) => children,
        Err(invalid) => {
            warn!(field = %invalid.field, "invalid spec: {invalid}");
            let problem = Problem::InvalidSpec(invalid.to_string());
            update_status(ss, ctx, live.deployment.as_deref(), Some(&problem)).await?;
            return Err(Error::InvalidSpec(invalid));
        }
    };

    let applied = match apply::apply(&ctx.client, &ctx.metrics, &ctx.verified, ss, desired, &live).await {
        Ok(applied) => applied,
        Err(error) => {
            let problem = Problem::ApplyFailed(error.to_string());
            // Best effort: the API server that refused the apply may refuse this too.
            if let Err(status_error) =
                update_status(ss, ctx, live.deployment.as_deref(), Some(&problem)).await
            {
                warn!("recording the apply failure in the status failed: {status_error}");
            }
            return Err(error);
        }
    };
    for change in &applied.changes {
        info!(kind = change.kind, change = ?change.change, "applied child");
        publish(ctx, ss, change_event(change, &namespace)).await;
    }
    let status_changed = update_status(ss, ctx, applied.deployment.as_deref(), None).await?;
    Ok(if applied.changes.is_empty() && !status_changed {
        Outcome::Unchanged
    } else {
        Outcome::Changed
    })
}

/// Patches the status when its content changed; emits the events that belong to the transition.
async fn update_status(
    ss: &StatelessService,
    ctx: &Context,
    deployment: Option<&Deployment>,
    problem: Option<&Problem>,
) -> Result<bool> {
    let mut next = status::desired(ss, deployment, problem, Timestamp::now());
    // What the HPA decided and why lives in the HPA's own status, which only the cache has.
    next.autoscaling = if ss.spec.autoscaling.enabled {
        let live = ctx
            .children
            .live(&ss.namespace().unwrap_or_default(), &ss.name_any());
        live.hpa.map(|hpa| autoscaling_status(&hpa))
    } else {
        None
    };
    let current = ss.status.clone().unwrap_or_default();
    if next == current {
        return Ok(false);
    }
    let api: Api<StatelessService> = Api::namespaced(
        ctx.client.clone(),
        &ss.namespace()
            .ok_or(Error::MissingMetadata("metadata.namespace"))?,
    );
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..PatchParams::default()
    };
    api.patch_status(&ss.name_any(), &params, &Patch::Merge(status::patch(&next)))
        .await
        .map_err(Error::Status)?;

    let degraded = |s| status::find(s, condition::DEGRADED).map(|c| (c.status.clone(), c.message.clone()));
    if let Some(c) = status::find(&next, condition::DEGRADED)
        && c.status == "True"
        && degraded(&current) != degraded(&next)
    {
        let event = Event {
            type_: EventType::Warning,
            reason: c.reason.clone(),
            note: Some(c.message.clone()),
            action: if c.reason == status::reason::INVALID_SPEC {
                "Validate"
            } else {
                "Reconcile"
            }
            .into(),
            secondary: None,
        };
        publish(ctx, ss, event).await;
    }
    if let Some(image) = &next.current_image
        && next.current_image != current.current_image
    {
        let event = Event {
            type_: EventType::Normal,
            reason: "RolloutComplete".into(),
            note: Some(format!("every replica runs {image}")),
            action: "Rollout".into(),
            secondary: None,
        };
        publish(ctx, ss, event).await;
    }
    Ok(true)
}

/// One Normal event per child written, naming it as the related object. The recorder folds repeats of the
/// same reason for the same child into one event series, so a flapping child does not flood the namespace.
fn change_event(change: &Change, namespace: &str) -> Event {
    let (reason, verb) = match change.change {
        ChangeKind::Created => ("Created", "created"),
        ChangeKind::Updated => ("Updated", "updated"),
        ChangeKind::Reverted => ("DriftReverted", "reverted an out-of-band edit of"),
        ChangeKind::Deleted => ("Deleted", "deleted"),
    };
    Event {
        type_: EventType::Normal,
        reason: reason.into(),
        note: Some(format!("{verb} {} {}", change.kind, change.name)),
        action: "Apply".into(),
        secondary: Some(ObjectReference {
            api_version: Some(change.api_version.into()),
            kind: Some(change.kind.into()),
            name: Some(change.name.clone()),
            namespace: Some(namespace.into()),
            ..ObjectReference::default()
        }),
    }
}

/// Events are diagnostics: failing to record one must not fail the reconcile.
async fn publish(ctx: &Context, ss: &StatelessService, event: Event) {
    if let Err(error) = ctx.recorder.publish(&event, &ss.object_ref(&())).await {
        warn!(reason = %event.reason, "publishing event failed: {error}");
    }
}

/// Decides the retry after a failed reconcile: an invalid spec waits for the next change of the object, API
/// errors are retried with a delay that doubles per consecutive failure of that object.
pub fn error_policy(ss: Arc<StatelessService>, error: &Error, ctx: Arc<Context>) -> Action {
    let key = ObjectRef::from_obj(&*ss);
    if !error.is_transient() {
        ctx.reset_failures(&key);
        return Action::await_change();
    }
    let failures = ctx.note_failure(key);
    let delay = backoff(failures);
    warn!(object = %format!("{}/{}", ss.namespace().unwrap_or_default(), ss.name_any()), failures,
        retry_in = ?delay, "reconcile failed: {error}");
    Action::requeue(delay)
}

/// 1 s, 2 s, 4 s … up to [`MAX_BACKOFF`] for the n-th consecutive failure.
pub fn backoff(failures: u32) -> Duration {
    let exponent = failures.saturating_sub(1).min(16);
    Duration::from_secs(1u64 << exponent).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests;
