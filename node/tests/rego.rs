//! The `rego` evaluator with real processes: `swarmvote policy test` runs the example
//! policy's cases (and fails on a wrong expectation), `rego` nodes vote yes and no with
//! their policy's reasons, a policy that fails casts no vote and warns with its file and
//! line, and a policy that does not compile is refused by `config check` and at start.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::json;
use swarmvote_node::dev::cluster::wait_for;

mod common;
use common::{DEADLINE, ballots, cluster_with as cluster, ready_all, voter, wait_status};

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

/// The repository's `configs/policies/`.
fn policies() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/policies")
}

fn swarmvote(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_swarmvote"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn the_example_policy_passes_its_cases() {
    let policy = policies().join("swarmvote.rego");
    let cases = policies().join("swarmvote.cases.toml");
    let out = swarmvote(&[
        "policy",
        "test",
        "--policy",
        policy.to_str().unwrap(),
        "--cases",
        cases.to_str().unwrap(),
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines.len() >= 15, "{stdout}");
    assert!(lines.iter().all(|l| l.starts_with("ok   ")), "{stdout}");
    assert!(
        stdout.contains("no: /backup/db-2026-01-01.tar is a backup: backups are protected"),
        "{stdout}"
    );
}

#[test]
fn policy_test_fails_on_a_wrong_expectation_or_a_broken_sample() {
    let dir = tempfile::tempdir().unwrap();
    let policy = policies().join("swarmvote.rego");
    let policy = policy.to_str().unwrap();
    let cases = dir.path().join("cases.toml");
    std::fs::write(
        &cases,
        "[[case]]\nname = \"backups are fine, says nobody\"\nproposal = { action = \"fs.delete\", payload = { path = \"/backup/a\" } }\nvote = \"yes\"\n\n\
         [[case]]\nname = \"wrong reason\"\nproposal = { action = \"fs.delete\", payload = { path = \"/backup/a\" } }\nvote = \"no\"\nreason = \"because\"\n\n\
         [[case]]\nname = \"fine\"\nproposal = { action = \"x.y\" }\nvote = \"yes\"\n",
    )
    .unwrap();
    let out = swarmvote(&[
        "policy",
        "test",
        "--policy",
        policy,
        "--cases",
        cases.to_str().unwrap(),
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("FAIL") && stdout.contains("case 1 (backups are fine, says nobody): expected yes, got no: /backup/a is a backup"),
        "{stdout}"
    );
    assert!(
        stdout.contains("case 2 (wrong reason): expected a reason containing \"because\""),
        "{stdout}"
    );
    assert!(
        stdout.contains("ok   ") && stdout.contains("case 3 (fine)"),
        "{stdout}"
    );
    assert!(
        text(&out.stderr).contains("2 of 3 failed"),
        "{}",
        text(&out.stderr)
    );

    // Samples: each file's verdict; one without an action is an error, and fails the run.
    let good = dir.path().join("good.json");
    std::fs::write(
        &good,
        r#"{"action": "iam.grant", "payload": {"role": "admin"}}"#,
    )
    .unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"payload": {}}"#).unwrap();
    let args = ["policy", "test", "--policy", policy, "--proposal"];
    let out = swarmvote(&[&args[..], &[good.to_str().unwrap()]].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("good.json: no: granting admin is refused"),
        "{}",
        text(&out.stdout)
    );
    let out = swarmvote(
        &[
            &args[..],
            &[good.to_str().unwrap(), "--proposal", bad.to_str().unwrap()],
        ]
        .concat(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout)
            .contains("bad.json: error: not a sample proposal: missing field `action`"),
        "{}",
        text(&out.stdout)
    );
}

/// Node 2's policy, at another entry point: it names the proposer, and on `x.loop` runs
/// past the instruction cap (a policy error: no vote, a warning).
const CUSTOM: &str = r#"package custom

verdict := {"vote": "yes", "reason": sprintf("%s may %s", [input.proposer.name, input.action])} if {
	not startswith(object.get(input.payload, "path", ""), "/backup/")
	input.action != "x.loop"
}

verdict := {"vote": "no", "reason": "not the backups"} if startswith(object.get(input.payload, "path", ""), "/backup/")

verdict := {"vote": "yes"} if {
	input.action == "x.loop"
	count([1 | some i in numbers.range(1, 2000); some j in numbers.range(1, 2000); i != j]) > 0
}
"#;

#[test]
fn rego_nodes_vote_with_their_policies_reasons_and_a_failing_policy_casts_no_vote() {
    let dir = tempfile::tempdir().unwrap();
    // Relative paths: against each node's config file, in `dir/node<i>/`.
    std::fs::copy(
        policies().join("swarmvote.rego"),
        dir.path().join("swarmvote.rego"),
    )
    .unwrap();
    std::fs::write(dir.path().join("custom.rego"), CUSTOM).unwrap();
    let extra = |i: usize| {
        match i {
        1 => "[evaluator]\nkind = \"rego\"\npolicy = \"../swarmvote.rego\"\n".to_owned(),
        2 => "[evaluator]\nkind = \"rego\"\npolicy = \"../custom.rego\"\nentrypoint = \"data.custom.verdict\"\n".to_owned(),
        _ => String::new(),
    }
    };
    let mut c = cluster(dir.path(), 3, "2/3", &extra);
    c.start_all().unwrap();
    let api = ready_all(&mut c, 2);

    let bad = api[0]
        .propose("fs.delete", json!({"path": "/backup/db.tar"}), 60_000)
        .unwrap();
    let p = wait_status(&api[0], &bad, "rejected");
    let mut want = vec![
        (
            voter(&c, 1),
            "no".to_owned(),
            Some("/backup/db.tar is a backup: backups are protected".to_owned()),
        ),
        (
            voter(&c, 2),
            "no".to_owned(),
            Some("not the backups".to_owned()),
        ),
    ];
    want.sort();
    assert_eq!(sorted(ballots(&p)), want, "{p}");

    let fine = api[0]
        .propose("service.restart", json!({"name": "web-1"}), 60_000)
        .unwrap();
    let p = wait_status(&api[0], &fine, "approved");
    let mut want = vec![
        (
            voter(&c, 1),
            "yes".to_owned(),
            Some("no rule of the policy refuses it".to_owned()),
        ),
        (
            voter(&c, 2),
            "yes".to_owned(),
            Some("node0 may service.restart".to_owned()),
        ),
    ];
    want.sort();
    assert_eq!(sorted(ballots(&p)), want, "{p}");

    // Node 2's policy runs past its cap: a warning naming the file and line, no vote.
    let looping = api[0].propose("x.loop", json!({}), 60_000).unwrap();
    let line = wait_for("node2 warns", DEADLINE, || {
        Ok(c.nodes[2]
            .log_text()
            .lines()
            .find(|l| l.contains("rego policy cast no vote"))
            .map(str::to_owned))
    })
    .unwrap();
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains("custom.rego:12:"), "{line}");
    assert!(line.contains("instructions"), "{line}");
    assert!(line.contains(&looping[..8]), "{line}");
    let p = wait_for("node2 holds x.loop", DEADLINE, || api[2].proposal(&looping)).unwrap();
    assert!(p["own_ballot"].is_null(), "{p}");
    assert_eq!(p["status"], "pending", "{p}");
}

#[test]
fn a_policy_that_does_not_compile_is_refused_by_config_check_and_at_start() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("broken.rego"),
        "package swarmvote\n\ndecision := {\"vote\": \"yes\"} if {\n\tinput.action ==\n}\n",
    )
    .unwrap();
    let extra = |i: usize| match i {
        0 => "[evaluator]\nkind = \"rego\"\npolicy = \"../broken.rego\"\n".to_owned(),
        _ => "[evaluator]\nkind = \"rego\"\npolicy = \"../missing.rego\"\n".to_owned(),
    };
    let c = cluster(dir.path(), 2, "2/2", &extra);
    for args in [
        vec!["config", "check", c.nodes[0].config.to_str().unwrap()],
        vec!["run", "--config", c.nodes[0].config.to_str().unwrap()],
    ] {
        let out = swarmvote(&args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains("field `evaluator`: evaluator.policy: ")
                && stderr.contains("/broken.rego:5:1: expecting expression"),
            "{args:?}: {stderr}"
        );
    }
    let out = swarmvote(&["config", "check", c.nodes[1].config.to_str().unwrap()]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("evaluator.policy: cannot read") && stderr.contains("missing.rego"),
        "{stderr}"
    );
}
