//! herd end to end on a kind cluster: `make e2e` builds, loads and installs everything, then runs this.
//! Each test gets its own labelled namespace, deleted afterwards; a failing test dumps that namespace.

use anyhow::{Context, bail, ensure};
use herd_e2e::cluster::{Check, Cluster, TestNamespace, wait_for};
use herd_e2e::herd::{self, CEL_DISRUPTION_MESSAGE, CEL_DRAIN_MESSAGE, check_controlled_by, fixed_replicas};
use herd_e2e::load::Budget;
use herd_e2e::prereq::missing_tools;
use herd_e2e::service::{Load, ServiceTarget};
use http::Method;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService;
use kube::api::{DeleteParams, ListParams};
use kube::{Api, Resource, ResourceExt};
use libtest_mimic::{Arguments, Failed, Trial};
use serde_json::json;
use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// Whole-test bound: a test that hangs fails instead of stalling the suite.
const TEST_TIMEOUT: Duration = Duration::from_secs(600);
/// Pods start from images already loaded into kind; examples/minimal.yaml's echo image is pulled.
const READY_TIMEOUT: Duration = Duration::from_secs(240);
const RECONCILE_TIMEOUT: Duration = Duration::from_secs(60);
const IMAGE: &str = "herd-shop:dev";
const IMAGE_NEXT: &str = "herd-shop:dev2";
const DEMO_USER: (&str, &str) = ("alice", "wonderland-42");
/// The APIService the chart registers for herd's metrics source, and the per-pod metric it serves.
const METRICS_API: &str = "v1beta2.custom.metrics.k8s.io";
const REQUESTS_METRIC: &str = "herd_http_requests_per_second";
/// Two scrapes (5 s apart) give a first rate, the HPA acts every 15 s and may double at once.
const SCALE_UP_TIMEOUT: Duration = Duration::from_secs(90);
/// The 30 s rate window drains, then the 30 s scale-down stabilization window passes, then an HPA sync.
const SCALE_DOWN_TIMEOUT: Duration = Duration::from_secs(180);

type TestFn = fn(Cluster, String) -> Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>;

macro_rules! trial {
    ($name:ident) => {
        (stringify!($name), (|c, ns| Box::pin($name(c, ns))) as TestFn)
    };
}

fn main() -> std::process::ExitCode {
    let args = Arguments::from_args();
    let tests = [
        trial!(examples_become_available_with_owned_children),
        trial!(shop_answers_through_its_service_from_every_replica),
        trial!(cart_survives_deleting_the_pod_that_served_it),
        trial!(image_change_rolls_out_without_a_failed_request),
        trial!(scale_and_autoscaling_toggles_keep_serving_replicas),
        trial!(traffic_scales_replicas_up_and_back_down),
        trial!(edited_or_deleted_children_are_restored),
        trial!(deleting_the_statelessservice_removes_every_child),
        trial!(invalid_manifest_is_rejected_with_the_cel_message),
    ];
    let context = format!(
        "kind-{}",
        std::env::var("KIND_CLUSTER").unwrap_or_else(|_| "herd".into())
    );
    let (cluster, skip) = match prerequisites(&context) {
        Ok(cluster) => (Some(cluster), false),
        Err(why) => {
            println!("e2e skipped: {why}");
            (None, true)
        }
    };
    let trials = tests
        .into_iter()
        .map(|(name, test)| {
            let cluster = cluster.clone();
            Trial::test(name, move || match cluster {
                Some(cluster) => run(name, test, cluster),
                None => Err("no cluster".into()),
            })
            .with_ignored_flag(skip)
        })
        .collect();
    libtest_mimic::run(&args, trials).exit_code()
}

/// What must hold before any test runs; the error is the one line printed when skipping.
fn prerequisites(context: &str) -> Result<Cluster, String> {
    if std::env::var("HERD_E2E").as_deref() != Ok("1") {
        return Err("HERD_E2E is not 1 (run `make e2e`, which creates the kind cluster and sets it)".into());
    }
    let missing = missing_tools(&["docker", "kind", "kubectl", "helm"]);
    if !missing.is_empty() {
        return Err(format!("{} not found on PATH", missing.join(", ")));
    }
    runtime()
        .map_err(|e| e.to_string())?
        .block_on(Cluster::connect(context))
        .map_err(|e| format!("no cluster reachable through kube context {context}: {e:#}"))
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
}

