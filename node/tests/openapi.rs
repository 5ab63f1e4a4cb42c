//! The generated OpenAPI document against a real node: every route's real answers (the
//! roster's before and after a roster change) and every real event of the stream
//! validate against the document's schemas, and
//! generated requests are accepted exactly when the document says they are valid.
//!
//! One cluster serves every check (starting nodes dominates the run time); the request
//! cases are drawn by proptest's runner inside the test, a few dozen per kind.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::mpsc;
use std::time::Instant;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};
use swarmvote_node::cli::client::{Locator, NodeClient};
use swarmvote_node::cli::sse::SseEvent;
use swarmvote_node::dev::cluster::{ApiClient, Cluster};

mod common;
use common::{DEADLINE, cluster_with, ready_all};

/// The document plus a way to check values against the schemas it holds.
struct Doc {
    doc: Value,
}

impl Doc {
    /// A validator for the schema at `pointer` in the document, its `$ref`s resolved
    /// against the document's own components.
    fn validator(&self, pointer: &str) -> jsonschema::Validator {
        let schema = self
            .doc
            .pointer(pointer)
            .unwrap_or_else(|| panic!("no schema at {pointer}"));
        let mut root = schema.clone();
        root.as_object_mut()
            .unwrap()
            .insert("components".into(), self.doc["components"].clone());
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .build(&root)
            .unwrap_or_else(|e| panic!("schema at {pointer} does not compile: {e}"))
    }

    /// Panics with every violation if `value` does not match the schema at `pointer`.
    fn check(&self, pointer: &str, value: &Value, what: &str) {
        let v = self.validator(pointer);
        let errors: Vec<String> = v
            .iter_errors(value)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{what} does not match {pointer}: {errors:#?}\n{value:#}"
        );
    }

    /// Checks a JSON answer of `method path` with `status` against its documented schema.
    fn answer(&self, method: &str, path: &str, status: u16, value: &Value) {
        let pointer = format!(
            "/paths/{}/{method}/responses/{status}/content/application~1json/schema",
            esc(path)
        );
        self.check(&pointer, value, &format!("{method} {path} {status}"));
    }
}

fn esc(path: &str) -> String {
    path.replace('~', "~0").replace('/', "~1")
}

/// Pointer to a request body's schema.
fn body_schema(path: &str) -> String {
    format!(
        "/paths/{}/post/requestBody/content/application~1json/schema",
        esc(path)
    )
}

fn start(dir: &std::path::Path) -> (Cluster, Vec<ApiClient>) {
    let mut c = cluster_with(dir, 3, "2/3", &|_| String::new());
    c.start_all().unwrap();
    let api = ready_all(&mut c, 2);
    (c, api)
}

/// Reads node 0's event stream with the CLI's own SSE reader, on a thread.
fn stream(c: &Cluster) -> mpsc::Receiver<SseEvent> {
    let endpoint = Locator::DataDir(c.nodes[0].dir.join("data"))
        .resolve()
        .unwrap();
    let mut reader = NodeClient::new(endpoint).events(None).unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        while let Ok(Some(e)) = reader.next_event() {
            if tx.send(e).is_err() {
                return;
            }
        }
    });
    rx
}

