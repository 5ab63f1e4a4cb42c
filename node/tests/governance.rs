//! Roster changes by quorum (roster epochs) with real `swarmvote run` processes on
//! 127.0.0.1: a member added by proposal joins and votes under the new quorum; a stolen
//! key is removed and no longer counts; a key is rotated; a node that slept through two
//! changes catches up and verifies them; forged steps and truncated chains are refused.
//!
//! Changes are proposed with the CLI (`swarmvote roster propose`), and approved by YES
//! votes through the nodes' APIs (the nodes' evaluators are manual). Every wait is on a
//! condition with a deadline; dropping a cluster kills its nodes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use swarmvote_node::daemon::store::Store;
use swarmvote_node::dev::cluster::{ApiClient, Cluster, ClusterOptions, ClusterSpec, wait_for};
use swarmvote_node::keyfile;
use swarmvote_protocol::engine::Record;
use swarmvote_protocol::{Ballot, Certificate, ProposalId, SecretKey, Vote};

mod common;
use common::webhook::{wait_hooks, webhook_server};
use common::{DEADLINE, fails, ok, ready_all, wait_status};

/// Nodes 1 and up vote YES on `ops.gated` by policy (and on nothing else).
const GATED_YES: &str =
    "[evaluator]\nkind = \"policy\"\n[[evaluator.rules]]\naction = \"ops.gated\"\nvote = \"yes\"\n";

/// A cluster of `n` nodes at 2/3, the last `joiners` of them not in the genesis roster.
fn cluster(dir: &Path, n: usize, joiners: usize) -> Cluster {
    cluster_with_node0(dir, n, joiners, "")
}

/// [`cluster`], with `node0` appended to node 0's config.
fn cluster_with_node0(dir: &Path, n: usize, joiners: usize, node0: &str) -> Cluster {
    Cluster::create_with(
        &ClusterSpec {
            binary: Path::new(env!("CARGO_BIN_EXE_swarmvote")),
            dir,
            nodes: n,
            quorum: "2/3",
            extra: &|i| {
                if i > 0 {
                    GATED_YES.to_owned()
                } else {
                    node0.to_owned()
                }
            },
        },
        &ClusterOptions {
            joiners,
            ..ClusterOptions::default()
        },
    )
    .unwrap()
}

