//! The one server-side apply path: applies the children that differ from what runs and deletes the ones no
//! longer wanted.
//!
//! Idle is idle: a child is applied only when the live object (from the reflector caches) no longer carries what
//! herd would apply. Two checks together decide that, and neither needs a write:
//! - the annotation [`CONFIG_HASH_ANNOTATION`] holds a hash of the builder's output. A changed spec changes the
//!   hash, which also covers fields herd stopped setting (a plain "live contains desired" test cannot see a
//!   removed field, and re-applying is what makes server-side apply drop it).
//! - a semantic "live contains desired" comparison ([`compare::contains`]) of every field herd applies, which
//!   catches anyone editing or removing a managed field out of band, while ignoring server defaults and fields
//!   owned by other managers (re-applying could not change those, so they are not drift).
//!
//! When both hold, the apply would be a no-op and is not sent.

mod compare;

use crate::error::{Error, Result};
use crate::metrics::{Metrics, Write};
use crate::resources::Children;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, Resource, ResourceExt};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};

/// Field manager of every apply herd sends (shared with the builders' `managed-by` label).
pub use crate::resources::FIELD_MANAGER;
/// Field manager that takes over `spec.replicas` before herd stops applying it (autoscaling switched on).
pub const HANDOFF_MANAGER: &str = "herd-operator-handoff";
/// Annotation on each child: hash of the configuration herd applied.
pub const CONFIG_HASH_ANNOTATION: &str = "herd.dev/config-hash";

/// Read-only view of the live children: reflector caches in production, pre-filled stores in tests.
#[derive(Clone)]
pub struct ChildStores {
    pub deployments: Store<Deployment>,
    pub services: Store<Service>,
    pub hpas: Store<HorizontalPodAutoscaler>,
    pub pdbs: Store<PodDisruptionBudget>,
}

impl ChildStores {
    /// The live children named `name` in `namespace` (children share their StatelessService's name).
    pub fn live(&self, namespace: &str, name: &str) -> LiveChildren {
        LiveChildren {
            deployment: self.deployments.get(&ObjectRef::new(name).within(namespace)),
            service: self.services.get(&ObjectRef::new(name).within(namespace)),
            hpa: self.hpas.get(&ObjectRef::new(name).within(namespace)),
            pdb: self.pdbs.get(&ObjectRef::new(name).within(namespace)),
        }
    }

    /// Resolves once every cache has listed once, so a reconcile never mistakes "not listed yet" for "missing".
    pub async fn wait_until_ready(&self) -> bool {
        let ready = futures::join!(
            self.deployments.wait_until_ready(),
            self.services.wait_until_ready(),
            self.hpas.wait_until_ready(),
            self.pdbs.wait_until_ready()
        );
        ready.0.is_ok() && ready.1.is_ok() && ready.2.is_ok() && ready.3.is_ok()
    }
}

/// Children already found to carry herd's configuration, keyed by kind, namespace and name, with the live
/// `resourceVersion` and the config hash they were checked at.
///
/// A resourceVersion changes with every write by anyone, so while both values stay the same the comparison's
/// answer cannot change and is not recomputed: an idle resync costs a lookup instead of two JSON encodings.
#[derive(Default)]
pub struct Verified(Mutex<HashMap<ChildKey, (ResourceVersion, ConfigHash)>>);

/// Kind, namespace and name of a child.
type ChildKey = (&'static str, String, String);
type ResourceVersion = String;
type ConfigHash = String;

/// Entries of children that no longer exist are only dropped at this size, by clearing: the map is a cache.
const VERIFIED_CAPACITY: usize = 100_000;

impl Verified {
    fn get(&self, key: &ChildKey) -> Option<(ResourceVersion, ConfigHash)> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(key)
            .cloned()
    }

    fn insert(&self, key: ChildKey, value: (ResourceVersion, ConfigHash)) {
        let mut map = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if map.len() >= VERIFIED_CAPACITY {
            map.clear();
        }
        map.insert(key, value);
    }

    fn remove(&self, key: &ChildKey) {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(key);
    }
}

/// The children of one StatelessService as they run now.
#[derive(Clone, Default, Debug)]
pub struct LiveChildren {
    pub deployment: Option<Arc<Deployment>>,
    pub service: Option<Arc<Service>>,
    pub hpa: Option<Arc<HorizontalPodAutoscaler>>,
    pub pdb: Option<Arc<PodDisruptionBudget>>,
}

/// What a write did to one child.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    Created,
    /// The spec changed, so the applied configuration did.
    Updated,
    /// Same configuration as last applied, but someone edited a field herd manages.
    Reverted,
    Deleted,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub name: String,
    pub change: ChangeKind,
}

/// Result of one apply round.
#[derive(Debug)]
pub struct Applied {
    /// The Deployment as it runs after this round (the apply response, or the cached object when unchanged).
    pub deployment: Option<Arc<Deployment>>,
    /// Every write sent, in order; empty when nothing had to change.
    pub changes: Vec<Change>,
}

