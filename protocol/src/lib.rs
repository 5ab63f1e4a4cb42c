//! The pure core of swarmvote: identities, the roster, signed proposals and ballots, the
//! codec, the deterministic tally, quorum certificates, and the node's state machine
//! (the engine) that both the node and the simulator drive.
//!
//! Nothing here opens a socket, touches a file, reads a clock or draws OS randomness:
//! time (`now`, in Unix milliseconds) and randomness (key seeds, nonces) are arguments.
//! `protocol/clippy.toml` forbids reading either clock, the thread-local RNG and
//! hash-ordered collections. [`keyfile`] is the key file's text format only; the node
//! reads and writes the files.
//!
//! # Layers
//!
//! Each module imports only from the layers below it (`tests/tests/layering.rs` checks
//! that no two modules import each other, directly or around a circle):
//!
//! 1. [`ids`], [`quorum`]: identifiers, names, timestamps, limits, quorum rules.
//! 2. [`crypto`], then [`keyfile`]: keys, signatures, domain separation; the key file text.
//! 3. [`codec`]: the envelope, generic over [`codec::Message`], whose impls live beside
//!    their types; it knows no message type.
//! 4. [`sigcache`]: verified signatures, and a shared copy of what they signed.
//! 5. [`roster`] (members, tiers, the roster document), then [`message`]: proposals and
//!    ballots.
//! 6. [`evidence`], [`certificate`], then [`chain`] (roster epochs), [`tally`],
//!    [`receipt`] (execution receipts, judged against certificates), [`recount`]
//!    (stored proposals verified and counted again) and [`seal`] (the audit export's
//!    seal);
//!    [`inbound`], [`gossip`] (the gossip kinds) and [`catchup`] (the catch-up wire
//!    messages) beside them.
//! 7. [`policy`]: the node's `[evaluator]` config section, its pure policy rules and Rego
//!    policies (on regorus, deterministic), so the simulator's policy members vote
//!    exactly as a node does.
//! 8. [`engine`]: the state machine.
//!
//! # One output contract
//!
//! Every effect of an engine input leaves through
//! [`Engine::poll_output`](engine::Engine::poll_output), in order: validations, records
//! to persist, broadcasts, events, catch-up answers and follow-up requests alike. No
//! input method returns something to send, so a driver that acts on outputs in the order
//! they come persists a record before it acts on anything emitted after it.
//!
//! # Invariants
//!
//! Each is backed by the test named after it.
//!
//! 1. **Content addressing.** A proposal's id is SHA-256 of its domain-separated signing
//!    bytes. Changing any field, payload included, changes the id; re-signing does not.
//!    (`tests/signatures.rs`: `id_commits_to_every_field`)
//! 2. **Domain separation.** Every signature covers a tag naming the message kind and
//!    protocol version, and the swarm id. A ballot signature never verifies as a
//!    proposal signature, nor a message from one swarm in another.
//!    (`tests/signatures.rs`: `signature_kinds_do_not_cross`, `wrong_swarm_is_rejected`)
//! 3. **Strict keys and signatures.** Only `verify_strict` is used. The identity, every
//!    small-order point and every non-canonical encoding is refused as a member key.
//!    (`tests/signatures.rs`: `small_order_and_non_canonical_keys_are_refused`)
//! 4. **Only verified ballots are tallied.** [`Verified<T>`](crypto::Verified) is built
//!    only by `verify`, records the roster it was checked against, and [`tally::Tally`]
//!    refuses ballots for another proposal or roster.
//!    (`tests/tally.rs`: `tally_refuses_other_proposals_and_rosters`)
//! 5. **Exact quorum.** `q = ceil(n * num / den)` in integers; decimals and percentages
//!    are parsed as rationals, never floats. (`tests/tally.rs`: `quorum_boundaries_are_exact`)
//! 6. **Order independence.** The verdict and outcome depend only on the set of
//!    (voter, vote) pairs. (`tests/tally.rs`: `outcome_ignores_order_and_duplicates`,
//!    `matches_the_reference_tally`)
//! 7. **Monotone approval.** Once approved, more ballots never change the verdict; a
//!    rejection turns into an approval only when equivocation is reported.
//!    (`tests/tally.rs`: `approval_is_monotone`, `rejection_flips_only_with_equivocation`)
//! 8. **Strict codec.** One value has one encoding; size is checked before allocation;
//!    truncation, trailing bytes, unknown versions and kinds are refused.
//!    (`tests/codec.rs`)
//! 9. **Offline certificates.** A certificate verifies with nothing but the roster, and
//!    fails if a ballot is removed, a voter repeated, a non-member added or one payload
//!    byte changed. (`tests/certificate.rs`)
//! 10. **Own-vote guard.** The engine never signs two different ballots on one proposal,
//!     refuses expired and decided proposals, and adopts rather than contradicts a ballot
//!     in its own name. (`tests/engine.rs`: `the_guard_never_signs_twice`,
//!     `the_guard_adopts_but_never_contradicts_a_ballot_in_its_name`; across SIGKILL:
//!     `node/tests/crash.rs`)
//! 11. **Persist before broadcast.** An own ballot is emitted as a record to persist
//!     before it is emitted for broadcast. (`tests/engine.rs`:
//!     `three_nodes_reach_the_same_decision`)
//! 12. **Convergence.** Engines that receive the same messages in any order, with
//!     duplicates and ballots before proposals, hold identical tallies.
//!     (`tests/engine.rs`: `any_interleaving_gives_identical_tallies`)
//! 13. **Bounded state.** Nothing a peer sends grows memory without bound: at most one
//!     YES and one NO per member per proposal, a bounded orphan buffer, bounded open
//!     proposals per proposer. (`tests/engine.rs`:
//!     `the_orphan_buffer_is_bounded_per_peer_and_expires`,
//!     `open_proposals_are_bounded_per_proposer`)
//! 14. **Catch-up converges.** Two engines that missed different messages hold identical
//!     tallies (the union of what they saw) after a few bounded sync round trips, and no
//!     sync answer exceeds its caps or [`codec::MAX_SYNC_BYTES`], whatever a peer sends.
//!     (`tests/sync.rs`: `catch_up_converges`, `an_empty_node_catches_up_from_one_peer`,
//!     `oversized_requests_get_capped_answers`)
//! 15. **A cache never passes a forgery.** The signature cache answers only for the exact
//!     (key, signature, signed bytes) that verified before and stores no failure, so a
//!     message with one bit changed is verified afresh and refused. (`tests/engine.rs`:
//!     `a_shared_signature_cache_verifies_each_message_once_and_never_passes_a_forgery`)
//! 16. **Decode once, check everywhere.** An [`Inbound`] message handed to several
//!     engines is decoded and its signature verified by the first; the others skip only
//!     that, and still check swarm, roster, membership and duplicates, with the same
//!     outputs as [`engine::Engine::handle_message`]. A message that fails is never
//!     remembered. (`tests/engine.rs`:
//!     `an_inbound_message_is_checked_once_and_every_engine_still_runs_its_own_checks`)
//! 17. **One output contract.** A catch-up answer and a follow-up request leave the engine
//!     only through `poll_output`, in the one queue, after the records of the inputs
//!     handled before them. (`tests/sync.rs`:
//!     `sync_answers_leave_through_poll_output_after_earlier_records`)
//! 18. **Deterministic policies.** A Rego policy's verdict depends only on the policy and
//!     the proposal: no clock, network or randomness is reachable from a policy, and its
//!     cap counts instructions, not time, so every node and the simulator vote alike.
//!     (`policy/rego.rs`: `the_same_proposal_and_policy_always_give_the_same_verdict`,
//!     `builtins_that_reach_outside_do_not_compile`,
//!     `a_policy_that_runs_too_long_stops_at_the_instruction_cap`)
//! 19. **Doppelganger alarm.** A valid ballot signed with the engine's own key that it
//!     did not sign raises [`engine::Event::Doppelganger`] (from gossip, catch-up or the
//!     orphan buffer); its own messages echoed back, the records it was restored from,
//!     and proposals in its name (a crash can lose one of its own) never do.
//!     (`tests/doppelganger.rs`:
//!     `the_alarm_fires_exactly_when_a_foreign_ballot_in_our_name_arrives`,
//!     `a_restored_own_ballot_whose_proposal_comes_back_after_its_echo_raises_nothing`)
//! 20. **Tiers are content-addressed.** The tier that judges a proposal (its `q`,
//!     four-eyes and group requirements) is a pure function of the roster and the
//!     proposal's action and payload, so every node picks the same one in any arrival
//!     order; a certificate records it and verification recomputes it, refusing a
//!     lowered tier. (`tests/tiers.rs`: `tier_and_verdict_ignore_arrival_order`,
//!     `a_lowered_tier_in_a_certificate_is_refused`)
//! 21. **Four-eyes and groups are exact.** Under four-eyes neither the proposer's YES nor
//!     its NO counts; approval needs `q` others and becomes impossible when more than
//!     `n - 1 - q` others said NO, checked for every `n` up to 200; each group
//!     requirement holds for every vote assignment; a roster under which some proposal
//!     could never be approved is refused. (`tests/tiers.rs`:
//!     `four_eyes_boundaries_are_exact_for_every_n`,
//!     `four_eyes_tallies_ignore_the_proposers_ballot_at_every_boundary`,
//!     `group_requirements_hold_for_every_vote_assignment`,
//!     `rosters_that_leave_a_proposal_unapprovable_are_refused`)
//! 22. **Epochs are proved steps.** A roster change moves an engine to the next roster
//!     only when a quorum certificate under the previous roster's change tier approves
//!     a payload that is a valid successor (same swarm, next epoch, `previous` naming
//!     it); a step from catch-up is verified the same way, and a forged or orphaned step
//!     is refused. (`tests/epochs.rs`: `an_approved_change_moves_every_engine_to_the_next_epoch`,
//!     `a_change_must_be_a_valid_successor`, `a_forged_step_is_refused`)
//! 23. **One head.** Of two changes approved at one epoch the lower proposal id wins,
//!     whatever order an engine learns them in; honest keys sign YES on at most one
//!     change per epoch and never on a stale one. (`tests/epochs.rs`:
//!     `of_two_approved_changes_at_one_epoch_the_lower_id_wins`,
//!     `one_yes_per_epoch_on_changes`, `a_change_under_a_stale_epoch_gets_no_yes`)
//! 24. **Frozen electorates across epochs.** A proposal is judged by the roster it names;
//!     engines fed proposals and ballots from both sides of a change, in any order and
//!     through catch-up, end on the same head with the same tallies; a removed key's
//!     ballots stop counting under the new roster. (`tests/epochs.rs`:
//!     `epoch_transitions_with_proposals_in_flight_converge`,
//!     `a_lagging_engine_fetches_the_chain_through_catch_up`,
//!     `a_removed_key_no_longer_counts_and_gets_no_help`)
//! 25. **Receipts are backed only by their certificate.** An execution receipt is backed
//!     exactly when a certificate for the same proposal, proposed by the receipt's
//!     executor, verifies and has the digest the receipt names; one changed byte breaks
//!     its signature; one without an approval is kept and flagged as evidence, and a
//!     member can make an engine hold only a bounded number of those.
//!     (`tests/receipts.rs`: `a_signed_receipt_is_backed_on_every_engine`,
//!     `a_tampered_receipt_fails`, `a_receipt_without_an_approval_is_kept_and_flagged`,
//!     `only_the_proposer_executes`, `unbacked_receipts_are_bounded_per_executor`); a
//!     receipt missed on gossip arrives through catch-up
//!     (`a_missed_receipt_arrives_through_catch_up`)
//! 26. **Audits recount.** A proposal read back from storage (the node's history, an
//!     audit export) is verified again, message by message, and its tally rebuilt: the
//!     recount equals the live tally for any set and order of ballots, and a forged or
//!     misplaced message is refused by name. (`tests/recount.rs`:
//!     `a_recount_matches_the_live_tally`, `a_recount_refuses_what_does_not_verify`)

