//! The `swarmvote` client commands against real node processes: propose, vote, wait,
//! certify and verify offline (and refuse tampered certificates), list, show, status,
//! watch (also across a node restart), and the errors a user meets.
//!
//! Every wait is on a condition with a deadline; dropping a cluster kills its nodes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use swarmvote_node::dev::cluster::{ApiClient, Cluster, wait_for};
use swarmvote_protocol::{Ballot, Certificate, SecretKey, Vote};

mod common;
use common::{DEADLINE, cluster_with};

fn cluster(dir: &Path, n: usize, quorum: &str) -> Cluster {
    cluster_with(dir, n, quorum, &|_| String::new())
}

fn ready_all(c: &mut Cluster) -> Vec<ApiClient> {
    let peers = c.nodes.len() - 1;
    (0..c.nodes.len())
        .map(|i| c.wait_ready(i, peers, DEADLINE).unwrap())
        .collect()
}

fn data(c: &Cluster, i: usize) -> String {
    c.nodes[i].dir.join("data").display().to_string()
}

fn config(c: &Cluster, i: usize) -> String {
    c.nodes[i].config.display().to_string()
}

fn command(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_swarmvote"));
    cmd.args(args).env("RUST_LOG", "warn");
    cmd
}

fn sv(args: &[&str]) -> Output {
    command(args).output().unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Exit 0; the standard output.
fn ok(args: &[&str]) -> String {
    let out = sv(args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{args:?} failed: {}",
        stderr(&out)
    );
    stdout(&out)
}

/// Exits 1 and says every one of `needles` on stderr.
fn fails(args: &[&str], needles: &[&str]) -> String {
    let out = sv(args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{args:?}: stderr: {err}");
    for n in needles {
        assert!(err.contains(n), "{args:?}: {n:?} not in: {err}");
    }
    err
}

fn wait_status(api: &ApiClient, id: &str, status: &str) -> Value {
    wait_for(&format!("{id} {status}"), DEADLINE, || {
        Ok(api.proposal(id)?.filter(|p| p["status"] == status))
    })
    .unwrap()
}

fn wait_known(api: &ApiClient, id: &str) {
    wait_for(&format!("{id} known"), DEADLINE, || api.proposal(id)).unwrap();
}

/// Waits for a child to exit, killing it at the deadline.
fn wait_exit(child: &mut Child, what: &str) -> std::process::ExitStatus {
    let status = wait_for(what, DEADLINE, || Ok(child.try_wait().unwrap()));
    if status.is_err() {
        let _ = child.kill();
    }
    status.unwrap()
}

/// The output of an exited child.
fn collect(mut child: Child, what: &str) -> (Option<i32>, String, String) {
    let status = wait_exit(&mut child, what);
    let out = child.wait_with_output().unwrap();
    (status.code(), stdout(&out), stderr(&out))
}

/// The lines a child prints, as they come.
fn lines_of(child: &mut Child) -> mpsc::Receiver<String> {
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// Reads lines until one satisfies `f`, or fails at the deadline. Returns every line read.
fn read_until(rx: &mpsc::Receiver<String>, what: &str, f: impl Fn(&str) -> bool) -> Vec<String> {
    let deadline = Instant::now() + DEADLINE;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                let done = f(&line);
                seen.push(line);
                if done {
                    return seen;
                }
            }
            Err(e) => panic!("waiting for {what}: {e}; lines so far: {seen:#?}"),
        }
    }
}

/// The one proposal with `action` that node `api` holds.
fn proposal_with_action(api: &ApiClient, action: &str) -> String {
    wait_for(&format!("a proposal {action}"), DEADLINE, || {
        let (_, page) = api.call("GET", &format!("/v1/proposals?action={action}"), None)?;
        Ok(page["proposals"][0]["id"].as_str().map(str::to_owned))
    })
    .unwrap()
}

fn write_json(path: &Path, v: &Value) -> String {
    std::fs::write(path, serde_json::to_vec_pretty(v).unwrap()).unwrap();
    path.display().to_string()
}

