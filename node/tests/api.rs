//! The HTTP API of a real node process, at the HTTP level: authentication, every kind of
//! bad input (right status, a JSON error with a clear message, and the node keeps
//! serving), and the Server-Sent Events stream with its `Last-Event-ID` replay.
//!
//! Every wait is on a condition with a deadline; dropping a cluster kills its nodes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::BufRead;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use swarmvote_node::dev::cluster::{ApiClient, Cluster, wait_for};

mod common;
use common::{DEADLINE, cluster_with};

fn cluster(dir: &Path, n: usize, quorum: &str) -> Cluster {
    cluster_with(dir, n, quorum, &|_| String::new())
}

/// A bare HTTP client: any method, token and body bytes.
struct Raw {
    base: String,
    token: String,
    agent: ureq::Agent,
}

/// Status, content type and body of an answer.
struct Answer {
    status: u16,
    content_type: String,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }

    /// A JSON error with this status and code whose message says every one of `needles`.
    fn error(&self, status: u16, code: &str, needles: &[&str]) {
        assert_eq!(self.status, status, "{}", self.text);
        assert!(
            self.content_type.starts_with("application/json"),
            "{}: {}",
            self.content_type,
            self.text
        );
        let body = self.json();
        assert_eq!(body["error"]["code"], code, "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        for n in needles {
            assert!(message.contains(n), "{n:?} not in {message:?}");
        }
    }
}

impl Raw {
    fn new(c: &Cluster, i: usize) -> Self {
        let cookie = c.nodes[i].dir.join("data").join("api.cookie");
        Self {
            base: format!("http://{}", c.nodes[i].api),
            token: std::fs::read_to_string(cookie).unwrap().trim().to_owned(),
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(30)))
                .build()
                .new_agent(),
        }
    }

    /// `authorization`: `None` sends no header.
    fn send(
        &self,
        method: &str,
        path: &str,
        authorization: Option<&str>,
        body: Option<&[u8]>,
    ) -> Answer {
        let url = format!("{}{path}", self.base);
        let response = match (method, body) {
            ("GET", _) => {
                let mut r = self.agent.get(&url);
                if let Some(a) = authorization {
                    r = r.header("Authorization", a);
                }
                r.call()
            }
            (_, body) => {
                let mut r = self
                    .agent
                    .post(&url)
                    .header("Content-Type", "application/json");
                if let Some(a) = authorization {
                    r = r.header("Authorization", a);
                }
                r.send(body.unwrap_or_default())
            }
        };
        let mut response = response.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        Answer {
            status: response.status().as_u16(),
            content_type,
            text: response.body_mut().read_to_string().unwrap(),
        }
    }

    fn call(&self, method: &str, path: &str, body: Option<&str>) -> Answer {
        let auth = format!("Bearer {}", self.token);
        self.send(method, path, Some(&auth), body.map(str::as_bytes))
    }

    /// Still serving after whatever came before.
    fn alive(&self) {
        let a = self.call("GET", "/v1/status", None);
        assert_eq!(a.status, 200, "the node stopped serving: {}", a.text);
    }
}

#[test]
fn auth_needs_the_cookie_token() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = cluster(dir.path(), 1, "1");
    c.start_all().unwrap();
    c.wait_ready(0, 0, DEADLINE).unwrap();
    let raw = Raw::new(&c, 0);

    // The cookie is private to the node's user.
    use std::os::unix::fs::PermissionsExt;
    let cookie = c.nodes[0].dir.join("data").join("api.cookie");
    let mode = std::fs::metadata(&cookie).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    raw.send("GET", "/v1/status", None, None).error(
        401,
        "unauthorized",
        &["Authorization: Bearer", "api.cookie"],
    );
    raw.send("GET", "/v1/status", Some("Bearer wrong"), None)
        .error(401, "unauthorized", &["wrong token"]);
    raw.send(
        "GET",
        "/v1/status",
        Some(&format!("Basic {}", raw.token)),
        None,
    )
    .error(401, "unauthorized", &[]);
    // A token that only starts like the right one.
    let prefix = &raw.token[..raw.token.len() - 1];
    raw.send("GET", "/v1/status", Some(&format!("Bearer {prefix}")), None)
        .error(401, "unauthorized", &["wrong token"]);
    // Every route is guarded, and a refused submission creates nothing.
    for (method, path) in [
        ("GET", "/v1/proposals"),
        ("GET", "/v1/events"),
        ("GET", &format!("/v1/proposals/{}", "ab".repeat(32))),
    ] {
        raw.send(method, path, Some("Bearer wrong"), None)
            .error(401, "unauthorized", &[]);
    }
    raw.send(
        "POST",
        "/v1/proposals",
        None,
        Some(br#"{"action":"x","payload":{}}"#),
    )
    .error(401, "unauthorized", &[]);

    let ok = raw.call("GET", "/v1/status", None);
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(ok.json()["name"], "node0");
    let list = raw.call("GET", "/v1/proposals", None);
    assert_eq!(list.status, 200);
    assert_eq!(list.json()["proposals"], json!([]), "{}", list.text);
}

