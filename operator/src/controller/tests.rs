//! Reconcile scenarios against the scripted mock API server: exact requests in, realistic objects out.

use super::*;
use crate::fixtures::{self, Caches, DEPLOYMENTS, Exchange, HPAS, PDBS, SERVICES, rolled_out, server_apply};
use crate::metrics::Outcome;
use http::StatusCode;
use serde_json::{Value, json};
use std::sync::Mutex as StdMutex;

/// Values the fake API server answered, for the next phase of a scenario.
#[derive(Clone, Default)]
struct Seen(Arc<StdMutex<Vec<Value>>>);

impl Seen {
    fn push(&self, value: Value) -> Value {
        self.0.lock().unwrap().push(value.clone());
        value
    }
    fn last(&self) -> Value {
        self.0.lock().unwrap().last().cloned().expect("nothing seen")
    }
}

/// Answers an apply as the API server would, on top of the latest object in `seen` (the chain of answers
/// for one child), and records the answer there.
fn answer_chained(seen: &Seen, manager: &'static str) -> impl FnOnce(&Value) -> (StatusCode, Value) + use<> {
    let seen = seen.clone();
    move |body| {
        let existing = seen.0.lock().unwrap().last().cloned();
        (
            StatusCode::OK,
            seen.push(server_apply(existing.as_ref(), body, manager)),
        )
    }
}

fn answer_apply(
    seen: &Seen,
    existing: Option<Value>,
    manager: &'static str,
) -> impl FnOnce(&Value) -> (StatusCode, Value) + use<> {
    let seen = seen.clone();
    move |body| {
        (
            StatusCode::OK,
            seen.push(server_apply(existing.as_ref(), body, manager)),
        )
    }
}

fn answer_status(seen: &Seen, ss: &StatelessService) -> impl FnOnce(&Value) -> (StatusCode, Value) + use<> {
    let (seen, ss) = (seen.clone(), ss.clone());
    move |body| {
        seen.push(body.clone());
        (
            StatusCode::OK,
            serde_json::to_value(fixtures::with_status_patch(&ss, body)).unwrap(),
        )
    }
}

fn condition<'a>(status_patch: &'a Value, type_: &str) -> &'a Value {
    status_patch["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == type_)
        .unwrap()
}

/// A service that was created and fully rolled out; its caches hold what the API server returned.
struct Running {
    ctx: Arc<Context>,
    api: fixtures::ApiServer,
    caches: Caches,
    ss: StatelessService,
    deployment: Value,
}

impl Running {
    async fn start(spec: Value) -> Self {
        let (ctx, api, mut caches) = fixtures::context();
        let ss = fixtures::stateless_service("web", 1, spec);
        let (deployment, service, status) = (Seen::default(), Seen::default(), Seen::default());
        let pdb = Seen::default();
        let phase = api.serve(vec![
            Exchange::apply(DEPLOYMENTS, "web").respond(answer_apply(&deployment, None, FIELD_MANAGER)),
            Exchange::apply(SERVICES, "web").respond(answer_apply(&service, None, FIELD_MANAGER)),
            Exchange::apply(PDBS, "web").respond(answer_apply(&pdb, None, FIELD_MANAGER)),
            Exchange::event("Normal", "Created"),
            Exchange::event("Normal", "Created"),
            Exchange::event("Normal", "Created"),
            Exchange::status("web").respond(answer_status(&status, &ss)),
        ]);
        reconcile(Arc::new(ss.clone()), ctx.clone()).await.unwrap();
        phase.done().await;
        let live = rolled_out(&deployment.last());
        Caches::put(&mut caches.deployments, &live);
        Caches::put(&mut caches.services, &service.last());
        Caches::put(&mut caches.pdbs, &pdb.last());
        let ss = fixtures::with_status_patch(&ss, &status.last());

        let status = Seen::default();
        let phase = api.serve(vec![
            Exchange::status("web").respond(answer_status(&status, &ss)),
            Exchange::event("Normal", "RolloutComplete"),
        ]);
        reconcile(Arc::new(ss.clone()), ctx.clone()).await.unwrap();
        phase.done().await;
        let ss = fixtures::with_status_patch(&ss, &status.last());
        Running {
            ctx,
            api,
            caches,
            ss,
            deployment: live,
        }
    }

