//! The store: restart equivalence, the own-ballot journal, and refusals that name the
//! path (locked, other schema, corrupt).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use swarmvote_node::daemon::persist;
use swarmvote_node::daemon::store::{Store, StoreError};
use swarmvote_node::dev::crashtest::{self, T0, key};
use swarmvote_protocol::engine::{Config, Engine, MessageTag, PeerTag};
use swarmvote_protocol::{Ballot, ProposalId, UnixMillis, Vote, codec};

/// Runs a workload of `n` proposals through an engine backed by a store in `dir`, with
/// ballots from all three members (member 1 equivocates on every fifth proposal).
fn workload(dir: &Path, n: u32) -> (Engine, Vec<ProposalId>) {
    let roster = crashtest::roster().unwrap();
    let (mut store, _) = Store::open(dir).unwrap();
    let mut engine = Engine::new(roster.clone(), key(0), Config::default()).unwrap();
    let mut ids = Vec::new();
    for k in 0..n {
        let now = UnixMillis(T0.0 + u64::from(k));
        let p = crashtest::proposal(&roster, k).unwrap();
        ids.push(p.id());
        engine.handle_message(now, PeerTag(1), MessageTag(0), &codec::encode(&p).unwrap());
        if k % 3 != 0 {
            engine
                .vote(now, p.id(), crashtest::intended(42, k, false), None)
                .unwrap();
        }
        let b2 = crashtest::peer_ballot(&p, 42, k);
        engine.handle_message(now, PeerTag(2), MessageTag(0), &codec::encode(&b2).unwrap());
        let votes: &[Vote] = if k % 5 == 0 {
            &[Vote::Yes, Vote::No]
        } else {
            &[Vote::No]
        };
        for v in votes {
            let b1 = Ballot {
                swarm: roster.swarm().clone(),
                proposal: p.id(),
                voter: key(1).voter_id(),
                vote: *v,
                reason: None,
            }
            .sign(&key(1));
            engine.handle_message(now, PeerTag(1), MessageTag(0), &codec::encode(&b1).unwrap());
        }
        persist::drain(&mut engine, &mut store, |_| {}).unwrap();
    }
    (engine, ids)
}

#[test]
fn a_restart_restores_the_same_state() {
    let dir = tempfile::tempdir().unwrap();
    let (before, ids) = workload(dir.path(), 30);
    let (store, report) = Store::open(dir.path()).unwrap();
    assert_eq!(report.recovered_from_journal, 0);
    let mut after = Engine::new(crashtest::roster().unwrap(), key(0), Config::default()).unwrap();
    let restored = after.restore(UnixMillis(T0.0 + 1000), store.load().unwrap());
    assert!(restored.skipped.is_empty(), "{:?}", restored.skipped);
    assert_eq!(restored.own_ballots, 20);
    assert!(restored.evidence > 0, "the workload has equivocations");
    assert_eq!(after.tallies_digest(), before.tallies_digest());
    assert_eq!(
        after.own_ballots().collect::<Vec<_>>(),
        before.own_ballots().collect::<Vec<_>>()
    );
    for id in &ids {
        let (a, b) = (after.proposal(id).unwrap(), before.proposal(id).unwrap());
        assert_eq!(a.outcome(), b.outcome());
        assert_eq!(a.decision(), b.decision(), "decision time of {id}");
    }
    // All ballots of one proposal are one prefix scan, and only that proposal's.
    let ballots = store.ballots_of(&ids[5]).unwrap();
    assert_eq!(ballots.len(), 4, "member 1 yes+no, member 2, and our own");
    assert!(ballots.iter().all(|b| b.ballot().proposal == ids[5]));
}

#[test]
fn the_journal_restores_own_ballots_that_sled_lost() {
    let dir = tempfile::tempdir().unwrap();
    let (before, _) = workload(dir.path(), 12);
    let own: Vec<_> = before.own_ballots().cloned().collect();
    assert_eq!(own.len(), 8);
    // Lose the whole sled database; the journal survives.
    std::fs::remove_dir_all(dir.path().join("db")).unwrap();
    let (store, report) = Store::open(dir.path()).unwrap();
    assert_eq!(report.recovered_from_journal, own.len());
    for b in &own {
        assert_eq!(
            store.own_ballot(&b.ballot().proposal).unwrap().as_ref(),
            Some(b)
        );
    }
}

