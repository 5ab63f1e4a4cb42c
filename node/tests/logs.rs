//! Log output of `swarmvote run`: plain text when stdout and stderr are pipes (as under
//! journald), colours on a terminal unless `NO_COLOR` is set; and a clean exit 0 on
//! SIGTERM, which is how systemd stops the node.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use swarmvote_node::dev::cluster::{Cluster, ClusterSpec};

const BIN: &str = env!("CARGO_BIN_EXE_swarmvote");
const DEADLINE: Duration = Duration::from_secs(60);

/// A one-node swarm's config.
fn one_node(dir: &Path) -> std::path::PathBuf {
    let cluster = Cluster::create(&ClusterSpec {
        binary: Path::new(BIN),
        dir,
        nodes: 1,
        quorum: "1/1",
        extra: &|_| String::new(),
    })
    .unwrap();
    cluster.nodes.first().unwrap().config.clone()
}

fn node(config: &Path, no_color: bool) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.arg("run")
        .arg("--config")
        .arg(config)
        .env("RUST_LOG", "info")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null());
    if no_color {
        cmd.env("NO_COLOR", "1");
    }
    cmd
}

/// Sends what `stream` yields, in chunks, until it ends (EOF, or EIO for a pty master).
fn pump(stream: impl Read + Send + 'static, tx: mpsc::Sender<Vec<u8>>) {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        loop {
            let chunk = match reader.fill_buf() {
                Ok([]) | Err(_) => return,
                Ok(bytes) => bytes.to_vec(),
            };
            reader.consume(chunk.len());
            if tx.send(chunk).is_err() {
                return;
            }
        }
    });
}

/// Collects output until it contains `needle`; SIGTERMs the node; collects the rest
/// until it exits. Returns its status and everything it printed. (`needle` must come
/// from the event loop: `run` listens for signals only once its loop runs.)
fn run_until(
    child: &mut Child,
    rx: &mpsc::Receiver<Vec<u8>>,
    needle: &str,
) -> (ExitStatus, Vec<u8>) {
    let deadline = Instant::now() + DEADLINE;
    let mut out = Vec::new();
    while !String::from_utf8_lossy(&out).contains(needle) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(chunk) => out.extend(chunk),
            Err(e) => {
                let _ = child.kill();
                panic!("no {needle:?} ({e}): {}", String::from_utf8_lossy(&out));
            }
        }
    }
    let pid = Pid::from_raw(i32::try_from(child.id()).unwrap());
    kill(pid, Signal::SIGTERM).unwrap();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            while let Ok(chunk) = rx.recv_timeout(Duration::from_millis(500)) {
                out.extend(chunk);
            }
            return (status, out);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            panic!("no exit after SIGTERM: {}", String::from_utf8_lossy(&out));
        }
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(chunk) => out.extend(chunk),
            Err(mpsc::RecvTimeoutError::Timeout | mpsc::RecvTimeoutError::Disconnected) => {}
        }
    }
}

#[test]
fn piped_logs_are_plain_text_and_sigterm_exits_zero() {
    let tmp = tempfile::tempdir().unwrap();
    let config = one_node(tmp.path());
    let mut child = node(&config, false)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    pump(child.stdout.take().unwrap(), tx.clone());
    pump(child.stderr.take().unwrap(), tx);
    let (status, out) = run_until(&mut child, &rx, "listening");
    let text = String::from_utf8_lossy(&out);
    assert_eq!(status.code(), Some(0), "{text}");
    assert!(text.contains("INFO"), "{text}");
    assert!(text.contains("stopping signal=\"SIGTERM\""), "{text}");
    assert!(text.contains("stopped"), "{text}");
    assert!(!out.contains(&0x1b), "ANSI escapes in piped logs:\n{text}");
}

/// Runs the node with stdout and stderr on a fresh pseudo-terminal.
fn on_a_terminal(no_color: bool) -> (ExitStatus, Vec<u8>) {
    let tmp = tempfile::tempdir().unwrap();
    let config = one_node(tmp.path());
    let pty = nix::pty::openpty(None, None).unwrap();
    let err = pty.slave.try_clone().unwrap();
    let mut child = node(&config, no_color)
        .stdout(Stdio::from(pty.slave))
        .stderr(Stdio::from(err))
        .spawn()
        .unwrap();
    // The Command held the last copies of the slave side; once the node exits, reading
    // the master fails (EIO) and the pump ends.
    let (tx, rx) = mpsc::channel();
    pump(std::fs::File::from(pty.master), tx);
    run_until(&mut child, &rx, "listening")
}

#[test]
fn a_terminal_gets_colours_unless_no_color_is_set() {
    let (status, out) = on_a_terminal(false);
    let text = String::from_utf8_lossy(&out);
    assert_eq!(status.code(), Some(0), "{text}");
    assert!(out.contains(&0x1b), "no colours on a terminal:\n{text}");

    let (status, out) = on_a_terminal(true);
    let text = String::from_utf8_lossy(&out);
    assert_eq!(status.code(), Some(0), "{text}");
    assert!(text.contains("node started"), "{text}");
    assert!(!out.contains(&0x1b), "colours despite NO_COLOR:\n{text}");
}
