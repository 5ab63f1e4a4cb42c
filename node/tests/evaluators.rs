//! Evaluators and the gated executor with real `swarmvote run` processes on 127.0.0.1:
//! policy votes with reasons, the command evaluator (verdicts, timeouts, garbage), and
//! the executor (certificate handed over, never for rejected or expired proposals, at most
//! once across a SIGKILL and a clean restart).
//!
//! Test programs are small shell scripts written into each test's temp dir. Every wait
//! is on a condition with a deadline; dropping a cluster kills its nodes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use swarmvote_node::dev::cluster::{ApiClient, Cluster, wait_for};
use swarmvote_protocol::Certificate;

mod common;
use common::{
    DEADLINE, DEPLOY_POLICY, ballots, cluster_with as cluster, ready_all, voter, wait_status,
};

/// Writes an executable shell script.
fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// A TOML basic string.
fn s(text: impl AsRef<str>) -> String {
    format!(
        "\"{}\"",
        text.as_ref().replace('\\', "\\\\").replace('"', "\\\"")
    )
}

fn p(path: &Path) -> String {
    s(path.display().to_string())
}

fn command_evaluator(argv: &[String], timeout_ms: u64) -> String {
    format!(
        "[evaluator]\nkind = \"command\"\ncommand = [{}]\ntimeout_ms = {timeout_ms}\n",
        argv.join(", ")
    )
}

fn wait_execution(client: &ApiClient, id: &str, state: &str) -> Value {
    wait_for(&format!("{id} execution {state}"), DEADLINE, || {
        Ok(client
            .proposal(id)?
            .map(|p| p["execution"].clone())
            .filter(|e| e["state"] == state))
    })
    .unwrap()
}

fn wait_log(c: &Cluster, node: usize, needles: &[&str]) -> String {
    wait_for(&format!("node{node} logs {needles:?}"), DEADLINE, || {
        Ok(c.nodes[node]
            .log_text()
            .lines()
            .find(|l| needles.iter().all(|n| l.contains(n)))
            .map(str::to_owned))
    })
    .unwrap()
}

/// Lines of `path` equal to `line` (0 if the file does not exist).
fn count(path: &Path, line: &str) -> usize {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| *l == line)
        .count()
}

/// Whether a process is gone (reaped, or a zombie waiting for a reaper we do not control).
fn dead(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

fn read_pid(path: &Path) -> i32 {
    wait_for(&format!("pid in {}", path.display()), DEADLINE, || {
        Ok(std::fs::read_to_string(path)
            .ok()
            .and_then(|t| t.trim().parse::<i32>().ok()))
    })
    .unwrap()
}

const PROTECT_BACKUP: &str = r#"
[evaluator]
kind = "policy"
[[evaluator.rules]]
action = "fs.delete"
payload = { path = "/backup/**" }
vote = "no"
reason = "protects /backup"
[[evaluator.rules]]
action = "*"
vote = "yes"
"#;

#[test]
fn a_policy_rejects_a_protected_path_with_its_reason_and_approves_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let extra = |i: usize| {
        if i == 0 {
            String::new()
        } else {
            PROTECT_BACKUP.to_owned()
        }
    };
    let mut c = cluster(dir.path(), 3, "2/3", &extra);
    c.start_all().unwrap();
    let api = ready_all(&mut c, 2);

    let bad = api[0]
        .propose(
            "fs.delete",
            serde_json::json!({"path": "/backup/db"}),
            60_000,
        )
        .unwrap();
    let p = wait_status(&api[0], &bad, "rejected");
    assert!(p["own_ballot"].is_null(), "node 0 is manual: {p}");
    let mut got = ballots(&p);
    got.sort();
    let mut want: Vec<_> = [1, 2]
        .iter()
        .map(|&i| {
            (
                voter(&c, i),
                "no".to_owned(),
                Some("protects /backup".to_owned()),
            )
        })
        .collect();
    want.sort();
    assert_eq!(got, want, "{p}");

    let fine = api[0]
        .propose("fs.delete", serde_json::json!({"path": "/tmp/x"}), 60_000)
        .unwrap();
    let p = wait_status(&api[0], &fine, "approved");
    assert!(p["own_ballot"].is_null(), "{p}");
    let got = ballots(&p);
    assert_eq!(got.len(), 2, "{p}");
    assert!(got.iter().all(|(_, v, _)| v == "yes"), "{p}");
}