    /// The StatelessService after the user changed its spec (a new generation).
    fn edit(&self, generation: i64, spec: Value) -> StatelessService {
        let mut ss = self.ss.clone();
        ss.spec = serde_json::from_value(spec).unwrap();
        ss.metadata.generation = Some(generation);
        ss.metadata.resource_version = Some(format!("{}", generation * 1000));
        ss
    }

    async fn reconcile(&self, ss: &StatelessService, script: Vec<Exchange>) -> Result<Action> {
        let phase = self.api.serve(script);
        let result = reconcile(Arc::new(ss.clone()), self.ctx.clone()).await;
        phase.done().await;
        result
    }
}

#[tokio::test]
async fn first_create_applies_every_child_with_owner_and_status() {
    let (ctx, api, _caches) = fixtures::context();
    let ss = fixtures::stateless_service("web", 1, json!({"image": "shop:1"}));
    let seen = Seen::default();
    let phase = api.serve(vec![
        Exchange::apply(DEPLOYMENTS, "web")
            .check(|body| {
                assert_eq!(body["apiVersion"], "apps/v1");
                assert_eq!(body["kind"], "Deployment");
                // Unset replicas without autoscaling: 1 at creation, owned by herd.
                assert_eq!(body["spec"]["replicas"], 1);
                assert_eq!(
                    body["spec"]["template"]["spec"]["containers"][0]["image"],
                    "shop:1"
                );
                let owner = &body["metadata"]["ownerReferences"][0];
                assert_eq!(
                    (&owner["uid"], &owner["controller"], &owner["kind"]),
                    (&json!("uid-web"), &json!(true), &json!("StatelessService"))
                );
                assert!(
                    body["metadata"]["annotations"][apply::CONFIG_HASH_ANNOTATION].is_string(),
                    "{body}"
                );
                assert!(body.get("status").is_none(), "{body}");
            })
            .respond(answer_apply(&seen, None, FIELD_MANAGER)),
        Exchange::apply(SERVICES, "web")
            .check(|body| {
                assert_eq!(body["kind"], "Service");
                assert_eq!(body["metadata"]["ownerReferences"][0]["uid"], "uid-web");
            })
            .respond(answer_apply(&seen, None, FIELD_MANAGER)),
        Exchange::apply(PDBS, "web")
            .check(|body| assert_eq!(body["spec"]["maxUnavailable"], 1))
            .respond(answer_apply(&seen, None, FIELD_MANAGER)),
        Exchange::event("Normal", "Created").check(|body| {
            assert_eq!(body["note"], "created Deployment web");
            assert_eq!(body["regarding"]["kind"], "StatelessService");
            assert_eq!(body["related"]["kind"], "Deployment");
        }),
        Exchange::event("Normal", "Created").check(|body| assert_eq!(body["note"], "created Service web")),
        Exchange::event("Normal", "Created")
            .check(|body| assert_eq!(body["note"], "created PodDisruptionBudget web")),
        Exchange::status("web")
            .check(|body| {
                assert_eq!(body["status"]["observedGeneration"], 1);
                assert_eq!(body["status"]["replicas"], 0);
                assert_eq!(condition(body, "Progressing")["status"], "True");
                assert_eq!(condition(body, "Available")["status"], "False");
                assert_eq!(condition(body, "Degraded")["status"], "False");
                assert!(
                    body["status"]["currentImage"].is_null(),
                    "nothing rolled out yet: {body}"
                );
            })
            .respond(answer_status(&seen, &ss)),
    ]);
    let action = reconcile(Arc::new(ss), ctx.clone()).await.unwrap();
    phase.done().await;
    assert_eq!(action, Action::requeue(RESYNC));
    assert_eq!(ctx.metrics.outcome_count(Outcome::Changed), 1);
}