#[test]
fn real_answers_and_events_match_the_document_and_requests_follow_it() {
    let dir = tempfile::tempdir().unwrap();
    let (c, api) = start(dir.path());

    // The served document is the generated one.
    let (status, served) = api[0].call("GET", "/v1/openapi.json", None).unwrap();
    assert_eq!(status, 200);
    let generated = serde_json::to_value(swarmvote_node::daemon::http::openapi()).unwrap();
    assert_eq!(served, generated);
    let doc = Doc { doc: served };

    let events = stream(&c);

    // Every route's answers.
    let (s, proposed) = api[0]
        .call(
            "POST",
            "/v1/proposals",
            Some(&json!({"action": "fs.delete", "payload": {"path": "/a"}})),
        )
        .unwrap();
    assert_eq!(s, 201, "{proposed}");
    doc.answer("post", "/v1/proposals", 201, &proposed);
    let id = proposed["id"].as_str().unwrap().to_owned();
    wait_known(&api[1], &id);
    wait_known(&api[2], &id);
    let (s, ballot) = api[1].vote(&id, "yes").unwrap();
    assert_eq!(s, 200, "{ballot}");
    doc.answer("post", "/v1/proposals/{id}/vote", 200, &ballot);
    let (s, ballot) = api[2]
        .call(
            "POST",
            &format!("/v1/proposals/{id}/vote"),
            Some(&json!({"vote": "yes", "reason": "looks right\n\tto me"})),
        )
        .unwrap();
    assert_eq!(s, 200, "{ballot}");
    // Waiting answers carry the decided report.
    let (s, waited) = api[0]
        .call(
            "POST",
            "/v1/proposals",
            Some(&json!({"action": "k8s/scale", "payload": [1, "two", null], "ttl_ms": 60000, "wait_ms": 1})),
        )
        .unwrap();
    assert_eq!(s, 201, "{waited}");
    doc.answer("post", "/v1/proposals", 201, &waited);
    assert!(waited.get("proposal").is_some(), "{waited}");

    let report = swarmvote_node::dev::cluster::wait_for("approval", DEADLINE, || {
        Ok(api[0].proposal(&id)?.filter(|r| r["status"] == "approved"))
    })
    .unwrap();
    doc.answer("get", "/v1/proposals/{id}", 200, &report);
    let (s, cert) = api[0]
        .call("GET", &format!("/v1/proposals/{id}/certificate"), None)
        .unwrap();
    assert_eq!(s, 200);
    doc.answer("get", "/v1/proposals/{id}/certificate", 200, &cert);
    let pending = waited["id"].as_str().unwrap();
    let (s, e) = api[0]
        .call("GET", &format!("/v1/proposals/{pending}/certificate"), None)
        .unwrap();
    assert_eq!(s, 409);
    doc.answer("get", "/v1/proposals/{id}/certificate", 409, &e);
    let unknown = "ab".repeat(32);
    let (s, e) = api[0]
        .call("GET", &format!("/v1/proposals/{unknown}"), None)
        .unwrap();
    assert_eq!(s, 404);
    doc.answer("get", "/v1/proposals/{id}", 404, &e);
    let (s, page) = api[0].call("GET", "/v1/proposals?limit=1", None).unwrap();
    assert_eq!(s, 200);
    doc.answer("get", "/v1/proposals", 200, &page);
    let cursor = page["next_cursor"].as_str().unwrap();
    let (s, page) = api[0]
        .call(
            "GET",
            &format!("/v1/proposals?limit=1&cursor={cursor}"),
            None,
        )
        .unwrap();
    assert_eq!(s, 200);
    doc.answer("get", "/v1/proposals", 200, &page);
    let (s, status) = api[0].call("GET", "/v1/status", None).unwrap();
    assert_eq!(s, 200);
    doc.answer("get", "/v1/status", 200, &status);
    for route in ["/v1/roster", "/v1/roster/history"] {
        let (s, answer) = api[0].call("GET", route, None).unwrap();
        assert_eq!(s, 200, "{answer}");
        doc.answer("get", route, 200, &answer);
    }
    // The routes this document grew for the console and the audit trail.
    let (s, page) = api[0]
        .call("GET", "/v1/proposals?history=true&limit=1", None)
        .unwrap();
    assert_eq!(s, 200, "{page}");
    doc.answer("get", "/v1/proposals", 200, &page);
    for route in [
        "/v1/logs".to_owned(),
        format!("/v1/proposals/{id}/receipts"),
    ] {
        let (s, answer) = api[0].call("GET", &route, None).unwrap();
        assert_eq!(s, 200, "{answer}");
        let path = route.replace(&id, "{id}");
        doc.answer("get", &path, 200, &answer);
    }
    let token = std::fs::read_to_string(c.nodes[0].dir.join("data").join("api.cookie")).unwrap();
    let (s, export) = common::http_get(
        &format!("http://{}/v1/export?since=0", c.nodes[0].api),
        Some(token.trim()),
    );
    assert_eq!(s, 200, "{export}");
    let lines: Vec<Value> = export
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.len() > 3, "{export}");
    for line in &lines {
        doc.check(
            "/paths/~1v1~1export/get/responses/200/content/application~1x-ndjson/schema",
            line,
            "an export line",
        );
    }
    let (s, e) = api[0]
        .call("GET", "/v1/export?since=5&until=1", None)
        .unwrap();
    assert_eq!(s, 400, "{e}");
    doc.answer("get", "/v1/export", 400, &e);
    let stranger = ApiClient::new("stranger", c.nodes[0].api, "wrong");
    let (s, e) = stranger.call("GET", "/v1/status", None).unwrap();
    assert_eq!(s, 401);
    doc.answer("get", "/v1/status", 401, &e);

    // Every event of the stream, up to the decision.
    let kinds = checked_events(&doc, &events, |kind, data| {
        kind == "decided" && data["proposal"] == id.as_str()
    });
    assert!(kinds.iter().any(|k| k == "proposal_seen"), "{kinds:?}");
    assert!(kinds.iter().any(|k| k == "ballot_accepted"), "{kinds:?}");

    // A roster change: the roster routes with a step, and the epoch event.
    let mut next = api[0].call("GET", "/v1/roster", None).unwrap().1["document"].clone();
    next["epoch"] = json!(1);
    next["previous"] = api[0].status().unwrap()["roster_digest"].clone();
    next["quorum"] = json!("1/2");
    let change = api[0].propose("swarmvote.roster", next, 60_000).unwrap();
    for a in &api[..2] {
        wait_known(a, &change);
        assert_eq!(a.vote(&change, "yes").unwrap().0, 200);
    }
    let kinds = checked_events(&doc, &events, |kind, data| {
        kind == "decided" && data["proposal"] == change.as_str()
    });
    assert!(kinds.iter().any(|k| k == "epoch_changed"), "{kinds:?}");
    for route in ["/v1/roster", "/v1/roster/history"] {
        let (s, answer) = api[0].call("GET", route, None).unwrap();
        assert_eq!(s, 200, "{answer}");
        assert_eq!(answer["epoch"], 1, "{answer}");
        doc.answer("get", route, 200, &answer);
    }

    requests_follow_the_document(&doc, &api[0]);
}