#[test]
fn a_command_evaluator_votes_with_its_reason_in_both_output_forms() {
    let dir = tempfile::tempdir().unwrap();
    let stdin_copy = dir.path().join("stdin.json");
    let line = script(
        dir.path(),
        "line.sh",
        "cat > \"$1\"\necho 'yes  looks fine'\n",
    );
    let json = script(
        dir.path(),
        "json.sh",
        "cat > /dev/null\necho '{\"vote\": \"yes\", \"reason\": \"json says fine\"}'\n",
    );
    let extra = |i: usize| match i {
        1 => command_evaluator(&[p(&line), p(&stdin_copy)], 5000),
        2 => command_evaluator(&[p(&json)], 5000),
        _ => String::new(),
    };
    let mut c = cluster(&dir.path().join("c"), 3, "2/3", &extra);
    c.start_all().unwrap();
    let api = ready_all(&mut c, 2);

    let id = api[0]
        .propose("fs.delete", serde_json::json!({"path": "/tmp/y"}), 60_000)
        .unwrap();
    let p = wait_status(&api[0], &id, "approved");
    let mut got = ballots(&p);
    got.sort();
    let mut want = vec![
        (
            voter(&c, 1),
            "yes".to_owned(),
            Some("looks fine".to_owned()),
        ),
        (
            voter(&c, 2),
            "yes".to_owned(),
            Some("json says fine".to_owned()),
        ),
    ];
    want.sort();
    assert_eq!(got, want, "{p}");

    // What the program read: the proposal as JSON.
    let input: Value =
        serde_json::from_str(&std::fs::read_to_string(&stdin_copy).unwrap()).unwrap();
    assert_eq!(input["id"], id.as_str());
    assert_eq!(input["action"], "fs.delete");
    assert_eq!(input["payload"], serde_json::json!({"path": "/tmp/y"}));
    assert_eq!(
        input["proposer"],
        serde_json::json!({"name": "node0", "key": voter(&c, 0)})
    );
    let (created, expires) = (
        input["created_at"].as_u64().unwrap(),
        input["expires_at"].as_u64().unwrap(),
    );
    assert_eq!(expires - created, 60_000, "{input}");
}

#[test]
fn a_command_that_hangs_fails_or_prints_garbage_casts_no_vote() {
    let dir = tempfile::tempdir().unwrap();
    let (pid_file, child_pid_file) = (dir.path().join("hang.pid"), dir.path().join("sleep.pid"));
    // The script and a child of its own, to show the whole process group is killed.
    let hang = script(
        dir.path(),
        "hang.sh",
        "echo $$ > \"$1\"\nsleep 60 &\necho $! > \"$2\"\nwait\n",
    );
    let garbage = script(
        dir.path(),
        "garbage.sh",
        "cat > /dev/null\necho 'maybe later'\n",
    );
    // Says yes, then fails: a failed evaluation must not vote whatever it printed.
    let failing = script(dir.path(), "failing.sh", "echo yes\nexit 3\n");
    let extra = |i: usize| match i {
        1 => command_evaluator(&[p(&hang), p(&pid_file), p(&child_pid_file)], 300),
        2 => command_evaluator(&[p(&garbage)], 5000),
        3 => command_evaluator(&[p(&failing)], 5000),
        _ => String::new(),
    };
    let mut c = cluster(&dir.path().join("c"), 4, "3/4", &extra);
    c.start_all().unwrap();
    let api = ready_all(&mut c, 3);

    let id = api[0]
        .propose("fs.delete", serde_json::json!({"path": "/tmp/z"}), 60_000)
        .unwrap();
    let short = &id[..8];

    // The warning is logged after the child was killed and reaped.
    let line = wait_log(
        &c,
        1,
        &["evaluator cast no vote", short, "timed out after 300 ms"],
    );
    assert!(line.contains("WARN"), "{line}");
    let p1 = api[1].proposal(&id).unwrap().unwrap();
    assert!(
        p1["own_ballot"].is_null(),
        "a timed-out evaluation voted: {p1}"
    );
    let pid = read_pid(&pid_file);
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "the evaluator process {pid} survived its timeout"
    );
    // Its own child was in its process group; it dies too (its reaping is up to init).
    let child = read_pid(&child_pid_file);
    wait_for("the script's child killed", Duration::from_secs(10), || {
        Ok(dead(child).then_some(()))
    })
    .unwrap();

    let line = wait_log(
        &c,
        2,
        &["evaluator cast no vote", short, "unrecognised output"],
    );
    assert!(line.contains("maybe later"), "{line}");
    let p2 = api[2].proposal(&id).unwrap().unwrap();
    assert!(p2["own_ballot"].is_null(), "garbage became a vote: {p2}");

    wait_log(
        &c,
        3,
        &["evaluator cast no vote", short, "exited with code 3"],
    );
    let p3 = api[3].proposal(&id).unwrap().unwrap();
    assert!(
        p3["own_ballot"].is_null(),
        "a failed evaluation voted: {p3}"
    );

    let p0 = api[0].proposal(&id).unwrap().unwrap();
    assert_eq!(p0["status"], "pending", "{p0}");
    assert!(ballots(&p0).is_empty(), "{p0}");
}