#[test]
fn a_torn_journal_tail_is_cut_off_and_nothing_synced_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let (before, _) = workload(dir.path(), 9);
    let own = before.own_ballots().count();
    let journal = dir.path().join("own-ballots.journal");
    let bytes = std::fs::read(&journal).unwrap();
    let size = bytes.len();
    // Walk the entries to where the preallocated zeros begin.
    let mut end = 8;
    loop {
        let len = u32::from_le_bytes(bytes[end..end + 4].try_into().unwrap()) as usize;
        if len == 0 {
            break;
        }
        end += 8 + len;
    }
    // A half-written entry there: a plausible header and a few bytes of body.
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&journal)
        .unwrap();
    let mut torn = 200u32.to_le_bytes().to_vec();
    torn.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef, 1, 2, 3]);
    f.write_all_at(&torn, end as u64).unwrap();
    drop(f);
    std::fs::remove_dir_all(dir.path().join("db")).unwrap();
    let (store, report) = Store::open(dir.path()).unwrap();
    assert_eq!(report.journal_truncated, 11);
    assert_eq!(report.recovered_from_journal, own);
    assert_eq!(store.stats().own_ballots, own);
    assert_eq!(
        std::fs::metadata(&journal).unwrap().len() as usize,
        size,
        "preallocation kept"
    );
    drop(store);
    // The torn bytes were zeroed: a second open finds nothing to cut.
    let (_, again) = Store::open(dir.path()).unwrap();
    assert_eq!(again.journal_truncated, 0);
}

#[test]
fn a_locked_data_dir_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (_held, _) = Store::open(dir.path()).unwrap();
    match Store::open(dir.path()) {
        Err(e @ StoreError::Locked { .. }) => {
            assert!(
                e.to_string().contains(&dir.path().display().to_string()),
                "{e}"
            );
            assert!(e.to_string().contains("in use"), "{e}");
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("a locked data dir was opened twice"),
    }
}

#[test]
fn another_schema_version_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    drop(Store::open(dir.path()).unwrap());
    {
        let db = swarmvote_node::daemon::store::open_sled(&dir.path().join("db")).unwrap();
        db.open_tree("meta")
            .unwrap()
            .insert("schema_version", &99u32.to_be_bytes())
            .unwrap();
        db.flush().unwrap();
    }
    let err = Store::open(dir.path()).err().expect("schema 99 accepted");
    assert!(matches!(err, StoreError::Schema { found: 99, .. }), "{err}");
    assert!(err.to_string().contains(&dir.path().display().to_string()));
    // Still 99: never reset.
    let db = swarmvote_node::daemon::store::open_sled(&dir.path().join("db")).unwrap();
    let v = db
        .open_tree("meta")
        .unwrap()
        .get("schema_version")
        .unwrap()
        .unwrap();
    assert_eq!(v.as_ref(), 99u32.to_be_bytes());
}

#[test]
fn corrupt_records_and_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    drop(Store::open(dir.path()).unwrap());
    {
        let db = swarmvote_node::daemon::store::open_sled(&dir.path().join("db")).unwrap();
        db.open_tree("proposals")
            .unwrap()
            .insert([7u8; 32], b"junk".to_vec())
            .unwrap();
        db.flush().unwrap();
    }
    let (store, _) = Store::open(dir.path()).unwrap();
    let err = store.load().unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("proposals") && msg.contains(&"07".repeat(32)),
        "{msg}"
    );
    drop(store);

    // A journal that is not a journal.
    std::fs::write(dir.path().join("own-ballots.journal"), b"hello").unwrap();
    let err = Store::open(dir.path()).err().expect("bad journal accepted");
    assert!(err.to_string().contains("own-ballots.journal"), "{err}");

    // A data dir that is a file.
    let file = dir.path().join("plain");
    std::fs::write(&file, b"x").unwrap();
    let err = Store::open(&file)
        .err()
        .expect("a file opened as a data dir");
    assert!(err.to_string().contains("not a directory"), "{err}");
}