/// One test in its own namespace: bounded, dumped on failure, cleaned up always.
fn run(name: &str, test: TestFn, cluster: Cluster) -> Result<(), Failed> {
    runtime()?.block_on(async {
        let namespace = TestNamespace::create(&cluster, name).await?;
        let result =
            match tokio::time::timeout(TEST_TIMEOUT, test(cluster.clone(), namespace.name.clone())).await {
                Ok(result) => result,
                Err(_) => Err(anyhow::anyhow!("test ran over {}s", TEST_TIMEOUT.as_secs())),
            };
        if result.is_err() {
            eprintln!("{}", namespace.dump().await);
        }
        if let Err(e) = namespace.delete().await {
            eprintln!("cleanup: {e:#}");
        }
        result.map_err(|e| Failed::from(format!("{e:#}")))
    })
}

fn shop_target(ns: &str) -> ServiceTarget {
    ServiceTarget {
        namespace: ns.to_string(),
        service: "shop".into(),
        port: 80,
    }
}

async fn ready_pods(cluster: &Cluster, ns: &str, instance: &str) -> anyhow::Result<BTreeSet<String>> {
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), ns);
    let selector = format!("app.kubernetes.io/instance={instance}");
    let list = pods.list(&ListParams::default().labels(&selector)).await?;
    Ok(list
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| {
            let conditions = p
                .status
                .as_ref()
                .and_then(|s| s.conditions.clone())
                .unwrap_or_default();
            conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
        })
        .map(|p| p.name_any())
        .collect())
}

async fn login(cluster: &Cluster, target: &ServiceTarget) -> anyhow::Result<String> {
    let (username, password) = DEMO_USER;
    let body = json!({ "username": username, "password": password });
    let answer = target
        .send(&cluster.client, Method::POST, "/login", Some(&body), None)
        .await?;
    ensure!(
        answer.status.is_success(),
        "login answered {}: {}",
        answer.status,
        answer.body
    );
    answer.json()?["token"]
        .as_str()
        .map(str::to_string)
        .context("login answer has no token")
}

async fn examples_become_available_with_owned_children(cluster: Cluster, ns: String) -> anyhow::Result<()> {
    let n = Some(ns.as_str());
    cluster
        .kubectl(n, &["apply", "-f", "examples/redis.yaml"])
        .await?;
    herd::create_jwt_secret(&cluster, &ns).await?;
    cluster
        .kubectl(
            n,
            &["apply", "-f", "examples/shop.yaml", "-f", "examples/minimal.yaml"],
        )
        .await?;
    // shop.yaml autoscales from minReplicas 2; minimal.yaml is one fixed replica: HPA and PDB only for shop.
    for (name, ready, at_least, autoscaled) in [("shop", 2, true, true), ("hello", 1, false, false)] {
        let ss = herd::wait_available(&cluster, &ns, name, ready, at_least, READY_TIMEOUT).await?;
        let client = cluster.client.clone();
        let deployment = Api::<Deployment>::namespaced(client.clone(), &ns)
            .get(name)
            .await?;
        check_controlled_by("Deployment", deployment.owner_references(), &ss)?;
        let service = Api::<Service>::namespaced(client.clone(), &ns).get(name).await?;
        check_controlled_by("Service", service.owner_references(), &ss)?;
        for labelled in [deployment.meta(), service.meta()] {
            let labels = labelled.labels.clone().unwrap_or_default();
            for (key, value) in [
                ("app.kubernetes.io/name", name),
                ("app.kubernetes.io/instance", name),
                ("app.kubernetes.io/managed-by", "herd-operator"),
            ] {
                ensure!(
                    labels.get(key).map(String::as_str) == Some(value),
                    "{name}: label {key} is {:?}",
                    labels.get(key)
                );
            }
        }
        let hpa = Api::<HorizontalPodAutoscaler>::namespaced(client.clone(), &ns)
            .get_opt(name)
            .await?;
        let pdb = Api::<PodDisruptionBudget>::namespaced(client.clone(), &ns)
            .get_opt(name)
            .await?;
        ensure!(
            hpa.is_some() == autoscaled,
            "{name}: HPA present = {}, want {autoscaled}",
            hpa.is_some()
        );
        ensure!(
            pdb.is_some() == autoscaled,
            "{name}: PDB present = {}, want {autoscaled}",
            pdb.is_some()
        );
        if let (Some(hpa), Some(pdb)) = (hpa, pdb) {
            check_controlled_by("HorizontalPodAutoscaler", hpa.owner_references(), &ss)?;
            check_controlled_by("PodDisruptionBudget", pdb.owner_references(), &ss)?;
            let spec = hpa.spec.context("HPA has no spec")?;
            ensure!(
                spec.min_replicas == Some(2) && spec.max_replicas == 10,
                "HPA range {:?}..{}",
                spec.min_replicas,
                spec.max_replicas
            );
            ensure!(
                spec.scale_target_ref.kind == "Deployment" && spec.scale_target_ref.name == name,
                "HPA targets {:?}",
                spec.scale_target_ref
            );
        }
    }
    Ok(())
}

