//! The seed corpus of every target: the golden wire vectors, the repository's config,
//! policy and hook fixtures, and values built from them (catch-up messages, JSON forms).

use swarmvote_node::api::{ExportEntry, ExportHeader, ExportLine, ReceiptFile};
use swarmvote_protocol::catchup::{Range, RangeSummary, SyncRequest, SyncResponse};
use swarmvote_protocol::codec::{self, Message};
use swarmvote_protocol::engine::Decision;
use swarmvote_protocol::keyfile::encode_secret_key;
use swarmvote_protocol::{
    Certificate, Equivocation, Signature, SignedBallot, SignedProposal, SignedReceipt, UnixMillis,
    Verdict,
};

use crate::fixtures::{self, NODE_EXAMPLE, key, vector};

const ROSTER_EXAMPLE: &str = include_str!("../../configs/roster.example.toml");
const ROSTER_TIERS_EXAMPLE: &str = include_str!("../../configs/roster.tiers.example.toml");
const REGO_EXAMPLE: &str = include_str!("../../configs/policies/swarmvote.rego");
const HOOK_EVENTS: &[&str] = &[
    include_str!("../../node/tests/fixtures/claude-code/pre-tool-use-write-etc.json"),
    include_str!("../../node/tests/fixtures/claude-code/pre-tool-use-bash-rm-backup.json"),
    include_str!("../../node/tests/fixtures/claude-code/pre-tool-use-bash-ls.json"),
    include_str!("../../node/tests/fixtures/claude-code/post-tool-use-bash-rm-backup.json"),
    include_str!("../../node/tests/fixtures/claude-code/pre-tool-use-bash-rm-scratch.json"),
];

/// The golden messages, decoded.
struct Golden {
    proposal: SignedProposal,
    yes: SignedBallot,
    no: SignedBallot,
    certificate: Certificate,
    receipt: SignedReceipt,
}

fn golden() -> Golden {
    fn get<M: Message>(name: &str) -> M {
        codec::decode(&vector(name)).unwrap_or_else(|e| panic!("golden {name}: {e}"))
    }
    Golden {
        proposal: get("proposal"),
        yes: get("ballot.yes"),
        no: get("ballot.no"),
        certificate: get("certificate"),
        receipt: get("receipt"),
    }
}

fn encoded<M: Message>(m: &M) -> Vec<u8> {
    codec::encode(m).expect("seed encodes")
}

fn json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("seed prints")
}

fn sync_requests(g: &Golden) -> Vec<SyncRequest> {
    let summary = RangeSummary {
        range: Range {
            from: 1_700_000_000_000,
            to: 1_800_000_000_000,
            prefix: vec![0x6f],
        },
        count: 1,
        digest: [0x11; 32],
    };
    vec![
        SyncRequest::Reconcile {
            ranges: vec![summary],
            complete: true,
        },
        SyncRequest::Fetch(vec![g.proposal.id()]),
        SyncRequest::Steps { after: 3 },
    ]
}

fn sync_responses(g: &Golden) -> Vec<SyncResponse> {
    vec![
        SyncResponse::Reconcile {
            entries: vec![(g.proposal.id(), [0x22; 32])],
            ranges: Vec::new(),
        },
        SyncResponse::Items {
            proposals: vec![g.proposal.clone()],
            ballots: vec![g.yes.clone(), g.no.clone()],
        },
        SyncResponse::Steps(vec![g.certificate.clone()]),
        SyncResponse::ItemsWithReceipts {
            proposals: vec![g.proposal.clone()],
            ballots: vec![g.yes.clone()],
            receipts: vec![g.receipt.clone()],
        },
    ]
}

fn export_lines(g: &Golden) -> Vec<ExportLine> {
    let header = ExportHeader {
        format: swarmvote_node::api::EXPORT_FORMAT.to_owned(),
        version: swarmvote_node::api::EXPORT_VERSION,
        swarm: "golden".to_owned(),
        genesis: fixtures::roster().digest(),
        node: key(0).voter_id(),
        since: UnixMillis(0),
        until: Some(UnixMillis(1_800_000_000_000)),
        exported_at: UnixMillis(1_700_000_100_000),
    };
    let evidence = Equivocation::new(g.yes.clone(), g.no.clone()).ok();
    let mut entries = vec![
        ExportEntry::Header { header },
        ExportEntry::Proposal {
            proposal: g.proposal.clone(),
        },
        ExportEntry::Ballot {
            ballot: g.yes.clone(),
        },
        ExportEntry::Certificate {
            certificate: g.certificate.clone(),
        },
        ExportEntry::RosterStep {
            certificate: g.certificate.clone(),
        },
        ExportEntry::Receipt {
            receipt: g.receipt.clone(),
        },
        ExportEntry::End {
            lines: 7,
            proposals: 1,
            seal: Signature([0x33; 64]),
        },
    ];
    entries.extend(evidence.map(|evidence| ExportEntry::Evidence { evidence }));
    entries
        .into_iter()
        .zip(1..)
        .map(|(entry, n)| ExportLine {
            n,
            prev: "0".repeat(64),
            entry,
        })
        .collect()
}

