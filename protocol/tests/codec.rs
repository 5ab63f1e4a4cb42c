//! The codec: golden vectors, round trips, and strict rejection of anything else.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, unsafe_code)]

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::fmt::Write as _;
use std::path::PathBuf;

use common::*;
use proptest::prelude::*;
use swarmvote_protocol::codec::{self, MAX_MESSAGE_BYTES};
use swarmvote_protocol::gossip;
use swarmvote_protocol::{
    Action, Ballot, Certificate, CodecError, Equivocation, Gossip, Kind, Nonce, Payload, Proposal,
    Reason, Roster, SignedBallot, SignedProposal, UnixMillis, Vote,
};

/// Counts the bytes this thread allocates, so a test can show that decoding an oversized
/// or lying message allocates (almost) nothing.
struct Counting;

thread_local! {
    static ALLOCATED: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATED.try_with(|c| c.set(c.get().saturating_add(layout.size())));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocated_by<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = ALLOCATED.with(Cell::get);
    let out = f();
    (out, ALLOCATED.with(Cell::get) - before)
}

// ---------------------------------------------------------------------------------------
// Golden vectors
// ---------------------------------------------------------------------------------------

struct Golden {
    roster: Roster,
    proposal: SignedProposal,
    ballot_yes: SignedBallot,
    ballot_no: SignedBallot,
    equivocation: Equivocation,
    certificate: Certificate,
    receipt: swarmvote_protocol::SignedReceipt,
}

fn golden() -> Golden {
    let roster = roster_in("golden", 3, "2/3");
    let proposal = Proposal {
        swarm: roster.swarm().clone(),
        roster: roster.digest(),
        proposer: key(0).voter_id(),
        action: Action::new("fs.delete").unwrap(),
        payload: Payload::from_json_text(r#"{"path":"/backup/db","recursive":true}"#).unwrap(),
        created_at: UnixMillis(1_767_225_600_000),
        expires_at: UnixMillis(1_767_225_660_000),
        nonce: Nonce(*b"golden-nonce-v1!"),
    }
    .sign(&key(0))
    .unwrap();
    let ballot_yes = ballot_with_reason(&proposal, 1, Vote::Yes, "checked the policy");
    let ballot_no = ballot(&proposal, 2, Vote::No);
    let equivocation =
        Equivocation::new(ballot(&proposal, 2, Vote::Yes), ballot_no.clone()).unwrap();
    let certificate = Certificate::new(
        proposal.clone(),
        vec![ballot(&proposal, 0, Vote::Yes), ballot_yes.clone()],
    )
    .with_tier(swarmvote_protocol::certificate::TierLabel {
        name: "default".parse().unwrap(),
        required: 2,
    });
    let receipt = swarmvote_protocol::Receipt {
        swarm: roster.swarm().clone(),
        proposal: proposal.id(),
        certificate: certificate.digest(),
        approvers: certificate
            .ballots()
            .iter()
            .map(|b| b.ballot().voter)
            .collect(),
        executor: key(0).voter_id(),
        command: "/usr/local/bin/do-delete --recursive".into(),
        exit_code: Some(0),
        stdout: swarmvote_protocol::receipt::output_digest(b"deleted\n"),
        stderr: swarmvote_protocol::receipt::output_digest(b""),
        started_at: UnixMillis(1_767_225_601_000),
        finished_at: UnixMillis(1_767_225_602_500),
    }
    .sign(&key(0))
    .unwrap();
    Golden {
        roster,
        proposal,
        ballot_yes,
        ballot_no,
        equivocation,
        certificate,
        receipt,
    }
}

fn vectors_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/v1.txt")
}

fn render(g: &Golden) -> String {
    let mut s = String::from(
        "# swarmvote wire format, envelope version 1: golden vectors.\n\
         # Every message below is rebuilt from these seeds and must encode to exactly these\n\
         # bytes. Changing a line is a deliberate wire-format change; regenerate with\n\
         #   SWARMVOTE_BLESS=1 cargo test -p swarmvote-protocol --test codec\n\
         # Keys: member i's seed is i as 4 little-endian bytes, zeros, and 0x5a last.\n",
    );
    for i in 0..3 {
        writeln!(s, "seed.m{i} = {}", hex::encode(key(i).seed())).unwrap();
        writeln!(s, "public.m{i} = {}", key(i).voter_id()).unwrap();
    }
    writeln!(s, "roster.swarm = golden").unwrap();
    writeln!(s, "roster.quorum = 2/3").unwrap();
    writeln!(s, "roster.digest = {}", g.roster.digest()).unwrap();
    writeln!(s, "proposal.id = {}", g.proposal.id()).unwrap();
    let messages: [(&str, Vec<u8>); 6] = [
        ("proposal", codec::encode(&g.proposal).unwrap()),
        ("ballot.yes", codec::encode(&g.ballot_yes).unwrap()),
        ("ballot.no", codec::encode(&g.ballot_no).unwrap()),
        ("equivocation", codec::encode(&g.equivocation).unwrap()),
        ("certificate", codec::encode(&g.certificate).unwrap()),
        ("receipt", codec::encode(&g.receipt).unwrap()),
    ];
    for (name, bytes) in messages {
        writeln!(s, "{name} = {}", hex::encode(bytes)).unwrap();
    }
    s
}