fn config(c: &Cluster, i: usize) -> String {
    c.nodes[i].config.display().to_string()
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

/// `swarmvote roster propose` at node `i`; the proposal id.
fn propose_change(c: &Cluster, i: usize, flags: &[&str]) -> String {
    let mut args = vec!["roster", "propose", "--config"];
    let cfg = config(c, i);
    args.push(&cfg);
    args.extend_from_slice(flags);
    ok(&args).trim().to_owned()
}

/// Waits until every client knows proposal `id`.
fn wait_known(api: &[&ApiClient], id: &str) {
    for a in api {
        wait_for(&format!("{id} known"), DEADLINE, || {
            Ok(a.proposal(id)?.map(|_| ()))
        })
        .unwrap();
    }
}

/// YES from each of `voters` through its API.
fn yes(voters: &[&ApiClient], id: &str) {
    wait_known(voters, id);
    for v in voters {
        let (status, body) = v.vote(id, "yes").unwrap();
        assert_eq!(status, 200, "{body}");
    }
}

/// Waits until the node behind `api` is at `epoch`; returns its status.
fn wait_epoch(api: &ApiClient, epoch: u64) -> Value {
    wait_for(&format!("epoch {epoch}"), DEADLINE, || {
        let s = api.status()?;
        Ok((s["epoch"] == epoch).then_some(s))
    })
    .unwrap()
}

fn roster(api: &ApiClient) -> Value {
    let (status, body) = api.call("GET", "/v1/roster", None).unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

fn history(api: &ApiClient) -> Value {
    let (status, body) = api.call("GET", "/v1/roster/history", None).unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

fn write_json(p: &Path, v: &Value) -> String {
    std::fs::write(p, serde_json::to_string_pretty(v).unwrap()).unwrap();
    path(p)
}

/// Voter ids of a certificate's ballots.
fn signers(cert: &Value) -> Vec<String> {
    cert["ballots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["ballot"]["voter"].as_str().unwrap().to_owned())
        .collect()
}

/// A new member's node starts from the genesis roster with a key no roster lists
/// (`[network] join = true`), signs nothing, is added by a proposal approved by 2 of 3,
/// and then is needed by the new quorum (3 of 4) and counted in the certificate.
#[test]
fn a_fourth_member_joins_by_proposal_and_votes_under_the_new_quorum() {
    let dir = tempfile::tempdir().unwrap();
    let (port, hooks) = webhook_server();
    let hook = format!(
        "[webhook]\nurl = \"http://127.0.0.1:{port}/hook\"\nsecret = \"governance-test-secret\"\n"
    );
    let mut c = cluster_with_node0(dir.path(), 4, 1, &hook);
    c.start_all().unwrap();
    let api = ready_all(&mut c, 3);
    let watched = |a: &ApiClient| -> Vec<Value> {
        let s = a.status().unwrap();
        s["health"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["name"].clone())
            .collect()
    };
    assert!(!watched(&api[0]).contains(&json!("node3")));
    let genesis = roster(&api[0]);
    assert_eq!(
        (genesis["epoch"].as_u64(), genesis["n"].as_u64()),
        (Some(0), Some(3))
    );
    // The joiner runs, follows, and signs nothing yet.
    let s3 = api[3].status().unwrap();
    assert_eq!(
        (s3["member"].clone(), s3["epoch"].clone()),
        (json!(false), json!(0))
    );
    assert!(
        c.nodes[3]
            .log_text()
            .lines()
            .any(|l| l.contains("WARN") && l.contains("joining")),
        "{}",
        c.nodes[3].log_text()
    );
    let early = api[0].propose("ops.test", json!({"n": 0}), 60_000).unwrap();
    wait_known(&[&api[3]], &early);
    let (status, body) = api[3].vote(&early, "yes").unwrap();
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (403, json!("not_a_member"))
    );

    let key3 = c.nodes[3].voter.to_string();
    let change = propose_change(&c, 0, &["--add", &format!("node3={key3}")]);
    yes(&[&api[0], &api[1]], &change);
    for a in &api {
        let s = wait_epoch(a, 1);
        assert_eq!(s["n"], 4, "{s}");
        assert_eq!(s["q"], 3, "{s}");
    }
    let head = roster(&api[3]);
    assert_eq!(head["epoch"], 1);
    assert_eq!(head["previous"], genesis["digest"]);
    assert_eq!(head["proposal"].as_str(), Some(change.as_str()));
    assert!(
        head["members"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == "node3")
    );
    assert!(
        head["tiers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["applies_to"] == "swarmvote.roster")
    );
    assert_eq!(api[3].status().unwrap()["member"], true);
    // The health monitor watches the new member, and the webhook says who joined.
    assert!(watched(&api[0]).contains(&json!("node3")));
    let got = wait_hooks(&hooks, 1);
    let body: Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!(body["event"], "roster_epoch_changed", "{body}");
    assert_eq!(body["epoch"], 1);
    assert_eq!(body["proposal"].as_str(), Some(change.as_str()));
    assert_eq!(body["added"], json!([{"name": "node3", "voter": key3}]));
    assert_eq!(body["removed"], json!([]));

    // Decided with the new quorum: two YES are not enough, the new member's is the third.
    let p = api[1].propose("ops.test", json!({"n": 1}), 60_000).unwrap();
    yes(&[&api[0], &api[1]], &p);
    wait_for("two YES counted", DEADLINE, || {
        Ok(api[2]
            .proposal(&p)?
            .filter(|r| r["tally"]["yes"].as_array().map(Vec::len) == Some(2)))
    })
    .unwrap();
    assert_eq!(api[2].proposal(&p).unwrap().unwrap()["status"], "pending");
    yes(&[&api[3]], &p);
    wait_status(&api[2], &p, "approved");
    let cert = api[2].certificate(&p).unwrap();
    assert!(signers(&cert).contains(&key3), "{cert}");

    // The certificate verifies offline against the genesis roster and the chain, and
    // not against the genesis roster alone.
    let cert_file = write_json(&dir.path().join("cert.json"), &cert);
    let chain_file = dir.path().join("chain.json");
    std::fs::write(
        &chain_file,
        ok(&["roster", "history", "--config", &config(&c, 3), "--json"]),
    )
    .unwrap();
    let genesis_file = path(&dir.path().join("roster.toml"));
    let out = ok(&[
        "verify-cert",
        &cert_file,
        "--roster",
        &genesis_file,
        "--chain",
        &path(&chain_file),
    ]);
    assert!(out.contains("certificate ok"), "{out}");
    fails(
        &["verify-cert", &cert_file, "--roster", &genesis_file],
        &["commits to roster", "--chain"],
    );
    let text = ok(&["roster", "history", "--config", &config(&c, 0)]);
    assert!(text.contains("epoch 1") && text.contains(&change), "{text}");
    assert!(text.contains("node0") && text.contains("node1"), "{text}");

    // `gate exec` checks an epoch-1 certificate through the node's chain, from the
    // roster file it trusts (nodes 1 to 3 approve `ops.gated` by policy).
    ok(&[
        "gate",
        "exec",
        "--config",
        &config(&c, 0),
        "--action",
        "ops.gated",
        "--payload",
        "{}",
        "--",
        "true",
    ]);
}

/// A member whose key was stolen is removed; afterwards the node holding the key cannot
/// vote through its API, and a ballot the thief signs with it does not count.
#[test]
fn a_stolen_key_is_removed_and_its_ballots_no_longer_count() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = cluster(dir.path(), 3, 0);
    c.start_all().unwrap();
    let api = ready_all(&mut c, 2);
    // Changes that cannot be are refused before anything is sent, naming the problem.
    let cfg = config(&c, 0);
    let propose = |flags: &[&str]| -> Vec<String> {
        let mut args: Vec<String> = ["roster", "propose", "--config", &cfg]
            .map(str::to_owned)
            .to_vec();
        args.extend(flags.iter().map(|f| (*f).to_owned()));
        args
    };
    let refused = |flags: &[&str], needles: &[&str]| {
        let args = propose(flags);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        fails(&args, needles);
    };
    refused(
        &["--remove", "ghost"],
        &["--remove ghost", "no member", "epoch 0"],
    );
    refused(
        &[
            "--remove", "node0", "--remove", "node1", "--remove", "node2",
        ],
        &["next roster would be invalid"],
    );
    let key1 = c.nodes[1].voter.to_string();
    refused(
        &["--add", &format!("node9={key1}")],
        &["--add node9", "node1"],
    );
    refused(&["--rotate", "node2=beef"], &["--rotate", "invalid key"]);
    assert_eq!(api[0].status().unwrap()["counts"]["pending"], 0);
    let change = propose_change(&c, 0, &["--remove", "node2"]);
    yes(&[&api[0], &api[1]], &change);
    for a in &api {
        let s = wait_epoch(a, 1);
        assert_eq!(
            (s["n"].clone(), s["q"].clone()),
            (json!(2), json!(2)),
            "{s}"
        );
    }
    assert_eq!(api[2].status().unwrap()["member"], false);

    let p = api[0]
        .propose("ops.test", json!({"after": "removal"}), 120_000)
        .unwrap();
    wait_known(&[&api[1], &api[2]], &p);
    // The removed key's node refuses to sign for it.
    let (status, body) = api[2].vote(&p, "yes").unwrap();
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (403, json!("not_a_member")),
        "{body}"
    );
    // The thief signs a YES with the stolen key; it reaches node1's store (planted while
    // node1 is stopped, as catch-up or gossip would deliver it).
    yes(&[&api[0]], &p);
    c.stop(1, Duration::from_secs(10)).unwrap();
    let stolen = keyfile::read_secret_key(&c.nodes[2].dir.join("voter.key")).unwrap();
    let thief = Ballot {
        swarm: c.roster.swarm().clone(),
        proposal: p.parse::<ProposalId>().unwrap(),
        voter: stolen.voter_id(),
        vote: Vote::Yes,
        reason: None,
    }
    .sign(&stolen);
    {
        let (mut store, _) = Store::open(&c.nodes[1].dir.join("data")).unwrap();
        store.apply(&Record::Ballot(Arc::new(thief))).unwrap();
        store.sync().unwrap();
        store.flush().unwrap();
    }
    c.start(1).unwrap();
    let n1 = c.wait_ready(1, 2, DEADLINE).unwrap();
    // One honest YES and the thief's: still pending (q = 2 of the two members left).
    wait_for("node1 back with node0's YES", DEADLINE, || {
        Ok(n1
            .proposal(&p)?
            .filter(|r| r["tally"]["yes"].as_array().map(Vec::len) == Some(1)))
    })
    .unwrap();
    let r = n1.proposal(&p).unwrap().unwrap();
    assert_eq!(r["status"], "pending", "{r}");
    let stolen_id = stolen.voter_id().to_string();
    assert!(
        !r["tally"]["yes"]
            .as_array()
            .unwrap()
            .contains(&json!(stolen_id)),
        "{r}"
    );
    assert!(
        c.nodes[1]
            .log_text()
            .lines()
            .any(|l| l.contains("stored record skipped") && l.contains(&p)),
        "node1 names the refused ballot: {}",
        c.nodes[1].log_text()
    );
    yes(&[&n1], &p);
    wait_status(&api[0], &p, "approved");
    let cert = api[0].certificate(&p).unwrap();
    let mut got = signers(&cert);
    got.sort();
    let mut want = vec![c.nodes[0].voter.to_string(), c.nodes[1].voter.to_string()];
    want.sort();
    assert_eq!(got, want);
}

/// node2's key is rotated by a proposal; its node restarts with the new key file (its
/// store holds the step that lists it) and votes under the new epoch.
#[test]
fn a_rotated_key_votes_under_the_new_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = cluster(dir.path(), 3, 0);
    c.start_all().unwrap();
    let api = ready_all(&mut c, 2);
    let new_key = SecretKey::from_seed([42; 32]);
    let new_file = c.nodes[2].dir.join("voter2.key");
    keyfile::write_secret_key(&new_file, &new_key).unwrap();
    let new_pub = new_key.public().unwrap().to_string();
    // Proposed with --wait-s: the command waits for the verdict while the members vote.
    let cfg = config(&c, 0);
    let rotate = format!("node2={new_pub}");
    let waiting = Command::new(env!("CARGO_BIN_EXE_swarmvote"))
        .args([
            "roster", "propose", "--config", &cfg, "--rotate", &rotate, "--wait-s", "60",
        ])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let change = wait_for("the roster change proposed", DEADLINE, || {
        let page = api[0]
            .call("GET", "/v1/proposals?action=swarmvote.roster", None)?
            .1;
        Ok(page["proposals"][0]["id"].as_str().map(str::to_owned))
    })
    .unwrap();
    yes(&[&api[0], &api[1]], &change);
    let out = waiting.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stdout.starts_with(&change) && stdout.contains("approved"),
        "{stdout}"
    );
    assert!(stderr.contains("epoch 0 -> 1"), "{stderr}");
    for a in &api {
        wait_epoch(a, 1);
    }
    // The old key is out: node2 says so and signs nothing new.
    assert_eq!(api[2].status().unwrap()["member"], false);
    c.stop(2, Duration::from_secs(10)).unwrap();
    let cfg = std::fs::read_to_string(&c.nodes[2].config).unwrap();
    std::fs::write(
        &c.nodes[2].config,
        cfg.replace("key_file = \"voter.key\"", "key_file = \"voter2.key\""),
    )
    .unwrap();
    c.start(2).unwrap();
    let n2 = c.wait_ready(2, 2, DEADLINE).unwrap();
    let s = n2.status().unwrap();
    assert_eq!(s["voter"], json!(new_key.voter_id().to_string()), "{s}");
    assert_eq!(
        (s["member"].clone(), s["epoch"].clone(), s["name"].clone()),
        (json!(true), json!(1), json!("node2"))
    );

    let p = api[0]
        .propose("ops.test", json!({"rotated": true}), 60_000)
        .unwrap();
    yes(&[&n2, &api[0]], &p);
    wait_status(&api[1], &p, "approved");
    let cert = api[1].certificate(&p).unwrap();
    assert!(
        signers(&cert).contains(&new_key.voter_id().to_string()),
        "{cert}"
    );
}

