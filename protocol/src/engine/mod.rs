//! The node's state machine: one engine that the real node and the simulator both drive.
//!
//! It is sans-IO. The driver feeds it inputs, each with `now`:
//!
//! * [`Engine::handle_message`]: bytes from a peer ([`Engine::handle_inbound`] for a
//!   message several engines receive, which they then decode and verify once);
//! * [`Engine::handle_sync_request`] and [`Engine::handle_sync_response`]: catch-up
//!   messages from a peer;
//! * [`Engine::propose`] and [`Engine::vote`]: local commands;
//! * [`Engine::tick`]: time passing.
//!
//! **One output contract.** Every effect of an input leaves through
//! [`Engine::poll_output`], in order: the driver drains it until it returns `None`,
//! acting on each [`Output`] as it comes: report a [`Validation`] to gossipsub, store a
//! [`Record`], publish a broadcast, report an [`Event`], answer a catch-up request or
//! send a follow-up. Input methods return only what the caller asked about (an id, a
//! refusal), never something to send. Queries ([`Engine::sync_request`],
//! [`Engine::poll_timeout`], the read accessors) change nothing and are answered
//! directly. [`Engine::poll_timeout`] says when to tick next.
//!
//! **Catch-up.** Gossip is best effort; two peers that missed messages converge by
//! exchanging [`SyncRequest`]s and [`SyncResponse`]s point to point (see the `sync`
//! module). The driver asks [`Engine::sync_request`] what to send a peer; the answer to
//! a peer's request ([`Output::SyncResponse`]) and the follow-ups to a peer's answer
//! ([`Output::SyncRequest`]) come out of [`Engine::poll_output`] after any record the
//! same input produced, each with the driver's [`SyncTag`].
//!
//! **Order contract.** This node's own ballot is emitted as [`Record::OwnBallot`] before
//! it is emitted as a broadcast. The driver must make that record durable before it acts
//! on any later output, so a ballot that left the node is always found after a crash.
//!
//! **Own-vote guard.** The engine never signs two different ballots on one proposal.
//! Asked to vote again the same way, it returns the stored ballot; asked to vote the
//! other way, it refuses. It refuses to sign for an expired or decided proposal, and it
//! adopts (never contradicts) a ballot in its own name that it finds in a tally.
//!
//! **Bounds.** Per-proposal state is at most one YES and one NO per member. Ballots for
//! unknown proposals wait in a buffer bounded per peer, per proposal and in total. Open
//! proposals are bounded per proposer and in total; decided and expired ones are dropped
//! from memory after a retention period (the store keeps them).

mod commands;
mod epochs;
mod orphans;
mod output;
mod receipts;
mod restore;
mod sync;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, OnceLock};

pub use crate::catchup::{Range, RangeSummary, SyncRequest, SyncResponse};
pub use commands::CommandError;
pub use output::{
    Decision, Event, IgnoreReason, MessageTag, Output, PeerTag, Record, RejectReason, Reported,
    SyncTag, Validation,
};
pub use receipts::Run;
pub use restore::{RestoreReport, SkippedRecord};
pub use sync::{
    MAX_ENTRIES, MAX_FETCH, MAX_ITEM_BALLOTS, MAX_RANGES, MAX_REQUEST_RANGES, MAX_SCAN,
    SPLIT_THRESHOLD,
};

use crate::certificate::Certificate;
use crate::chain::{ChainError, RosterChain};
use crate::crypto::{self, SecretKey, Verified};
use crate::evidence::{Equivocation, EvidenceError};
use crate::gossip::{self, Gossip};
use crate::ids::{ProposalId, UnixMillis, VoterId};
use crate::inbound::{Checked, Inbound};
use crate::message::{SignedBallot, SignedProposal, VerifyError};
use crate::roster::{MemberIndex, Roster};
use crate::sigcache::SignatureCache;
use crate::tally::{Added, Outcome, Status, Tally, Verdict};
use orphans::{Hold, Orphans};

/// Output buffer room an engine keeps once drained (see [`Engine::poll_output`]).
const OUTPUTS_KEPT: usize = 16;

