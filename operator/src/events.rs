//! Kubernetes events about StatelessServices, sent as kube-runtime's `Recorder` sends them (a create, and a
//! merge patch that counts a series when the same event repeats within six minutes), with a smaller memory
//! footprint: the repeat cache keeps what a repeat needs (the event's name, note and first time, the count),
//! not the whole event, and gives its table back once entries expire. kube's cache of whole events held 11.8 MB for
//! good after a mass create of 1,000 services (BENCHMARKS.md).

use std::collections::HashMap;
use std::fmt::Write as _;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event as K8sEvent, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::events::{Event, EventType, Reporter};
use tokio::sync::Mutex;

/// How long a sent event can still become a series, as in kube-runtime and client-go.
const SERIES_WINDOW: SignedDuration = SignedDuration::from_secs(6 * 60);

/// What a repeat of a sent event needs.
struct Sent {
    name: String,
    /// The API server keeps an event's note immutable, so a repeat repeats the first note.
    note: Option<String>,
    first_time: Timestamp,
    count: i32,
    last_time: Timestamp,
}

pub struct EventRecorder {
    client: Client,
    reporter: Reporter,
    sent: Mutex<HashMap<String, Sent>>,
}

impl EventRecorder {
    pub fn new(client: Client, reporter: Reporter) -> Self {
        Self {
            client,
            reporter,
            sent: Mutex::default(),
        }
    }

    /// Publishes `event` about `regarding`; a repeat within six minutes patches the first one's series.
    pub async fn publish(&self, event: &Event, regarding: &ObjectReference) -> Result<(), kube::Error> {
        let now = Timestamp::now();
        let key = event_key(event, regarding);
        let repeat = {
            let mut sent = self.sent.lock().await;
            sent.retain(|_, s| s.last_time + SERIES_WINDOW > now);
            if sent.capacity() > 64 && sent.len() < sent.capacity() / 4 {
                sent.shrink_to_fit();
            }
            sent.get(&key)
                .map(|s| (s.name.clone(), s.note.clone(), s.first_time, s.count + 1))
        };
        let namespace = regarding.namespace.as_deref().unwrap_or("default");
        let events = Api::<K8sEvent>::namespaced(self.client.clone(), namespace);
        let (name, note, first_time, count) = match repeat {
            Some((name, note, first_time, count)) => {
                let mut body = self.k8s_event(event, regarding, &name, first_time);
                body.note = note.clone();
                body.series = Some(EventSeries {
                    count,
                    last_observed_time: MicroTime(now),
                });
                events
                    .patch(&name, &PatchParams::default(), &Patch::Merge(&body))
                    .await?;
                (name, note, first_time, count)
            }
            None => {
                let name = format!(
                    "{}.{:x}",
                    regarding.name.as_deref().unwrap_or(&self.reporter.controller),
                    now.as_nanosecond()
                );
                let body = self.k8s_event(event, regarding, &name, now);
                events.create(&PostParams::default(), &body).await?;
                (name, event.note.clone(), now, 1)
            }
        };
        self.sent.lock().await.insert(
            key,
            Sent {
                name,
                note,
                first_time,
                count,
                last_time: now,
            },
        );
        Ok(())
    }

    fn k8s_event(&self, event: &Event, regarding: &ObjectReference, name: &str, time: Timestamp) -> K8sEvent {
        let controller = &self.reporter.controller;
        K8sEvent {
            action: Some(event.action.clone()),
            reason: Some(event.reason.clone()),
            event_time: Some(MicroTime(time)),
            regarding: Some(regarding.clone()),
            note: event.note.clone(),
            metadata: ObjectMeta {
                namespace: regarding.namespace.clone(),
                name: Some(name.to_string()),
                ..ObjectMeta::default()
            },
            reporting_controller: Some(controller.clone()),
            reporting_instance: Some(
                self.reporter
                    .instance
                    .clone()
                    .unwrap_or_else(|| controller.clone()),
            ),
            type_: Some(
                match event.type_ {
                    EventType::Normal => "Normal",
                    EventType::Warning => "Warning",
                }
                .into(),
            ),
            related: event.secondary.clone(),
            ..K8sEvent::default()
        }
    }
}

