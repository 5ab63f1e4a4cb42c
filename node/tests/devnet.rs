//! `swarmvote devnet`: the demo end to end with its tiers and its four-eyes step (twice in
//! one dir, the second reusing it), a non-demo devnet stopped by SIGINT, and one
//! SIGKILLed; in every case no process that mentions the devnet's dir is left running.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

const BIN: &str = env!("CARGO_BIN_EXE_swarmvote");
/// Generous: a debug build on 2 shared cores.
const DEADLINE: Duration = Duration::from_secs(120);

fn devnet(args: &[&str]) -> Child {
    Command::new(BIN)
        .arg("devnet")
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Every line of the child's stdout and stderr, as they come, on one channel.
fn lines(child: &mut Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let streams: [Box<dyn Read + Send>; 2] = [
        Box::new(child.stdout.take().unwrap()),
        Box::new(child.stderr.take().unwrap()),
    ];
    for stream in streams {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stream);
            let mut buf = Vec::new();
            while reader.read_until(b'\n', &mut buf).is_ok_and(|n| n > 0) {
                // Lossy: an ESC byte must survive to be caught.
                if tx.send(String::from_utf8_lossy(&buf).into_owned()).is_err() {
                    return;
                }
                buf.clear();
            }
        });
    }
    rx
}

/// Waits for the child to exit, collecting its output; kills it and fails on timeout.
fn finish(
    child: &mut Child,
    rx: &mpsc::Receiver<String>,
    mut text: String,
) -> (ExitStatus, String) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        while let Ok(line) = rx.try_recv() {
            text.push_str(&line);
        }
        if let Some(status) = child.try_wait().unwrap() {
            // The output threads end with the pipes.
            while let Ok(line) = rx.recv_timeout(Duration::from_secs(5)) {
                text.push_str(&line);
            }
            return (status, text);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("devnet did not exit within {DEADLINE:?}; output:\n{text}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Reads lines until one contains `needle`; returns everything read.
fn read_until(rx: &mpsc::Receiver<String>, needle: &str) -> String {
    let deadline = Instant::now() + DEADLINE;
    let mut text = String::new();
    while !text.contains(needle) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => text.push_str(&line),
            Err(e) => panic!("no {needle:?} ({e}); output so far:\n{text}"),
        }
    }
    text
}

/// Processes whose command line mentions `dir` (the devnet and its nodes do).
fn processes_in(dir: &Path) -> Vec<(i32, String)> {
    let needle = dir.to_string_lossy().into_owned();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(&needle) {
            found.push((pid, cmdline));
        }
    }
    found
}