/// Limits and timings. The defaults suit a swarm of up to a few hundred members.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Open (pending, unexpired) proposals one proposer may have.
    pub max_open_per_proposer: usize,
    /// Proposals held in memory in total.
    pub max_proposals: usize,
    /// Orphan ballots held from one peer.
    pub orphans_per_peer: usize,
    /// Orphan ballots held in total.
    pub orphans_total: usize,
    /// How long an orphan ballot waits for its proposal.
    pub orphan_ttl_ms: u64,
    /// How long a proposal stays in memory after it expires.
    pub retention_ms: u64,
    /// How far in the future a proposal's `created_at` may be.
    pub max_clock_skew_ms: u64,
    /// Signatures remembered as verified, so a message delivered again is not verified
    /// again (see [`crate::sigcache`]).
    pub signature_cache: usize,
    /// Unbacked execution receipts (see [`crate::receipt`]) held from one executor: a
    /// member cannot make the engine hold more of its signed claims than this.
    pub max_unbacked_receipts_per_executor: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_open_per_proposer: 256,
            max_proposals: 100_000,
            orphans_per_peer: 1_024,
            orphans_total: 16_384,
            orphan_ttl_ms: 10 * 60 * 1000,
            retention_ms: 24 * 60 * 60 * 1000,
            max_clock_skew_ms: 60 * 1000,
            signature_cache: crate::sigcache::DEFAULT_CAPACITY,
            max_unbacked_receipts_per_executor: 64,
        }
    }
}

/// Why the engine could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// The roster chain could not be built.
    #[error(transparent)]
    Chain(Box<ChainError>),
    /// This node's key is not in the roster.
    #[error("this node's key {voter} is not a member of the roster for swarm {swarm:?}")]
    NotAMember {
        /// Its voter id.
        voter: VoterId,
        /// The roster's swarm.
        swarm: String,
    },
}

/// Why a driver stopped its engine from signing (doppelganger protection).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Pause {
    /// Listening at start for another instance of this voter key before signing
    /// anything.
    #[error("not signing yet: listening for another instance of this voter key")]
    Listening,
    /// Another instance of this voter key was seen; this node signs nothing more.
    #[error("not signing: another instance of this voter key is signing (doppelganger detected)")]
    Doppelganger,
}

struct Entry {
    proposal: Verified<SignedProposal>,
    tally: Tally,
    decision: Option<Decision>,
    /// Counted in `open_by_proposer` and listed in `deadlines`.
    open: bool,
    /// Catch-up's entry digest, computed on first use (through `&self`, hence a
    /// `OnceLock`) and reset whenever the kept ballots or receipts change.
    digest: OnceLock<[u8; 32]>,
    /// The executors and signatures of the receipts held for it, in executor order: part
    /// of the entry digest, so catch-up finds a receipt one side lacks.
    receipts: Vec<(VoterId, crate::crypto::Signature)>,
}

/// A read-only view of one proposal.
pub struct ProposalView<'a> {
    entry: &'a Entry,
    own: Option<&'a SignedBallot>,
}

impl ProposalView<'_> {
    /// The proposal.
    pub fn proposal(&self) -> &SignedProposal {
        &self.entry.proposal
    }

    /// Its tally.
    pub fn tally(&self) -> &Tally {
        &self.entry.tally
    }

    /// The full tally result.
    pub fn outcome(&self) -> Outcome {
        self.entry.tally.outcome()
    }

    /// Its status at `now` (expiry included).
    pub fn status(&self, now: UnixMillis) -> Status {
        self.entry
            .tally
            .verdict()
            .status_at(now, self.entry.proposal.proposal().expires_at)
    }

    /// When it was decided here, if it was.
    pub fn decision(&self) -> Option<&Decision> {
        self.entry.decision.as_ref()
    }

    /// This node's ballot on it, if any.
    pub fn own_ballot(&self) -> Option<&SignedBallot> {
        self.own
    }

    /// Its certificate, if approved.
    pub fn certificate(&self) -> Option<Certificate> {
        self.entry.tally.certificate(&self.entry.proposal)
    }
}

/// The state machine. See the module documentation.
pub struct Engine {
    /// The genesis roster, every verified roster step since, and the head.
    chain: RosterChain,
    key: SecretKey,
    me: VoterId,
    config: Config,
    entries: BTreeMap<ProposalId, Entry>,
    own: BTreeMap<ProposalId, SignedBallot>,
    open_by_proposer: BTreeMap<VoterId, usize>,
    /// (expires_at, id) of open proposals.
    deadlines: BTreeSet<(UnixMillis, ProposalId)>,
    /// (expires_at + retention, id) of every proposal in memory.
    horizons: BTreeSet<(UnixMillis, ProposalId)>,
    /// Every proposal in memory by (id prefix, created_at), for catch-up summaries.
    index: sync::KeyIndex,
    orphans: Orphans,
    outputs: VecDeque<Output>,
    /// Signatures that verified (shared with other engines when the driver says so).
    sigs: SignatureCache,
    /// Test-only: `vote` signs a contradicting ballot instead of refusing.
    guard_off: bool,
    /// Set by the driver: `vote` and `propose` sign nothing while it is.
    paused: Option<Pause>,
    /// Execution receipts by (proposal, executor).
    receipts: BTreeMap<(ProposalId, VoterId), receipts::Held>,
    /// Unbacked receipts held per executor (bounded by the config).
    unbacked_receipts: BTreeMap<VoterId, usize>,
}

