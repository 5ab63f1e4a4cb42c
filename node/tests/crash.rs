//! Crash safety with real processes: a voter is killed with SIGKILL at random points;
//! after a restart its own ballots are never lost once sent, never contradicted, and the
//! tallies are the same as before the crash.
//!
//! `SWARMVOTE_CRASH_ITERS` sets the number of kills (default 12) and `SWARMVOTE_CRASH_SEED`
//! the base seed; each iteration prints the seed that reproduces it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

const PROPOSALS: u32 = 40;

#[derive(Default, Debug)]
struct Run {
    own: BTreeMap<String, String>,
    sent: Vec<(String, String)>,
    refused: Vec<(String, String)>,
    tally: BTreeMap<String, String>,
    errors: Vec<String>,
    done: Option<String>,
}

fn parse_line(run: &mut Run, line: &str) {
    let mut words = line.splitn(3, ' ');
    let (kind, id, rest) = (
        words.next().unwrap_or(""),
        words.next().unwrap_or("").to_owned(),
        words.next().unwrap_or("").to_owned(),
    );
    match kind {
        "OWN" => {
            run.own.insert(id, rest);
        }
        "SENT" => run.sent.push((id, rest)),
        "REFUSED" => run.refused.push((id, rest)),
        "TALLY" => {
            run.tally.insert(id, rest);
        }
        "DONE" => run.done = Some(id),
        _ => run.errors.push(line.to_owned()),
    }
}

fn voter(dir: &Path, seed: u64, flip: bool) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_swarmvote"));
    cmd.args(["debug", "crash-voter", "--data-dir"])
        .arg(dir)
        .args(["--proposals", &PROPOSALS.to_string()])
        .args(["--seed", &seed.to_string()]);
    if flip {
        cmd.arg("--flip");
    }
    cmd
}

fn run_to_end(dir: &Path, seed: u64, flip: bool) -> Run {
    let out = voter(dir, seed, flip).output().unwrap();
    assert!(
        out.status.success(),
        "voter failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut run = Run::default();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        parse_line(&mut run, line);
    }
    run
}

/// Runs the voter and SIGKILLs it right after it reports its `kill_after`-th sent ballot
/// (0: as soon as it starts). Everything it printed before dying is returned.
fn run_and_kill(dir: &Path, seed: u64, kill_after: usize) -> Run {
    let mut child = voter(dir, seed, false)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut run = Run::default();
    if kill_after == 0 {
        child.kill().unwrap();
    }
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        parse_line(&mut run, &line);
        if run.sent.len() == kill_after {
            // SIGKILL: no destructors, no flush, nothing.
            let _ = child.kill();
        }
    }
    child.wait().unwrap();
    run
}

fn splitmix(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[test]
fn a_killed_voter_never_loses_or_contradicts_a_sent_ballot() {
    let iters: u64 = std::env::var("SWARMVOTE_CRASH_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12);
    let base: u64 = std::env::var("SWARMVOTE_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed);
    for i in 0..iters {
        let mut rng = base.wrapping_add(i);
        let seed = splitmix(&mut rng);
        let kill_after = (splitmix(&mut rng) % u64::from(PROPOSALS + 1)) as usize;
        eprintln!("iteration {i}: SWARMVOTE_CRASH_SEED={base} seed={seed} kill_after={kill_after}");
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");

        let before = run_and_kill(&data, seed, kill_after);
        assert!(before.errors.is_empty(), "{:?}", before.errors);
        assert!(before.sent.len() >= kill_after.min(PROPOSALS as usize));

        // Restart and try to vote the opposite way on everything.
        let after = run_to_end(&data, seed, true);
        assert!(after.errors.is_empty(), "{:?}", after.errors);
        for (id, vote) in &before.sent {
            assert_eq!(
                after.own.get(id),
                Some(vote),
                "seed {seed}: ballot on {id} was sent before the kill but lost"
            );
        }
        for (id, vote) in after.sent.iter().chain(&after.refused) {
            if let Some(original) = before.own_or_sent(id) {
                assert_eq!(
                    vote, original,
                    "seed {seed}: ballot on {id} contradicted after restart"
                );
            }
        }
        // Every tally computed before the crash is the same after it.
        for (id, tally) in &before.tally {
            assert_eq!(
                after.tally.get(id),
                Some(tally),
                "seed {seed}: tally of {id} changed across the crash"
            );
        }
        // The opposite vote was asked for on every proposal: each ballot sent before the
        // crash must have been refused, not replaced.
        for (id, _) in &before.sent {
            assert!(
                after.refused.iter().any(|(r, _)| r == id),
                "seed {seed}: the guard did not refuse flipping {id}"
            );
        }

        // A third, clean run changes nothing.
        let again = run_to_end(&data, seed, false);
        assert_eq!(again.own.len(), PROPOSALS as usize, "seed {seed}");
        assert_eq!(
            again.done, after.done,
            "seed {seed}: state changed on restart"
        );
        for (id, vote) in &again.own {
            if let Some(v) = before.own_or_sent(id) {
                assert_eq!(vote, v, "seed {seed}");
            }
        }
    }
}

impl Run {
    fn own_or_sent(&self, id: &str) -> Option<&String> {
        self.own
            .get(id)
            .or_else(|| self.sent.iter().find(|(i, _)| i == id).map(|(_, v)| v))
    }
}