/// Checks every event of the stream against the document until `last` says stop; their
/// kinds.
fn checked_events(
    doc: &Doc,
    events: &mpsc::Receiver<SseEvent>,
    last: impl Fn(&str, &Value) -> bool,
) -> Vec<String> {
    let deadline = Instant::now() + DEADLINE;
    let mut kinds = Vec::new();
    loop {
        let e = events
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|err| panic!("waiting for the last event: {err}; saw {kinds:?}"));
        let data: Value = serde_json::from_str(&e.data).unwrap();
        doc.check(
            "/components/schemas/Numbered",
            &data,
            &format!("event {}", e.event),
        );
        assert_eq!(data["type"], e.event.as_str());
        assert_eq!(Some(data["id"].to_string()), e.id);
        kinds.push(e.event.clone());
        if last(&e.event, &data) {
            return kinds;
        }
    }
}

/// Sends generated requests: those the document accepts get a success (or the semantic
/// 404 it documents), those it refuses get 400 or 422.
fn requests_follow_the_document(doc: &Doc, api: &ApiClient) {
    let mut runner = TestRunner::new(Config {
        cases: 32,
        failure_persistence: None,
        ..Config::default()
    });
    let propose = doc.validator(&body_schema("/v1/proposals"));
    runner
        .run(&propose_body(), |body| {
            let valid = propose.is_valid(&body);
            let (s, answer) = api.call("POST", "/v1/proposals", Some(&body)).unwrap();
            if valid {
                prop_assert_eq!(s, 201, "schema-valid {} refused: {}", body, answer);
                doc.answer("post", "/v1/proposals", 201, &answer);
            } else {
                prop_assert!(
                    s == 400 || s == 422,
                    "schema-invalid {} got {}: {}",
                    body,
                    s,
                    answer
                );
                doc.answer("post", "/v1/proposals", 400, &answer);
            }
            Ok(())
        })
        .unwrap();

    let vote = doc.validator(&body_schema("/v1/proposals/{id}/vote"));
    let unknown = format!("/v1/proposals/{}/vote", "cd".repeat(32));
    runner
        .run(&vote_body(), |body| {
            let valid = vote.is_valid(&body);
            let (s, answer) = api.call("POST", &unknown, Some(&body)).unwrap();
            // The proposal is unknown: a valid ballot gets the documented 404.
            if valid {
                prop_assert_eq!(s, 404, "schema-valid {} got: {}", body, answer);
            } else {
                prop_assert!(
                    s == 400 || s == 422,
                    "schema-invalid {} got {}: {}",
                    body,
                    s,
                    answer
                );
            }
            doc.answer("post", "/v1/proposals/{id}/vote", s, &answer);
            Ok(())
        })
        .unwrap();

    let params = doc.doc["paths"]["/v1/proposals"]["get"]["parameters"].clone();
    runner
        .run(&list_query(), |query| {
            let valid = query_is_valid(doc, &params, &query);
            let qs: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let path = format!("/v1/proposals?{}", qs.join("&"));
            let (s, answer) = api.call("GET", &path, None).unwrap();
            if valid {
                prop_assert_eq!(s, 200, "schema-valid {} got: {}", path, answer);
            } else {
                prop_assert!(s == 400, "schema-invalid {} got {}: {}", path, s, answer);
            }
            doc.answer("get", "/v1/proposals", s, &answer);
            Ok(())
        })
        .unwrap();
}