impl Engine {
    /// An engine for the member holding `key`.
    pub fn new(roster: Roster, key: SecretKey, config: Config) -> Result<Self, EngineError> {
        let chain = RosterChain::new(roster).map_err(|e| EngineError::Chain(Box::new(e)))?;
        Self::with_chain(chain, key, config)
    }

    /// An engine that starts from a verified roster chain (the genesis roster and the
    /// steps a node stored). `key` must be a member of some roster of the chain; a
    /// member removed since can still follow the swarm but signs nothing new.
    pub fn with_chain(
        chain: RosterChain,
        key: SecretKey,
        config: Config,
    ) -> Result<Self, EngineError> {
        let me = key.voter_id();
        if chain.rosters().all(|r| r.member(&me).is_none()) {
            return Err(EngineError::NotAMember {
                voter: me,
                swarm: chain.head().swarm().to_string(),
            });
        }
        Ok(Self::joining(chain, key, config))
    }

    /// An engine for a key that no roster of the chain lists yet: a member-to-be that
    /// follows the swarm and catches the chain up, but signs nothing (the own-vote guard
    /// answers [`CommandError::NotAMember`]) until a roster step adds its key. A driver
    /// uses it only when its operator opted in; [`Engine::with_chain`] refuses such a key.
    pub fn joining(chain: RosterChain, key: SecretKey, config: Config) -> Self {
        let me = key.voter_id();
        // Each member can have at most a YES and a NO on one proposal.
        let largest = chain.rosters().map(Roster::len).max().unwrap_or(0);
        let per_proposal = usize::try_from(largest)
            .unwrap_or(usize::MAX)
            .saturating_mul(2);
        let orphans = Orphans::new(
            config.orphans_per_peer,
            config.orphans_total,
            per_proposal,
            config.orphan_ttl_ms,
        );
        let sigs = SignatureCache::new(config.signature_cache);
        Self {
            chain,
            key,
            me,
            config,
            entries: BTreeMap::new(),
            own: BTreeMap::new(),
            open_by_proposer: BTreeMap::new(),
            deadlines: BTreeSet::new(),
            horizons: BTreeSet::new(),
            index: sync::KeyIndex::default(),
            orphans,
            outputs: VecDeque::new(),
            sigs,
            guard_off: false,
            paused: None,
            receipts: BTreeMap::new(),
            unbacked_receipts: BTreeMap::new(),
        }
    }

    /// Replaces this engine's signature cache with `cache`, typically one shared by
    /// several engines (the simulator gives one to every engine of a run). Sharing is
    /// safe: the cache only remembers exact (key, signature, message) triples that
    /// verified.
    pub fn with_signature_cache(mut self, cache: SignatureCache) -> Self {
        self.sigs = cache;
        self
    }

    /// This engine's signature cache.
    pub fn signature_cache(&self) -> &SignatureCache {
        &self.sigs
    }

    /// The current roster (the chain's head): new proposals are made under it.
    pub fn roster(&self) -> &Roster {
        self.chain.head()
    }

    /// The roster chain: every roster this engine judges by.
    pub fn chain(&self) -> &RosterChain {
        &self.chain
    }

    /// This node's voter id.
    pub fn voter_id(&self) -> VoterId {
        self.me
    }

    /// Seals an audit export with this node's voter key (see [`crate::seal`]). A seal
    /// is no vote: it is signed even while signing votes is paused.
    pub fn seal_export(&self, chain: &[u8; 32], lines: u64) -> crate::crypto::Signature {
        crate::seal::sign(&self.key, self.roster().swarm(), chain, lines)
    }

    /// Test-only: breaks the own-vote guard, so [`Engine::vote`] signs a second,
    /// contradicting ballot instead of refusing. The simulator uses it to prove its
    /// invariant checker can fail; nothing else may call it.
    #[doc(hidden)]
    pub fn disable_own_vote_guard_for_testing(&mut self) {
        self.guard_off = true;
    }

    /// Stops [`Engine::vote`] and [`Engine::propose`] from signing (they answer
    /// [`CommandError::Paused`]) until [`Engine::resume_signing`]. Everything else runs
    /// as before. The driver's doppelganger protection uses it: the time to wait, and
    /// what to do on [`Event::Doppelganger`], are its choice.
    pub fn pause_signing(&mut self, pause: Pause) {
        self.paused = Some(pause);
    }