/// The seeds of target `name` (empty for an unknown name).
pub fn seeds(name: &str) -> Vec<Vec<u8>> {
    let g = golden();
    let text = |items: &[&str]| items.iter().map(|s| s.as_bytes().to_vec()).collect();
    match name {
        "codec_proposal" => vec![vector("proposal")],
        "codec_ballot" => vec![vector("ballot.yes"), vector("ballot.no")],
        "codec_equivocation" => vec![vector("equivocation")],
        "codec_certificate" => vec![vector("certificate")],
        "codec_receipt" => vec![vector("receipt")],
        "codec_decision" => [Verdict::Pending, Verdict::Approved, Verdict::Rejected]
            .into_iter()
            .map(|verdict| {
                encoded(&Decision {
                    proposal: g.proposal.id(),
                    verdict,
                    decided_at: UnixMillis(1_700_000_001_000),
                })
            })
            .collect(),
        "codec_sync_request" => sync_requests(&g).iter().map(encoded).collect(),
        "codec_sync_response" => sync_responses(&g).iter().map(encoded).collect(),
        "gossip" => [
            "proposal",
            "ballot.yes",
            "ballot.no",
            "equivocation",
            "receipt",
        ]
        .into_iter()
        .map(vector)
        .collect(),
        "sync_frame" => {
            let requests = sync_requests(&g).into_iter().map(|m| (0u8, encoded(&m)));
            let responses = sync_responses(&g).into_iter().map(|m| (1u8, encoded(&m)));
            requests
                .chain(responses)
                .map(|(head, frame)| [vec![head], frame].concat())
                .collect()
        }
        "roster_toml" => {
            let mut seeds: Vec<Vec<u8>> = text(&[ROSTER_EXAMPLE, ROSTER_TIERS_EXAMPLE]);
            seeds.push(fixtures::roster().to_toml().into_bytes());
            seeds
        }
        "node_config" => text(&[NODE_EXAMPLE]),
        "keyfile" => (0..3)
            .map(|i| encode_secret_key(&key(i)).into_bytes())
            .collect(),
        "certificate_json" => vec![json(&g.certificate)],
        "rego_policy" => text(&[
            REGO_EXAMPLE,
            "package swarmvote\n\ndecision := {\"vote\": \"no\", \"reason\": \"always\"}\n",
            "package swarmvote\n\ndecision := {\"vote\": \"yes\"} if input.action == \"fs.read\"\n",
        ]),
        "api_propose" => text(&[
            r#"{"action":"fs.delete","payload":{"path":"/backup/db","recursive":true}}"#,
            r#"{"action":"deploy","payload":[1,2.5,"x",null],"ttl_ms":60000,"wait_ms":3000}"#,
        ]),
        "api_vote" => text(&[
            r#"{"vote":"yes"}"#,
            r#"{"vote":"no","reason":"backups are kept for 30 days"}"#,
        ]),
        "export_line" => export_lines(&g).iter().map(json).collect(),
        "receipt_file" => vec![
            json(&ReceiptFile {
                receipt: g.receipt.clone(),
                certificate: Some(g.certificate.clone()),
            }),
            json(&ReceiptFile {
                receipt: g.receipt.clone(),
                certificate: None,
            }),
        ],
        "mcp_args" => {
            let id = g.proposal.id().to_string();
            let cert = String::from_utf8(json(&g.certificate)).expect("JSON is UTF-8");
            let roster = serde_json::to_string(&fixtures::roster().to_toml()).expect("string");
            let args = [
                (
                    0u8,
                    r#"{"action":"fs.delete","payload":{"path":"/x"},"ttl_s":60,"wait_s":3}"#
                        .to_owned(),
                ),
                (1, format!(r#"{{"id":"{id}","wait_s":10}}"#)),
                (2, format!(r#"{{"id":"{id}"}}"#)),
                (
                    3,
                    r#"{"status":"pending","action":"fs.delete","limit":5}"#.to_owned(),
                ),
                (
                    4,
                    format!(r#"{{"id":"{id}","vote":"no","reason":"not now"}}"#),
                ),
                (5, format!(r#"{{"certificate":{cert},"roster":{roster}}}"#)),
                (5, format!(r#"{{"certificate":{cert}}}"#)),
            ];
            args.into_iter()
                .map(|(tool, a)| [vec![tool], a.into_bytes()].concat())
                .collect()
        }
        "hook_event" => text(HOOK_EVENTS),
        _ => Vec::new(),
    }
}
