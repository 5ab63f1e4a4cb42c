//! Targets for the protocol's decoders: the wire codec of every message kind, gossip,
//! roster TOML, key files and Rego policies.

use std::fmt::Debug;

use swarmvote_protocol::catchup::{SyncRequest, SyncResponse};
use swarmvote_protocol::codec::{self, Message};
use swarmvote_protocol::engine::Decision;
use swarmvote_protocol::gossip::{decode_gossip, encode_gossip};
use swarmvote_protocol::keyfile::{decode_secret_key, encode_secret_key};
use swarmvote_protocol::policy::{DEFAULT_ENTRYPOINT, RegoPolicy};
use swarmvote_protocol::{
    Certificate, Equivocation, Gossip, Roster, SignedBallot, SignedProposal, SignedReceipt,
};

use crate::fixtures;

/// Strict decoding means one value has one encoding: what decodes re-encodes to exactly
/// the input, and decodes again to the same value.
fn round_trip<M: Message + PartialEq + Debug>(data: &[u8]) -> Option<M> {
    let value = codec::decode::<M>(data).ok()?;
    let bytes = codec::encode(&value).expect("a decoded message re-encodes within its limit");
    assert_eq!(
        bytes,
        data,
        "re-encoding a decoded {:?} changed its bytes",
        M::KIND
    );
    let again = codec::decode::<M>(&bytes).expect("a re-encoded message decodes");
    assert_eq!(again, value, "a {:?} changed over a round trip", M::KIND);
    Some(value)
}

/// `SignedProposal`: round trip, then verification against the golden roster.
pub fn codec_proposal(data: &[u8]) {
    if let Some(p) = round_trip::<SignedProposal>(data) {
        let _ = p.verify(fixtures::roster());
    }
}

/// `SignedBallot`: round trip, then verification.
pub fn codec_ballot(data: &[u8]) {
    if let Some(b) = round_trip::<SignedBallot>(data) {
        let _ = b.verify(fixtures::roster());
    }
}

/// `Equivocation`: round trip, then verification.
pub fn codec_equivocation(data: &[u8]) {
    if let Some(e) = round_trip::<Equivocation>(data) {
        let _ = e.verify(fixtures::roster());
    }
}

/// `Certificate`: round trip, then verification.
pub fn codec_certificate(data: &[u8]) {
    if let Some(c) = round_trip::<Certificate>(data) {
        let _ = c.verify(fixtures::roster());
    }
}

/// `Decision`, the storage record: round trip.
pub fn codec_decision(data: &[u8]) {
    let _ = round_trip::<Decision>(data);
}

/// `SyncRequest`: round trip.
pub fn codec_sync_request(data: &[u8]) {
    let _ = round_trip::<SyncRequest>(data);
}

/// `SyncResponse`: round trip, then verification of what it carries.
pub fn codec_sync_response(data: &[u8]) {
    let Some(response) = round_trip::<SyncResponse>(data) else {
        return;
    };
    let roster = fixtures::roster();
    match response {
        SyncResponse::Items { proposals, ballots } => {
            proposals.into_iter().for_each(|p| drop(p.verify(roster)));
            ballots.into_iter().for_each(|b| drop(b.verify(roster)));
        }
        SyncResponse::ItemsWithReceipts {
            proposals,
            ballots,
            receipts,
        } => {
            proposals.into_iter().for_each(|p| drop(p.verify(roster)));
            ballots.into_iter().for_each(|b| drop(b.verify(roster)));
            receipts.into_iter().for_each(|r| drop(r.verify(roster)));
        }
        SyncResponse::Steps(steps) => steps.into_iter().for_each(|c| drop(c.verify(roster))),
        SyncResponse::Reconcile { .. } => {}
    }
}

/// `SignedReceipt`: round trip, then verification.
pub fn codec_receipt(data: &[u8]) {
    if let Some(r) = round_trip::<SignedReceipt>(data) {
        let _ = r.verify(fixtures::roster());
    }
}

/// `decode_gossip`, any gossip kind: same bytes back from `encode_gossip`, and the same
/// value as the kind's own decoder gives.
pub fn gossip(data: &[u8]) {
    let Ok(message) = decode_gossip(data) else {
        return;
    };
    let bytes = encode_gossip(&message).expect("decoded gossip re-encodes");
    assert_eq!(bytes, data, "re-encoding decoded gossip changed its bytes");
    assert_eq!(
        decode_gossip(&bytes).expect("re-encoded gossip decodes"),
        message
    );
    let same = match &message {
        Gossip::Proposal(p) => codec::decode::<SignedProposal>(data).ok().as_ref() == Some(p),
        Gossip::Ballot(b) => codec::decode::<SignedBallot>(data).ok().as_ref() == Some(b),
        Gossip::Equivocation(e) => codec::decode::<Equivocation>(data).ok().as_ref() == Some(e),
        Gossip::Receipt(r) => codec::decode::<SignedReceipt>(data).ok().as_ref() == Some(r),
    };
    assert!(same, "decode_gossip and the kind's decoder disagree");
}

/// `Roster::from_toml`: what parses prints back to TOML that parses to the same roster
/// (same digest), and prints the same again.
pub fn roster_toml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(roster) = Roster::from_toml(text) else {
        return;
    };
    let printed = roster.to_toml();
    let again = Roster::from_toml(&printed)
        .unwrap_or_else(|e| panic!("a printed roster does not parse: {e}\n{printed}"));
    assert_eq!(again, roster, "a roster changed over TOML");
    assert_eq!(again.digest(), roster.digest());
    assert_eq!(again.to_toml(), printed, "a roster prints two ways");
}

/// Key files (`decode_secret_key`, what the node's `read_secret_key` runs on the file's
/// text): a key read back from its encoding is the same key.
pub fn keyfile(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(key) = decode_secret_key(text) else {
        return;
    };
    let encoded = encode_secret_key(&key);
    let again = decode_secret_key(&encoded).expect("an encoded key decodes");
    assert_eq!(
        again.seed(),
        key.seed(),
        "a key changed over its file format"
    );
    assert_eq!(encode_secret_key(&again), encoded);
}

/// Rego policy loading (`RegoPolicy::compile`), then one decision on a fixed proposal
/// input, whose instruction cap bounds any loop.
pub fn rego_policy(data: &[u8]) {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(policy) = RegoPolicy::compile("fuzz.rego", source, DEFAULT_ENTRYPOINT) else {
        return;
    };
    let input = serde_json::json!({
        "id": "00".repeat(32),
        "action": "fs.delete",
        "payload": {"path": "/backup/db", "paths": ["/a", "/b"], "recursive": true},
        "proposer": {"name": "m0", "key": "11".repeat(32)},
        "created_at": 1_700_000_000_000u64,
        "expires_at": 1_700_000_060_000u64,
    });
    let _ = policy.decide(&input);
}