/// node2 is down while the swarm changes its roster twice; restarted, it catches the
/// chain up (verifying each step against the roster before), shows both steps in
/// `roster history`, and votes under epoch 2. A certificate of epoch 2 does not verify
/// against a chain truncated after epoch 1.
#[test]
fn a_node_down_during_two_changes_catches_up_and_verifies_both() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = cluster(dir.path(), 3, 0);
    c.start_all().unwrap();
    let api = ready_all(&mut c, 2);
    c.stop(2, Duration::from_secs(10)).unwrap();
    let first = propose_change(&c, 0, &["--quorum", "1/2"]);
    yes(&[&api[0], &api[1]], &first);
    wait_epoch(&api[1], 1);
    let extra = SecretKey::from_seed([7; 32]).public().unwrap().to_string();
    let second = propose_change(&c, 1, &["--add", &format!("spare={extra}")]);
    yes(&[&api[0], &api[1]], &second);
    let head0 = wait_epoch(&api[0], 2);
    assert_eq!(
        (head0["n"].clone(), head0["q"].clone()),
        (json!(4), json!(2))
    );

    c.start(2).unwrap();
    let n2 = c.wait_ready(2, 2, DEADLINE).unwrap();
    let s = wait_epoch(&n2, 2);
    assert_eq!(s["roster_digest"], head0["roster_digest"]);
    let h = history(&n2);
    let steps = h["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2, "{h}");
    assert_eq!(steps[0]["proposal"].as_str(), Some(first.as_str()));
    assert_eq!(steps[1]["proposal"].as_str(), Some(second.as_str()));
    assert_eq!(steps[1]["previous"], steps[0]["digest"]);
    assert!(steps.iter().all(|s| s["superseded"] == false));
    let text = ok(&["roster", "history", "--config", &config(&c, 2)]);
    assert!(text.contains(&first) && text.contains(&second), "{text}");

    // node2 votes under epoch 2: with node0, 2 of 4 approve.
    let p = api[0]
        .propose("ops.test", json!({"epoch": 2}), 60_000)
        .unwrap();
    yes(&[&n2, &api[0]], &p);
    wait_status(&api[1], &p, "approved");
    let cert_file = write_json(
        &dir.path().join("cert.json"),
        &api[1].certificate(&p).unwrap(),
    );
    let genesis = path(&dir.path().join("roster.toml"));
    let full = write_json(&dir.path().join("chain.json"), &h);
    ok(&[
        "verify-cert",
        &cert_file,
        "--roster",
        &genesis,
        "--chain",
        &full,
    ]);
    let mut cut = h.clone();
    cut["steps"].as_array_mut().unwrap().truncate(1);
    let truncated = write_json(&dir.path().join("truncated.json"), &cut);
    fails(
        &[
            "verify-cert",
            &cert_file,
            "--roster",
            &genesis,
            "--chain",
            &truncated,
        ],
        &[&cert_file, "does not reach", "truncated", "up to epoch 1"],
    );
}

