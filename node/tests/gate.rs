//! `swarmvote gate exec` and `swarmvote gate hook` as real processes against a devnet of
//! real nodes: node 0 proposes (manual), nodes 1 and 2 vote by a policy that protects
//! `/backup` and leaves `hold.*` actions undecided.
//!
//! The hook events in `tests/fixtures/claude-code/` have the shape Claude Code's hooks
//! reference documents for `PreToolUse` (and one `PostToolUse`), with every field it
//! sends. Every wait is on a condition with a deadline; dropping a cluster kills its
//! nodes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use swarmvote_node::cli::certificate::verify_certificate_file;
use swarmvote_node::dev::cluster::{ApiClient, Cluster};

mod common;
use common::{cluster_with as cluster, ready_all};

/// Votes of nodes 1 and 2: NO on anything touching `/backup`, YES on the rest of `fs.*`
/// and `shell.exec`, nothing at all on `hold.*` (so those stay pending, then expire).
const VOTERS: &str = r#"
[evaluator]
kind = "policy"
[[evaluator.rules]]
action = "fs.delete"
payload = { path = "/backup/**" }
vote = "no"
reason = "protects /backup"
[[evaluator.rules]]
action = "shell.exec"
payload = { command = "*/backup*" }
vote = "no"
reason = "protects /backup"
[[evaluator.rules]]
action = "fs.*"
vote = "yes"
[[evaluator.rules]]
action = "shell.exec"
vote = "yes"
reason = "routine cleanup"
"#;

/// Node 0's gate: `rm -rf` in Bash, writes under /etc (held: nobody votes on them).
const GATE: &str = r#"
[gate]
deadline_s = 4
ttl_s = 60
[[gate.rules]]
tool = "Bash"
field = "command"
match = ["rm -rf *"]
action = "shell.exec"
fields = ["command"]
[[gate.rules]]
tool = "{Write,Edit}"
field = "file_path"
match = ["/etc/**"]
action = "hold.write"
"#;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_swarmvote"))
}

