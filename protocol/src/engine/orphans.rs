//! Ballots that arrived before their proposal, held in a buffer bounded per peer, per
//! proposal and in total, and dropped after a while.
//!
//! Per proposal it keeps what the tally would keep: one ballot per (voter, vote), the
//! smallest variant. So at most `2n` per proposal, and which ballot survives does not
//! depend on arrival order.
//!
//! Ballots are held as shared handles on the received message (no copy), and the
//! earliest expiry is found per proposal, not per ballot: in a large swarm many ballots
//! outrun their proposal, and the engine asks for its next timeout after every input.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::crypto::Verified;
use crate::engine::PeerTag;
use crate::ids::{ProposalId, UnixMillis, VoterId};
use crate::message::{SignedBallot, Vote};

/// What [`Orphans::hold`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hold {
    /// Held (new, or replacing a larger variant).
    Held,
    /// An equal or preferred ballot is already held.
    Duplicate,
    /// A bound is reached.
    Full,
}

struct Held {
    peer: PeerTag,
    arrived: UnixMillis,
    ballot: Verified<Arc<SignedBallot>>,
}

/// The ballots held for one proposal.
#[derive(Default)]
struct Slots {
    /// No held ballot arrived before this (exact until one is replaced or expired, then
    /// earlier than the truth, which only makes [`Orphans::next_expiry`] early).
    first_arrival: Option<UnixMillis>,
    held: BTreeMap<(VoterId, Vote), Held>,
}

/// The bounded buffer.
pub(crate) struct Orphans {
    by_proposal: BTreeMap<ProposalId, Slots>,
    per_peer: BTreeMap<PeerTag, usize>,
    total: usize,
    max_per_peer: usize,
    max_total: usize,
    max_per_proposal: usize,
    ttl_ms: u64,
}

impl Orphans {
    /// Lets each proposal hold up to `max` ballots (a larger roster was adopted).
    pub(crate) fn allow_per_proposal(&mut self, max: usize) {
        self.max_per_proposal = self.max_per_proposal.max(max);
    }

    pub(crate) fn new(
        max_per_peer: usize,
        max_total: usize,
        max_per_proposal: usize,
        ttl_ms: u64,
    ) -> Self {
        Self {
            by_proposal: BTreeMap::new(),
            per_peer: BTreeMap::new(),
            total: 0,
            max_per_peer,
            max_total,
            max_per_proposal,
            ttl_ms,
        }
    }

    /// Holds a ballot, within the bounds.
    pub(crate) fn hold(
        &mut self,
        peer: PeerTag,
        now: UnixMillis,
        ballot: Verified<Arc<SignedBallot>>,
    ) -> Hold {
        let slot = (ballot.ballot().voter, ballot.ballot().vote);
        let proposal = ballot.ballot().proposal;
        let held = self
            .by_proposal
            .get(&proposal)
            .and_then(|slots| slots.held.get(&slot));
        if held.is_some_and(|h| *ballot >= *h.ballot) {
            return Hold::Duplicate;
        }
        let from_peer = self.per_peer.get(&peer).copied().unwrap_or(0);
        if self.total >= self.max_total || from_peer >= self.max_per_peer {
            return Hold::Full;
        }
        let slots = self.by_proposal.entry(proposal).or_default();
        if !slots.held.contains_key(&slot) && slots.held.len() >= self.max_per_proposal {
            return Hold::Full;
        }
        slots.first_arrival = Some(slots.first_arrival.map_or(now, |t| t.min(now)));
        let replaced = slots.held.insert(
            slot,
            Held {
                peer,
                arrived: now,
                ballot,
            },
        );
        if let Some(old) = replaced {
            self.forget(old.peer);
        }
        self.per_peer.insert(peer, from_peer.saturating_add(1));
        self.total = self.total.saturating_add(1);
        Hold::Held
    }

    /// Removes and returns every ballot waiting for `proposal`.
    pub(crate) fn release(&mut self, proposal: &ProposalId) -> Vec<Verified<Arc<SignedBallot>>> {
        let Some(slots) = self.by_proposal.remove(proposal) else {
            return Vec::new();
        };
        slots
            .held
            .into_values()
            .map(|h| {
                self.forget(h.peer);
                h.ballot
            })
            .collect()
    }

    /// Drops ballots held longer than the time-to-live.
    pub(crate) fn expire(&mut self, now: UnixMillis) {
        let ttl = self.ttl_ms;
        let mut dropped = Vec::new();
        self.by_proposal.retain(|_, slots| {
            let due = slots
                .first_arrival
                .is_none_or(|t| now.saturating_since(t) >= ttl);
            if !due {
                return true;
            }
            slots.held.retain(|_, h| {
                let keep = now.saturating_since(h.arrived) < ttl;
                if !keep {
                    dropped.push(h.peer);
                }
                keep
            });
            slots.first_arrival = slots.held.values().map(|h| h.arrived).min();
            !slots.held.is_empty()
        });
        for peer in dropped {
            self.forget(peer);
        }
    }

    fn forget(&mut self, peer: PeerTag) {
        self.total = self.total.saturating_sub(1);
        if let Some(n) = self.per_peer.get_mut(&peer) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_peer.remove(&peer);
            }
        }
    }

    /// Ballots held.
    pub(crate) fn len(&self) -> usize {
        self.total
    }

    /// The earliest time a held ballot expires.
    pub(crate) fn next_expiry(&self) -> Option<UnixMillis> {
        self.by_proposal
            .values()
            .filter_map(|slots| slots.first_arrival)
            .min()
            .and_then(|t| t.checked_add(self.ttl_ms))
    }
}