#[test]
fn propose_vote_certify_and_verify_offline_and_tampering_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = cluster(&dir.path().join("swarm"), 3, "2/3");
    c.start_all().unwrap();
    let api = ready_all(&mut c);
    let roster = dir.path().join("swarm").join("roster.toml");
    let roster = roster.display().to_string();

    let out = ok(&[
        "propose",
        "--action",
        "fs.delete",
        "--payload",
        r#"{"path":"/backup"}"#,
        "--data-dir",
        &data(&c, 0),
    ]);
    let id = out.trim().to_owned();
    assert!(
        id.len() == 64 && id.chars().all(|ch| ch.is_ascii_hexdigit()),
        "{out}"
    );
    wait_known(&api[1], &id);
    wait_known(&api[2], &id);
    let out = ok(&[
        "vote",
        &id,
        "yes",
        "--reason",
        "backup is stale",
        "--config",
        &config(&c, 1),
    ]);
    assert_eq!(out.trim(), format!("node1 voted yes on {id}"));
    let out = ok(&["vote", &id, "yes", "--data-dir", &data(&c, 2), "--json"]);
    let ballot: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(ballot["ballot"]["vote"], "yes", "{out}");
    assert_eq!(ballot["ballot"]["proposal"], id.as_str(), "{out}");
    wait_status(&api[0], &id, "approved");

    // The certificate, from the CLI to a file, verifies offline.
    let cert_text = ok(&["cert", &id, "--data-dir", &data(&c, 0)]);
    let cert_file = dir.path().join("cert.json");
    std::fs::write(&cert_file, &cert_text).unwrap();
    let cert_path = cert_file.display().to_string();
    let out = ok(&["verify-cert", &cert_path, "--roster", &roster]);
    for needle in [
        "certificate ok",
        id.as_str(),
        "fs.delete",
        "\"/backup\"",
        "2 of 3 signed yes (q = 2)",
        "node1",
        "node2",
        "\"backup is stale\"",
    ] {
        assert!(out.contains(needle), "{needle:?} not in {out}");
    }
    let summary: Value = serde_json::from_str(&ok(&[
        "verify-cert",
        &cert_path,
        "--roster",
        &roster,
        "--json",
    ]))
    .unwrap();
    let signers: Vec<&str> = summary["signers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    let mut sorted = signers.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, ["node1", "node2"], "{summary}");
    assert_eq!(summary["proposal"], id.as_str());
    assert_eq!(summary["payload"], json!({"path": "/backup"}));

    // Tampered certificates: each is refused with a message naming the problem.
    let original: Value = serde_json::from_str(&cert_text).unwrap();
    let tampered = |name: &str, v: &Value| write_json(&dir.path().join(name), v);

    // One byte of the payload: the proposal no longer matches its id...
    let mut v = original.clone();
    v["proposal"]["proposal"]["payload"]["path"] = json!("/backuq");
    let f = tampered("payload.json", &v);
    fails(
        &["verify-cert", &f, "--roster", &roster],
        &[&f, "proposal", "does not match"],
    );
    // ...and without the id to betray it, the proposer's signature fails.
    let obj = v["proposal"].as_object_mut().unwrap();
    obj.remove("id");
    let f = tampered("payload-no-id.json", &v);
    fails(
        &["verify-cert", &f, "--roster", &roster],
        &[&f, "proposal", "bad signature"],
    );

    // A ballot removed: below q.
    let mut v = original.clone();
    v["ballots"].as_array_mut().unwrap().pop();
    let f = tampered("removed.json", &v);
    fails(
        &["verify-cert", &f, "--roster", &roster],
        &[&f, "1 valid YES ballots, 2 are required"],
    );

    // A ballot from a non-member, in voter order so only membership can refuse it.
    let cert: Certificate = serde_json::from_value(original.clone()).unwrap();
    let stranger = SecretKey::from_seed([7; 32]);
    let forged = Ballot {
        swarm: c.roster.swarm().clone(),
        proposal: id.parse().unwrap(),
        voter: stranger.voter_id(),
        vote: Vote::Yes,
        reason: None,
    }
    .sign(&stranger);
    let mut ballots = cert.ballots().to_vec();
    ballots.push(forged);
    let forged_cert = Certificate::new(cert.proposal().clone(), ballots);
    let f = tampered(
        "stranger.json",
        &serde_json::to_value(&forged_cert).unwrap(),
    );
    fails(
        &["verify-cert", &f, "--roster", &roster],
        &[
            &f,
            "ballot #",
            &stranger.voter_id().to_string(),
            "not a member",
        ],
    );

    // A voter twice (q = 2 reached with one member).
    let mut v = original.clone();
    let ballots = v["ballots"].as_array_mut().unwrap();
    let first = ballots[0].clone();
    ballots.truncate(1);
    ballots.push(first.clone());
    let f = tampered("twice.json", &v);
    let voter = first["ballot"]["voter"].as_str().unwrap();
    let name = if voter == c.nodes[1].voter.to_string() {
        "node1"
    } else {
        "node2"
    };
    fails(
        &["verify-cert", &f, "--roster", &roster],
        &[&f, "ballot #1", voter, "more than once", name],
    );

    // A ballot that is not a ballot, named by index; a file that is not JSON; a missing
    // file; a file above the size cap; a roster the certificate does not commit to.
    let mut v = original.clone();
    v["ballots"][1]["ballot"]["vote"] = json!("maybe");
    let f = tampered("bad-vote.json", &v);
    fails(
        &["verify-cert", &f, "--roster", &roster],
        &[&f, "ballots[1]", "maybe"],
    );
    let f = dir.path().join("garbage.json");
    std::fs::write(&f, "{\"proposal\": ").unwrap();
    let f = f.display().to_string();
    fails(&["verify-cert", &f, "--roster", &roster], &[&f, "not JSON"]);
    let missing = dir.path().join("missing.json").display().to_string();
    fails(&["verify-cert", &missing, "--roster", &roster], &[&missing]);
    let big = dir.path().join("big.json");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(33 * 1024 * 1024)
        .unwrap();
    let big = big.display().to_string();
    fails(
        &["verify-cert", &big, "--roster", &roster],
        &[&big, "at most", "32 MiB"],
    );
    let other = cluster(&dir.path().join("other"), 3, "2/3");
    drop(other);
    let other_roster = dir.path().join("other").join("roster.toml");
    fails(
        &[
            "verify-cert",
            &cert_path,
            "--roster",
            &other_roster.display().to_string(),
        ],
        &[&cert_path, "commits to roster"],
    );
}