    /// Lets [`Engine::vote`] and [`Engine::propose`] sign again.
    pub fn resume_signing(&mut self) {
        self.paused = None;
    }

    /// Why signing is paused, if it is.
    pub fn paused(&self) -> Option<Pause> {
        self.paused
    }

    // -----------------------------------------------------------------------------------
    // Inputs
    // -----------------------------------------------------------------------------------

    /// A message from a peer. Exactly one [`Output::Validation`] for `tag` follows.
    pub fn handle_message(
        &mut self,
        now: UnixMillis,
        peer: PeerTag,
        tag: MessageTag,
        bytes: &[u8],
    ) {
        let result = self.on_bytes(now, peer, bytes, None);
        self.validated(peer, tag, result);
    }

    /// Like [`Engine::handle_message`], for a message that may reach several engines:
    /// the first to decode it and verify its signature leaves the result in `message`,
    /// and the others skip both (see [`crate::inbound`]). Every other check still runs
    /// here, so the outputs are exactly those of `handle_message(message.bytes())`.
    pub fn handle_inbound(
        &mut self,
        now: UnixMillis,
        peer: PeerTag,
        tag: MessageTag,
        message: &Inbound,
    ) {
        let result = match message.checked() {
            Some(Checked::Proposal(p)) => {
                self.on_proposal(now, peer, SignedProposal::clone(p), Sig::Checked)
            }
            Some(Checked::Ballot(b)) => self.on_checked_ballot(now, peer, b),
            None => self.on_bytes(now, peer, message.bytes(), Some(message)),
        };
        self.validated(peer, tag, result);
    }

    fn on_bytes(
        &mut self,
        now: UnixMillis,
        peer: PeerTag,
        bytes: &[u8],
        inbound: Option<&Inbound>,
    ) -> Validation {
        match gossip::decode_gossip(bytes) {
            Err(e) => Validation::Reject(RejectReason::Malformed(e.into())),
            Ok(Gossip::Proposal(p)) => self.on_proposal(now, peer, p, Sig::Unchecked(inbound)),
            Ok(Gossip::Ballot(b)) => self.on_ballot(now, peer, b, inbound),
            Ok(Gossip::Equivocation(e)) => self.on_evidence(now, peer, e),
            Ok(Gossip::Receipt(r)) => self.on_receipt(peer, r),
        }
    }

    fn validated(&mut self, peer: PeerTag, tag: MessageTag, result: Validation) {
        if let Validation::Reject(reason) = &result {
            self.event(Event::InvalidMessage {
                peer,
                reason: reason.clone(),
            });
        }
        self.outputs
            .push_back(Output::Validation { peer, tag, result });
    }

    /// Time passes: report expiries, drop what is past retention.
    pub fn tick(&mut self, now: UnixMillis) {
        while let Some(&(expires_at, id)) = self.deadlines.first() {
            if now < expires_at {
                break;
            }
            self.deadlines.pop_first();
            if let Some(entry) = self.entries.get_mut(&id)
                && entry.open
            {
                entry.open = false;
                let proposer = entry.proposal.proposal().proposer;
                self.close(proposer);
                self.event(Event::Expired { proposal: id });
            }
        }
        while let Some(&(horizon, id)) = self.horizons.first() {
            if now < horizon {
                break;
            }
            self.horizons.pop_first();
            if let Some(entry) = self.entries.remove(&id) {
                self.index.remove(entry.proposal.proposal().created_at, id);
            }
            self.own.remove(&id);
            self.forget_receipts(&id);
        }
        self.orphans.expire(now);
    }

    /// The next output to act on.
    pub fn poll_output(&mut self) -> Option<Output> {
        let out = self.outputs.pop_front();
        // A burst (a proposal releasing its held ballots, a catch-up batch) grows the
        // buffer; once it is drained, give the room back, so that a long-lived engine
        // does not keep its largest burst forever (nor a thousand engines in one
        // simulation).
        if out.is_none() && self.outputs.capacity() > OUTPUTS_KEPT {
            self.outputs.shrink_to(OUTPUTS_KEPT);
        }
        out
    }

