//! Signed execution receipts with real `swarmvote run` processes on 127.0.0.1: the
//! proposer's executor runs an approved action and signs a receipt, every node shows it
//! as backed, and the receipt file verifies offline; a tampered file, a receipt with no
//! certificate and one with another proposal's certificate are refused, each with a
//! message naming what.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use serde_json::{Value, json};
use swarmvote_node::dev::cluster::wait_for;
use swarmvote_protocol::{CertificateDigest, OutputDigest, ProposalId, Receipt, UnixMillis};

mod common;
use common::{DEADLINE, DEPLOY_POLICY, cluster_with as cluster, fails, ok, ready_all, wait_status};

fn write_json(path: &Path, v: &Value) -> String {
    std::fs::write(path, serde_json::to_string_pretty(v).unwrap()).unwrap();
    path.display().to_string()
}

#[test]
fn an_executed_action_has_a_backed_receipt_on_every_node_that_verifies_offline() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("deploy.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\ncat >/dev/null\necho deployed\nexit 3\n",
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let extra = |i: usize| {
        if i == 0 {
            format!(
                "[[executor.actions]]\naction = \"deploy\"\ncommand = [\"{}\", \"--now\"]\n",
                script.display()
            )
        } else {
            DEPLOY_POLICY.to_owned()
        }
    };
    let cdir = dir.path().join("c");
    let mut c = cluster(&cdir, 3, "2/3", &extra);
    c.start_all().unwrap();
    let api = ready_all(&mut c, 2);
    let roster = cdir.join("roster.toml").display().to_string();
    let data0 = c.nodes[0].dir.join("data").display().to_string();

    let id = api[0]
        .propose("deploy", json!({"target": "staging"}), 60_000)
        .unwrap();
    wait_status(&api[0], &id, "approved");

    // Every node stores the same receipt, backed.
    let mut seen = Vec::new();
    for (i, a) in api.iter().enumerate() {
        let r = wait_for(&format!("node{i} shows the receipt"), DEADLINE, || {
            Ok(a.proposal(&id)?
                .and_then(|p| p["receipts"].as_array().and_then(|r| r.first().cloned())))
        })
        .unwrap();
        assert_eq!(r["standing"], json!({"state": "backed"}), "node{i}: {r}");
        seen.push(r["receipt"].clone());
    }
    assert!(seen.windows(2).all(|w| w[0] == w[1]), "{seen:?}");
    let inner = &seen[0]["receipt"];
    assert_eq!(inner["proposal"], id.as_str());
    assert_eq!(inner["exit_code"], 3);
    assert_eq!(
        inner["command"],
        format!("{} --now", script.display()).as_str()
    );
    assert_eq!(
        inner["stdout"],
        swarmvote_protocol::receipt::output_digest(b"deployed\n")
            .to_string()
            .as_str()
    );
    assert_eq!(inner["executor"], common::voter(&c, 0).as_str());

    // The receipt file from the CLI verifies offline.
    let file = dir.path().join("receipt.json");
    let path = file.display().to_string();
    ok(&["receipt", &id, "--data-dir", &data0, "--out", &path]);
    let text = ok(&["verify-receipt", &path, "--roster", &roster]);
    for needle in ["receipt ok", id.as_str(), "exit code    3", "--now"] {
        assert!(text.contains(needle), "{needle:?} not in {text}");
    }
    let shown = ok(&["show", &id, "--data-dir", &data0]);
    assert!(
        shown.contains("receipt") && shown.contains("backed"),
        "{shown}"
    );

    // Tampered: the exit code, then an output digest. The signature no longer holds.
    let original: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let mut v = original.clone();
    v["receipt"]["receipt"]["exit_code"] = json!(0);
    let f = write_json(&dir.path().join("exit.json"), &v);
    fails(
        &["verify-receipt", &f, "--roster", &roster],
        &[&f, "receipt does not verify", "bad signature"],
    );
    let mut v = original.clone();
    v["receipt"]["receipt"]["stdout"] = json!(OutputDigest::from_bytes([1; 32]).to_string());
    let f = write_json(&dir.path().join("stdout.json"), &v);
    fails(
        &["verify-receipt", &f, "--roster", &roster],
        &[&f, "bad signature"],
    );
    // A ballot dropped from the certificate: the digest no longer matches.
    let mut v = original.clone();
    v["certificate"]["ballots"].as_array_mut().unwrap().pop();
    let f = write_json(&dir.path().join("cert.json"), &v);
    fails(
        &["verify-receipt", &f, "--roster", &roster],
        &[&f, "UNBACKED execution", "digest"],
    );

    // A receipt for a rejected proposal, signed with node0's key: no certificate backs
    // it, and another proposal's certificate does not either.
    let no = api[0]
        .propose("deploy", json!({"target": "prod"}), 60_000)
        .unwrap();
    wait_status(&api[0], &no, "rejected");
    let key = swarmvote_node::keyfile::read_secret_key(&c.nodes[0].dir.join("voter.key")).unwrap();
    let bogus = Receipt {
        swarm: c.roster.swarm().clone(),
        proposal: no.parse::<ProposalId>().unwrap(),
        certificate: CertificateDigest::from_bytes([0; 32]),
        approvers: Vec::new(),
        executor: key.voter_id(),
        command: "rm -rf /prod".into(),
        exit_code: Some(0),
        stdout: OutputDigest::from_bytes([0; 32]),
        stderr: OutputDigest::from_bytes([0; 32]),
        started_at: UnixMillis(1),
        finished_at: UnixMillis(2),
    }
    .sign(&key)
    .unwrap();
    let f = write_json(
        &dir.path().join("unbacked.json"),
        &json!({ "receipt": bogus, "certificate": null }),
    );
    fails(
        &["verify-receipt", &f, "--roster", &roster],
        &[&f, "UNBACKED execution", "no certificate", "node0", &no],
    );
    let f = write_json(
        &dir.path().join("other.json"),
        &json!({ "receipt": bogus, "certificate": original["certificate"] }),
    );
    fails(
        &["verify-receipt", &f, "--roster", &roster],
        &[
            &f,
            "UNBACKED execution",
            &format!("the certificate is for proposal {id}"),
        ],
    );
}
