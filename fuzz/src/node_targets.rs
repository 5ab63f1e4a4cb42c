//! Targets for the node's decoders: the catch-up frame reader, the node config, the API's
//! JSON bodies, export lines, receipt files, certificates as `verify-cert` reads them,
//! MCP tool arguments and the tool-call hook's events.

use std::fmt::Debug;
use std::path::Path;

use futures::io::Cursor;
use libp2p::request_response::Codec;
use serde::Serialize;
use serde::de::DeserializeOwned;
use swarmvote_node::api::{ExportEntry, ExportLine, ProposeBody, ReceiptFile, VoteBody};
use swarmvote_node::cli::certificate::verify_certificate;
use swarmvote_node::config::{NodeConfig, Overrides};
use swarmvote_node::daemon::network::codec::{PROTOCOL, SyncCodec};
use swarmvote_node::gate::hook::{Step, read_event};
use swarmvote_node::mcp::{
    AwaitDecision, CastVote, ListProposals, ProposalRef, ProposeAction, VerifyCertificate,
};
use swarmvote_protocol::catchup::{SyncRequest, SyncResponse};
use swarmvote_protocol::codec::{self, MAX_SYNC_BYTES};
use swarmvote_protocol::{Action, Certificate, Payload, ProposalId, Reason, Roster, receipt};

use crate::fixtures;

/// serde JSON: what parses prints to JSON that parses back, and prints the same again.
/// Returns the value and its printed bytes.
fn json_round_trip<T: Serialize + DeserializeOwned + Debug>(data: &[u8]) -> Option<(T, Vec<u8>)> {
    let value: T = serde_json::from_slice(data).ok()?;
    let printed = serde_json::to_vec(&value).expect("a parsed value prints");
    let again: T = serde_json::from_slice(&printed).unwrap_or_else(|e| {
        panic!(
            "printed JSON does not parse back: {e}\n{}",
            String::from_utf8_lossy(&printed)
        )
    });
    let reprinted = serde_json::to_vec(&again).expect("a parsed value prints");
    assert_eq!(
        reprinted,
        printed,
        "a {} prints two ways",
        std::any::type_name::<T>()
    );
    Some((again, printed))
}

/// Like [`json_round_trip`], and the value itself is unchanged.
fn json_round_trip_eq<T: Serialize + DeserializeOwned + Debug + PartialEq>(
    data: &[u8],
) -> Option<T> {
    let first: T = serde_json::from_slice(data).ok()?;
    let (again, _) = json_round_trip::<T>(data)?;
    assert_eq!(
        again,
        first,
        "a {} changed over JSON",
        std::any::type_name::<T>()
    );
    Some(first)
}

/// The catch-up frame reader (`SyncCodec`), then the codec on what it read. The first
/// byte picks request or response and a limit below or at the real one; the rest is the
/// stream. A frame is read whole iff it fits the limit, and it is the stream's bytes.
pub fn sync_frame(data: &[u8]) {
    let Some((&head, stream)) = data.split_first() else {
        return;
    };
    let limit = if head & 2 == 0 {
        MAX_SYNC_BYTES
    } else {
        usize::from(head >> 2).min(stream.len())
    };
    let mut sync = SyncCodec { limit };
    let mut io = Cursor::new(stream.to_vec());
    let read = if head & 1 == 0 {
        futures::executor::block_on(sync.read_request(&PROTOCOL, &mut io))
    } else {
        futures::executor::block_on(sync.read_response(&PROTOCOL, &mut io))
    };
    match read {
        Ok(frame) => {
            assert!(stream.len() <= limit, "a frame over the limit was read");
            assert_eq!(frame, stream, "the frame is not the stream's bytes");
            if head & 1 == 0 {
                crate::protocol_targets::codec_sync_request(&frame);
                let _ = codec::decode::<SyncRequest>(&frame);
            } else {
                crate::protocol_targets::codec_sync_response(&frame);
                let _ = codec::decode::<SyncResponse>(&frame);
            }
        }
        Err(_) => assert!(stream.len() > limit, "a frame within the limit was refused"),
    }
}

/// `NodeConfig::parse`, then the checks of its `[gate]` section.
pub fn node_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("fuzz/node.toml");
    if let Ok(config) = NodeConfig::parse(text, path, &Overrides::default()) {
        let _ = config.gate.check();
    }
}