/// Fails unless every process mentioning `dir` is gone within a few seconds.
fn assert_nothing_left(dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let left = processes_in(dir);
        if left.is_empty() {
            return;
        }
        if Instant::now() >= deadline {
            for (pid, _) in &left {
                let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
            }
            panic!("processes outlived the devnet: {left:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn pos(text: &str, needle: &str) -> usize {
    text.find(needle)
        .unwrap_or_else(|| panic!("no {needle:?} in the output:\n{text}"))
}

#[test]
fn the_demo_runs_end_to_end_and_leaves_nothing_running() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("devnet");
    let dir_arg = dir.to_str().unwrap();
    for run in 0..2 {
        let mut child = devnet(&["--demo", "--dir", dir_arg]);
        let rx = lines(&mut child);
        let (status, out) = finish(&mut child, &rx, String::new());
        assert!(status.success(), "run {run}: {status}; output:\n{out}");
        // The benign proposal is approved, the dangerous one rejected (one NO blocks a
        // backup delete at 3/3), and the four-eyes one stays pending with the proposer's
        // YES and one more until node2 approves by hand.
        let benign = pos(
            &out,
            "verdict: APPROVED  (2 yes, 0 no; n = 3, q = 2), the same at all 3 nodes",
        );
        let cert = pos(
            &out,
            "certificate verified offline against roster.toml: 2 YES signatures",
        );
        let dangerous = pos(
            &out,
            "verdict: REJECTED  (1 yes, 1 no; n = 3, q = 3), the same at all 3 nodes",
        );
        let backup = pos(&out, "  tier backup-deletes: yes 1/3\n");
        let pending = pos(
            &out,
            "still PENDING: tier secret-rotation (four-eyes): yes 1/2, security 0/1",
        );
        let why = pos(
            &out,
            "needs 1 more YES and 1 more YES from security; node0's own YES does not count",
        );
        let by_hand = pos(&out, "node2 (security) approves by hand");
        let four_eyes = pos(
            &out,
            "verdict: APPROVED  (3 yes, 0 no; n = 3, q = 2), the same at all 3 nodes",
        );
        let recorded = pos(&out, "tier secret-rotation recorded and recomputed");
        let order = [
            benign, cert, dangerous, backup, pending, why, by_hand, four_eyes, recorded,
        ];
        assert!(
            order.windows(2).all(|w| w[0] < w[1]),
            "out of order:\n{out}"
        );
        for line in [
            "  node1    NO   protects /backup",
            "  node0    YES  the devnet approves everything  (the proposer's own: not counted)",
            "  node2  votes by hand (evaluator manual): the security officer",
            "  secret-rotation  secrets.*                  q = 2 of 2 others (four-eyes), 1 from security",
        ] {
            assert!(out.contains(line), "no {line:?} in:\n{out}");
        }
        assert!(
            !out.contains("  node2    NO"),
            "the officer votes only by hand:\n{out}"
        );
        assert!(
            out.contains(
                "demo ok: benign APPROVED, dangerous REJECTED, four-eyes APPROVED after a vote by hand"
            ),
            "{out}"
        );
        assert!(out.contains("all 3 nodes stopped cleanly"), "{out}");
        // Node lines are labelled; stdout is a pipe, so no colours anywhere.
        assert!(out.contains("node2 | "), "{out}");
        assert!(
            !out.contains('\x1b'),
            "ANSI escapes in piped output:\n{out}"
        );
        assert_nothing_left(&dir);
        // Every node stopped cleanly, and the second run reused the first's data.
        for i in 0..3 {
            let log = std::fs::read_to_string(dir.join(format!("node{i}/node.log"))).unwrap();
            assert_eq!(log.matches(" stopped").count(), run + 1, "node{i}:\n{log}");
        }
        if run == 1 {
            let log = std::fs::read_to_string(dir.join("node0/node.log")).unwrap();
            assert!(log.contains("restored=3"), "{log}");
        }
    }
    // The saved certificates verify with the plain CLI too, offline.
    let certs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".cert.json"))
        .collect();
    // Two approvals per run: the benign one and the four-eyes one.
    assert_eq!(certs.len(), 4, "{certs:?}");
    for cert in certs {
        let out = Command::new(BIN)
            .arg("verify-cert")
            .arg(&cert)
            .arg("--roster")
            .arg(dir.join("roster.toml"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn sigint_stops_every_node_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("devnet");
    let mut child = devnet(&["--nodes", "3", "--dir", dir.to_str().unwrap()]);
    let rx = lines(&mut child);
    let before = read_until(&rx, "Ctrl-C stops every node");
    assert!(before.contains("API http://127.0.0.1:"), "{before}");
    assert_eq!(processes_in(&dir).len(), 4, "the devnet and 3 nodes");
    let pid = Pid::from_raw(i32::try_from(child.id()).unwrap());
    kill(pid, Signal::SIGINT).unwrap();
    let (status, out) = finish(&mut child, &rx, before);
    assert_eq!(status.code(), Some(0), "output:\n{out}");
    assert!(out.contains("interrupted by SIGINT"), "{out}");
    assert!(out.contains("all 3 nodes stopped cleanly"), "{out}");
    assert_nothing_left(&dir);
}

#[test]
fn nodes_die_with_a_sigkilled_devnet() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("devnet");
    let mut child = devnet(&["--nodes", "2", "--dir", dir.to_str().unwrap()]);
    let rx = lines(&mut child);
    read_until(&rx, "Ctrl-C stops every node");
    assert_eq!(processes_in(&dir).len(), 3, "the devnet and 2 nodes");
    child.kill().unwrap();
    child.wait().unwrap();
    // The kernel sends each node SIGTERM when its parent dies (PR_SET_PDEATHSIG).
    assert_nothing_left(&dir);
}

#[test]
fn a_dir_that_is_not_a_devnet_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("precious.txt"), "keep me").unwrap();
    let out = Command::new(BIN)
        .args(["devnet", "--demo", "--dir"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not empty and not a devnet dir"), "{err}");
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        1,
        "nothing was written"
    );
}