    /// When [`Engine::tick`] should next be called.
    pub fn poll_timeout(&self) -> Option<UnixMillis> {
        [
            self.deadlines.first().map(|d| d.0),
            self.horizons.first().map(|h| h.0),
            self.orphans.next_expiry(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    // -----------------------------------------------------------------------------------
    // Queries
    // -----------------------------------------------------------------------------------

    /// One proposal.
    pub fn proposal(&self, id: &ProposalId) -> Option<ProposalView<'_>> {
        self.entries.get(id).map(|entry| ProposalView {
            entry,
            own: self.own.get(id),
        })
    }

    /// Every proposal in memory, in id order.
    pub fn proposals(&self) -> impl Iterator<Item = ProposalView<'_>> {
        self.entries.iter().map(|(id, entry)| ProposalView {
            entry,
            own: self.own.get(id),
        })
    }

    /// This node's ballot on a proposal.
    pub fn own_ballot(&self, id: &ProposalId) -> Option<&SignedBallot> {
        self.own.get(id)
    }

    /// Ballots waiting for their proposal.
    pub fn orphan_count(&self) -> usize {
        self.orphans.len()
    }

    /// SHA-256 over every proposal's id, verdict and kept ballots, in id order: what every
    /// honest node must agree on. Two engines holding the same ballots have the same
    /// digest, whatever order they saw them in. Own ballots and local decision times are
    /// not included (they differ between nodes by design).
    ///
    /// The ballots enter through catch-up's entry digest (SHA-256 of the proposal id and
    /// every kept ballot's body), which is cached until the ballots change, so asking
    /// again is cheap.
    pub fn tallies_digest(&self) -> [u8; 32] {
        let mut bytes = Vec::with_capacity(self.entries.len().saturating_mul(65));
        for (id, entry) in &self.entries {
            bytes.extend_from_slice(id.as_bytes());
            bytes.push(entry.tally.verdict() as u8);
            bytes.extend_from_slice(&sync::entry_digest(entry));
        }
        crypto::sha256(&bytes)
    }

    /// This node's ballots, in proposal order.
    pub fn own_ballots(&self) -> impl Iterator<Item = &SignedBallot> {
        self.own.values()
    }

    // -----------------------------------------------------------------------------------
    // Internals
    // -----------------------------------------------------------------------------------

    fn event(&mut self, e: Event) {
        self.outputs.push_back(Output::Event(e));
    }

    fn over_capacity(&self, proposer: &VoterId) -> Option<usize> {
        let open = self.open_by_proposer.get(proposer).copied().unwrap_or(0);
        if open >= self.config.max_open_per_proposer {
            return Some(open);
        }
        if self.entries.len() >= self.config.max_proposals {
            return Some(self.entries.len());
        }
        None
    }

    fn close(&mut self, proposer: VoterId) {
        if let Some(n) = self.open_by_proposer.get_mut(&proposer) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.open_by_proposer.remove(&proposer);
            }
        }
    }

    fn on_proposal(
        &mut self,
        now: UnixMillis,
        peer: PeerTag,
        p: SignedProposal,
        sig: Sig<'_>,
    ) -> Validation {
        let id = p.id();
        if self.entries.contains_key(&id) {
            return Validation::Ignore(IgnoreReason::Duplicate);
        }
        let (created_at, expires_at, proposer) = {
            let inner = p.proposal();
            (inner.created_at, inner.expires_at, inner.proposer)
        };
        if &p.proposal().swarm != self.chain.head().swarm() {
            return Validation::Ignore(IgnoreReason::OtherSwarm);
        }
        let Some(roster) = self.chain.get(&p.proposal().roster) else {
            // A roster this node has not adopted yet (or never will): not a fault of the
            // sender. Catch-up fetches the chain's steps when it meets one.
            return Validation::Ignore(IgnoreReason::UnknownRoster);
        };
        let checked = match sig {
            Sig::Checked => p.readmit_checked(roster),
            Sig::Unchecked(inbound) => p.verify_cached(roster, &self.sigs).inspect(|v| {
                if let Some(m) = inbound {
                    m.remember(Checked::Proposal(Arc::new(SignedProposal::clone(v))));
                }
            }),
        };
        let verified = match checked {
            Ok(v) => v,
            Err(e) => return verify_failure(e),
        };
        if let Err(e) = crate::chain::check_reserved(roster, verified.proposal()) {
            return Validation::Reject(RejectReason::InvalidChange(e.into()));
        }
        if created_at.0 > now.0.saturating_add(self.config.max_clock_skew_ms) {
            return Validation::Ignore(IgnoreReason::FromTheFuture);
        }
        if expires_at
            .checked_add(self.config.retention_ms)
            .is_none_or(|h| now >= h)
        {
            return Validation::Ignore(IgnoreReason::Expired);
        }
        if self.over_capacity(&proposer).is_some() {
            return Validation::Ignore(IgnoreReason::Capacity);
        }
        // A proposal in our name that we do not hold is no proof of another instance:
        // proposals are not synced before they are broadcast (own ballots are), so a
        // crash can lose our own. Only ballots raise `Event::Doppelganger`.
        let _ = peer;
        self.insert_proposal(now, verified, false);
        self.check_decision(now, &id);
        Validation::Accept
    }

    fn insert_proposal(
        &mut self,
        now: UnixMillis,
        proposal: Verified<SignedProposal>,
        local: bool,
    ) {
        let id = proposal.id();
        let p = proposal.proposal().clone();
        let open = !p.is_expired(now);
        let Some(roster) = self.chain.get(&p.roster) else {
            // Unreachable: a proposal is verified against a roster of the chain, and the
            // chain never forgets one.
            return;
        };
        let tally = Tally::new(roster, &proposal);
        self.outputs
            .push_back(Output::Persist(Record::Proposal(Arc::new(
                (*proposal).clone(),
            ))));
        self.entries.insert(
            id,
            Entry {
                proposal,
                tally,
                decision: None,
                open,
                digest: OnceLock::new(),
                receipts: self.receipt_sigs(&id),
            },
        );
        self.index.insert(p.created_at, id);
        if open {
            let n = self.open_by_proposer.entry(p.proposer).or_insert(0);
            *n = n.saturating_add(1);
            self.deadlines.insert((p.expires_at, id));
        }
        let horizon = p
            .expires_at
            .checked_add(self.config.retention_ms)
            .unwrap_or(UnixMillis(u64::MAX));
        self.horizons.insert((horizon, id));
        self.event(Event::ProposalSeen {
            proposal: id,
            proposer: p.proposer,
            action: p.action.clone(),
            created_at: p.created_at,
            expires_at: p.expires_at,
            local,
        });
        // An own ballot restored before its proposal came back. Own ballots are signed here
        // or verified by `restore`.
        if let Some(own) = self.own.get(&id).cloned() {
            self.apply_ballot(now, Verified::new(Arc::new(own), p.roster), true);
        }
        for b in self.orphans.release(&id) {
            self.apply_ballot(now, b, false);
        }
    }

    fn on_ballot(
        &mut self,
        now: UnixMillis,
        peer: PeerTag,
        b: SignedBallot,
        inbound: Option<&Inbound>,
    ) -> Validation {
        let Some(roster) = self.ballot_roster(b.ballot()) else {
            return self.stranger_ballot(&b);
        };
        let hint = roster.index_of(&b.ballot().voter);
        if self.kept(&b, hint) {
            return Validation::Ignore(IgnoreReason::Duplicate);
        }
        let verified = match b.verify_shared(roster, &self.sigs) {
            Ok(v) => v,
            Err(e) => return verify_failure(e),
        };
        if let Some(m) = inbound {
            m.remember(Checked::Ballot(Arc::clone(&verified)));
        }
        self.accept_ballot(now, peer, verified, hint)
    }

    /// A ballot whose signature an engine verified before (from an [`Inbound`]).
    fn on_checked_ballot(
        &mut self,
        now: UnixMillis,
        peer: PeerTag,
        b: &Arc<SignedBallot>,
    ) -> Validation {
        let Some(roster) = self.ballot_roster(b.ballot()) else {
            // Its signature was verified by the engine that checked it first.
            return self.stranger_ballot(b);
        };
        // The one roster search for this ballot: the checks and the tally reuse it.
        let hint = roster.index_of(&b.ballot().voter);
        if self.kept(b, hint) {
            return Validation::Ignore(IgnoreReason::Duplicate);
        }
        match SignedBallot::readmit_checked(Arc::clone(b), roster, hint) {
            Ok(v) => self.accept_ballot(now, peer, v, hint),
            Err(e) => verify_failure(e),
        }
    }

    /// The same bytes as a ballot already kept: a duplicate, whatever its signature
    /// would say. Catch-up resends many of these; they skip the verification.
    fn kept(&self, b: &SignedBallot, hint: Option<MemberIndex>) -> bool {
        let ballot = b.ballot();
        self.entries.get(&ballot.proposal).is_some_and(|entry| {
            entry
                .tally
                .ballot_hinted(&ballot.voter, ballot.vote, hint)
                .is_some_and(|k| std::ptr::eq(k, b) || k == b)
        })
    }

    /// A verified ballot: into its proposal's tally, or held until the proposal arrives.
    /// `hint` is the voter's index in the roster, if looked up already.
    fn accept_ballot(
        &mut self,
        now: UnixMillis,
        peer: PeerTag,
        verified: Verified<Arc<SignedBallot>>,
        hint: Option<MemberIndex>,
    ) -> Validation {
        let id = verified.ballot().proposal;
        if self.entries.contains_key(&id) {
            let result = self.apply_hinted(now, verified, false, hint, Some(peer));
            self.check_decision(now, &id);
            result
        } else {
            match self.orphans.hold(peer, now, verified) {
                Hold::Held => Validation::Accept,
                Hold::Duplicate => Validation::Ignore(IgnoreReason::Duplicate),
                Hold::Full => Validation::Ignore(IgnoreReason::BufferFull),
            }
        }
    }

    fn on_evidence(&mut self, now: UnixMillis, peer: PeerTag, e: Equivocation) -> Validation {
        let id = e.proposal();
        let Some(roster) = self.ballot_roster(e.yes().ballot()) else {
            return Validation::Ignore(IgnoreReason::UnknownRoster);
        };
        let verified = match e.verify(roster) {
            Ok(v) => v,
            Err(EvidenceError::Ballot {
                source: VerifyError::WrongSwarm { .. },
                ..
            }) => return Validation::Ignore(IgnoreReason::OtherSwarm),
            Err(err) => return Validation::Reject(RejectReason::InvalidEvidence(err.into())),
        };
        let (yes, no) = split_evidence(verified);
        if self.entries.contains_key(&id) {
            let a = self.apply_hinted(now, yes.map(Arc::new), false, None, Some(peer));
            let b = self.apply_hinted(now, no.map(Arc::new), false, None, Some(peer));
            self.check_decision(now, &id);
            if a == Validation::Accept || b == Validation::Accept {
                Validation::Accept
            } else {
                Validation::Ignore(IgnoreReason::Duplicate)
            }
        } else {
            match (
                self.orphans.hold(peer, now, yes.map(Arc::new)),
                self.orphans.hold(peer, now, no.map(Arc::new)),
            ) {
                (Hold::Held, _) | (_, Hold::Held) => Validation::Accept,
                (Hold::Full, _) | (_, Hold::Full) => Validation::Ignore(IgnoreReason::BufferFull),
                _ => Validation::Ignore(IgnoreReason::Duplicate),
            }
        }
    }

    /// Adds a ballot to its (known) proposal's tally and reports what changed. Does not
    /// check for a decision; callers do, once per input.
    fn apply_ballot(
        &mut self,
        now: UnixMillis,
        ballot: Verified<Arc<SignedBallot>>,
        own: bool,
    ) -> Validation {
        self.apply_hinted(now, ballot, own, None, None)
    }

    /// [`Engine::apply_ballot`], with the voter's roster index to try first and the peer
    /// it came from, if known.
    fn apply_hinted(
        &mut self,
        now: UnixMillis,
        ballot: Verified<Arc<SignedBallot>>,
        own: bool,
        hint: Option<MemberIndex>,
        peer: Option<PeerTag>,
    ) -> Validation {
        let id = ballot.ballot().proposal;
        if !own {
            self.check_doppelganger(&ballot, peer);
        }
        let Some(entry) = self.entries.get_mut(&id) else {
            return Validation::Ignore(IgnoreReason::Duplicate);
        };
        let judged_by = entry.proposal.proposal().roster;
        let ballot = if ballot.roster() == judged_by {
            ballot
        } else {
            // Verified against another roster of the chain (it arrived before its
            // proposal): the signature stands; membership is checked again here.
            let Some(roster) = self.chain.get(&judged_by) else {
                return Validation::Ignore(IgnoreReason::UnknownRoster);
            };
            match SignedBallot::readmit_checked(ballot.into_inner(), roster, None) {
                Ok(v) => v,
                Err(e) => return verify_failure(e),
            }
        };
        let created_at = entry.proposal.proposal().created_at;
        // A second handle on the shared ballot; it is copied only into a record.
        let signed = Arc::clone(&ballot);
        let (voter, vote) = (signed.ballot().voter, signed.ballot().vote);
        let added = match entry.tally.add_hinted(ballot, hint) {
            Ok(a) => a,
            // Every ballot here was verified against our roster for this proposal.
            Err(_) => return Validation::Ignore(IgnoreReason::UnknownRoster),
        };
        if added != Added::Duplicate {
            entry.digest.take();
        }
        let evidence = match added {
            Added::Duplicate => return Validation::Ignore(IgnoreReason::Duplicate),
            Added::Replaced => {
                self.outputs
                    .push_back(Output::Persist(Record::Ballot(Arc::clone(&signed))));
                return Validation::Accept;
            }
            Added::New => None,
            Added::Equivocation(e) => Some(e),
        };
        if !own {
            self.outputs
                .push_back(Output::Persist(Record::Ballot(Arc::clone(&signed))));
        }
        self.event(Event::BallotAccepted {
            proposal: id,
            voter,
            vote,
            latency_ms: now.saturating_since(created_at),
            own,
        });
        if let Some(e) = evidence {
            self.outputs
                .push_back(Output::Persist(Record::Evidence(Arc::new((*e).clone()))));
            self.event(Event::Equivocation { evidence: e });
        }
        if own {
            self.check_decision(now, &id);
        }
        Validation::Accept
    }

    /// A verified ballot from elsewhere in this node's name: unless it is exactly the
    /// ballot this node signed (its own echo, from gossip or catch-up), another instance
    /// of this key signed it. The driver decides what to do (see [`Event::Doppelganger`]).
    fn check_doppelganger(&mut self, ballot: &SignedBallot, peer: Option<PeerTag>) {
        let inner = ballot.ballot();
        if inner.voter != self.me || self.own.get(&inner.proposal) == Some(ballot) {
            return;
        }
        self.event(Event::Doppelganger {
            proposal: inner.proposal,
            vote: inner.vote,
            peer,
        });
    }

    fn check_decision(&mut self, now: UnixMillis, id: &ProposalId) {
        let Some(entry) = self.entries.get_mut(id) else {
            return;
        };
        let verdict = entry.tally.verdict();
        if !verdict.is_decided()
            || entry
                .decision
                .as_ref()
                .is_some_and(|d| d.verdict == verdict)
        {
            return;
        }
        let decision = Decision {
            proposal: *id,
            verdict,
            decided_at: now,
        };
        entry.decision = Some(decision.clone());
        let outcome = entry.tally.outcome();
        let step = (verdict == Verdict::Approved
            && entry.proposal.proposal().action.as_str() == crate::chain::ROSTER_ACTION)
            .then(|| entry.tally.certificate(&entry.proposal))
            .flatten();
        let p = entry.proposal.proposal();
        let (action, created_at, proposer, expires_at) =
            (p.action.clone(), p.created_at, p.proposer, p.expires_at);
        if entry.open {
            entry.open = false;
            self.deadlines.remove(&(expires_at, *id));
            self.close(proposer);
        }
        self.outputs
            .push_back(Output::Persist(Record::Decision(decision)));
        if let Some(certificate) = step {
            self.adopt_step(certificate, None);
        }
        self.event(Event::Decided {
            proposal: *id,
            action,
            verdict,
            yes: u32::try_from(outcome.yes.len()).unwrap_or(u32::MAX),
            no: u32::try_from(outcome.no.len()).unwrap_or(u32::MAX),
            latency_ms: now.saturating_since(created_at),
            conflicting: outcome.conflicting,
        });
    }
}