/// `POST /v1/proposals` bodies, and the checks the handler applies to them.
pub fn api_propose(data: &[u8]) {
    if let Some(body) = json_round_trip_eq::<ProposeBody>(data) {
        let _ = Action::new(body.action);
        let _ = Payload::from_value(&body.payload);
    }
}

/// `POST /v1/proposals/{id}/vote` bodies, and the reason's check.
pub fn api_vote(data: &[u8]) {
    if let Some(VoteBody {
        reason: Some(reason),
        ..
    }) = json_round_trip_eq::<VoteBody>(data)
    {
        let _ = Reason::new(reason);
    }
}

/// Export lines, and verification of what they carry against the golden roster.
pub fn export_line(data: &[u8]) {
    let Some(line) = json_round_trip_eq::<ExportLine>(data) else {
        return;
    };
    let roster = fixtures::roster();
    match line.entry {
        ExportEntry::RosterStep { certificate } | ExportEntry::Certificate { certificate } => {
            let _ = certificate.verify(roster);
        }
        ExportEntry::Proposal { proposal } => drop(proposal.verify(roster)),
        ExportEntry::Ballot { ballot } => drop(ballot.verify(roster)),
        ExportEntry::Evidence { evidence } => drop(evidence.verify(roster)),
        ExportEntry::Receipt { receipt } => drop(receipt.verify(roster)),
        _ => {}
    }
}

/// Receipt files as `swarmvote verify-receipt` reads them: the receipt verified and judged
/// against the certificate it names, under the golden roster.
pub fn receipt_file(data: &[u8]) {
    let Some((file, _)) = json_round_trip::<ReceiptFile>(data) else {
        return;
    };
    let roster = fixtures::roster();
    if let Ok(verified) = file.receipt.clone().verify(roster) {
        let _ = receipt::judge(verified.receipt(), file.certificate, roster, None);
    }
}

/// Certificates in JSON: as `Certificate`, round trip and verification; and as
/// `swarmvote verify-cert` and the MCP tool check them (`verify_certificate` on the JSON).
pub fn certificate_json(data: &[u8]) {
    let roster = fixtures::roster();
    if let Some(cert) = json_round_trip_eq::<Certificate>(data) {
        let _ = cert.verify(roster);
    }
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = verify_certificate(&value, roster);
    }
}

/// MCP tool arguments. The first byte picks the tool; the rest is its arguments object,
/// checked as the tool checks it.
pub fn mcp_args(data: &[u8]) {
    let Some((&tool, args)) = data.split_first() else {
        return;
    };
    let id = |text: &str| drop(text.trim().parse::<ProposalId>());
    match tool % 6 {
        0 => {
            if let Some((a, _)) = json_round_trip::<ProposeAction>(args) {
                let _ = Action::new(a.action);
                let _ = Payload::from_value(&a.payload);
            }
        }
        1 => {
            if let Some((a, _)) = json_round_trip::<AwaitDecision>(args) {
                id(&a.id);
            }
        }
        2 => {
            if let Some((a, _)) = json_round_trip::<ProposalRef>(args) {
                id(&a.id);
            }
        }
        3 => {
            if let Some((a, _)) = json_round_trip::<ListProposals>(args) {
                let _ = a.action.map(Action::new);
            }
        }
        4 => {
            if let Some((a, _)) = json_round_trip::<CastVote>(args) {
                id(&a.id);
                let _ = a.reason.map(Reason::new);
            }
        }
        _ => {
            if let Some((a, _)) = json_round_trip::<VerifyCertificate>(args) {
                let given = a.roster.as_deref().map(Roster::from_toml);
                let roster = match &given {
                    Some(Ok(r)) => r,
                    Some(Err(_)) => return,
                    None => fixtures::roster(),
                };
                let _ = verify_certificate(&a.certificate, roster);
            }
        }
    }
}

/// Tool-call hook events under the example config's gate rules: never a panic, and a
/// call the gate asks about always carries a payload that can be proposed.
pub fn hook_event(data: &[u8]) {
    match read_event(data, fixtures::gate_rules()) {
        Step::Answer(answer) => drop(answer.to_json()),
        Step::Ask(critical) => assert!(
            Payload::from_value(&critical.payload).is_ok(),
            "the gate asks about a payload it cannot propose"
        ),
    }
}