fn executor(script: &Path, args: &[&Path]) -> String {
    let mut argv = vec![p(script)];
    argv.extend(args.iter().map(|a| p(a)));
    format!(
        "[[executor.actions]]\naction = \"deploy\"\ncommand = [{}]\n",
        argv.join(", ")
    )
}

#[test]
fn the_executor_runs_an_approved_proposal_once_with_a_valid_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (marker, out) = (dir.path().join("marker"), dir.path().join("out"));
    std::fs::create_dir_all(&out).unwrap();
    let run = script(
        dir.path(),
        "deploy.sh",
        r#"payload=$(cat)
echo "$SWARMVOTE_PROPOSAL_ID $SWARMVOTE_ACTION" >> "$1"
cp "$SWARMVOTE_CERT" "$2/cert.json"
printf '%s' "$payload" > "$2/payload.json"
echo "deployed $SWARMVOTE_PROPOSAL_ID"
echo "a warning" >&2
"#,
    );
    let extra = |i: usize| {
        if i == 0 {
            executor(&run, &[&marker, &out])
        } else {
            DEPLOY_POLICY.to_owned()
        }
    };
    let mut c = cluster(&dir.path().join("c"), 3, "2/3", &extra);
    c.start_all().unwrap();
    let api = ready_all(&mut c, 2);

    let id = api[0]
        .propose("deploy", serde_json::json!({"target": "staging"}), 60_000)
        .unwrap();
    wait_status(&api[0], &id, "approved");
    let e = wait_execution(&api[0], &id, "finished");
    assert_eq!(e["exit_code"], 0, "{e}");
    assert_eq!(e["stdout"], format!("deployed {id}\n"), "{e}");
    assert_eq!(e["stderr"], "a warning\n", "{e}");
    assert!(e["error"].is_null(), "{e}");
    assert!(e["started_at"].as_u64().unwrap() <= e["finished_at"].as_u64().unwrap());
    assert_eq!(count(&marker, &format!("{id} deploy")), 1);

    // The certificate the program was handed verifies offline against the roster.
    let cert: Certificate =
        serde_json::from_str(&std::fs::read_to_string(out.join("cert.json")).unwrap()).unwrap();
    assert_eq!(cert.proposal().id().to_string(), id);
    cert.verify(&c.roster)
        .expect("the handed-over certificate verifies");
    let payload = std::fs::read_to_string(out.join("payload.json")).unwrap();
    assert_eq!(payload, r#"{"target":"staging"}"#);
    {
        use std::os::unix::fs::PermissionsExt;
        let cert_file = c.nodes[0]
            .dir
            .join("data")
            .join("certs")
            .join(format!("{id}.json"));
        let mode = std::fs::metadata(&cert_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}", cert_file.display());
    }
    wait_log(&c, 0, &["execution started", &id[..8]]);
    wait_log(&c, 0, &["execution finished", &id[..8], "exit_code=0"]);
    // Only the proposer executes.
    assert!(api[1].proposal(&id).unwrap().unwrap()["execution"].is_null());

    // Rejected: the decision and the executor's look at it happen in one step of the
    // node's loop, before the API can show the status, so "no record" is final here.
    let no = api[0]
        .propose("deploy", serde_json::json!({"target": "prod"}), 60_000)
        .unwrap();
    let p = wait_status(&api[0], &no, "rejected");
    assert!(p["execution"].is_null(), "{p}");

    // Expired: nobody votes on this target; the engine signs nothing after expiry.
    let late = api[0]
        .propose("deploy", serde_json::json!({"target": "later"}), 1_500)
        .unwrap();
    let p = wait_status(&api[0], &late, "expired");
    assert!(p["execution"].is_null(), "{p}");
    assert_eq!(
        std::fs::read_to_string(&marker).unwrap().lines().count(),
        1,
        "only the approved proposal ran"
    );
}