/// Events are the same event when type, action, reason, the object and the related object are (the note may
/// differ), as kube-runtime and client-go decide.
fn event_key(event: &Event, regarding: &ObjectReference) -> String {
    let mut key = String::new();
    let reference = |key: &mut String, r: &ObjectReference| {
        let _ = write!(
            key,
            "|{}|{}|{}|{}|{}",
            r.api_version.as_deref().unwrap_or_default(),
            r.kind.as_deref().unwrap_or_default(),
            r.namespace.as_deref().unwrap_or_default(),
            r.name.as_deref().unwrap_or_default(),
            r.uid.as_deref().unwrap_or_default()
        );
    };
    let _ = write!(
        key,
        "{}|{}|{}",
        matches!(event.type_, EventType::Warning),
        event.action,
        event.reason
    );
    reference(&mut key, regarding);
    if let Some(related) = &event.secondary {
        reference(&mut key, related);
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;
    use http::{Method, Response};
    use kube::client::Body;
    use serde_json::Value;

    fn event(reason: &str, note: &str) -> Event {
        Event {
            type_: EventType::Normal,
            reason: reason.into(),
            note: Some(note.into()),
            action: "Apply".into(),
            secondary: None,
        }
    }

    fn reference(name: &str) -> ObjectReference {
        ObjectReference {
            kind: Some("StatelessService".into()),
            namespace: Some("shop".into()),
            name: Some(name.into()),
            uid: Some(format!("uid-{name}")),
            ..ObjectReference::default()
        }
    }

    #[test]
    fn the_same_event_is_the_same_whatever_its_note() {
        let web = reference("web");
        assert_eq!(
            event_key(&event("Created", "a"), &web),
            event_key(&event("Created", "b"), &web)
        );
        assert_ne!(
            event_key(&event("Created", "a"), &web),
            event_key(&event("Updated", "a"), &web)
        );
        assert_ne!(
            event_key(&event("Created", "a"), &web),
            event_key(&event("Created", "a"), &reference("api"))
        );
    }

    /// The next request the recorder sends: (method, path and query, body); answered 200 with the body.
    async fn next_request(
        handle: &mut tower_test::mock::Handle<http::Request<Body>, Response<Body>>,
    ) -> (Method, String, Value) {
        let (request, send) = handle.next_request().await.expect("a request");
        let (parts, body) = request.into_parts();
        let bytes = body.collect_bytes().await.unwrap();
        send.send_response(Response::new(Body::from(bytes.to_vec())));
        let body = serde_json::from_slice(&bytes).unwrap();
        (parts.method, parts.uri.to_string(), body)
    }

    #[tokio::test]
    async fn a_repeat_patches_the_first_events_series_and_a_new_reason_is_a_new_event() {
        let (client, mut handle) = fixtures::client();
        let reporter = Reporter {
            controller: "herd-operator".into(),
            instance: Some("herd-operator-0".into()),
        };
        let recorder = std::sync::Arc::new(EventRecorder::new(client, reporter));
        let web = reference("web");

        let publishing = {
            let (recorder, web) = (recorder.clone(), web.clone());
            tokio::spawn(async move {
                for e in [
                    event("Created", "first"),
                    event("Created", "again"),
                    event("Updated", "x"),
                ] {
                    recorder.publish(&e, &web).await.unwrap();
                }
            })
        };
        let (method, uri, first) = next_request(&mut handle).await;
        assert_eq!(
            (method, uri.as_str()),
            (Method::POST, "/apis/events.k8s.io/v1/namespaces/shop/events?")
        );
        let name = first["metadata"]["name"].as_str().unwrap().to_string();
        assert!(name.starts_with("web."), "{name}");
        assert_eq!(first["reason"], "Created");
        assert_eq!(first["note"], "first");
        assert_eq!(first["type"], "Normal");
        assert_eq!(first["reportingController"], "herd-operator");
        assert_eq!(first["reportingInstance"], "herd-operator-0");
        assert_eq!(first["regarding"]["name"], "web");
        assert!(first.get("series").is_none());

        let (method, uri, repeat) = next_request(&mut handle).await;
        assert_eq!(method, Method::PATCH);
        assert_eq!(
            uri,
            format!("/apis/events.k8s.io/v1/namespaces/shop/events/{name}?")
        );
        assert_eq!(repeat["series"]["count"], 2);
        assert_eq!(
            repeat["eventTime"], first["eventTime"],
            "a series keeps the first time"
        );
        assert_eq!(repeat["note"], "first", "the API server keeps a note immutable");

        let (method, _, other) = next_request(&mut handle).await;
        assert_eq!(method, Method::POST);
        assert_eq!(other["reason"], "Updated");
        publishing.await.unwrap();
    }
}
