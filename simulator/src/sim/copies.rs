//! One gossip message of a run and its copies in flight: the duplicate cache, the
//! earliest arrival per node, and the message's own queue of copies.

use std::cmp::Reverse;
use std::rc::Rc;

use dary_heap::QuaternaryHeap;
use swarmvote_protocol::Inbound;

/// One gossip message of the run and where its copies are.
///
/// The per-node state is stored message-major: the copies of one message are sent and
/// delivered close together in time, so they touch one small bitset instead of a
/// thousand nodes' separate sets.
pub(super) struct Msg {
    /// Its bytes, shared by every copy (and checked once for every engine).
    pub(super) inbound: Rc<Inbound>,
    /// SHA-256 of the bytes: gossipsub's content-addressed message id.
    pub(super) id: [u8; 32],
    /// gossipsub's duplicate cache, one bit per node: nodes that have received it (or
    /// published it). A crash clears the node's bit in every message.
    pub(super) seen: Vec<u64>,
    /// For stable nodes: the earliest arrival among the copies queued to the node, in
    /// microseconds after `base` ([`NONE`] if none), while copies are in flight; empty
    /// otherwise. Four bytes a node: at 10,000 nodes thousands of messages are in
    /// flight at once.
    pub(super) first: Vec<u32>,
    /// When copies last started to be in flight (the time base of `first` and
    /// `pending`).
    pub(super) base: u64,
    /// The sequence number base of `pending`, set with `base`.
    pub(super) base_seq: u64,
    /// Copies queued and not yet delivered.
    pub(super) in_flight: u32,
    /// The copies queued, earliest first: 16 bytes each, where an event in the run's
    /// queue costs 32. Only the earliest stands in the run's queue, as an [`Ev::Copies`](super::Ev::Copies)
    /// with the copy's own (time, sequence) key, so events run in the same order as if
    /// every copy were queued there. Entries are ([`copy_key`], to, from), in a 4-ary
    /// heap: a node's four children share a cache line, and thousands of messages'
    /// queues are live at once.
    pub(super) pending: CopyQueue,
    /// The (time, sequence) key of this message's valid [`Ev::Copies`](super::Ev::Copies) in the run's
    /// queue, if any.
    pub(super) cursor: Option<(u64, u64)>,
}

/// One message's queued copies (see [`Msg::pending`]).
pub(super) type CopyQueue = QuaternaryHeap<Reverse<(u64, u32, u32)>>;

/// A copy's key in its message's queue: its time and sequence number as offsets from the
/// message's bases, so keys order like the events they stand for.
pub(super) fn copy_key(at_off: u32, seq_off: u32) -> u64 {
    (u64::from(at_off) << 32) | u64::from(seq_off)
}

/// The (time offset, sequence offset) of a [`copy_key`].
pub(super) fn copy_offsets(key: u64) -> (u64, u64) {
    (key >> 32, key & u64::from(u32::MAX))
}

/// No copy queued (see [`Msg::first`]).
pub(super) const NONE: u32 = u32::MAX;

impl Msg {
    pub(super) fn new(bytes: &[u8], id: [u8; 32]) -> Self {
        Self {
            inbound: Rc::new(Inbound::new(bytes)),
            id,
            seen: Vec::new(),
            first: Vec::new(),
            base: 0,
            base_seq: 0,
            in_flight: 0,
            pending: CopyQueue::new(),
            cursor: None,
        }
    }

    /// Marks node `i` as having it; true if it had not.
    pub(super) fn see(&mut self, i: usize) -> bool {
        let (word, bit) = (i / 64, 1u64 << (i % 64));
        if self.seen.len() <= word {
            self.seen.resize(word.saturating_add(1), 0);
        }
        match self.seen.get_mut(word) {
            Some(w) if *w & bit == 0 => {
                *w |= bit;
                true
            }
            _ => false,
        }
    }

    pub(super) fn seen_by(&self, i: usize) -> bool {
        self.seen
            .get(i / 64)
            .is_some_and(|w| w & (1u64 << (i % 64)) != 0)
    }

    /// Node `i` crashed: it no longer remembers this message.
    pub(super) fn forget(&mut self, i: usize) {
        if let Some(w) = self.seen.get_mut(i / 64) {
            *w &= !(1u64 << (i % 64));
        }
    }

    /// The earliest queued arrival at node `i`, if any.
    pub(super) fn first_at(&self, i: usize) -> Option<u64> {
        let offset = self.first.get(i).copied().filter(|&t| t != NONE)?;
        Some(self.base.saturating_add(u64::from(offset)))
    }

    /// Records `at` as the earliest queued arrival at node `i`. A time too far after
    /// `base` to record is left out: that copy is then never used to settle a later
    /// one, which only means fewer copies are settled early.
    pub(super) fn set_first(&mut self, i: usize, at: u64, nodes: usize) {
        if self.first.is_empty() {
            self.first = vec![NONE; nodes];
        }
        let offset = at
            .checked_sub(self.base)
            .and_then(|d| u32::try_from(d).ok())
            .filter(|&d| d != NONE);
        if let (Some(t), Some(d)) = (self.first.get_mut(i), offset) {
            *t = d;
        }
    }

    /// A copy is about to be queued at sequence number `seq`: the first of a new flight
    /// sets the bases.
    pub(super) fn take_off(&mut self, now: u64, seq: u64) {
        if self.in_flight == 0 {
            self.base = now;
            self.base_seq = seq;
        }
        self.in_flight = self.in_flight.saturating_add(1);
    }

    /// One queued copy to node `i` was taken off the queue.
    pub(super) fn landed(&mut self, i: usize) {
        if let Some(t) = self.first.get_mut(i) {
            *t = NONE;
        }
        self.in_flight = self.in_flight.saturating_sub(1);
        if self.in_flight == 0 {
            // Nothing in flight, so no entry is set and no copy is queued: both can go.
            self.first = Vec::new();
            self.pending = CopyQueue::new();
        }
    }
}