/// Brings the children of `owner` to `desired`, sending only the writes that change something.
pub async fn apply(
    client: &Client,
    metrics: &Metrics,
    verified: &Verified,
    owner: &impl Resource,
    desired: Children,
    live: &LiveChildren,
) -> Result<Applied> {
    let namespace = owner
        .meta()
        .namespace
        .clone()
        .ok_or(Error::MissingMetadata("metadata.namespace"))?;
    let owner_uid = owner
        .meta()
        .uid
        .clone()
        .ok_or(Error::MissingMetadata("metadata.uid"))?;
    let mut round = Round {
        client,
        metrics,
        verified,
        namespace: &namespace,
        changes: Vec::new(),
    };
    // Destructured without `..`: a new child kind cannot be forgotten here.
    let Children {
        deployment,
        service,
        hpa,
        pdb,
    } = desired;

    // The Deployment goes first: when autoscaling is switched off it takes `spec.replicas` back before the HPA
    // is deleted, and when switched on the hand-off happens before the HPA starts scaling.
    let deployment = round
        .deployment(deployment, live.deployment.as_deref(), hpa.is_some())
        .await?;
    let hash = config_hash(&service)?;
    round
        .ensure(service, hash, live.service.as_deref(), false)
        .await?;
    match hpa {
        Some(hpa) => {
            let hash = config_hash(&hpa)?;
            round.ensure(hpa, hash, live.hpa.as_deref(), false).await?;
        }
        None => round.remove(live.hpa.as_deref(), &owner_uid).await?,
    }
    match pdb {
        Some(pdb) => {
            let hash = config_hash(&pdb)?;
            round.ensure(pdb, hash, live.pdb.as_deref(), false).await?;
        }
        None => round.remove(live.pdb.as_deref(), &owner_uid).await?,
    }
    Ok(Applied {
        deployment: deployment.or_else(|| live.deployment.clone()),
        changes: round.changes,
    })
}

struct Round<'a> {
    client: &'a Client,
    metrics: &'a Metrics,
    verified: &'a Verified,
    namespace: &'a str,
    changes: Vec<Change>,
}

impl Round<'_> {
    /// Applies the Deployment, keeping the serving replica count through every change of who owns it.
    async fn deployment(
        &mut self,
        desired: Deployment,
        live: Option<&Deployment>,
        autoscaling: bool,
    ) -> Result<Option<Arc<Deployment>>> {
        let live_replicas = live.and_then(|d| d.spec.as_ref()?.replicas);
        // Hashed before the live count is filled in: an out-of-band scale is not a configuration change.
        let hash = config_hash(&desired)?;
        let mut desired = desired;
        if !autoscaling && desired.spec.as_ref().is_some_and(|s| s.replicas.is_none()) {
            // `replicas` unset means "keep what runs". herd applies the live count (1 at creation), so it
            // owns the field and it never falls back to the default when another manager lets go.
            if let Some(spec) = desired.spec.as_mut() {
                spec.replicas = Some(live_replicas.unwrap_or(1));
            }
        }
        let handoff = match (autoscaling, live, live_replicas) {
            (true, Some(live), Some(replicas)) if applies_replicas(live) => Some(replicas),
            _ => None,
        };
        if let Some(replicas) = handoff {
            // Server-side apply resets a field to its default when its only manager stops applying it. Share
            // ownership of the live count under a second manager first, then drop it from herd's config; the
            // HPA takes the field over with its first scale.
            let name = desired.name_any();
            let patch = json!({
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": name, "namespace": self.namespace},
                "spec": {"replicas": replicas},
            });
            self.send::<Deployment>(&name, &patch, HANDOFF_MANAGER).await?;
            self.metrics.record_write("Deployment", Write::Handoff);
        }
        let applied = self.ensure(desired, hash, live, handoff.is_some()).await?;
        Ok(applied.map(Arc::new))
    }

    /// Applies `desired` (whose builder output hashes to `hash`) unless `live` already carries it; returns the
    /// applied object when a write was sent.
    async fn ensure<K>(
        &mut self,
        desired: K,
        hash: String,
        live: Option<&K>,
        always: bool,
    ) -> Result<Option<K>>
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()> + k8s_openapi::Resource,
        K: Clone + Serialize + DeserializeOwned + Debug,
    {
        let kind = <K as k8s_openapi::Resource>::KIND;
        let name = desired.name_any();
        let key = (kind, self.namespace.to_string(), name.clone());
        let live_version = live.and_then(|l| l.resource_version());
        if !always
            && let Some(version) = &live_version
            && self
                .verified
                .get(&key)
                .is_some_and(|(v, h)| &v == version && h == hash)
        {
            return Ok(None);
        }
        let mut config = encode(kind, &name, &desired)?;
        config["metadata"]["annotations"][CONFIG_HASH_ANNOTATION] = Value::String(hash.clone());
        let change = match live {
            None => ChangeKind::Created,
            Some(live) => {
                if !always && compare::contains(&encode(kind, &name, live)?, &config) {
                    if let Some(version) = live_version {
                        self.verified.insert(key, (version, hash));
                    }
                    return Ok(None);
                }
                if live.annotations().get(CONFIG_HASH_ANNOTATION) == Some(&hash) {
                    ChangeKind::Reverted
                } else {
                    ChangeKind::Updated
                }
            }
        };
        self.verified.remove(&key);
        let applied: K = self.send(&name, &config, FIELD_MANAGER).await?;
        self.metrics.record_write(kind, Write::Apply);
        self.changes.push(Change {
            api_version: <K as k8s_openapi::Resource>::API_VERSION,
            kind,
            name,
            change,
        });
        Ok(Some(applied))
    }

    async fn send<K>(&self, name: &str, patch: &Value, manager: &str) -> Result<K>
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()> + k8s_openapi::Resource,
        K: Clone + DeserializeOwned + Debug,
    {
        let api: Api<K> = Api::namespaced(self.client.clone(), self.namespace);
        api.patch(name, &PatchParams::apply(manager).force(), &Patch::Apply(patch))
            .await
            .map_err(|source| Error::Apply {
                kind: <K as k8s_openapi::Resource>::KIND,
                name: name.into(),
                source,
            })
    }

    /// Deletes a child herd no longer wants, if it is the one this StatelessService controls.
    async fn remove<K>(&mut self, live: Option<&K>, owner_uid: &str) -> Result<()>
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()> + k8s_openapi::Resource,
        K: Clone + DeserializeOwned + Debug,
    {
        let Some(live) = live else { return Ok(()) };
        let controlled = live
            .owner_references()
            .iter()
            .any(|r| r.controller == Some(true) && r.uid == owner_uid);
        if !controlled {
            return Ok(());
        }
        let kind = <K as k8s_openapi::Resource>::KIND;
        let name = live.name_any();
        // The uid precondition keeps a same-named object someone created meanwhile from being deleted.
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                uid: live.uid(),
                resource_version: None,
            }),
            ..DeleteParams::background()
        };
        let api: Api<K> = Api::namespaced(self.client.clone(), self.namespace);
        match api.delete(&name, &params).await {
            Ok(_) => {}
            // Already gone (404) or replaced by another object (409 on the uid precondition): nothing of ours left.
            Err(kube::Error::Api(status)) if status.code == 404 || status.code == 409 => {}
            Err(source) => return Err(Error::Delete { kind, name, source }),
        }
        self.metrics.record_write(kind, Write::Delete);
        let api_version = <K as k8s_openapi::Resource>::API_VERSION;
        self.changes.push(Change {
            api_version,
            kind,
            name,
            change: ChangeKind::Deleted,
        });
        Ok(())
    }
}