/// Whether a query string's values match the documented parameters (a value is read as
/// JSON when it parses as a number, else as a string, as a server reading the query
/// would).
fn query_is_valid(doc: &Doc, params: &Value, query: &[(String, String)]) -> bool {
    query.iter().all(|(k, v)| {
        let Some(i) = params
            .as_array()
            .unwrap()
            .iter()
            .position(|p| p["name"] == k.as_str())
        else {
            return false;
        };
        let schema = params[i]["schema"].clone();
        let value = match schema["type"].as_str().or_else(|| {
            schema["type"]
                .as_array()
                .and_then(|t| t.iter().find(|x| *x != "null").and_then(Value::as_str))
        }) {
            Some("integer") => match v.parse::<i128>() {
                Ok(n) => json!(n),
                Err(_) => Value::String(v.clone()),
            },
            _ => Value::String(v.clone()),
        };
        let pointer = format!("/paths/~1v1~1proposals/get/parameters/{i}/schema");
        doc.validator(&pointer).is_valid(&value)
    })
}

/// Propose bodies: mostly valid, each field sometimes out of bounds or of a wrong type.
fn propose_body() -> impl Strategy<Value = Value> {
    let action = prop_oneof![
        6 => "[A-Za-z0-9._:/-]{1,64}".prop_map(Value::from),
        1 => Just(Value::from("")),
        1 => "[a-z]{1,8}[ !@#]".prop_map(Value::from),
        1 => "[a-z]{65,70}".prop_map(Value::from),
        1 => Just(json!(7)),
    ];
    let payload = prop_oneof![
        Just(json!({})),
        Just(json!(null)),
        any::<i32>().prop_map(Value::from),
        "[a-z]{0,12}".prop_map(|s| json!({ "path": s })),
    ];
    let ttl = prop_oneof![
        3 => Just(None),
        1 => Just(Some(Value::Null)),
        4 => (1u64..=604_800_000).prop_map(|n| Some(json!(n))),
        1 => Just(Some(json!(0))),
        1 => (604_800_001u64..=u64::MAX).prop_map(|n| Some(json!(n))),
        1 => (i64::MIN..0).prop_map(|n| Some(json!(n))),
        1 => Just(Some(json!("60000"))),
    ];
    let wait = prop_oneof![
        3 => Just(None),
        1 => Just(Some(Value::Null)),
        3 => (0u64..20).prop_map(|n| Some(json!(n))),
        1 => (i64::MIN..0).prop_map(|n| Some(json!(n))),
        1 => Just(Some(json!(1.5))),
    ];
    let extra = prop_oneof![6 => Just(None), 1 => Just(Some("nonce"))];
    (action, payload, ttl, wait, extra, any::<bool>()).prop_map(
        |(action, payload, ttl, wait, extra, drop_action)| {
            let mut body = json!({ "payload": payload });
            if !drop_action || action.as_str().is_some_and(|a| a.len() > 3) {
                body["action"] = action;
            }
            if let Some(t) = ttl {
                body["ttl_ms"] = t;
            }
            if let Some(w) = wait {
                body["wait_ms"] = w;
            }
            if let Some(k) = extra {
                body[k] = json!(1);
            }
            body
        },
    )
}