async fn shop_answers_through_its_service_from_every_replica(
    cluster: Cluster,
    ns: String,
) -> anyhow::Result<()> {
    herd::deploy_shop(&cluster, &ns, fixed_replicas(3)).await?;
    herd::wait_available(&cluster, &ns, "shop", 3, false, READY_TIMEOUT).await?;
    let pods = ready_pods(&cluster, &ns, "shop").await?;
    ensure!(pods.len() == 3, "ready pods: {pods:?}");
    let target = shop_target(&ns);
    let mut seen = BTreeSet::new();
    // The proxy picks an endpoint at random per request: 3 replicas all answer well within 200 requests.
    for _ in 0..200 {
        let answer = target.get(&cluster.client, "/products?limit=1").await?;
        ensure!(
            answer.status.is_success(),
            "GET /products answered {}: {}",
            answer.status,
            answer.body
        );
        seen.insert(answer.served_by().context("answer without x-served-by")?);
        if seen == pods {
            return Ok(());
        }
    }
    bail!("200 answers came from {seen:?}, the ready replicas are {pods:?}")
}

async fn cart_survives_deleting_the_pod_that_served_it(cluster: Cluster, ns: String) -> anyhow::Result<()> {
    herd::deploy_shop(&cluster, &ns, fixed_replicas(2)).await?;
    herd::wait_available(&cluster, &ns, "shop", 2, false, READY_TIMEOUT).await?;
    let target = shop_target(&ns);
    let token = login(&cluster, &target).await?;
    let products = target.get(&cluster.client, "/products?limit=1").await?.json()?;
    let product = products["items"][0]["id"]
        .as_u64()
        .context("GET /products listed no product")?;
    let add = json!({ "productId": product, "quantity": 2 });
    let added = target
        .send(
            &cluster.client,
            Method::POST,
            "/cart/items",
            Some(&add),
            Some(&token),
        )
        .await?;
    ensure!(
        added.status.is_success(),
        "adding to the cart answered {}: {}",
        added.status,
        added.body
    );
    let served = added.served_by().context("cart answer without x-served-by")?;

    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), &ns);
    pods.delete(&served, &DeleteParams::default())
        .await
        .with_context(|| format!("deleting pod {served}"))?;
    wait_for(&format!("pod {served} to be gone"), RECONCILE_TIMEOUT, || async {
        Ok(match pods.get_opt(&served).await? {
            None => Check::Done(()),
            Some(_) => Check::NotYet("still there".into()),
        })
    })
    .await?;
    herd::wait_available(&cluster, &ns, "shop", 2, false, READY_TIMEOUT).await?;

    let cart = target
        .send(&cluster.client, Method::GET, "/cart", None, Some(&token))
        .await?;
    ensure!(
        cart.status.is_success(),
        "GET /cart answered {}: {}",
        cart.status,
        cart.body
    );
    ensure!(
        cart.served_by().as_deref() != Some(served.as_str()),
        "the deleted pod {served} answered"
    );
    let items = cart.json()?["items"].clone();
    let line = items
        .as_array()
        .into_iter()
        .flatten()
        .find(|l| l["productId"].as_u64() == Some(product));
    ensure!(
        line.is_some_and(|l| l["quantity"] == 2),
        "after deleting {served}, the cart is {items} (want product {product} x2)"
    );
    Ok(())
}