/// True when herd's own apply entry in `managedFields` still owns `spec.replicas`.
fn applies_replicas(live: &Deployment) -> bool {
    live.managed_fields().iter().any(|entry| {
        entry.manager.as_deref() == Some(FIELD_MANAGER)
            && entry.operation.as_deref() == Some("Apply")
            && entry
                .fields_v1
                .as_ref()
                .is_some_and(|f| f.0["f:spec"].get("f:replicas").is_some())
    })
}

fn encode(kind: &'static str, name: &str, object: &impl Serialize) -> Result<Value> {
    let mut value = serde_json::to_value(object).map_err(|source| Error::Encode {
        kind,
        name: name.into(),
        source,
    })?;
    if let Some(map) = value.as_object_mut() {
        // Status is never applied; the live copy's status is irrelevant to drift.
        map.remove("status");
    }
    Ok(value)
}

/// FNV-1a over the builder's JSON, streamed without building a document: stable across builds and Rust
/// versions, unlike `DefaultHasher`, so an operator upgrade does not re-apply every child. Serialisation is
/// deterministic (struct field order, sorted maps), so equal configurations hash equal.
fn config_hash<K: Serialize + k8s_openapi::Resource>(object: &K) -> Result<String> {
    let mut hasher = Fnv(0xcbf2_9ce4_8422_2325);
    serde_json::to_writer(&mut hasher, object).map_err(|source| Error::Encode {
        kind: K::KIND,
        name: String::new(),
        source,
    })?;
    Ok(format!("{:016x}", hasher.0))
}

struct Fnv(u64);

impl std::io::Write for Fnv {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        for byte in bytes {
            self.0 ^= u64::from(*byte);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_hash_is_stable_and_sensitive() {
        let service = |port: i32| Service {
            spec: Some(k8s_openapi::api::core::v1::ServiceSpec {
                ports: Some(vec![k8s_openapi::api::core::v1::ServicePort {
                    port,
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            config_hash(&service(80)).unwrap(),
            config_hash(&service(80)).unwrap()
        );
        assert_ne!(
            config_hash(&service(80)).unwrap(),
            config_hash(&service(81)).unwrap()
        );
        // Pinned: a change of the hash function would re-apply every child after an upgrade.
        assert_eq!(config_hash(&service(80)).unwrap(), "a47fb4f732250a48");
    }
}