/// Vote bodies: a vote and maybe a reason, sometimes empty, too long or with a control
/// character.
fn vote_body() -> impl Strategy<Value = Value> {
    let vote = prop_oneof![
        4 => Just(json!("yes")),
        4 => Just(json!("no")),
        1 => Just(json!("maybe")),
        1 => Just(json!(true)),
    ];
    let reason = prop_oneof![
        3 => Just(None),
        1 => Just(Some(Value::Null)),
        4 => "[ -~\n\t]{1,200}".prop_map(|s| Some(Value::from(s))),
        1 => Just(Some(json!(""))),
        1 => "[a-z]{1,5}\u{7}[a-z]{0,5}".prop_map(|s| Some(Value::from(s))),
        1 => "[a-z]{1025,1030}".prop_map(|s| Some(Value::from(s))),
    ];
    (vote, reason).prop_map(|(vote, reason)| {
        let mut body = json!({ "vote": vote });
        if let Some(r) = reason {
            body["reason"] = r;
        }
        body
    })
}

/// List queries: known parameters with good and bad values, and an unknown one.
fn list_query() -> impl Strategy<Value = Vec<(String, String)>> {
    let status = prop_oneof![
        Just("pending"),
        Just("approved"),
        Just("rejected"),
        Just("expired"),
        Just("bogus"),
    ]
    .prop_map(|s| ("status".to_owned(), s.to_owned()));
    let limit = prop_oneof![
        4 => (0u64..2000).prop_map(|n| n.to_string()),
        1 => Just("-1".to_owned()),
        1 => Just("ten".to_owned()),
    ]
    .prop_map(|v| ("limit".to_owned(), v));
    let since = prop_oneof![
        4 => any::<u64>().prop_map(|n| n.to_string()),
        1 => Just("yesterday".to_owned()),
    ]
    .prop_map(|v| ("since".to_owned(), v));
    let cursor = prop_oneof![
        3 => (any::<u64>(), "[0-9a-f]{64}").prop_map(|(n, h)| format!("{n}-{h}")),
        1 => Just("x".to_owned()),
        1 => "[0-9]{1,5}-[0-9a-f]{10}".prop_map(|s| s),
    ]
    .prop_map(|v| ("cursor".to_owned(), v));
    let action = "[a-z.]{1,10}".prop_map(|v| ("action".to_owned(), v));
    let unknown = Just(("sort".to_owned(), "asc".to_owned()));
    prop::collection::vec(
        prop_oneof![
            3 => status,
            3 => limit,
            2 => since,
            2 => cursor,
            2 => action,
            1 => unknown,
        ],
        0..4,
    )
    .prop_map(|mut v| {
        // One value per parameter: a repeated one is refused whatever its value.
        let mut seen = std::collections::BTreeSet::new();
        v.retain(|(k, _)| seen.insert(k.clone()));
        v
    })
}

/// Waits until `api`'s node knows proposal `id`.
fn wait_known(api: &ApiClient, id: &str) {
    swarmvote_node::dev::cluster::wait_for("the proposal known", DEADLINE, || api.proposal(id))
        .unwrap();
}