/// Kills a process group on drop: the first life's executor process outlives its
/// SIGKILLed node by design, and must not outlive the test.
struct KillGroup(i32);

impl Drop for KillGroup {
    fn drop(&mut self) {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(self.0),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

#[test]
fn an_execution_is_never_repeated_after_a_crash_or_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (marker, pid_file) = (dir.path().join("marker"), dir.path().join("slow.pid"));
    let run = script(
        dir.path(),
        "deploy.sh",
        r#"payload=$(cat)
echo "$SWARMVOTE_PROPOSAL_ID" >> "$1"
case "$payload" in *slow*) echo $$ > "$2"; sleep 30;; esac
echo done
"#,
    );
    let extra = |i: usize| {
        if i == 0 {
            // Frequent catch-up, so the bounded waits below span several rounds.
            format!(
                "{}\n[network]\nsync_interval_secs = 1\n",
                executor(&run, &[&marker, &pid_file])
            )
        } else {
            "[evaluator]\nkind = \"policy\"\n[[evaluator.rules]]\naction = \"*\"\nvote = \"yes\"\n"
                .to_owned()
        }
    };
    let mut c = cluster(&dir.path().join("c"), 3, "2/3", &extra);
    c.start_all().unwrap();
    let api = ready_all(&mut c, 2);

    // 1. SIGKILL while the execution runs.
    let slow = api[0]
        .propose("deploy", serde_json::json!({"mode": "slow"}), 120_000)
        .unwrap();
    wait_for("the slow execution started", DEADLINE, || {
        Ok((count(&marker, &slow) == 1).then_some(()))
    })
    .unwrap();
    let _orphan = KillGroup(read_pid(&pid_file));
    assert_eq!(
        wait_execution(&api[0], &slow, "started")["exit_code"],
        Value::Null
    );
    c.kill(0).unwrap();
    c.start(0).unwrap();
    let api0 = c.wait_ready(0, 2, DEADLINE).unwrap();
    let e = wait_execution(&api0, &slow, "interrupted");
    assert!(e["started_at"].is_u64() && e["finished_at"].is_u64(), "{e}");
    assert!(e["error"].as_str().unwrap().contains("never re-run"), "{e}");
    wait_log(&c, 0, &["execution interrupted", &slow[..8]]);
    // A re-run would come at start-up or with a catch-up round (every second here): give
    // it 3 s to happen. The condition must NOT become true, so this wait must time out.
    let rerun = wait_for(
        "a second run (must not happen)",
        Duration::from_secs(3),
        || Ok((count(&marker, &slow) > 1).then_some(())),
    );
    assert!(rerun.is_err(), "the interrupted execution ran again");
    assert_eq!(count(&marker, &slow), 1);

    // 2. A clean restart after a finished execution.
    let fast = api0
        .propose("deploy", serde_json::json!({"mode": "fast"}), 120_000)
        .unwrap();
    let before = wait_execution(&api0, &fast, "finished");
    assert_eq!(before["exit_code"], 0, "{before}");
    assert_eq!(count(&marker, &fast), 1);
    let status = c.stop(0, Duration::from_secs(10)).unwrap().unwrap();
    assert!(status.success(), "{status:?}");
    c.start(0).unwrap();
    let api0 = c.wait_ready(0, 2, DEADLINE).unwrap();
    // Same condition as above: the wait must time out.
    let rerun = wait_for(
        "a second run (must not happen)",
        Duration::from_secs(3),
        || Ok((count(&marker, &fast) > 1).then_some(())),
    );
    assert!(rerun.is_err(), "the finished execution ran again");
    assert_eq!(count(&marker, &fast), 1);
    let after = api0.proposal(&fast).unwrap().unwrap()["execution"].clone();
    assert_eq!(after, before, "the record changed across a clean restart");
    let slow_after = api0.proposal(&slow).unwrap().unwrap()["execution"].clone();
    assert_eq!(slow_after["state"], "interrupted", "{slow_after}");
}
