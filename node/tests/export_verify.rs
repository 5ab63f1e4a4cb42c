//! `export verify` on files built here message by message: a receipt no certificate
//! backs is reported as evidence (the file stays valid), a forged receipt is refused by
//! line, and a recount that disagrees with a decision, or an approval without its
//! certificate line, names the line at fault.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use swarmvote_node::api::{EXPORT_FORMAT, EXPORT_VERSION, ExportEntry, ExportHeader};
use swarmvote_node::dev::crashtest::{key, proposal, roster};
use swarmvote_node::export::ChainWriter;
use swarmvote_node::export::verify::verify;
use swarmvote_protocol::engine::Decision;
use swarmvote_protocol::receipt::{Receipt, SignedReceipt};
use swarmvote_protocol::{
    Ballot, CertificateDigest, OutputDigest, Roster, SignedBallot, SignedProposal, UnixMillis,
    Verdict, Vote, seal,
};

fn ballot(p: &SignedProposal, i: u8, vote: Vote) -> ExportEntry {
    let b: SignedBallot = Ballot {
        swarm: p.proposal().swarm.clone(),
        proposal: p.id(),
        voter: key(i).voter_id(),
        vote,
        reason: None,
    }
    .sign(&key(i));
    ExportEntry::Ballot { ballot: b }
}

fn receipt(p_id: swarmvote_protocol::ProposalId, r: &Roster, executor: u8) -> SignedReceipt {
    Receipt {
        swarm: r.swarm().clone(),
        proposal: p_id,
        certificate: CertificateDigest::from_bytes([9; 32]),
        approvers: Vec::new(),
        executor: key(executor).voter_id(),
        command: "/bin/rm -rf /backup".into(),
        exit_code: Some(0),
        stdout: OutputDigest::from_bytes([1; 32]),
        stderr: OutputDigest::from_bytes([2; 32]),
        started_at: UnixMillis(1_767_225_600_500),
        finished_at: UnixMillis(1_767_225_600_600),
    }
    .sign(&key(executor))
    .unwrap()
}

/// A sealed file of `entries` after the header, sealed by member 0.
fn file(r: &Roster, entries: Vec<ExportEntry>) -> String {
    file_sealed_by(r, entries, 0)
}

/// The same, sealed by member `sealer` (the header names member 0).
fn file_sealed_by(r: &Roster, entries: Vec<ExportEntry>, sealer: u8) -> String {
    let mut chain = ChainWriter::default();
    let mut out = String::new();
    let header = ExportEntry::Header {
        header: ExportHeader {
            format: EXPORT_FORMAT.into(),
            version: EXPORT_VERSION,
            swarm: r.swarm().to_string(),
            genesis: r.digest(),
            node: key(0).voter_id(),
            since: UnixMillis(0),
            until: None,
            exported_at: UnixMillis(1_767_225_700_000),
        },
    };
    let proposals = entries
        .iter()
        .filter(|e| matches!(e, ExportEntry::Proposal { .. }))
        .count() as u64;
    for e in std::iter::once(header).chain(entries) {
        out.push_str(&chain.line(e).unwrap());
        out.push('\n');
    }
    let lines = chain.lines();
    let seal = seal::sign(&key(sealer), r.swarm(), &chain.head(), lines);
    out.push_str(
        &chain
            .line(ExportEntry::End {
                lines,
                proposals,
                seal,
            })
            .unwrap(),
    );
    out.push('\n');
    out
}

fn decision(p: &SignedProposal, verdict: Verdict) -> ExportEntry {
    ExportEntry::Decision {
        decision: Decision {
            proposal: p.id(),
            verdict,
            decided_at: UnixMillis(1_767_225_600_100),
        },
    }
}

#[test]
fn a_receipt_without_an_approval_is_evidence_and_a_forged_one_is_refused() {
    let r = roster().unwrap();
    let p = proposal(&r, 0).unwrap();
    let unknown = proposal(&r, 1).unwrap().id();
    let entries = vec![
        ExportEntry::Proposal {
            proposal: p.clone(),
        },
        ballot(&p, 0, Vote::No),
        ballot(&p, 2, Vote::No),
        decision(&p, Verdict::Rejected),
        // The proposer ran it anyway.
        ExportEntry::Receipt {
            receipt: receipt(p.id(), &r, 1),
        },
        // And something nobody ever proposed.
        ExportEntry::Receipt {
            receipt: receipt(unknown, &r, 1),
        },
    ];
    let summary = verify(file(&r, entries.clone()).as_bytes(), r.clone()).unwrap();
    assert_eq!(
        (summary.proposals, summary.rejected, summary.receipts),
        (1, 1, 2)
    );
    assert_eq!(summary.unbacked.len(), 2, "{:?}", summary.unbacked);
    assert!(
        summary.unbacked[0].starts_with("line 6: ") && summary.unbacked[0].contains("not approved"),
        "{:?}",
        summary.unbacked
    );
    assert!(
        summary.unbacked[1].starts_with("line 7: ")
            && summary.unbacked[1].contains("not in the export"),
        "{:?}",
        summary.unbacked
    );

    // A receipt whose signature does not match its content.
    let mut forged = receipt(p.id(), &r, 1);
    let mut json = serde_json::to_value(&forged).unwrap();
    json["receipt"]["exit_code"] = serde_json::json!(1);
    forged = serde_json::from_value(json).unwrap();
    let mut bad = entries.clone();
    bad[4] = ExportEntry::Receipt { receipt: forged };
    let fault = verify(file(&r, bad).as_bytes(), r.clone()).unwrap_err();
    assert_eq!(fault.line, 6, "{fault}");
    assert!(fault.what.contains("receipt"), "{fault}");
}

#[test]
fn a_recount_that_disagrees_or_a_missing_certificate_names_its_line() {
    let r = roster().unwrap();
    let p = proposal(&r, 0).unwrap();
    // The ballots reject; the decision line says approved.
    let lying = vec![
        ExportEntry::Proposal {
            proposal: p.clone(),
        },
        ballot(&p, 0, Vote::No),
        ballot(&p, 2, Vote::No),
        decision(&p, Verdict::Approved),
    ];
    let fault = verify(file(&r, lying).as_bytes(), r.clone()).unwrap_err();
    assert_eq!(fault.line, 5, "{fault}");
    assert!(fault.what.contains("decision says Approved"), "{fault}");

    // Approved by its ballots, but the certificate line is gone (and the file was
    // re-chained and re-sealed, so only the recount can tell).
    let bare = vec![
        ExportEntry::Proposal {
            proposal: p.clone(),
        },
        ballot(&p, 0, Vote::Yes),
        ballot(&p, 2, Vote::Yes),
        decision(&p, Verdict::Approved),
    ];
    let fault = verify(file(&r, bare).as_bytes(), r.clone()).unwrap_err();
    assert_eq!(fault.line, 2, "{fault}");
    assert!(fault.what.contains("no certificate line"), "{fault}");

    // A file sealed by a key other than the header's.
    let fault = verify(file_sealed_by(&r, Vec::new(), 2).as_bytes(), r).unwrap_err();
    assert_eq!(fault.line, 2, "{fault}");
    assert!(fault.what.contains("seal does not verify"), "{fault}");
}
