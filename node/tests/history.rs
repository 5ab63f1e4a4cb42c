//! History and audit with real nodes: `[retention]` takes a proposal out of the default
//! listing but not out of the history, the export, or a restart; the whole history pages;
//! `swarmvote export` writes a sealed hash chain that `export verify` accepts, and a
//! flipped byte or a dropped line anywhere is refused with that line named.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::{DEADLINE, DEPLOY_POLICY, cluster_with, ready_all, wait_status};
use serde_json::Value;
use swarmvote_node::dev::cluster::{ApiClient, wait_for};
use swarmvote_node::export::verify::verify;

/// Node 0: a one-second listing window, and an executor, so the export has an
/// execution record.
const NODE0: &str = "[retention]\nlisted_secs = 1\n\n[[executor.actions]]\naction = \"deploy\"\ncommand = [\"/bin/echo\", \"deployed\"]\n";

fn ids(page: &Value) -> Vec<String> {
    page["proposals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect()
}

fn list(api: &ApiClient, query: &str) -> Value {
    let (status, page) = api
        .call("GET", &format!("/v1/proposals{query}"), None)
        .unwrap();
    assert_eq!(status, 200, "{page}");
    page
}

fn swarmvote(args: &[&str]) -> (bool, String) {
    let out = common::sv(args);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn flip(text: &str, line: usize, at: usize) -> String {
    let mut lines: Vec<Vec<u8>> = text.lines().map(|l| l.as_bytes().to_vec()).collect();
    let l = &mut lines[line];
    let at = at.min(l.len() - 1);
    l[at] ^= 1;
    let mut out = lines.join(&b"\n"[..]);
    out.push(b'\n');
    String::from_utf8(out).unwrap()
}

#[test]
fn retention_history_export_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let extra = |i: usize| {
        if i == 0 {
            NODE0.to_owned()
        } else {
            DEPLOY_POLICY.to_owned()
        }
    };
    let mut c = cluster_with(&dir.path().join("c"), 3, "2/3", &extra);
    c.start_all().unwrap();
    let api = ready_all(&mut c, 2);

    // Two proposals that expire in a second, then leave node 0's listing a second later.
    let old_yes = api[0]
        .propose("deploy", serde_json::json!({"target": "staging"}), 1_000)
        .unwrap();
    wait_status(&api[0], &old_yes, "approved");
    let old_no = api[0]
        .propose("deploy", serde_json::json!({"target": "prod"}), 1_000)
        .unwrap();
    wait_status(&api[0], &old_no, "rejected");
    wait_for("the old proposals leave the listing", DEADLINE, || {
        let listed = ids(&list(&api[0], ""));
        Ok((!listed.contains(&old_yes) && !listed.contains(&old_no)).then_some(()))
    })
    .unwrap();
    let fresh = api[0]
        .propose("deploy", serde_json::json!({"target": "staging"}), 600_000)
        .unwrap();
    wait_status(&api[0], &fresh, "approved");

    let check_listings = |api: &ApiClient| {
        assert_eq!(ids(&list(api, "")), vec![fresh.clone()]);
        // The whole history, newest first, and page by page with the same order.
        let all = vec![fresh.clone(), old_no.clone(), old_yes.clone()];
        assert_eq!(ids(&list(api, "?history=true")), all);
        let mut paged = Vec::new();
        let mut cursor = String::new();
        loop {
            let page = list(api, &format!("?history=true&limit=1{cursor}"));
            paged.extend(ids(&page));
            match page["next_cursor"].as_str() {
                Some(c) => cursor = format!("&cursor={c}"),
                None => break,
            }
        }
        assert_eq!(paged, all);
        assert_eq!(
            ids(&list(api, "?history=true&status=rejected")),
            vec![old_no.clone()]
        );
        // An old proposal is still reported in full, recounted from the store.
        let old = api
            .proposal(&old_yes)
            .unwrap()
            .expect("old proposal reported");
        assert_eq!(old["status"], "approved", "{old}");
        assert_eq!(old["ballots"].as_array().unwrap().len(), 2, "{old}");
        assert_eq!(old["execution"]["state"], "finished", "{old}");
        assert!(api.certificate(&old_yes).is_ok());
        assert_eq!(
            api.proposal(&old_no).unwrap().unwrap()["status"],
            "rejected"
        );
    };
    check_listings(&api[0]);

    // Export through the CLI, and verify the file offline.
    let config = c.nodes[0].config.to_str().unwrap().to_owned();
    let roster = dir.path().join("c").join("roster.toml");
    let roster = roster.to_str().unwrap();
    let file = dir.path().join("audit.jsonl");
    let (ok, out) = swarmvote(&[
        "export",
        "--config",
        &config,
        "--since",
        "1h",
        "--out",
        file.to_str().unwrap(),
    ]);
    assert!(ok, "{out}");
    assert!(!dir.path().join("audit.partial").exists());
    let (ok, out) = swarmvote(&[
        "export",
        "verify",
        file.to_str().unwrap(),
        "--roster",
        roster,
    ]);
    assert!(ok, "{out}");
    assert!(
        out.contains("3 proposals (2 approved, 1 rejected, 0 neither)")
            && out.contains("2 executions, 2 receipts")
            && !out.contains("EVIDENCE")
            && out.contains("sealed by node0 (a member)"),
        "{out}"
    );
    let text = std::fs::read_to_string(&file).unwrap();
    check_tampering(&text, roster);

    // A window that leaves the old ones out.
    let since = api[0].proposal(&fresh).unwrap().unwrap()["proposal"]["proposal"]["created_at"]
        .as_u64()
        .unwrap();
    let recent = dir.path().join("recent.jsonl");
    let (ok, out) = swarmvote(&[
        "export",
        "--config",
        &config,
        "--since",
        &since.to_string(),
        "--out",
        recent.to_str().unwrap(),
    ]);
    assert!(ok, "{out}");
    let (ok, out) = swarmvote(&[
        "export",
        "verify",
        recent.to_str().unwrap(),
        "--roster",
        roster,
    ]);
    assert!(ok && out.contains(" 1 proposals (1 approved"), "{out}");

    // After a restart: the same listings, the history and the old reports.
    c.stop(0, Duration::from_secs(10)).unwrap();
    c.start(0).unwrap();
    let api0 = c.wait_ready(0, 2, DEADLINE).unwrap();
    check_listings(&api0);
    c.stop_all(Duration::from_secs(10)).unwrap();
}

/// Every line, with a byte flipped at three places, and every line dropped, is refused
/// with that line named; the CLI says so too.
fn check_tampering(text: &str, roster_path: &str) {
    let roster = swarmvote_node::config::load_roster(Path::new(roster_path)).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() > 10, "{text}");
    verify(text.as_bytes(), roster.clone()).unwrap();
    for (i, line) in lines.iter().enumerate() {
        let number = u64::try_from(i + 1).unwrap();
        for at in [2, line.len() / 2, line.len().saturating_sub(3)] {
            let bad = flip(text, i, at);
            let fault = verify(bad.as_bytes(), roster.clone())
                .expect_err(&format!("line {number} flipped at {at} passed"));
            assert_eq!(fault.line, number, "flipped line {number} at {at}: {fault}");
        }
        let mut dropped: Vec<&str> = lines.clone();
        dropped.remove(i);
        let dropped = format!("{}\n", dropped.join("\n"));
        let fault = verify(dropped.as_bytes(), roster.clone())
            .expect_err(&format!("line {number} dropped passed"));
        assert_eq!(fault.line, number, "dropped line {number}: {fault}");
    }
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, flip(text, 3, lines[3].len() / 2)).unwrap();
    let (ok, out) = swarmvote(&[
        "export",
        "verify",
        bad.to_str().unwrap(),
        "--roster",
        roster_path,
    ]);
    assert!(!ok && out.contains("bad.jsonl: line 4: "), "{out}");
}