#[test]
fn propose_wait_exits_by_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = cluster(dir.path(), 3, "2/3");
    c.start_all().unwrap();
    let api = ready_all(&mut c);
    let node0 = data(&c, 0);

    // Approved: exit 0, the id, the outcome line and tally with names (via --config).
    let child = command(&[
        "propose",
        "--action",
        "deploy.approve",
        "--payload",
        r#"{"v":1}"#,
        "--wait",
        "--config",
        &config(&c, 0),
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let id = proposal_with_action(&api[1], "deploy.approve");
    wait_known(&api[2], &id);
    ok(&["vote", &id, "yes", "--data-dir", &data(&c, 1)]);
    ok(&["vote", &id, "yes", "--data-dir", &data(&c, 2)]);
    let (code, out, err) = collect(child, "propose --wait (approve)");
    assert_eq!(code, Some(0), "{out}{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], id, "{out}");
    assert_eq!(lines[1], "approved: 2 yes, 0 no (n = 3, q = 2)", "{out}");
    assert!(
        lines[2] == "  yes: node1, node2" || lines[2] == "  yes: node2, node1",
        "{out}"
    );

    // Rejected: exit 3.
    let child = command(&[
        "propose",
        "--action",
        "deploy.reject",
        "--payload",
        "{}",
        "--wait",
        "--json",
        "--data-dir",
        &node0,
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let id = proposal_with_action(&api[1], "deploy.reject");
    wait_known(&api[2], &id);
    ok(&["vote", &id, "no", "--data-dir", &data(&c, 1)]);
    ok(&["vote", &id, "no", "--data-dir", &data(&c, 2)]);
    let (code, out, err) = collect(child, "propose --wait (reject)");
    assert_eq!(code, Some(3), "{out}{err}");
    let answer: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(answer["id"], id.as_str());
    assert_eq!(answer["proposal"]["status"], "rejected", "{out}");

    // Expired: exit 4.
    let out = sv(&[
        "propose",
        "--action",
        "deploy.expire",
        "--payload",
        "{}",
        "--ttl-ms",
        "300",
        "--wait",
        "--data-dir",
        &node0,
    ]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("expired: 0 yes, 0 no"),
        "{}",
        stdout(&out)
    );

    // Still pending at the timeout: exit 4.
    let started = Instant::now();
    let out = sv(&[
        "propose",
        "--action",
        "deploy.slow",
        "--payload",
        "{}",
        "--wait",
        "--timeout-ms",
        "500",
        "--data-dir",
        &node0,
    ]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("still undecided after 500 ms"),
        "{}",
        stdout(&out)
    );
    assert!(started.elapsed() < Duration::from_secs(30));

    // Without --wait: submitted is success, whatever happens next.
    let out = ok(&[
        "propose",
        "--action",
        "x",
        "--payload",
        "[1,2]",
        "--json",
        "--data-dir",
        &node0,
    ]);
    let answer: Value = serde_json::from_str(&out).unwrap();
    assert!(
        answer["id"].is_string() && answer.get("proposal").is_none(),
        "{out}"
    );

    // A payload that is not JSON, and --timeout-ms without --wait (usage).
    fails(
        &[
            "propose",
            "--action",
            "x",
            "--payload",
            "{nope",
            "--data-dir",
            &node0,
        ],
        &["--payload", "not valid JSON"],
    );
    let out = sv(&[
        "propose",
        "--action",
        "x",
        "--payload",
        "{}",
        "--timeout-ms",
        "5",
        "--data-dir",
        &node0,
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    // A payload from a file.
    let file = dir.path().join("payload.json");
    std::fs::write(&file, r#"{ "from": "file" }"#).unwrap();
    let id = ok(&[
        "propose",
        "--action",
        "x.file",
        "--payload",
        &format!("@{}", file.display()),
        "--data-dir",
        &node0,
    ]);
    let p = api[0].proposal(id.trim()).unwrap().unwrap();
    assert_eq!(
        p["proposal"]["proposal"]["payload"],
        json!({"from": "file"})
    );
}

#[test]
fn proposals_show_and_status_print_what_the_node_holds() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = cluster(dir.path(), 3, "2/3");
    c.start_all().unwrap();
    let api = ready_all(&mut c);
    let (cfg0, data0) = (config(&c, 0), data(&c, 0));

    let approved = api[0]
        .propose("fs.delete", json!({"path": "/a"}), 600_000)
        .unwrap();
    wait_known(&api[1], &approved);
    wait_known(&api[2], &approved);
    ok(&[
        "vote",
        &approved,
        "yes",
        "--reason",
        "ok by me",
        "--data-dir",
        &data(&c, 1),
    ]);
    ok(&["vote", &approved, "yes", "--data-dir", &data(&c, 2)]);
    wait_status(&api[0], &approved, "approved");
    let pending = api[0].propose("deploy", json!({"v": 1}), 600_000).unwrap();
    let short0 = c.nodes[0].voter.to_string()[..8].to_owned();

    // The table, with names from the config's roster.
    let out = ok(&["proposals", "--config", &cfg0]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(
        lines[0].starts_with("ID") && lines[0].contains("STATUS"),
        "{out}"
    );
    // Newest first.
    let row = |id: &str| *lines.iter().find(|l| l.starts_with(id)).unwrap();
    assert!(lines[1].starts_with(&pending), "{out}");
    let a: Vec<&str> = row(&approved).split_whitespace().collect();
    assert_eq!(
        &a[1..6],
        ["approved", "2", "0", "fs.delete", "node0"],
        "{out}"
    );
    let p: Vec<&str> = row(&pending).split_whitespace().collect();
    assert_eq!(&p[1..6], ["pending", "0", "0", "deploy", "node0"], "{out}");
    // By data dir: no roster, short voter ids.
    let out = ok(&["proposals", "--data-dir", &data0]);
    assert!(out.contains(&short0) && !out.contains("node0"), "{out}");
    // Filters.
    let out = ok(&["proposals", "--status", "approved", "--data-dir", &data0]);
    assert!(out.contains(&approved) && !out.contains(&pending), "{out}");
    let out = ok(&["proposals", "--action", "deploy", "--data-dir", &data0]);
    assert!(out.contains(&pending) && !out.contains(&approved), "{out}");
    let out = ok(&["proposals", "--action", "none", "--data-dir", &data0]);
    assert!(out.contains("(no proposals)"), "{out}");
    // Paging: one per page, the cursor is offered; --all follows it.
    let out = ok(&["proposals", "--limit", "1", "--data-dir", &data0]);
    assert!(
        out.contains(&pending) && !out.contains(&approved) && out.contains("more: --cursor"),
        "{out}"
    );
    let all: Value = serde_json::from_str(&ok(&[
        "proposals",
        "--limit",
        "1",
        "--all",
        "--json",
        "--data-dir",
        &data0,
    ]))
    .unwrap();
    let ids: Vec<&str> = all["proposals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [pending.as_str(), approved.as_str()]);
    let page: Value = serde_json::from_str(&ok(&[
        "proposals",
        "--status",
        "approved",
        "--json",
        "--data-dir",
        &data0,
    ]))
    .unwrap();
    assert_eq!(page["proposals"].as_array().unwrap().len(), 1, "{page}");
    assert_eq!(page["proposals"][0]["id"], approved.as_str());
    assert_eq!(page["proposals"][0]["yes"], 2);
    // A status the CLI does not know is a usage error.
    let out = sv(&["proposals", "--status", "bogus", "--data-dir", &data0]);
    assert_eq!(out.status.code(), Some(2));

    // show
    let out = ok(&["show", &approved, "--config", &cfg0]);
    for needle in [
        format!("proposal   {approved}"),
        "action     fs.delete".into(),
        "\"path\": \"/a\"".into(),
        "proposer   node0".into(),
        "status     approved (decided ".into(),
        "tally      n = 3, q = 2, yes = 2, no = 0".into(),
        "ballots    2".into(),
        "equivocations  none".into(),
        "own ballot none".into(),
    ] {
        assert!(out.contains(&needle), "{needle:?} not in {out}");
    }
    let ballot_line = out.lines().find(|l| l.contains("node1")).unwrap();
    assert!(
        ballot_line.contains("yes") && ballot_line.contains("\"ok by me\""),
        "{out}"
    );
    assert!(
        out.lines().any(|l| l.trim() == "node2            yes"),
        "{out}"
    );
    let out = ok(&["show", &pending, "--data-dir", &data0]);
    assert!(
        out.contains("status     pending\n") && out.contains("ballots    0"),
        "{out}"
    );
    let report: Value =
        serde_json::from_str(&ok(&["show", &approved, "--json", "--data-dir", &data0])).unwrap();
    assert_eq!(report["status"], "approved");
    assert_eq!(report["ballots"].as_array().unwrap().len(), 2);
    assert_eq!(report["tally"]["q"], 2);

    // status
    let out = ok(&["status", "--config", &cfg0]);
    for needle in [
        format!("node       node0 (voter {})", c.nodes[0].voter),
        format!("version    {}", env!("CARGO_PKG_VERSION")),
        format!("peer id    {}", c.nodes[0].peer_id),
        "swarm      local: n = 3, q = 2".into(),
        "peers      2 connected, 2 admitted".into(),
        "proposals  pending 1, approved 1, rejected 0, expired 0".into(),
    ] {
        assert!(out.contains(&needle), "{needle:?} not in {out}");
    }
    for i in 1..3 {
        assert!(out.contains(&c.nodes[i].peer_id), "{out}");
    }
    let status: Value =
        serde_json::from_str(&ok(&["status", "--json", "--data-dir", &data0])).unwrap();
    assert_eq!(status["name"], "node0");
    assert_eq!(status["n"], 3);
    assert_eq!(status["counts"]["approved"], 1);
    assert_eq!(status["version"], env!("CARGO_PKG_VERSION"));
}

#[test]
fn watch_sees_a_decision_made_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = cluster(dir.path(), 3, "2/3");
    c.start_all().unwrap();
    let api = ready_all(&mut c);
    let spawn_watch = |args: &[&str]| {
        let mut child = command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let rx = lines_of(&mut child);
        (child, rx)
    };
    let (mut json_watch, json_lines) =
        spawn_watch(&["watch", "--json", "--data-dir", &data(&c, 0)]);
    let (mut human_watch, human_lines) = spawn_watch(&["watch", "--config", &config(&c, 0)]);

    // Submitted at node 1, decided by nodes 1 and 2: node 0's stream reports it.
    let id = api[1]
        .propose("fs.delete", json!({"path": "/w"}), 60_000)
        .unwrap();
    wait_known(&api[2], &id);
    assert_eq!(api[1].vote(&id, "yes").unwrap().0, 200);
    assert_eq!(api[2].vote(&id, "yes").unwrap().0, 200);
    let lines = read_until(&json_lines, "the decided event (json)", |l| {
        let v: Value = serde_json::from_str(l).unwrap();
        v["type"] == "decided" && v["proposal"] == id.as_str()
    });
    let events: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let decided = events.last().unwrap();
    assert_eq!(decided["verdict"], "approved");
    assert_eq!(decided["yes"], 2);
    assert!(
        events.iter().any(|e| e["type"] == "proposal_seen"
            && e["proposal"] == id.as_str()
            && e["local"] == false),
        "{lines:#?}"
    );
    // Stream ids increase.
    let ids: Vec<u64> = events.iter().map(|e| e["id"].as_u64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");

    let lines = read_until(&human_lines, "the decided event (human)", |l| {
        l.contains("decided") && l.contains(&id)
    });
    let last = lines.last().unwrap();
    assert!(
        last.contains("fs.delete approved") && last.contains("yes 2 no 0"),
        "{last}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("proposal_seen") && l.contains(&id) && l.contains("by node1")),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("ballot_accepted") && l.contains("node2 voted yes")),
        "{lines:#?}"
    );
    let _ = json_watch.kill();
    let _ = human_watch.kill();
    let _ = json_watch.wait();
    let _ = human_watch.wait();
}

fn event_id(line: &str) -> u64 {
    let v: Value = serde_json::from_str(line).unwrap();
    v["id"].as_u64().unwrap()
}

#[test]
fn watch_resumes_after_a_crash_and_gives_up_when_the_node_stays_down() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = cluster(dir.path(), 1, "1");
    c.start_all().unwrap();
    let api = c.wait_ready(0, 0, DEADLINE).unwrap();
    let node0 = data(&c, 0);
    let mut watch = command(&["watch", "--json", "--retries", "30", "--data-dir", &node0])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = lines_of(&mut watch);
    let first = api.propose("before", json!({}), 60_000).unwrap();
    let before = read_until(&lines, "the first proposal", |l| l.contains(&first));
    let last_before = event_id(before.last().unwrap());

    // SIGKILL and restart: the stream drops, api.addr and the old cookie stay behind,
    // the new node writes a new cookie. The watcher reconnects by itself and resumes.
    // (SIGKILL, not SIGTERM: see `a_node_stops_promptly_while_a_watcher_is_connected`.)
    c.kill(0).unwrap();
    c.start(0).unwrap();
    let api = c.wait_ready(0, 0, DEADLINE).unwrap();
    let second = api.propose("after", json!({}), 60_000).unwrap();
    let seen = read_until(&lines, "the proposal after the restart", |l| {
        l.contains(&second)
    });
    // Resumed after the last id seen: nothing older is replayed.
    assert!(
        seen.iter().all(|l| event_id(l) > last_before),
        "{last_before}: {seen:#?}"
    );
    let _ = watch.kill();
    let (_, _, err) = collect(watch, "the first watcher");
    assert!(err.contains("reconnecting"), "{err}");

    // A node that stays down: bounded retries, then exit 1.
    let mut watch = command(&["watch", "--retries", "2", "--data-dir", &node0])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Connected (the stream replays the node's events) before the node goes.
    let lines = lines_of(&mut watch);
    read_until(&lines, "the replayed proposal", |l| l.contains(&second));
    c.kill(0).unwrap();
    let (code, _, err) = collect(watch, "the watcher giving up");
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("gave up after 3 failed attempts") && err.contains("not running"),
        "{err}"
    );
}

/// Regression: an open `GET /v1/events` stream once kept a node from stopping (axum's
/// graceful shutdown waits for in-flight responses, and the live stream never ended).
/// Event streams now end when shutdown starts.
#[test]
fn a_node_stops_promptly_while_a_watcher_is_connected() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = cluster(dir.path(), 1, "1");
    c.start_all().unwrap();
    let api = c.wait_ready(0, 0, DEADLINE).unwrap();
    let id = api.propose("x", json!({}), 60_000).unwrap();
    let mut watch = command(&["watch", "--retries", "0", "--data-dir", &data(&c, 0)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = lines_of(&mut watch);
    read_until(&lines, "the watcher connected", |l| l.contains(&id));
    let started = Instant::now();
    let status = c.stop(0, Duration::from_secs(10)).unwrap().unwrap();
    assert!(
        status.success(),
        "the node did not exit by itself within 10 s of SIGTERM ({status:?}, {:?})",
        started.elapsed()
    );
    // The watcher then sees the stream end and, with no retries allowed, exits 1.
    let (code, _, err) = collect(watch, "the watcher");
    assert_eq!(code, Some(1), "{err}");
}

#[test]
fn errors_say_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = cluster(dir.path(), 1, "1");
    let node0 = data(&c, 0);
    let cfg0 = config(&c, 0);

    // No node running: the data dir does not exist yet, then exists without api.addr.
    fails(&["status", "--data-dir", &node0], &["not running", &node0]);
    std::fs::create_dir_all(&node0).unwrap();
    fails(
        &["status", "--data-dir", &node0],
        &["not running", "no api.addr", &node0],
    );
    fails(&["status", "--config", &cfg0], &["not running", &node0]);
    // A stale api.addr (a killed node leaves it): nothing answers there.
    let port = swarmvote_node::dev::cluster::free_port().unwrap();
    std::fs::write(
        Path::new(&node0).join("api.addr"),
        format!("127.0.0.1:{port}\n"),
    )
    .unwrap();
    std::fs::write(Path::new(&node0).join("api.cookie"), "x").unwrap();
    fails(
        &["show", &"ab".repeat(32), "--data-dir", &node0],
        &[
            "not running",
            "nothing answers",
            &format!("127.0.0.1:{port}"),
            &node0,
        ],
    );
    // Usage errors: exit 2.
    assert_eq!(sv(&["status"]).status.code(), Some(2));
    assert_eq!(
        sv(&["status", "--data-dir", &node0, "--config", &cfg0])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(sv(&["vote", "--data-dir", &node0]).status.code(), Some(2));
    assert_eq!(
        sv(&["vote", &"ab".repeat(32), "maybe", "--data-dir", &node0])
            .status
            .code(),
        Some(2)
    );

    c.start_all().unwrap();
    let api = c.wait_ready(0, 0, DEADLINE).unwrap();
    // Unknown and malformed proposal ids are named.
    let unknown = "cd".repeat(32);
    fails(
        &["show", &unknown, "--data-dir", &node0],
        &["unknown proposal", &unknown, "404"],
    );
    fails(
        &["vote", &unknown, "yes", "--data-dir", &node0],
        &["unknown proposal", &unknown],
    );
    fails(
        &["cert", &unknown, "--data-dir", &node0],
        &["unknown proposal", &unknown],
    );
    fails(
        &["show", "not-an-id", "--data-dir", &node0],
        &["proposal id \"not-an-id\"", "64 hex"],
    );
    // A certificate of a proposal that is not approved.
    let id = api.propose("x", json!({}), 60_000).unwrap();
    fails(
        &["cert", &id, "--data-dir", &node0],
        &[&id, "not approved", "409"],
    );
    // Voting twice the other way.
    ok(&["vote", &id, "yes", "--data-dir", &node0]);
    fails(&["vote", &id, "no", "--data-dir", &node0], &["409"]);

    // A wrong token: the message says so and where the token came from.
    let cookie = Path::new(&node0).join("api.cookie");
    let good = std::fs::read_to_string(&cookie).unwrap();
    std::fs::write(&cookie, "wrong").unwrap();
    fails(
        &["status", "--data-dir", &node0],
        &["token", &cookie.display().to_string(), "wrong"],
    );
    std::fs::write(&cookie, good).unwrap();
    ok(&["status", "--data-dir", &node0]);
    // A config with a bad field is named.
    let bad_config = dir.path().join("bad.toml");
    std::fs::write(&bad_config, "data_dir = 3\n").unwrap();
    let bad_config = bad_config.display().to_string();
    fails(
        &["status", "--config", &bad_config],
        &[&bad_config, "data_dir"],
    );
}