/// A step whose certificate lost a ballot is refused: by `verify-cert --chain`, naming
/// the step, and by a node that finds it in its store (it stays at epoch 0 until the
/// genuine step arrives from its peers).
#[test]
fn a_forged_roster_step_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = cluster(dir.path(), 3, 0);
    c.start_all().unwrap();
    let api = ready_all(&mut c, 2);
    c.stop(2, Duration::from_secs(10)).unwrap();
    let change = propose_change(&c, 0, &["--quorum", "1/2"]);
    yes(&[&api[0], &api[1]], &change);
    wait_status(&api[0], &change, "approved");
    let genuine = api[0].certificate(&change).unwrap();
    let mut forged = genuine.clone();
    forged["ballots"].as_array_mut().unwrap().truncate(1);

    // Offline: a chain file with the forged step.
    let genesis = path(&dir.path().join("roster.toml"));
    let mut h = history(&api[0]);
    h["steps"][0]["certificate"] = forged.clone();
    let chain = write_json(&dir.path().join("forged.json"), &h);
    let cert = write_json(&dir.path().join("cert.json"), &genuine);
    fails(
        &[
            "verify-cert",
            &cert,
            "--roster",
            &genesis,
            "--chain",
            &chain,
        ],
        &[
            &chain,
            "roster step refused",
            &change,
            "to epoch 1",
            "1 valid YES ballots, 2 are required",
        ],
    );

    // A node whose store holds the forged step, alone: it refuses the step and stays
    // at the genesis roster.
    let forged: Certificate = serde_json::from_value(forged).unwrap();
    {
        let (mut store, _) = Store::open(&c.nodes[2].dir.join("data")).unwrap();
        store.apply(&Record::RosterStep(Arc::new(forged))).unwrap();
        store.sync().unwrap();
        store.flush().unwrap();
    }
    c.stop(0, Duration::from_secs(10)).unwrap();
    c.stop(1, Duration::from_secs(10)).unwrap();
    c.start(2).unwrap();
    let n2 = c.wait_ready(2, 0, DEADLINE).unwrap();
    let s = n2.status().unwrap();
    assert_eq!(s["epoch"], 0, "{s}");
    assert_eq!(history(&n2)["steps"], json!([]));
    let log = c.nodes[2].log_text();
    assert!(
        log.lines().any(|l| l.contains("stored record skipped")
            && l.contains(&format!("roster step {change}"))
            && l.contains("2 are required")),
        "{log}"
    );
    // Its peers back, it fetches the genuine step.
    c.start(0).unwrap();
    c.start(1).unwrap();
    let n2 = c.wait_ready(2, 2, DEADLINE).unwrap();
    wait_epoch(&n2, 1);
    let h = history(&n2);
    assert_eq!(h["steps"][0]["certificate"], genuine, "{h}");
}
