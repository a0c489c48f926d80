//! The PodDisruptionBudget (policy/v1): node drains take pods one at a time unless the user says otherwise.

use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{child_metadata, labels};
use crate::crd::StatelessService;

pub(super) fn build(ss: &StatelessService, name: &str) -> Option<PodDisruptionBudget> {
    let spec = &ss.spec;
    let chosen = spec
        .disruption
        .as_ref()
        .filter(|d| d.min_available.is_some() || d.max_unavailable.is_some());
    let (min_available, max_unavailable) = match chosen {
        Some(d) => (d.min_available.clone(), d.max_unavailable.clone()),
        None => {
            // A budget over a single fixed replica would either block drains forever or protect nothing.
            let can_run_several = if spec.autoscaling.enabled {
                spec.autoscaling.max_replicas > 1
            } else {
                spec.replicas.is_none_or(|r| r > 1)
            };
            if !can_run_several {
                return None;
            }
            (None, Some(IntOrString::Int(1)))
        }
    };
    Some(PodDisruptionBudget {
        metadata: child_metadata(ss, name),
        spec: Some(PodDisruptionBudgetSpec {
            selector: Some(LabelSelector {
                match_labels: Some(labels::selector_labels(name)),
                ..LabelSelector::default()
            }),
            min_available,
            max_unavailable,
            ..PodDisruptionBudgetSpec::default()
        }),
        status: None,
    })
}

#[cfg(test)]
mod tests {
    use super::super::{build as build_children, fixtures::ss};
    use super::*;
    use serde_json::json;

    fn pdb(spec: serde_json::Value) -> Option<PodDisruptionBudgetSpec> {
        build_children(&ss(spec)).unwrap().pdb.map(|p| p.spec.unwrap())
    }

    #[test]
    fn several_replicas_get_max_unavailable_one() {
        for spec in [
            json!({"image": "web", "replicas": 3}),
            json!({"image": "web", "autoscaling": {"enabled": true, "targetRequestsPerSecond": 5}}),
            // Unset replicas may have been scaled up by hand since creation.
            json!({"image": "web"}),
        ] {
            let budget = pdb(spec.clone()).unwrap_or_else(|| panic!("{spec}: no budget"));
            assert_eq!(budget.max_unavailable, Some(IntOrString::Int(1)), "{spec}");
            assert_eq!(budget.min_available, None);
            assert_eq!(
                budget.selector.unwrap().match_labels.unwrap(),
                labels::selector_labels("web")
            );
        }
    }

    #[test]
    fn a_single_fixed_replica_gets_no_budget() {
        assert!(pdb(json!({"image": "web", "replicas": 1})).is_none());
        assert!(pdb(json!({"image": "web", "replicas": 0})).is_none());
        let one_max = json!({"image": "web", "autoscaling": {"enabled": true, "maxReplicas": 1, "targetRequestsPerSecond": 5}});
        assert!(pdb(one_max).is_none());
    }

    #[test]
    fn the_users_budget_wins() {
        let budget =
            pdb(json!({"image": "web", "replicas": 1, "disruption": {"minAvailable": "50%"}})).unwrap();
        assert_eq!(budget.min_available, Some(IntOrString::String("50%".into())));
        assert_eq!(budget.max_unavailable, None);
        let budget =
            pdb(json!({"image": "web", "replicas": 5, "disruption": {"maxUnavailable": 2}})).unwrap();
        assert_eq!(budget.max_unavailable, Some(IntOrString::Int(2)));
    }
}