async fn image_change_rolls_out_without_a_failed_request(cluster: Cluster, ns: String) -> anyhow::Result<()> {
    herd::deploy_shop(&cluster, &ns, fixed_replicas(3)).await?;
    let ss = herd::wait_available(&cluster, &ns, "shop", 3, false, READY_TIMEOUT).await?;
    ensure!(
        ss.data["status"]["currentImage"] == IMAGE,
        "currentImage before: {}",
        ss.data["status"]["currentImage"]
    );
    let old_pods = ready_pods(&cluster, &ns, "shop").await?;

    let budget = Budget {
        max_requests: 20_000,
        max_duration: Duration::from_secs(300),
        pause: Duration::from_millis(20),
    };
    let load = Load::start(&cluster.client, &shop_target(&ns), "/products?limit=1", 2, budget);
    tokio::time::sleep(Duration::from_secs(3)).await;
    herd::merge_spec(&cluster, &ns, "shop", json!({ "image": IMAGE_NEXT })).await?;

    let deployments: Api<Deployment> = Api::namespaced(cluster.client.clone(), &ns);
    let early = std::sync::Mutex::new(None);
    let rollout = wait_for(
        "the Deployment to finish rolling out herd-shop:dev2",
        READY_TIMEOUT,
        || async {
            // StatelessService first, Deployment second: a finished rollout never un-finishes, so "new image
            // reported" followed by "rollout not finished" proves the status ran ahead of the rollout.
            let reported = herd::api(&cluster, &ns).get("shop").await?.data["status"]["currentImage"].clone();
            let deployment = deployments.get("shop").await?;
            let done = rollout_complete(&deployment, IMAGE_NEXT);
            if !done
                && reported == IMAGE_NEXT
                && let Ok(mut early) = early.lock()
            {
                *early = Some(format!("{:?}", deployment.status));
            }
            Ok(if done {
                Check::Done(())
            } else {
                Check::NotYet(format!("{:?}", deployment.status))
            })
        },
    )
    .await;
    // Keep the load on while the old pods drain and exit: that is when requests get dropped, if ever.
    let gone = wait_for("the old pods to exit", READY_TIMEOUT, || async {
        let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), &ns);
        let mut still = Vec::new();
        for pod in &old_pods {
            if pods.get_opt(pod).await?.is_some() {
                still.push(pod.clone());
            }
        }
        Ok(if still.is_empty() {
            Check::Done(())
        } else {
            Check::NotYet(format!("{still:?} still exist"))
        })
    })
    .await;
    let report = load.stop().await;
    rollout?;
    gone?;
    if let Some(status) = early.into_inner().ok().flatten() {
        bail!("status.currentImage said {IMAGE_NEXT} while the rollout was unfinished: {status}");
    }
    let ss = herd::wait_available(&cluster, &ns, "shop", 3, false, RECONCILE_TIMEOUT).await?;
    ensure!(
        ss.data["status"]["currentImage"] == IMAGE_NEXT,
        "currentImage after: {}",
        ss.data["status"]["currentImage"]
    );
    ensure!(
        report.failed == 0,
        "requests failed during the rollout: {}",
        report.summary()
    );
    let new_pods = ready_pods(&cluster, &ns, "shop").await?;
    ensure!(
        report.served_by.keys().any(|p| new_pods.contains(p)),
        "no new pod answered: {}",
        report.summary()
    );
    ensure!(
        report.served_by.keys().any(|p| old_pods.contains(p)),
        "no old pod answered: {}",
        report.summary()
    );
    println!("rollout under load: {}", report.summary());
    Ok(())
}

/// Every replica runs the new template and is available, and no old replica is left.
fn rollout_complete(deployment: &Deployment, image: &str) -> bool {
    let wanted = deployment.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let template_image = deployment
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|p| p.containers.first())
        .and_then(|c| c.image.clone());
    let Some(status) = &deployment.status else {
        return false;
    };
    template_image.as_deref() == Some(image)
        && status.observed_generation >= deployment.metadata.generation
        && status.updated_replicas == Some(wanted)
        && status.replicas == Some(wanted)
        && status.available_replicas == Some(wanted)
}