#[test]
fn prune_removes_only_what_left_the_window_says_what_and_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (_, ids) = workload(dir.path(), 30);
    let day = 86_400_000;
    let (mut store, _) = Store::open(dir.path()).unwrap();
    let before = store.stats();
    let decided = ids[..20]
        .iter()
        .filter(|id| store.decision(id).unwrap().is_some())
        .count();
    // Proposal k is created at T0 + k ms and expires a day later. Cut at T0 + 20 ms, a
    // day and a half later with a one-hour window: 20 proposals go.
    let now = UnixMillis(T0.0 + day + day / 2);
    let cut = UnixMillis(T0.0 + 20);
    let dry = store.prune(cut, 3_600_000, now, true).unwrap();
    assert_eq!(store.stats(), before, "a dry run removes nothing");
    let report = store.prune(cut, 3_600_000, now, false).unwrap();
    assert_eq!(report, dry, "the dry run counted what the real run removed");
    assert_eq!(report.proposals, 20);
    assert_eq!(report.decisions, decided);
    assert_eq!(report.kept_in_window, 0);
    // Own ballots on k % 3 != 0, k < 20; four ballots when member 1 equivocates.
    assert_eq!(report.own_ballots, (0..20).filter(|k| k % 3 != 0).count());
    let after = store.stats();
    assert_eq!(after.proposals, before.proposals - 20);
    assert_eq!(after.ballots, before.ballots - report.ballots);
    assert_eq!(after.own_ballots, before.own_ballots - report.own_ballots);
    assert_eq!(after.evidence, before.evidence - report.evidence);
    assert!(store.archived(&ids[5]).unwrap().is_none());
    assert!(store.archived(&ids[25]).unwrap().is_some());
    let listed: Vec<_> = store.oldest_first(None).map(|k| k.unwrap().1).collect();
    assert_eq!(
        listed,
        ids[20..].to_vec(),
        "the time index lost exactly those"
    );
    drop(store);

    // The own-ballot journal was rewritten: nothing pruned comes back on reopening.
    let (store, report) = Store::open(dir.path()).unwrap();
    assert_eq!(report.recovered_from_journal, 0);
    assert_eq!(store.stats(), after);

    // Within the window nothing goes, and the report says why.
    let dir = tempfile::tempdir().unwrap();
    workload(dir.path(), 5);
    let (mut store, _) = Store::open(dir.path()).unwrap();
    let early = UnixMillis(T0.0 + day);
    let r = store
        .prune(UnixMillis(T0.0 + 100), 3_600_000, early, false)
        .unwrap();
    assert_eq!((r.proposals, r.kept_in_window), (0, 5));
}

#[test]
fn a_data_dir_from_before_the_time_index_gets_it_built_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let (_, ids) = workload(dir.path(), 6);
    {
        // What an older swarmvote left: no index, no marker.
        let db = swarmvote_node::daemon::store::open_sled(&dir.path().join("db")).unwrap();
        db.drop_tree("by_time").unwrap();
        db.open_tree("meta")
            .unwrap()
            .remove("by_time_index")
            .unwrap();
        db.flush().unwrap();
    }
    let (store, _) = Store::open(dir.path()).unwrap();
    let listed: Vec<_> = store.oldest_first(None).map(|k| k.unwrap().1).collect();
    assert_eq!(listed, ids);
    let newest: Vec<_> = store.newest_first(None).map(|k| k.unwrap().1).collect();
    assert_eq!(newest, ids.iter().rev().copied().collect::<Vec<_>>());
}

/// `swarmvote store prune`, the command: a dry run says what would go and removes
/// nothing; the real run says what went; a bad time is refused naming the flag.
#[test]
fn the_prune_command_says_what_it_removes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    workload(&data, 6);
    let config = dir.path().join("node.toml");
    std::fs::write(
        &config,
        "data_dir = \"data\"\nkey_file = \"voter.key\"\nroster_file = \"roster.toml\"\n",
    )
    .unwrap();
    let prune = |extra: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_swarmvote"))
            .args(["store", "prune", "--config", config.to_str().unwrap()])
            .args(extra)
            .output()
            .unwrap();
        (
            out.status.code(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    // Proposal k is created at T0 + k ms: four of the six are before T0 + 4.
    let before = (T0.0 + 4).to_string();
    let (code, out) = prune(&["--before", &before, "--dry-run"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.starts_with("would remove 4 proposals created before "),
        "{out}"
    );
    let (code, out) = prune(&["--before", &before]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.starts_with("removed 4 proposals created before "),
        "{out}"
    );
    let (store, _) = Store::open(&data).unwrap();
    assert_eq!(store.stats().proposals, 2);
    drop(store);
    let (code, out) = prune(&["--before", "last tuesday"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("--before \"last tuesday\" is not a time"),
        "{out}"
    );
}