#[tokio::test]
async fn rollout_completion_sets_current_image_and_an_unchanged_resync_sends_nothing() {
    let running = Running::start(json!({"image": "shop:1"})).await;
    let status = running.ss.status.clone().unwrap();
    assert_eq!(status.current_image.as_deref(), Some("shop:1"));
    assert_eq!(
        status.selector.as_deref(),
        Some("app.kubernetes.io/instance=web,app.kubernetes.io/name=web")
    );
    assert_eq!(status.ready_replicas, Some(1));
    let available = status::find(&status, condition::AVAILABLE).unwrap();
    assert_eq!(
        (available.status.as_str(), available.reason.as_str()),
        ("True", "MinimumReplicasAvailable")
    );
    let progressing = status::find(&status, condition::PROGRESSING).unwrap();
    assert_eq!(
        (progressing.status.as_str(), progressing.reason.as_str()),
        ("False", "NewReplicaSetAvailable")
    );

    // Resync of an unchanged object: not a single request.
    let action = running.reconcile(&running.ss, vec![]).await.unwrap();
    assert_eq!(action, Action::requeue(RESYNC));
    assert_eq!(running.ctx.metrics.outcome_count(Outcome::Unchanged), 1);
}

#[tokio::test]
async fn image_change_applies_the_deployment_and_reports_progress() {
    let running = Running::start(json!({"image": "shop:1"})).await;
    let ss = running.edit(2, json!({"image": "shop:2"}));
    let previous = running.deployment.clone();
    running
        .reconcile(
            &ss,
            vec![
                Exchange::apply(DEPLOYMENTS, "web")
                    .check(|body| {
                        assert_eq!(
                            body["spec"]["template"]["spec"]["containers"][0]["image"],
                            "shop:2"
                        );
                        assert_eq!(body["spec"]["replicas"], 1, "the live count is kept");
                    })
                    .respond(answer_apply(&Seen::default(), Some(previous), FIELD_MANAGER)),
                Exchange::event("Normal", "Updated")
                    .check(|body| assert_eq!(body["note"], "updated Deployment web")),
                Exchange::status("web")
                    .check(|body| {
                        assert_eq!(body["status"]["observedGeneration"], 2);
                        assert_eq!(
                            body["status"]["currentImage"], "shop:1",
                            "shop:2 is not rolled out yet"
                        );
                        assert_eq!(condition(body, "Progressing")["reason"], "RolloutInProgress");
                    })
                    .respond(answer_status(&Seen::default(), &ss)),
            ],
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_child_edited_out_of_band_is_reverted() {
    let mut running = Running::start(json!({"image": "shop:1"})).await;
    let mut edited = running.deployment.clone();
    edited["spec"]["template"]["spec"]["containers"][0]["image"] = json!("evil:1");
    edited["metadata"]["resourceVersion"] = json!("999");
    Caches::put(&mut running.caches.deployments, &edited);
    let ss = running.ss.clone();
    running
        .reconcile(
            &ss,
            vec![
                Exchange::apply(DEPLOYMENTS, "web")
                    .check(|body| {
                        assert_eq!(
                            body["spec"]["template"]["spec"]["containers"][0]["image"],
                            "shop:1"
                        )
                    })
                    .respond(answer_apply(&Seen::default(), Some(edited), FIELD_MANAGER)),
                Exchange::event("Normal", "DriftReverted")
                    .check(|body| assert_eq!(body["note"], "reverted an out-of-band edit of Deployment web")),
                // The revert starts a new rollout, which the status reports.
                Exchange::status("web")
                    .check(|body| assert_eq!(condition(body, "Progressing")["status"], "True"))
                    .respond(answer_status(&Seen::default(), &ss)),
            ],
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_child_deleted_out_of_band_is_recreated() {
    let mut running = Running::start(json!({"image": "shop:1"})).await;
    let service = serde_json::to_value(
        &*running
            .ctx
            .children
            .live(fixtures::NAMESPACE, "web")
            .service
            .unwrap(),
    )
    .unwrap();
    Caches::remove(&mut running.caches.services, &service);
    let ss = running.ss.clone();
    running
        .reconcile(
            &ss,
            vec![
                Exchange::apply(SERVICES, "web").respond(answer_apply(&Seen::default(), None, FIELD_MANAGER)),
                Exchange::event("Normal", "Created")
                    .check(|body| assert_eq!(body["note"], "created Service web")),
            ],
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn an_invalid_spec_degrades_warns_once_and_waits_for_a_change() {
    let running = Running::start(json!({"image": "shop:1"})).await;
    let ss = running.edit(
        2,
        json!({"image": "shop:1", "resources": {"limits": {"cpu": "lots"}}}),
    );
    let seen = Seen::default();
    let result = running
        .reconcile(
            &ss,
            vec![
                Exchange::status("web")
                    .check(|body| {
                        let degraded = condition(body, "Degraded");
                        assert_eq!(
                            (&degraded["status"], &degraded["reason"]),
                            (&json!("True"), &json!("InvalidSpec"))
                        );
                        let message = degraded["message"].as_str().unwrap();
                        assert!(message.contains("spec.resources.limits.cpu"), "{message}");
                        // What runs keeps running and is still reported.
                        assert_eq!(condition(body, "Available")["status"], "True");
                        assert_eq!(body["status"]["currentImage"], "shop:1");
                    })
                    .respond(answer_status(&seen, &ss)),
                Exchange::event("Warning", "InvalidSpec").check(|body| {
                    assert!(
                        body["note"]
                            .as_str()
                            .unwrap()
                            .contains("spec.resources.limits.cpu"),
                        "{body}"
                    );
                }),
            ],
        )
        .await;
    let error = result.unwrap_err();
    assert!(matches!(error, Error::InvalidSpec(_)), "{error}");
    let ss = Arc::new(fixtures::with_status_patch(&ss, &seen.last()));
    assert_eq!(
        error_policy(ss.clone(), &error, running.ctx.clone()),
        Action::await_change()
    );

    // Reconciled again (a child changed): no status write, no second event, still waiting.
    let again = running.reconcile(&ss, vec![]).await.unwrap_err();
    assert!(matches!(again, Error::InvalidSpec(_)));
    assert_eq!(running.ctx.metrics.outcome_count(Outcome::InvalidSpec), 2);
}

#[tokio::test]
async fn api_errors_back_off_with_growing_delays_and_recover() {
    let running = Running::start(json!({"image": "shop:1"})).await;
    let key = ObjectRef::from_obj(&running.ss);
    let mut ss = running.edit(2, json!({"image": "shop:2"}));
    for (code, reason, delay) in [
        (409, "Conflict", 1),
        (500, "InternalError", 2),
        (429, "TooManyRequests", 4),
    ] {
        let seen = Seen::default();
        let error = running
            .reconcile(
                &ss,
                vec![
                    Exchange::apply(DEPLOYMENTS, "web").fail(code, reason),
                    Exchange::status("web")
                        .check(move |body| {
                            let degraded = condition(body, "Degraded");
                            assert_eq!(degraded["reason"], "ApplyFailed");
                            assert!(degraded["message"].as_str().unwrap().contains(reason), "{body}");
                            assert_eq!(
                                body["status"]["observedGeneration"], 1,
                                "generation 2 was not applied"
                            );
                        })
                        .respond(answer_status(&seen, &ss)),
                    Exchange::event("Warning", "ApplyFailed"),
                ],
            )
            .await
            .unwrap_err();
        assert!(
            matches!(
                &error,
                Error::Apply {
                    kind: "Deployment",
                    ..
                }
            ),
            "{error}"
        );
        let action = error_policy(Arc::new(ss.clone()), &error, running.ctx.clone());
        assert_eq!(
            action,
            Action::requeue(Duration::from_secs(delay)),
            "after a {code}"
        );
        ss = fixtures::with_status_patch(&ss, &seen.last());
    }
    assert_eq!(running.ctx.failures(&key), 3);

    let previous = running.deployment.clone();
    running
        .reconcile(
            &ss,
            vec![
                Exchange::apply(DEPLOYMENTS, "web").respond(answer_apply(
                    &Seen::default(),
                    Some(previous),
                    FIELD_MANAGER,
                )),
                Exchange::event("Normal", "Updated"),
                Exchange::status("web")
                    .check(|body| {
                        assert_eq!(condition(body, "Degraded")["status"], "False");
                        assert_eq!(body["status"]["observedGeneration"], 2);
                    })
                    .respond(answer_status(&Seen::default(), &ss)),
            ],
        )
        .await
        .unwrap();
    assert_eq!(running.ctx.failures(&key), 0, "a success resets the backoff");
}

#[test]
fn backoff_doubles_up_to_the_cap() {
    let delays: Vec<u64> = [1, 2, 3, 9, 10, 40]
        .into_iter()
        .map(|n| backoff(n).as_secs())
        .collect();
    assert_eq!(delays, vec![1, 2, 4, 256, 300, 300]);
}

/// herd's own apply entry owns `spec.replicas` in `deployment`'s managedFields.
fn herd_owns_replicas(deployment: &Value) -> bool {
    deployment["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["manager"] == FIELD_MANAGER && !e["fieldsV1"]["f:spec"]["f:replicas"].is_null())
}

/// Switching autoscaling on hands `spec.replicas` over without a reset to 1, switching it off takes over the
/// count the HPA chose, and on again hands it back: the serving replica count never drops.
#[tokio::test]
async fn autoscaling_on_off_on_keeps_the_serving_replica_count() {
    let mut running = Running::start(json!({"image": "shop:1", "replicas": 3})).await;
    assert!(herd_owns_replicas(&running.deployment));
    let autoscaled =
        json!({"image": "shop:1", "autoscaling": {"enabled": true, "minReplicas": 2, "maxReplicas": 10}});

    // On: hand-off apply of the live count under a second manager, then herd's apply without replicas.
    let ss = running.edit(2, autoscaled.clone());
    let (deployment, hpa, status) = (Seen::default(), Seen::default(), Seen::default());
    deployment.push(running.deployment.clone());
    running
        .reconcile(
            &ss,
            vec![
                Exchange::new(
                    http::Method::PATCH,
                    format!("{DEPLOYMENTS}/web?&force=true&fieldManager=herd-operator-handoff"),
                )
                .check(|body| {
                    assert_eq!(
                        body,
                        &json!({"apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": {"name": "web", "namespace": "testns"}, "spec": {"replicas": 3}})
                    );
                })
                .respond(answer_chained(&deployment, apply::HANDOFF_MANAGER)),
                Exchange::apply(DEPLOYMENTS, "web")
                    .check(|body| assert!(body["spec"].get("replicas").is_none(), "{body}"))
                    .respond(answer_chained(&deployment, FIELD_MANAGER)),
                Exchange::apply(HPAS, "web")
                    .check(|body| {
                        assert_eq!(body["spec"]["minReplicas"], 2);
                        assert_eq!(body["spec"]["scaleTargetRef"]["name"], "web");
                    })
                    .respond(answer_chained(&hpa, FIELD_MANAGER)),
                Exchange::event("Normal", "Updated")
                    .check(|body| assert_eq!(body["note"], "updated Deployment web")),
                Exchange::event("Normal", "Created")
                    .check(|body| assert_eq!(body["note"], "created HorizontalPodAutoscaler web")),
                Exchange::status("web").respond(answer_status(&status, &ss)),
            ],
        )
        .await
        .unwrap();
    let live = deployment.last();
    assert_eq!(live["spec"]["replicas"], 3, "the hand-off kept the count");
    assert!(!herd_owns_replicas(&live));

    // The HPA scales to 5 through the scale subresource and takes the field over.
    let mut scaled = rolled_out(&live);
    scaled["spec"]["replicas"] = json!(5);
    for entry in scaled["metadata"]["managedFields"].as_array_mut().unwrap() {
        if let Some(spec) = entry["fieldsV1"]["f:spec"].as_object_mut() {
            spec.remove("f:replicas");
        }
    }
    scaled["metadata"]["managedFields"]
        .as_array_mut()
        .unwrap()
        .push(json!({"manager": "kube-controller-manager",
        "operation": "Update", "subresource": "scale", "fieldsV1": {"f:spec": {"f:replicas": {}}}}));
    scaled["metadata"]["resourceVersion"] = json!("500");
    let scaled = rolled_out(&scaled);
    Caches::put(&mut running.caches.deployments, &scaled);
    Caches::put(&mut running.caches.hpas, &hpa.last());
    let ss = fixtures::with_status_patch(&ss, &status.last());
    let status = Seen::default();
    // Only the status follows the HPA; herd applies nothing while autoscaled.
    running
        .reconcile(
            &ss,
            vec![
                Exchange::status("web")
                    .check(|body| assert_eq!(body["status"]["replicas"], 5))
                    .respond(answer_status(&status, &ss)),
            ],
        )
        .await
        .unwrap();
    let ss = fixtures::with_status_patch(&ss, &status.last());
    running.reconcile(&ss, vec![]).await.unwrap();

    // Off, replicas unset ("keep what runs"): the HPA's count of 5 already is what herd would apply and the
    // scale owner keeps it, so the Deployment is left alone and only the HPA goes.
    let mut off = running.edit(3, json!({"image": "shop:1"}));
    off.status = ss.status.clone();
    running
        .reconcile(
            &off,
            vec![
                Exchange::delete(HPAS, "web", "uid-horizontalpodautoscaler-web").respond(|_| {
                    (
                        StatusCode::OK,
                        json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}),
                    )
                }),
                Exchange::event("Normal", "Deleted")
                    .check(|body| assert_eq!(body["note"], "deleted HorizontalPodAutoscaler web")),
                Exchange::status("web")
                    .check(|body| assert_eq!(body["status"]["replicas"], 5))
                    .respond(answer_status(&Seen::default(), &off)),
            ],
        )
        .await
        .unwrap();
    let hpa_live = hpa.last();
    Caches::remove(&mut running.caches.hpas, &hpa_live);

    // Off with an explicit count: herd takes the field over from the scale owner (forced apply).
    let mut fixed = running.edit(4, json!({"image": "shop:1", "replicas": 4}));
    fixed.status = off.status.clone();
    let deployment = Seen::default();
    deployment.push(scaled.clone());
    running
        .reconcile(
            &fixed,
            vec![
                Exchange::apply(DEPLOYMENTS, "web")
                    .check(|body| assert_eq!(body["spec"]["replicas"], 4))
                    .respond(answer_chained(&deployment, FIELD_MANAGER)),
                Exchange::event("Normal", "Updated"),
                Exchange::status("web").respond(answer_status(&Seen::default(), &fixed)),
            ],
        )
        .await
        .unwrap();
    let mut live = rolled_out(&deployment.last());
    live["metadata"]["resourceVersion"] = json!("600");
    assert!(herd_owns_replicas(&live));
    Caches::put(&mut running.caches.deployments, &live);

    // On again: herd owns the count now, so it hands it off again before letting go.
    let mut on = running.edit(5, autoscaled);
    on.status = fixed.status.clone();
    let deployment = Seen::default();
    deployment.push(live);
    running
        .reconcile(
            &on,
            vec![
                Exchange::new(
                    http::Method::PATCH,
                    format!("{DEPLOYMENTS}/web?&force=true&fieldManager=herd-operator-handoff"),
                )
                .check(|body| assert_eq!(body["spec"]["replicas"], 4))
                .respond(answer_chained(&deployment, apply::HANDOFF_MANAGER)),
                Exchange::apply(DEPLOYMENTS, "web")
                    .check(|body| assert!(body["spec"].get("replicas").is_none(), "{body}"))
                    .respond(answer_chained(&deployment, FIELD_MANAGER)),
                Exchange::apply(HPAS, "web").respond(answer_apply(&Seen::default(), None, FIELD_MANAGER)),
                Exchange::event("Normal", "Updated"),
                Exchange::event("Normal", "Created"),
                Exchange::status("web").respond(answer_status(&Seen::default(), &on)),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        deployment.last()["spec"]["replicas"],
        4,
        "the hand-off kept the count"
    );
}

/// `replicas` unset means "keep what runs": someone scaling the Deployment by hand is not undone, and costs
/// no write besides the status that reports the new count.
#[tokio::test]
async fn a_manual_scale_with_replicas_unset_is_kept_without_an_apply() {
    let mut running = Running::start(json!({"image": "shop:1"})).await;
    let mut scaled = running.deployment.clone();
    scaled["spec"]["replicas"] = json!(4);
    scaled["metadata"]["resourceVersion"] = json!("700");
    Caches::put(&mut running.caches.deployments, &rolled_out(&scaled));
    let ss = running.ss.clone();
    running
        .reconcile(
            &ss,
            vec![
                Exchange::status("web")
                    .check(|body| assert_eq!(body["status"]["replicas"], 4))
                    .respond(answer_status(&Seen::default(), &ss)),
            ],
        )
        .await
        .unwrap();
}