async fn scale_and_autoscaling_toggles_keep_serving_replicas(
    cluster: Cluster,
    ns: String,
) -> anyhow::Result<()> {
    herd::deploy_shop(&cluster, &ns, fixed_replicas(2)).await?;
    herd::wait_available(&cluster, &ns, "shop", 2, false, READY_TIMEOUT).await?;
    cluster
        .kubectl(Some(&ns), &["scale", "ssvc", "shop", "--replicas=3"])
        .await?;
    herd::wait_available(&cluster, &ns, "shop", 3, false, READY_TIMEOUT).await?;

    // Watch the ready count through both toggles: handing spec.replicas between herd and the HPA must
    // never reset the Deployment to its default of one replica.
    let deployments: Api<Deployment> = Api::namespaced(cluster.client.clone(), &ns);
    let watcher = {
        let deployments = deployments.clone();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            let mut lowest = i32::MAX;
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(d) = deployments.get("shop").await {
                    lowest = lowest.min(d.status.and_then(|s| s.ready_replicas).unwrap_or(0));
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            lowest
        });
        (stop, task)
    };
    let hpas: Api<HorizontalPodAutoscaler> = Api::namespaced(cluster.client.clone(), &ns);
    let on = json!({ "autoscaling": { "enabled": true, "minReplicas": 2, "maxReplicas": 5, "targetCPUUtilizationPercentage": 80 } });
    herd::merge_spec(&cluster, &ns, "shop", on).await?;
    wait_for("the HPA to be created", RECONCILE_TIMEOUT, || async {
        Ok(match hpas.get_opt("shop").await? {
            Some(_) => Check::Done(()),
            None => Check::NotYet("no HPA".into()),
        })
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(15)).await;
    herd::merge_spec(
        &cluster,
        &ns,
        "shop",
        json!({ "autoscaling": { "enabled": false } }),
    )
    .await?;
    wait_for("the HPA to be deleted", RECONCILE_TIMEOUT, || async {
        Ok(match hpas.get_opt("shop").await? {
            None => Check::Done(()),
            Some(_) => Check::NotYet("HPA still there".into()),
        })
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(15)).await;
    let (stop, task) = watcher;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let lowest = task.await?;
    ensure!(
        lowest >= 3,
        "ready replicas dropped to {lowest} while autoscaling was switched on and off"
    );
    herd::wait_available(&cluster, &ns, "shop", 3, false, RECONCILE_TIMEOUT).await?;
    Ok(())
}

async fn traffic_scales_replicas_up_and_back_down(cluster: Cluster, ns: String) -> anyhow::Result<()> {
    let apiservices: Api<APIService> = Api::all(cluster.client.clone());
    wait_for(
        &format!("the APIService {METRICS_API} to be Available"),
        RECONCILE_TIMEOUT,
        || async {
            let conditions = apiservices
                .get(METRICS_API)
                .await?
                .status
                .and_then(|s| s.conditions)
                .unwrap_or_default();
            Ok(match conditions.iter().find(|c| c.type_ == "Available") {
                Some(c) if c.status == "True" => Check::Done(()),
                other => Check::NotYet(format!("Available condition {other:?}")),
            })
        },
    )
    .await?;
    // Requests per second only, no CPU target: the HPA takes the highest of its metrics, and CPU must not
    // be what holds the replicas up.
    let autoscaling = json!({
        "enabled": true, "minReplicas": 1, "maxReplicas": 4, "targetRequestsPerSecond": 5,
        "behavior": { "scaleUpStabilizationWindowSeconds": 0, "scaleDownStabilizationWindowSeconds": 30 }
    });
    herd::deploy_shop(&cluster, &ns, |manifest| {
        manifest["spec"]["autoscaling"] = autoscaling;
    })
    .await?;
    herd::wait_available(&cluster, &ns, "shop", 1, false, READY_TIMEOUT).await?;

    let deployments: Api<Deployment> = Api::namespaced(cluster.client.clone(), &ns);
    // The Deployment's replica count (the HPA's decision) and, for failure messages, herd's view of it.
    let scale_state = || async {
        let replicas = deployments.get("shop").await?.spec.and_then(|s| s.replicas);
        let ss = herd::api(&cluster, &ns).get("shop").await?;
        let state = format!(
            "Deployment spec.replicas {replicas:?}, status.autoscaling {}",
            ss.data["status"]["autoscaling"]
        );
        anyhow::Ok((replicas.unwrap_or(0), ss, state))
    };
    // 4 workers pausing 50 ms send tens of requests per second: far above 5 per replica even at 4 replicas.
    let budget = Budget {
        max_requests: 20_000,
        max_duration: Duration::from_secs(240),
        pause: Duration::from_millis(50),
    };
    let load = Load::start(&cluster.client, &shop_target(&ns), "/products?limit=1", 4, budget);
    let under_load = async {
        let scaled = wait_for(
            "the HPA to scale shop above 1 replica",
            SCALE_UP_TIMEOUT,
            || async {
                let (replicas, _, state) = scale_state().await?;
                Ok(if replicas > 1 {
                    Check::Done(replicas)
                } else {
                    Check::NotYet(state)
                })
            },
        )
        .await?;
        let rate = wait_for(
            "status.autoscaling to show the requests per second under load",
            RECONCILE_TIMEOUT,
            || async {
                let (_, ss, state) = scale_state().await?;
                // The shop counts no probe requests: an idle pod reads 0, so above 0 is this test's load.
                Ok(match herd::autoscaling_current(&ss, REQUESTS_METRIC) {
                    Some(rate) if rate > 0.0 => Check::Done(rate),
                    _ => Check::NotYet(state),
                })
            },
        )
        .await?;
        anyhow::Ok((scaled, rate))
    };
    let under_load = under_load.await;
    let report = load.stop().await;
    let (scaled, rate) = under_load.with_context(|| format!("load: {}", report.summary()))?;
    println!(
        "under load: {scaled} replicas, {REQUESTS_METRIC} {rate} per pod; {}",
        report.summary()
    );

    wait_for(
        "the HPA to scale shop back to minReplicas 1 once the load stopped",
        SCALE_DOWN_TIMEOUT,
        || async {
            let (replicas, _, state) = scale_state().await?;
            Ok(if replicas == 1 {
                Check::Done(())
            } else {
                Check::NotYet(state)
            })
        },
    )
    .await?;
    herd::wait_available(&cluster, &ns, "shop", 1, false, RECONCILE_TIMEOUT).await?;
    Ok(())
}

async fn edited_or_deleted_children_are_restored(cluster: Cluster, ns: String) -> anyhow::Result<()> {
    herd::deploy_shop(&cluster, &ns, fixed_replicas(2)).await?;
    herd::wait_available(&cluster, &ns, "shop", 2, false, READY_TIMEOUT).await?;
    let n = Some(ns.as_str());
    let deployments: Api<Deployment> = Api::namespaced(cluster.client.clone(), &ns);
    let image_patch =
        r#"[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"herd-shop:dev2"}]"#;
    cluster
        .kubectl(
            n,
            &["patch", "deployment", "shop", "--type=json", "-p", image_patch],
        )
        .await?;
    wait_for(
        "herd to restore the Deployment's image",
        RECONCILE_TIMEOUT,
        || async {
            let d = deployments.get("shop").await?;
            let image = d
                .spec
                .and_then(|s| s.template.spec)
                .and_then(|p| p.containers.first()?.image.clone());
            Ok(if image.as_deref() == Some(IMAGE) {
                Check::Done(())
            } else {
                Check::NotYet(format!("image {image:?}"))
            })
        },
    )
    .await?;

    let services: Api<Service> = Api::namespaced(cluster.client.clone(), &ns);
    cluster
        .kubectl(
            n,
            &[
                "label",
                "service",
                "shop",
                "app.kubernetes.io/managed-by=someone-else",
                "--overwrite",
            ],
        )
        .await?;
    wait_for(
        "herd to restore the Service's labels",
        RECONCILE_TIMEOUT,
        || async {
            let labels = services.get("shop").await?.metadata.labels.unwrap_or_default();
            let by = labels.get("app.kubernetes.io/managed-by").cloned();
            Ok(if by.as_deref() == Some("herd-operator") {
                Check::Done(())
            } else {
                Check::NotYet(format!("managed-by {by:?}"))
            })
        },
    )
    .await?;

    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(cluster.client.clone(), &ns);
    let old_service = services.get("shop").await?.uid();
    let old_pdb = pdbs.get("shop").await.context("two replicas get a PDB")?.uid();
    services.delete("shop", &DeleteParams::default()).await?;
    pdbs.delete("shop", &DeleteParams::default()).await?;
    wait_for(
        "herd to recreate the deleted Service and PDB",
        RECONCILE_TIMEOUT,
        || async {
            let service = services.get_opt("shop").await?.and_then(|s| s.uid());
            let pdb = pdbs.get_opt("shop").await?.and_then(|p| p.uid());
            let fresh = service.is_some() && service != old_service && pdb.is_some() && pdb != old_pdb;
            Ok(if fresh {
                Check::Done(())
            } else {
                Check::NotYet(format!("service {service:?}, pdb {pdb:?}"))
            })
        },
    )
    .await?;
    herd::wait_available(&cluster, &ns, "shop", 2, false, RECONCILE_TIMEOUT).await?;
    let answer = shop_target(&ns).get(&cluster.client, "/healthz").await?;
    ensure!(
        answer.status.is_success(),
        "the recreated Service answered {}",
        answer.status
    );
    Ok(())
}

async fn deleting_the_statelessservice_removes_every_child(
    cluster: Cluster,
    ns: String,
) -> anyhow::Result<()> {
    // examples/shop.yaml as is: autoscaled, so all four children exist.
    herd::deploy_shop(&cluster, &ns, |_| {}).await?;
    herd::wait_available(&cluster, &ns, "shop", 2, true, READY_TIMEOUT).await?;
    let client = cluster.client.clone();
    let (deployments, services) = (
        Api::<Deployment>::namespaced(client.clone(), &ns),
        Api::<Service>::namespaced(client.clone(), &ns),
    );
    let hpas = Api::<HorizontalPodAutoscaler>::namespaced(client.clone(), &ns);
    let pdbs = Api::<PodDisruptionBudget>::namespaced(client.clone(), &ns);
    let pods = Api::<Pod>::namespaced(client.clone(), &ns);
    ensure!(
        hpas.get_opt("shop").await?.is_some() && pdbs.get_opt("shop").await?.is_some(),
        "HPA or PDB missing"
    );

    cluster
        .kubectl(
            Some(&ns),
            &["delete", "ssvc", "shop", "--wait=true", "--timeout=60s"],
        )
        .await?;
    wait_for(
        "every child of shop to be deleted",
        Duration::from_secs(120),
        || async {
            let mut left = Vec::new();
            if deployments.get_opt("shop").await?.is_some() {
                left.push("Deployment".to_string());
            }
            if services.get_opt("shop").await?.is_some() {
                left.push("Service".into());
            }
            if hpas.get_opt("shop").await?.is_some() {
                left.push("HorizontalPodAutoscaler".into());
            }
            if pdbs.get_opt("shop").await?.is_some() {
                left.push("PodDisruptionBudget".into());
            }
            let running = pods
                .list(&ListParams::default().labels("app.kubernetes.io/instance=shop"))
                .await?
                .items
                .len();
            if running > 0 {
                left.push(format!("{running} pods"));
            }
            Ok(if left.is_empty() {
                Check::Done(())
            } else {
                Check::NotYet(format!("left: {left:?}"))
            })
        },
    )
    .await?;
    ensure!(
        Api::<Deployment>::namespaced(client, &ns)
            .get_opt("redis")
            .await?
            .is_some(),
        "Redis, not a child of shop, was deleted too"
    );
    Ok(())
}

async fn invalid_manifest_is_rejected_with_the_cel_message(
    cluster: Cluster,
    ns: String,
) -> anyhow::Result<()> {
    let cases = [
        (
            "draining-past-the-grace-period",
            json!({ "rollout": { "drainDelaySeconds": 30, "terminationGracePeriodSeconds": 10 } }),
            CEL_DRAIN_MESSAGE,
        ),
        (
            "two-disruption-budgets",
            json!({ "replicas": 2, "disruption": { "minAvailable": 1, "maxUnavailable": 1 } }),
            CEL_DISRUPTION_MESSAGE,
        ),
    ];
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("e2e");
    std::fs::create_dir_all(&dir)?;
    for (name, extra, message) in cases {
        let mut manifest = herd::example("minimal.yaml", &ns)?;
        manifest["metadata"]["name"] = json!(name);
        for (key, value) in extra.as_object().into_iter().flatten() {
            manifest["spec"][key] = value.clone();
        }
        let file = dir.join(format!("{ns}-{name}.yaml"));
        std::fs::write(&file, serde_yaml::to_string(&manifest)?)?;
        let out = cluster
            .kubectl_output(Some(&ns), &["apply", "-f", &file.to_string_lossy()])
            .await?;
        let _ = std::fs::remove_file(&file);
        let stderr = String::from_utf8_lossy(&out.stderr);
        ensure!(!out.status.success(), "kubectl apply accepted {name}");
        ensure!(
            stderr.contains(message),
            "{name}: kubectl apply said {stderr:?}, want {message:?}"
        );
        ensure!(
            herd::api(&cluster, &ns).get_opt(name).await?.is_none(),
            "{name} was stored although rejected"
        );
    }
    Ok(())
}