// Checked arithmetic and no panicking index in the core; tests may index freely.
#![cfg_attr(
    not(test),
    deny(clippy::arithmetic_side_effects, clippy::indexing_slicing)
)]

pub mod catchup;
pub mod certificate;
pub mod chain;
pub mod codec;
pub mod crypto;
pub mod engine;
pub mod evidence;
pub mod gossip;
pub mod ids;
pub mod inbound;
pub mod keyfile;
pub mod message;
pub mod policy;
pub mod quorum;
pub mod receipt;
pub mod recount;
pub mod roster;
pub mod seal;
pub mod sigcache;
pub mod tally;

pub use certificate::{Certificate, CertificateError};
pub use codec::{CodecError, Kind};
pub use crypto::{PublicKey, SecretKey, Signature, Verified};
pub use evidence::{Equivocation, EvidenceError};
pub use gossip::Gossip;
pub use ids::{
    Action, CertificateDigest, MemberName, Nonce, OutputDigest, ProposalId, RosterDigest, SwarmId,
    UnixMillis, VoterId,
};
pub use inbound::Inbound;
pub use message::{
    Ballot, MessageError, Payload, Proposal, Reason, SignedBallot, SignedProposal, VerifyError,
    Vote,
};
pub use quorum::{Quorum, QuorumError};
pub use receipt::{Receipt, SignedReceipt, Standing, UnbackedReason};
pub use roster::{Member, Roster, RosterDocument, RosterError, RosterReport};
pub use sigcache::SignatureCache;
pub use tally::{Added, Outcome, Status, Tally, TallyError, Verdict};