fn read_vectors() -> Vec<(String, String)> {
    std::fs::read_to_string(vectors_path())
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (k, v) = l.split_once(" = ").unwrap();
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

fn vector_text(name: &str) -> String {
    read_vectors()
        .into_iter()
        .find(|(k, _)| k == name)
        .unwrap_or_else(|| panic!("no vector {name}"))
        .1
}

fn vector(name: &str) -> Vec<u8> {
    hex::decode(vector_text(name)).unwrap()
}

#[test]
fn golden_vectors_are_stable() {
    let text = render(&golden());
    if std::env::var_os("SWARMVOTE_BLESS").is_some() {
        std::fs::write(vectors_path(), &text).unwrap();
    }
    let stored = std::fs::read_to_string(vectors_path()).unwrap();
    assert!(
        stored == text,
        "the encoding changed; if this is a deliberate format change, bless it \
         (see the file header).\n--- stored\n{stored}\n--- now\n{text}"
    );
}

#[test]
fn golden_vectors_decode_and_verify() {
    let g = golden();
    let p: SignedProposal = codec::decode(&vector("proposal")).unwrap();
    assert_eq!(p, g.proposal);
    assert_eq!(p.id().to_string(), vector_text("proposal.id"));
    assert_eq!(g.roster.digest().to_string(), vector_text("roster.digest"));
    p.verify(&g.roster).unwrap();
    let b: SignedBallot = codec::decode(&vector("ballot.yes")).unwrap();
    assert_eq!(b, g.ballot_yes);
    b.verify(&g.roster).unwrap();
    let b: SignedBallot = codec::decode(&vector("ballot.no")).unwrap();
    assert_eq!(b, g.ballot_no);
    b.verify(&g.roster).unwrap();
    let e: Equivocation = codec::decode(&vector("equivocation")).unwrap();
    assert_eq!(e, g.equivocation);
    e.verify(&g.roster).unwrap();
    let c: Certificate = codec::decode(&vector("certificate")).unwrap();
    assert_eq!(c, g.certificate);
    c.clone().verify(&g.roster).unwrap();
    let r: swarmvote_protocol::SignedReceipt = codec::decode(&vector("receipt")).unwrap();
    assert_eq!(r, g.receipt);
    let r = r.verify(&g.roster).unwrap();
    assert!(swarmvote_protocol::receipt::judge(r.receipt(), Some(c), &g.roster, None).is_backed());
}

/// Decodes as `kind` and verifies against the roster; true only if both pass.
fn accepted(kind: &str, bytes: &[u8], roster: &Roster) -> bool {
    match kind {
        "proposal" => codec::decode::<SignedProposal>(bytes)
            .map(|m| m.verify(roster).is_ok())
            .unwrap_or(false),
        "ballot.yes" | "ballot.no" => codec::decode::<SignedBallot>(bytes)
            .map(|m| m.verify(roster).is_ok())
            .unwrap_or(false),
        "equivocation" => codec::decode::<Equivocation>(bytes)
            .map(|m| m.verify(roster).is_ok())
            .unwrap_or(false),
        "certificate" => codec::decode::<Certificate>(bytes)
            .map(|m| m.verify(roster).is_ok())
            .unwrap_or(false),
        "receipt" => codec::decode::<swarmvote_protocol::SignedReceipt>(bytes)
            .map(|m| m.verify(roster).is_ok())
            .unwrap_or(false),
        other => panic!("unknown vector {other}"),
    }
}

const MESSAGES: [&str; 6] = [
    "proposal",
    "ballot.yes",
    "ballot.no",
    "equivocation",
    "certificate",
    "receipt",
];

#[test]
fn every_bit_flip_is_rejected() {
    let g = golden();
    for name in MESSAGES {
        let good = vector(name);
        assert!(accepted(name, &good, &g.roster), "{name} itself rejected");
        for i in 0..good.len() {
            for bit in 0..8 {
                let mut bad = good.clone();
                bad[i] ^= 1 << bit;
                assert!(
                    !accepted(name, &bad, &g.roster),
                    "{name}: flipping bit {bit} of byte {i} was accepted"
                );
            }
        }
    }
}

#[test]
fn every_truncation_is_rejected() {
    for name in MESSAGES {
        let good = vector(name);
        for len in 0..good.len() {
            let cut = &good[..len];
            let err = match name {
                "proposal" => codec::decode::<SignedProposal>(cut).err(),
                "ballot.yes" | "ballot.no" => codec::decode::<SignedBallot>(cut).err(),
                "equivocation" => codec::decode::<Equivocation>(cut).err(),
                "receipt" => codec::decode::<swarmvote_protocol::SignedReceipt>(cut).err(),
                _ => codec::decode::<Certificate>(cut).err(),
            };
            assert!(err.is_some(), "{name} truncated to {len} bytes decoded");
        }
    }
}

#[test]
fn trailing_bytes_are_rejected() {
    let mut bytes = vector("ballot.yes");
    bytes.push(0);
    assert_eq!(
        codec::decode::<SignedBallot>(&bytes).unwrap_err(),
        CodecError::TrailingBytes {
            kind: Kind::Ballot,
            extra: 1
        }
    );
    assert!(matches!(
        gossip::decode_gossip(&bytes),
        Err(CodecError::TrailingBytes { .. })
    ));
}

#[test]
fn unknown_versions_and_kinds_are_rejected() {
    let good = vector("ballot.yes");
    let mut v2 = good.clone();
    v2[0] = 2;
    assert_eq!(
        codec::decode::<SignedBallot>(&v2).unwrap_err(),
        CodecError::UnknownVersion { found: 2 }
    );
    for k in [0u8, 9, 200] {
        let mut bad = good.clone();
        bad[1] = k;
        assert_eq!(
            gossip::decode_gossip(&bad).unwrap_err(),
            CodecError::UnknownKind { found: k }
        );
    }
    // A ballot is not a proposal.
    assert!(matches!(
        codec::decode::<SignedProposal>(&good),
        Err(CodecError::UnexpectedKind {
            expected: Kind::Proposal,
            found: Kind::Ballot
        })
    ));
    // Certificates do not travel as gossip.
    assert!(matches!(
        gossip::decode_gossip(&vector("certificate")),
        Err(CodecError::UnexpectedKind { .. })
    ));
    assert!(matches!(
        gossip::decode_gossip(&[]),
        Err(CodecError::NoEnvelope { len: 0 })
    ));
}

#[test]
fn oversized_messages_are_rejected_without_allocating() {
    let mut huge = vec![0u8; MAX_MESSAGE_BYTES + 1];
    huge[0] = codec::VERSION;
    huge[1] = Kind::Ballot as u8;
    let (result, bytes) = allocated_by(|| codec::decode::<SignedBallot>(&huge));
    assert_eq!(
        result.unwrap_err(),
        CodecError::TooLarge {
            len: MAX_MESSAGE_BYTES + 1,
            max: MAX_MESSAGE_BYTES
        }
    );
    assert_eq!(
        bytes, 0,
        "decode allocated {bytes} bytes for an oversized input"
    );
    let (result, bytes) = allocated_by(|| gossip::decode_gossip(&huge));
    assert!(matches!(result, Err(CodecError::TooLarge { .. })));
    assert_eq!(bytes, 0);

    // A small message whose first length prefix claims u64::MAX bytes.
    let mut lying = vec![codec::VERSION, Kind::Ballot as u8, 253];
    lying.extend_from_slice(&u64::MAX.to_le_bytes());
    lying.extend_from_slice(b"golden");
    let (result, bytes) = allocated_by(|| codec::decode::<SignedBallot>(&lying));
    assert!(result.is_err());
    assert!(
        bytes < 1024,
        "decode allocated {bytes} bytes for a lying length"
    );

    // Encoding refuses to build an oversized message.
    let g = golden();
    let mut fat = g.proposal.proposal().clone();
    fat.payload = Payload::from_value(&serde_json::json!({"k": "x".repeat(32_000)})).unwrap();
    let fat = fat.sign(&key(0)).unwrap();
    assert!(codec::encode(&fat).is_ok(), "a 32 KB payload fits");
}

#[test]
fn non_canonical_varints_are_rejected() {
    // The swarm id's length (6) written as a 3-byte varint instead of one byte.
    let good = vector("ballot.yes");
    assert_eq!(good[2], 6);
    let mut long = good[..2].to_vec();
    long.extend_from_slice(&[251, 6, 0]);
    long.extend_from_slice(&good[3..]);
    let err = codec::decode::<SignedBallot>(&long).unwrap_err();
    assert!(
        matches!(
            err,
            CodecError::NonCanonical { .. } | CodecError::Malformed { .. }
        ),
        "{err}"
    );
}

#[test]
fn non_canonical_payload_is_rejected() {
    // Re-encode a proposal whose payload bytes have a space: it must not decode.
    let g = golden();
    let good = codec::encode(&g.proposal).unwrap();
    let canonical = g.proposal.proposal().payload.as_bytes().to_vec();
    let pos = good
        .windows(canonical.len())
        .position(|w| w == canonical.as_slice())
        .unwrap();
    let mut spaced = canonical.clone();
    spaced.insert(1, b' ');
    let mut bad = good[..pos - 1].to_vec();
    bad.push(u8::try_from(spaced.len()).unwrap());
    bad.extend_from_slice(&spaced);
    bad.extend_from_slice(&good[pos + canonical.len()..]);
    let err = codec::decode::<SignedProposal>(&bad).unwrap_err();
    assert!(err.to_string().contains("canonical"), "{err}");
}

// ---------------------------------------------------------------------------------------
// Round trips over random messages
// ---------------------------------------------------------------------------------------

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<u64>().prop_map(serde_json::Value::from),
        (-1e12f64..1e12).prop_map(serde_json::Value::from),
        "[a-z/ .é\u{1F600}\"\\\\]{0,12}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(serde_json::Value::from),
            prop::collection::btree_map("[a-z]{0,6}", inner, 0..5)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

prop_compose! {
    fn arb_proposal()(
        action in "[a-z]{1,10}(\\.[a-z]{1,10}){0,2}",
        payload in json_value(),
        created in 0u64..(u64::MAX / 2),
        ttl in 1u64..=swarmvote_protocol::message::MAX_TTL_MS,
        nonce in any::<[u8; 16]>(),
        proposer in 0u32..3,
    ) -> SignedProposal {
        let r = roster_in("golden", 3, "2/3");
        Proposal {
            swarm: r.swarm().clone(),
            roster: r.digest(),
            proposer: key(proposer).voter_id(),
            action: Action::new(action).unwrap(),
            payload: Payload::from_value(&payload).unwrap(),
            created_at: UnixMillis(created),
            expires_at: UnixMillis(created + ttl),
            nonce: Nonce(nonce),
        }
        .sign(&key(proposer))
        .unwrap()
    }
}

prop_compose! {
    fn arb_ballot()(
        p in arb_proposal(),
        voter in 0u32..3,
        yes in any::<bool>(),
        reason in proptest::option::of("[ -~\n\t\u{e9}]{1,64}"),
    ) -> SignedBallot {
        Ballot {
            swarm: p.proposal().swarm.clone(),
            proposal: p.id(),
            voter: key(voter).voter_id(),
            vote: if yes { Vote::Yes } else { Vote::No },
            reason: reason.map(|r| Reason::new(r).unwrap()),
        }
        .sign(&key(voter))
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn proposals_round_trip_canonically(p in arb_proposal()) {
        let bytes = codec::encode(&p).unwrap();
        let back: SignedProposal = codec::decode(&bytes).unwrap();
        prop_assert_eq!(&back, &p);
        prop_assert_eq!(back.id(), p.id());
        prop_assert_eq!(codec::encode(&back).unwrap(), bytes.clone());
        prop_assert_eq!(gossip::decode_gossip(&bytes).unwrap(), Gossip::Proposal(p.clone()));
        // JSON too, and the payload appears as JSON, not bytes.
        let json = serde_json::to_string(&p).unwrap();
        let back: SignedProposal = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(&back, &p);
        let r = roster_in("golden", 3, "2/3");
        prop_assert!(back.verify(&r).is_ok());
    }

    #[test]
    fn ballots_round_trip_canonically(b in arb_ballot()) {
        let bytes = codec::encode(&b).unwrap();
        let back: SignedBallot = codec::decode(&bytes).unwrap();
        prop_assert_eq!(&back, &b);
        prop_assert_eq!(codec::encode(&back).unwrap(), bytes);
        let json = serde_json::to_string(&b).unwrap();
        prop_assert_eq!(serde_json::from_str::<SignedBallot>(&json).unwrap(), b);
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = gossip::decode_gossip(&bytes);
        let _ = codec::decode::<Certificate>(&bytes);
        let mut framed = vec![codec::VERSION, (bytes.len() % 4) as u8 + 1];
        framed.extend_from_slice(&bytes);
        let _ = gossip::decode_gossip(&framed);
        let _ = codec::decode::<Certificate>(&framed);
    }
}

#[test]
fn json_ids_must_match_content() {
    let g = golden();
    let mut json: serde_json::Value = serde_json::to_value(&g.proposal).unwrap();
    assert_eq!(
        json["id"],
        serde_json::Value::from(g.proposal.id().to_string())
    );
    assert_eq!(json["proposal"]["payload"]["path"], "/backup/db");
    json["proposal"]["payload"]["path"] = "/tmp".into();
    let err = serde_json::from_value::<SignedProposal>(json).unwrap_err();
    assert!(err.to_string().contains("does not match"), "{err}");
}