/// Whether a message's signature still needs verifying.
#[derive(Clone, Copy)]
enum Sig<'a> {
    /// Verify it, and remember the result in the message it came in, if any.
    Unchecked(Option<&'a Inbound>),
    /// An engine verified it before (it comes from an [`Inbound`]).
    Checked,
}

fn verify_failure(e: VerifyError) -> Validation {
    match e {
        VerifyError::WrongSwarm { .. } => Validation::Ignore(IgnoreReason::OtherSwarm),
        VerifyError::WrongRoster { .. } => Validation::Ignore(IgnoreReason::UnknownRoster),
        VerifyError::NotAMember { voter } => Validation::Reject(RejectReason::NotAMember { voter }),
        VerifyError::BadSignature { signer } => {
            Validation::Reject(RejectReason::BadSignature { signer })
        }
    }
}

fn split_evidence(e: Verified<Equivocation>) -> (Verified<SignedBallot>, Verified<SignedBallot>) {
    let roster = e.roster();
    let e = e.into_inner();
    (
        Verified::new(e.yes().clone(), roster),
        Verified::new(e.no().clone(), roster),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{MemberName, SecretKey, SwarmId};

    #[test]
    fn a_drained_engine_gives_back_the_room_of_a_burst() {
        let keys: Vec<SecretKey> = (0..3u8).map(|i| SecretKey::from_seed([i; 32])).collect();
        let members = keys.iter().enumerate().map(|(i, k)| {
            (
                MemberName::new(format!("m{i}")).unwrap(),
                k.public().unwrap(),
            )
        });
        let roster =
            Roster::new(SwarmId::new("t").unwrap(), "2/3".parse().unwrap(), members).unwrap();
        let mut engine = Engine::new(roster, keys[0].clone(), Config::default()).unwrap();
        for i in 0..1_000u32 {
            engine
                .outputs
                .push_back(Output::Broadcast(i.to_le_bytes().to_vec()));
        }
        assert!(engine.outputs.capacity() >= 1_000);
        let mut drained = 0;
        while engine.poll_output().is_some() {
            drained += 1;
        }
        assert_eq!(drained, 1_000);
        assert!(
            engine.outputs.capacity() <= OUTPUTS_KEPT,
            "kept room for {}",
            engine.outputs.capacity()
        );
    }
}