#[test]
fn bad_input_gets_the_right_status_and_a_clear_json_error() {
    let dir = tempfile::tempdir().unwrap();
    // Three members, one running: a YES leaves a proposal pending (q = 2).
    let mut c = cluster(dir.path(), 3, "2/3");
    c.start(0).unwrap();
    c.wait_ready(0, 0, DEADLINE).unwrap();
    let raw = Raw::new(&c, 0);
    let post = |body: &str| raw.call("POST", "/v1/proposals", Some(body));

    let unknown = "ab".repeat(32);
    let cases: Vec<(&str, Answer, u16, &str, Vec<&str>)> = vec![
        (
            "malformed JSON",
            post(r#"{"action": "x", "payload": "#),
            400,
            "bad_request",
            vec!["JSON"],
        ),
        (
            "wrong field type",
            post(r#"{"action": 5, "payload": {}}"#),
            400,
            "bad_request",
            vec!["action", "invalid type"],
        ),
        (
            "wrong ttl type",
            post(r#"{"action": "x", "payload": {}, "ttl_ms": "soon"}"#),
            400,
            "bad_request",
            vec!["ttl_ms"],
        ),
        (
            "missing field",
            post(r#"{"action": "x"}"#),
            400,
            "bad_request",
            vec!["missing field `payload`"],
        ),
        (
            "unknown field",
            post(r#"{"action": "x", "payload": {}, "colour": "red"}"#),
            400,
            "bad_request",
            vec!["unknown field `colour`"],
        ),
        (
            "invalid action",
            post(r#"{"action": "two words", "payload": {}}"#),
            400,
            "bad_request",
            vec![],
        ),
        (
            "zero lifetime",
            post(r#"{"action": "x", "payload": {}, "ttl_ms": 0}"#),
            400,
            "bad_request",
            vec!["expires_at"],
        ),
        (
            "body over 64 KiB",
            post(&format!(
                r#"{{"action": "x", "payload": "{}"}}"#,
                "a".repeat(70 * 1024)
            )),
            413,
            "too_large",
            vec!["65536"],
        ),
        (
            "payload over 32 KiB in a body under 64 KiB",
            post(&format!(
                r#"{{"action": "x", "payload": "{}"}}"#,
                "a".repeat(40 * 1024)
            )),
            413,
            "too_large",
            vec!["payload", "32768"],
        ),
        (
            "invalid proposal id",
            raw.call("GET", "/v1/proposals/xyz", None),
            400,
            "bad_request",
            vec!["proposal id"],
        ),
        (
            "unknown proposal id",
            raw.call("GET", &format!("/v1/proposals/{}", "ab".repeat(32)), None),
            404,
            "unknown_proposal",
            vec![&unknown],
        ),
        (
            "certificate of an unknown proposal",
            raw.call(
                "GET",
                &format!("/v1/proposals/{}/certificate", "ab".repeat(32)),
                None,
            ),
            404,
            "unknown_proposal",
            vec![],
        ),
        (
            "vote on an unknown proposal",
            raw.call(
                "POST",
                &format!("/v1/proposals/{}/vote", "ab".repeat(32)),
                Some(r#"{"vote": "yes"}"#),
            ),
            404,
            "unknown_proposal",
            vec![],
        ),
        (
            "bad list status",
            raw.call("GET", "/v1/proposals?status=bogus", None),
            400,
            "bad_request",
            vec!["bogus", "pending, approved, rejected or expired"],
        ),
        (
            "bad list limit",
            raw.call("GET", "/v1/proposals?limit=many", None),
            400,
            "bad_request",
            vec!["limit"],
        ),
        (
            "bad list cursor",
            raw.call("GET", "/v1/proposals?cursor=nope", None),
            400,
            "bad_request",
            vec!["cursor"],
        ),
        (
            "bad Last-Event-ID",
            raw.call("GET", "/v1/events?after=soon", None),
            400,
            "bad_request",
            vec!["after"],
        ),
    ];
    for (what, answer, status, code, needles) in &cases {
        eprintln!("case: {what}");
        answer.error(*status, code, needles);
        raw.alive();
    }
    // None of that created a proposal.
    assert_eq!(
        raw.call("GET", "/v1/proposals", None).json()["proposals"],
        json!([])
    );

    // Votes: a bad value, then yes, then no on the same proposal.
    let created = post(r#"{"action": "x", "payload": {"n": 1}}"#);
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.json()["id"].as_str().unwrap().to_owned();
    let vote = |body: &str| raw.call("POST", &format!("/v1/proposals/{id}/vote"), Some(body));
    vote(r#"{"vote": "maybe"}"#).error(400, "bad_request", &["maybe"]);
    raw.alive();
    vote(&format!(
        r#"{{"vote": "yes", "reason": "{}"}}"#,
        "r".repeat(2000)
    ))
    .error(400, "bad_request", &["reason"]);
    raw.alive();
    let first = vote(r#"{"vote": "yes", "reason": "fine"}"#);
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.json()["ballot"]["reason"], "fine");
    vote(r#"{"vote": "no"}"#).error(409, "already_voted", &[]);
    raw.alive();
    // The same vote again is not a conflict (idempotent retries).
    let again = vote(r#"{"vote": "yes", "reason": "fine"}"#);
    assert_eq!(again.status, 200, "{}", again.text);
    raw.call("GET", &format!("/v1/proposals/{id}/certificate"), None)
        .error(409, "not_approved", &[&id]);
    raw.alive();

    // An expired proposal refuses votes.
    let created = post(r#"{"action": "x", "payload": {"n": 2}, "ttl_ms": 1}"#);
    assert_eq!(created.status, 201, "{}", created.text);
    let expired = created.json()["id"].as_str().unwrap().to_owned();
    wait_for("expired", DEADLINE, || {
        let a = raw.call("GET", &format!("/v1/proposals/{expired}"), None);
        Ok((a.json()["status"] == "expired").then_some(()))
    })
    .unwrap();
    raw.call(
        "POST",
        &format!("/v1/proposals/{expired}/vote"),
        Some(r#"{"vote": "yes"}"#),
    )
    .error(409, "expired", &[]);
    raw.alive();
    let list = raw.call("GET", "/v1/proposals?status=expired", None).json();
    assert_eq!(list["proposals"][0]["id"], expired.as_str(), "{list}");
}

/// One parsed Server-Sent Event.
#[derive(Debug, Clone)]
struct Sse {
    id: u64,
    event: String,
    data: Value,
}

/// Opens `/v1/events` with optional extra header and query; events arrive on the channel.
fn open_events(
    raw: &Raw,
    last_event_id: Option<&str>,
    query: &str,
) -> (u16, String, mpsc::Receiver<Sse>) {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let mut request = agent
        .get(format!("{}/v1/events{query}", raw.base))
        .header("Authorization", &format!("Bearer {}", raw.token));
    if let Some(id) = last_event_id {
        request = request.header("Last-Event-ID", id);
    }
    let response = request.call().unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let (tx, rx) = mpsc::channel();
    let reader = std::io::BufReader::new(response.into_body().into_reader());
    // The stream never ends by itself: read it on a thread, which ends with the node.
    std::thread::spawn(move || {
        let (mut id, mut event, mut data) = (None, String::new(), String::new());
        for line in reader.lines() {
            let Ok(line) = line else { return };
            if line.is_empty() {
                if let Some(id) = id.take() {
                    let data = serde_json::from_str(&data).unwrap_or(Value::Null);
                    if tx
                        .send(Sse {
                            id,
                            event: std::mem::take(&mut event),
                            data,
                        })
                        .is_err()
                    {
                        return;
                    }
                }
                data.clear();
            } else if let Some(v) = line.strip_prefix("id:") {
                id = v.trim().parse().ok();
            } else if let Some(v) = line.strip_prefix("event:") {
                event = v.trim().to_owned();
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push_str(v.strip_prefix(' ').unwrap_or(v));
            }
        }
    });
    (status, content_type, rx)
}

/// Receives events until `stop` holds for one, or fails at the deadline.
fn events_until(rx: &mpsc::Receiver<Sse>, what: &str, stop: impl Fn(&Sse) -> bool) -> Vec<Sse> {
    let deadline = Instant::now() + DEADLINE;
    let mut seen = Vec::new();
    loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(e) => {
                let done = stop(&e);
                seen.push(e);
                if done {
                    return seen;
                }
            }
            Err(e) => panic!("waiting for {what}: {e}; events so far: {seen:#?}"),
        }
    }
}

fn ids(events: &[Sse]) -> Vec<u64> {
    events.iter().map(|e| e.id).collect()
}

#[test]
fn events_stream_decisions_and_replay_after_last_event_id() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = cluster(dir.path(), 3, "2/3");
    c.start_all().unwrap();
    let api: Vec<ApiClient> = (0..3)
        .map(|i| c.wait_ready(i, 2, DEADLINE).unwrap())
        .collect();
    let raw = Raw::new(&c, 0);

    let (status, content_type, live) = open_events(&raw, None, "");
    assert_eq!(status, 200);
    assert!(
        content_type.starts_with("text/event-stream"),
        "{content_type}"
    );
    // Submitted and decided elsewhere; node 0's stream reports it.
    let id = api[1]
        .propose("fs.delete", json!({"path": "/sse"}), 60_000)
        .unwrap();
    wait_for("node 2 knows it", DEADLINE, || api[2].proposal(&id)).unwrap();
    assert_eq!(api[1].vote(&id, "yes").unwrap().0, 200);
    assert_eq!(api[2].vote(&id, "yes").unwrap().0, 200);
    let seen = events_until(&live, "the decided event", |e| {
        e.event == "decided" && e.data["proposal"] == id.as_str()
    });
    let decided = seen.last().unwrap();
    assert_eq!(decided.data["type"], "decided");
    assert_eq!(decided.data["id"], decided.id);
    assert_eq!(decided.data["verdict"], "approved");
    assert_eq!(decided.data["yes"], 2);
    let kinds: Vec<&str> = seen.iter().map(|e| e.event.as_str()).collect();
    assert!(kinds.contains(&"proposal_seen"), "{kinds:?}");
    assert_eq!(
        kinds.iter().filter(|k| **k == "ballot_accepted").count(),
        2,
        "{kinds:?}"
    );
    // Ids grow by one per event.
    let all = ids(&seen);
    assert!(all.windows(2).all(|w| w[1] == w[0] + 1), "{all:?}");
    assert!(all.len() >= 4, "{all:?}");

    // Resume after the second event: exactly the later ones, in order, then live.
    let after = all[1];
    let last = *all.last().unwrap();
    let (status, _, resumed) = open_events(&raw, Some(&after.to_string()), "");
    assert_eq!(status, 200);
    let replayed = events_until(&resumed, "the replay", |e| e.id >= last);
    assert_eq!(ids(&replayed), all[2..].to_vec());
    // The same with ?after=.
    let (_, _, resumed) = open_events(&raw, None, &format!("?after={after}"));
    let replayed = events_until(&resumed, "the replay (?after=)", |e| e.id >= last);
    assert_eq!(ids(&replayed), all[2..].to_vec());
    // Replay and live join without a gap or a repeat.
    let (_, _, resumed) = open_events(&raw, Some(&last.to_string()), "");
    let next = api[0].propose("after", json!({}), 60_000).unwrap();
    let more = events_until(&resumed, "the next proposal", |e| {
        e.data["proposal"] == next.as_str()
    });
    assert_eq!(more.first().unwrap().id, last + 1, "{more:#?}");
    assert!(ids(&more).windows(2).all(|w| w[1] == w[0] + 1), "{more:#?}");
    // A Last-Event-ID that is not a number.
    let (status, content_type, _) = open_events(&raw, Some("soon"), "");
    assert_eq!(status, 400);
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
}