/// A finished `swarmvote` run.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `swarmvote ARGS` with `stdin`; waits for it (every command under test has its own
/// deadline).
fn swarmvote(args: &[&str], stdin: &[u8]) -> Run {
    let mut child = Command::new(bin())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    // A command that does not read stdin may close it early.
    let _ = pipe.write_all(stdin);
    drop(pipe);
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn start(dir: &Path, gate_on_node0: bool) -> (Cluster, Vec<ApiClient>) {
    let extra = move |i: usize| match (i, gate_on_node0) {
        (0, true) => GATE.to_owned(),
        (0, false) => String::new(),
        _ => VOTERS.to_owned(),
    };
    let mut c = cluster(dir, 3, "2/3", &extra);
    c.start_all().unwrap();
    let api = ready_all(&mut c, 2);
    (c, api)
}

/// Ids of every proposal node 0 knows.
fn proposal_ids(api: &ApiClient) -> Vec<String> {
    let (status, page) = api.call("GET", "/v1/proposals?limit=1000", None).unwrap();
    assert_eq!(status, 200, "{page}");
    page["proposals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect()
}

/// A program for `gate exec`: records that it ran and what it was given, copies the
/// certificate, exits with `code`.
fn recorder(dir: &Path, code: u8) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("recorder.sh");
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\necho ran >> \"$1/marker\"\n\
             printf '%s\\n%s\\n%s\\n' \"$SWARMVOTE_PROPOSAL_ID\" \"$SWARMVOTE_ACTION\" \
             \"$SWARMVOTE_CERT\" > \"$1/env\"\n\
             cp \"$SWARMVOTE_CERT\" \"$1/cert.json\"\nexit {code}\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[test]
fn gate_exec_runs_the_program_only_with_a_verified_approval() {
    let dir = tempfile::tempdir().unwrap();
    let (mut c, api) = start(dir.path(), false);
    let config = c.nodes[0].config.display().to_string();
    let roster = dir.path().join("roster.toml");
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let program = recorder(dir.path(), 7).display().to_string();
    let outs = out.display().to_string();
    let marker = out.join("marker");
    let exec = |extra: &[&str], action: &str, payload: &str| {
        let mut args = vec!["gate", "exec", "--config", &config, "--action", action];
        args.extend(["--payload", payload]);
        args.extend(extra);
        args.extend(["--", &program, &outs]);
        swarmvote(&args, b"")
    };

    // Approved: the program runs with the certificate, and its exit code is ours.
    let run = exec(&[], "fs.delete", r#"{"path": "/tmp/scratch"}"#);
    assert_eq!(run.code, 7, "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "ran\n");
    let env = std::fs::read_to_string(out.join("env")).unwrap();
    let env: Vec<&str> = env.lines().collect();
    assert_eq!(env[1], "fs.delete");
    let summary = verify_certificate_file(&out.join("cert.json"), &roster).unwrap();
    assert_eq!(summary.proposal.to_string(), env[0]);
    assert_eq!(summary.payload, json!({"path": "/tmp/scratch"}));
    assert_eq!(summary.signers.len(), 2, "{summary}");
    // The temp certificate is gone once the program has ended.
    assert!(!Path::new(env[2]).exists(), "{} left behind", env[2]);
    std::fs::remove_file(&marker).unwrap();

    // Rejected: never runs; the tally and the NO reasons are printed.
    let run = exec(&[], "fs.delete", r#"{"path": "/backup/db"}"#);
    assert_eq!(run.code, 80, "{}", run.stderr);
    assert!(!marker.exists(), "the program ran on a rejection");
    assert!(
        run.stderr.contains("0 yes, 2 no (n = 3, q = 2)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("node1: \"protects /backup\"")
            && run.stderr.contains("node2: \"protects /backup\""),
        "{}",
        run.stderr
    );

    // Nobody votes on hold.*: pending at --wait-s, then expired within its ttl.
    let run = exec(&["--ttl-s", "60", "--wait-s", "1"], "hold.deploy", "{}");
    assert_eq!(run.code, 82, "{}", run.stderr);
    assert!(
        run.stderr.contains("still pending after 1 s"),
        "{}",
        run.stderr
    );
    let run = exec(&["--ttl-s", "2"], "hold.deploy", "{}");
    assert_eq!(run.code, 81, "{}", run.stderr);
    assert!(run.stderr.contains("expired undecided"), "{}", run.stderr);
    assert!(!marker.exists(), "the program ran without an approval");

    // A program ended by a signal reports 128 + N; a missing one 127.
    let run = swarmvote(
        &[
            "gate",
            "exec",
            "--config",
            &config,
            "--action",
            "fs.touch",
            "--payload",
            "{}",
            "--",
            "sh",
            "-c",
            "kill -TERM $$",
        ],
        b"",
    );
    assert_eq!(run.code, 128 + 15, "{}", run.stderr);
    let run = swarmvote(
        &[
            "gate",
            "exec",
            "--config",
            &config,
            "--action",
            "fs.touch",
            "--payload",
            "{}",
            "--",
            "/nonexistent/program",
        ],
        b"",
    );
    assert_eq!(run.code, 127, "{}", run.stderr);

    // An approval whose certificate does not verify against the roster given (another
    // swarm's): 84, and the program does not run.
    let other = tempfile::tempdir().unwrap();
    drop(cluster(other.path(), 3, "2/3", &|_| String::new()));
    let other_roster = other.path().join("roster.toml").display().to_string();
    let run = exec(
        &["--roster", &other_roster],
        "fs.delete",
        r#"{"path": "/tmp/scratch"}"#,
    );
    assert_eq!(run.code, 84, "{}", run.stderr);
    assert!(
        run.stderr.contains("certificate is refused"),
        "{}",
        run.stderr
    );
    assert!(
        !marker.exists(),
        "the program ran on an unverified approval"
    );

    // Usage: bad JSON, or a data dir without a roster to verify against; nothing is
    // proposed.
    let before = proposal_ids(&api[0]).len();
    let run = exec(&[], "fs.delete", "{not json");
    assert_eq!(run.code, 2, "{}", run.stderr);
    let data = c.nodes[0].dir.join("data").display().to_string();
    let run = swarmvote(
        &[
            "gate",
            "exec",
            "--data-dir",
            &data,
            "--action",
            "fs.touch",
            "--payload",
            "{}",
            "--",
            &program,
            &outs,
        ],
        b"",
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--roster"), "{}", run.stderr);
    assert_eq!(proposal_ids(&api[0]).len(), before);

    // The node is down: 83, and the program does not run.
    c.stop(0, std::time::Duration::from_secs(10)).unwrap();
    let run = exec(&[], "fs.delete", r#"{"path": "/tmp/scratch"}"#);
    assert_eq!(run.code, 83, "{}", run.stderr);
    assert!(run.stderr.contains("not running"), "{}", run.stderr);
    assert!(!marker.exists(), "the program ran without a node");
}

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/claude-code")
        .join(name);
    std::fs::read(&path).unwrap()
}

/// Runs the hook on `event`; it must exit 0 with one JSON answer.
fn hook(config: &str, event: &[u8]) -> Value {
    let run = swarmvote(&["gate", "hook", "--config", config], event);
    assert_eq!(run.code, 0, "{}", run.stderr);
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {:?}", run.stdout))
}

/// `(permissionDecision, permissionDecisionReason)` of an answer.
fn decision(answer: &Value) -> (String, String) {
    let out = &answer["hookSpecificOutput"];
    assert_eq!(out["hookEventName"], "PreToolUse", "{answer}");
    (
        out["permissionDecision"].as_str().unwrap().to_owned(),
        out["permissionDecisionReason"].as_str().unwrap().to_owned(),
    )
}

#[test]
fn gate_hook_asks_the_swarm_for_critical_calls_only_and_fails_closed() {
    let dir = tempfile::tempdir().unwrap();
    let (mut c, api) = start(dir.path(), true);
    let config = c.nodes[0].config.display().to_string();

    // Not critical: no decision, and no proposal made; other events are not decided.
    let before = proposal_ids(&api[0]);
    assert_eq!(
        hook(&config, &fixture("pre-tool-use-bash-ls.json")),
        json!({})
    );
    assert_eq!(
        hook(&config, &fixture("post-tool-use-bash-rm-backup.json")),
        json!({})
    );
    assert_eq!(proposal_ids(&api[0]), before);

    // Critical and approved: allow, naming the tally and the proposal.
    let (d, reason) = decision(&hook(
        &config,
        &fixture("pre-tool-use-bash-rm-scratch.json"),
    ));
    assert_eq!(d, "allow", "{reason}");
    assert!(reason.contains("2 yes, 0 no (n = 3, q = 2)"), "{reason}");
    let ids = proposal_ids(&api[0]);
    assert_eq!(ids.len(), before.len() + 1);
    let new: Vec<&String> = ids.iter().filter(|id| !before.contains(id)).collect();
    assert!(reason.contains(new[0].as_str()), "{reason}");
    let p = api[0].proposal(new[0]).unwrap().unwrap();
    assert_eq!(p["status"], "approved");
    assert_eq!(p["proposal"]["proposal"]["action"], "shell.exec", "{p}");

    // Critical and rejected: deny with the tally and the NO reasons.
    let (d, reason) = decision(&hook(&config, &fixture("pre-tool-use-bash-rm-backup.json")));
    assert_eq!(d, "deny", "{reason}");
    assert!(reason.contains("0 yes, 2 no (n = 3, q = 2)"), "{reason}");
    assert!(
        reason.contains("node1: \"protects /backup\"")
            && reason.contains("node2: \"protects /backup\""),
        "{reason}"
    );

    // Critical, and nobody decides within deadline_s: deny.
    let (d, reason) = decision(&hook(&config, &fixture("pre-tool-use-write-etc.json")));
    assert_eq!(d, "deny", "{reason}");
    assert!(reason.contains("no decision within"), "{reason}");

    // An event that cannot be read: deny.
    let (d, reason) = decision(&hook(&config, b"{\"tool_name\": \"Bash\""));
    assert_eq!(d, "deny", "{reason}");
    assert!(reason.contains("fails closed"), "{reason}");

    // The node is down: a critical call is denied, a harmless one still passes.
    c.stop(0, std::time::Duration::from_secs(10)).unwrap();
    let (d, reason) = decision(&hook(
        &config,
        &fixture("pre-tool-use-bash-rm-scratch.json"),
    ));
    assert_eq!(d, "deny", "{reason}");
    assert!(
        reason.contains("not running") && reason.contains("fails closed"),
        "{reason}"
    );
    assert_eq!(
        hook(&config, &fixture("pre-tool-use-bash-ls.json")),
        json!({})
    );
}
