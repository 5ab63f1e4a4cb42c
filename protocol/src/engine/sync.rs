//! Anti-entropy catch-up: range-based set reconciliation between two peers.
//!
//! The key space is `(created_at, proposal id)`. A [`Range`] is a time interval narrowed by
//! an id prefix of 0, 1 or 2 bytes, and a [`RangeSummary`] is one side's count of
//! proposals in it and the XOR of their entry digests. An entry digest covers a proposal
//! id and every ballot its tally keeps, so two engines agree on a range exactly when they
//! hold the same proposals with the same kept ballots there (up to SHA-256 collisions).
//!
//! One exchange is a *pull*: the requester sends [`Engine::sync_request`]; the responder
//! answers ranges that differ with per-proposal digests (small ranges) or finer summaries
//! (big ones); the requester fetches what it lacks and narrows what still differs. What the
//! responder lacks is left to the responder's own pull, so each side only ever asks.
//!
//! **Bounds.** Every handler reads at most a capped prefix of each list a peer sent,
//! writes at most the caps below, and visits at most [`MAX_SCAN`] index keys per
//! message, so a hostile peer cannot make it loop or allocate beyond the caps. What a
//! cap cuts off is picked up by the next pull.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use super::{Engine, Entry, Event, Output, PeerTag, SyncTag, Validation};
use crate::catchup::{Range, RangeSummary, SyncRequest, SyncResponse};
use crate::codec::{self, MAX_SYNC_BYTES};
use crate::crypto;
use crate::ids::{ProposalId, UnixMillis};
use crate::message::{SignedBallot, SignedProposal};
use crate::receipt::SignedReceipt;

/// A responder lists the entries of a differing range with at most this many proposals;
/// bigger ranges are split on the next id byte.
pub const SPLIT_THRESHOLD: u32 = 64;
/// Most entries in one [`SyncResponse::Reconcile`].
pub const MAX_ENTRIES: usize = 1024;
/// Most ranges in one [`SyncResponse::Reconcile`] or follow-up [`SyncRequest::Reconcile`].
pub const MAX_RANGES: usize = 2048;
/// Most proposals asked for in one [`SyncRequest::Fetch`] and sent in one
/// [`SyncResponse::Items`].
pub const MAX_FETCH: usize = 256;
/// Most ranges of one [`SyncRequest::Reconcile`] that are read; the rest are ignored.
pub const MAX_REQUEST_RANGES: usize = 4096;
/// Most ballots of one [`SyncResponse::Items`] that are read. More than fit in
/// [`MAX_SYNC_BYTES`], so it only binds callers that bypass the codec.
pub const MAX_ITEM_BALLOTS: usize = 32_768;
/// Most index keys visited while handling one message. Well above what an honest pull
/// over [`Config::max_proposals`](super::Config::max_proposals) needs (about three visits
/// per proposal), far below what overlapping hostile ranges would cost.
pub const MAX_SCAN: usize = 1 << 20;

const MINUTE_MS: u64 = 60 * 1000;
const HOUR_MS: u64 = 60 * MINUTE_MS;
/// Room left in an Items response for the envelope, the variant and two length prefixes.
const ITEMS_MARGIN: usize = 1024;

/// An index key's prefix part: (prefix length, first byte, second byte), unused bytes 0.
type PrefixKey = (u8, u8, u8);

const WHOLE: PrefixKey = (0, 0, 0);
const LOWEST_ID: ProposalId = ProposalId::from_bytes([0; 32]);

fn prefix_key(prefix: &[u8]) -> Option<PrefixKey> {
    match *prefix {
        [] => Some(WHOLE),
        [a] => Some((1, a, 0)),
        [a, b] => Some((2, a, b)),
        _ => None,
    }
}

/// Every proposal in memory under each of its three prefixes, so that a summary of any
/// range is one ordered scan of exactly its members.
#[derive(Default)]
pub(super) struct KeyIndex {
    keys: BTreeSet<(PrefixKey, u64, ProposalId)>,
}

impl KeyIndex {
    fn keys_of(created_at: UnixMillis, id: ProposalId) -> [(PrefixKey, u64, ProposalId); 3] {
        let [a, b, ..] = *id.as_bytes();
        let t = created_at.0;
        [(WHOLE, t, id), ((1, a, 0), t, id), ((2, a, b), t, id)]
    }

    pub(super) fn insert(&mut self, created_at: UnixMillis, id: ProposalId) {
        self.keys.extend(Self::keys_of(created_at, id));
    }

    pub(super) fn remove(&mut self, created_at: UnixMillis, id: ProposalId) {
        for k in Self::keys_of(created_at, id) {
            self.keys.remove(&k);
        }
    }

    /// (created_at, id) of proposals under `key` with `from <= created_at < to`, in order.
    fn scan(
        &self,
        key: PrefixKey,
        from: u64,
        to: u64,
    ) -> impl Iterator<Item = (u64, ProposalId)> + '_ {
        // An inverted range would panic in BTreeSet::range; make it empty instead.
        let to = to.max(from);
        self.keys
            .range((
                Bound::Included((key, from, LOWEST_ID)),
                Bound::Excluded((key, to, LOWEST_ID)),
            ))
            .map(|&(_, t, id)| (t, id))
    }
}

/// Count and XOR of entry digests.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
struct Sum {
    count: u32,
    digest: [u8; 32],
}

impl Sum {
    fn add(&mut self, digest: &[u8; 32]) {
        self.count = self.count.saturating_add(1);
        for (acc, byte) in self.digest.iter_mut().zip(digest) {
            *acc ^= byte;
        }
    }

    fn matches(&self, summary: &RangeSummary) -> bool {
        self.count == summary.count && self.digest == summary.digest
    }

    fn of(self, range: Range) -> RangeSummary {
        RangeSummary {
            range,
            count: self.count,
            digest: self.digest,
        }
    }
}

/// Index keys one message may still visit.
struct Budget(usize);

impl Budget {
    fn spend(&mut self) -> bool {
        match self.0.checked_sub(1) {
            Some(left) => {
                self.0 = left;
                true
            }
            None => false,
        }
    }
}

/// Prefixed to every entry digest, so it cannot collide with another SHA-256 use.
const DIGEST_TAG: &[u8] = b"swarmvote/v1/entry\0";
/// Separates a receipt from the ballots in an entry digest.
const RECEIPT_TAG: &[u8] = b"receipt\0";

/// SHA-256 over the proposal id and, for every kept ballot in tally order, its voter,
/// vote and signature, then, for every receipt held, its executor and signature (none
/// for a proposal without receipts, so their digests are what they always were); cached
/// until the kept ballots or receipts change.
///
/// The signature stands for the ballot's body: a signature by one key over two different
/// bodies would be a forgery (or a SHA-512 collision), so equal (voter, signature) pairs
/// mean equal ballots, and hashing 97 bytes per ballot spares re-encoding every body.
pub(super) fn entry_digest(entry: &Entry) -> [u8; 32] {
    *entry.digest.get_or_init(|| {
        let mut bytes = DIGEST_TAG.to_vec();
        bytes.extend_from_slice(entry.tally.proposal().as_bytes());
        for b in entry.tally.ballots() {
            bytes.extend_from_slice(b.ballot().voter.as_bytes());
            bytes.push(b.ballot().vote as u8);
            bytes.extend_from_slice(&b.signature().0);
        }
        for (executor, signature) in &entry.receipts {
            bytes.extend_from_slice(RECEIPT_TAG);
            bytes.extend_from_slice(executor.as_bytes());
            bytes.extend_from_slice(&signature.0);
        }
        crypto::sha256(&bytes)
    })
}

fn align_down(t: u64, size: u64) -> u64 {
    t.checked_rem(size).map_or(t, |r| t.saturating_sub(r))
}

/// Sorted, disjoint, non-empty intervals.
fn merge(mut intervals: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    intervals.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::with_capacity(intervals.len());
    for (from, to) in intervals {
        match merged.last_mut() {
            Some(last) if from <= last.1 => last.1 = last.1.max(to),
            _ => merged.push((from, to)),
        }
    }
    merged
}

fn covers(intervals: Option<&Vec<(u64, u64)>>, t: u64) -> bool {
    intervals.is_some_and(|iv| {
        let after = iv.partition_point(|&(from, _)| from <= t);
        after
            .checked_sub(1)
            .and_then(|i| iv.get(i))
            .is_some_and(|&(_, to)| t < to)
    })
}

/// A response's entries, without repeats, up to [`MAX_ENTRIES`].
#[derive(Default)]
struct EntryList {
    list: Vec<(ProposalId, [u8; 32])>,
    seen: BTreeSet<ProposalId>,
}

impl EntryList {
    fn is_full(&self) -> bool {
        self.list.len() >= MAX_ENTRIES
    }

    fn push(&mut self, id: ProposalId, digest: [u8; 32]) {
        if !self.is_full() && self.seen.insert(id) {
            self.list.push((id, digest));
        }
    }
}

impl Engine {
    /// The top-level request to send to a peer (complete = true): the engine's proposals
    /// in memory summarised in time buckets aligned to the epoch: 1-minute buckets for
    /// created_at within the last hour before `now`, 1-hour buckets for older ones; only
    /// non-empty buckets are listed.
    ///
    /// The minute zone starts at the hour boundary at or before `now - 1h`, so every
    /// bucket is a whole minute or hour. Should there be more than [`MAX_RANGES`]
    /// buckets, the last one stretches to the end of time, so the request stays complete.
    pub fn sync_request(&self, now: UnixMillis) -> SyncRequest {
        let cutoff = align_down(now.0.saturating_sub(HOUR_MS), HOUR_MS);
        let bucket = |t: u64| {
            let size = if t >= cutoff { MINUTE_MS } else { HOUR_MS };
            let from = align_down(t, size);
            (from, from.saturating_add(size))
        };
        let mut ranges = Vec::new();
        let mut open: Option<(u64, u64, Sum)> = None;
        for (t, id) in self.index.scan(WHOLE, 0, u64::MAX) {
            let Some(entry) = self.entries.get(&id) else {
                continue;
            };
            let digest = entry_digest(entry);
            match &mut open {
                Some((_, to, sum)) if t < *to => sum.add(&digest),
                Some((_, to, sum)) if ranges.len().saturating_add(1) >= MAX_RANGES => {
                    *to = u64::MAX;
                    sum.add(&digest);
                }
                _ => {
                    if let Some((from, to, sum)) = open.take() {
                        ranges.push(sum.of(Range {
                            from,
                            to,
                            prefix: Vec::new(),
                        }));
                    }
                    let (from, to) = bucket(t);
                    let mut sum = Sum::default();
                    sum.add(&digest);
                    open = Some((from, to, sum));
                }
            }
        }
        if let Some((from, to, sum)) = open {
            ranges.push(sum.of(Range {
                from,
                to,
                prefix: Vec::new(),
            }));
        }
        SyncRequest::Reconcile {
            ranges,
            complete: true,
        }
    }

    /// Answers a peer's request: one [`Output::SyncResponse`] addressed to `peer` with
    /// `tag`, after any output already queued. Never errors; bounded output.
    pub fn handle_sync_request(
        &mut self,
        _now: UnixMillis,
        peer: PeerTag,
        tag: SyncTag,
        request: &SyncRequest,
    ) {
        let response = match request {
            SyncRequest::Reconcile { ranges, complete } => self.answer_reconcile(ranges, *complete),
            SyncRequest::Fetch(ids) => self.answer_fetch(ids),
            SyncRequest::Steps { after } => self.answer_steps(*after),
        };
        self.outputs.push_back(Output::SyncResponse {
            peer,
            tag,
            response,
        });
    }

    /// Consumes a peer's response. The follow-up requests to send to the same peer (a
    /// Fetch for proposals missing or different here, and/or a Reconcile with this
    /// engine's summaries of the peer's finer ranges that still differ) leave as
    /// [`Output::SyncRequest`]s with `tag`, after the outputs of the items. Items are fed
    /// through exactly the same checks as gossip (`peer` labels events and bounds the
    /// orphan buffer), producing the usual outputs (Persist records, Events incl.
    /// InvalidMessage for provably bad items, decisions), but no [`Output::Validation`]
    /// (there is no gossip message to validate).
    pub fn handle_sync_response(
        &mut self,
        now: UnixMillis,
        peer: PeerTag,
        tag: SyncTag,
        response: SyncResponse,
    ) {
        let follow = match response {
            SyncResponse::Reconcile { entries, ranges } => self.follow_up(&entries, &ranges),
            SyncResponse::Items { proposals, ballots } => {
                self.take_items(now, peer, proposals, ballots, Vec::new())
            }
            SyncResponse::ItemsWithReceipts {
                proposals,
                ballots,
                receipts,
            } => self.take_items(now, peer, proposals, ballots, receipts),
            SyncResponse::Steps(steps) => self.take_steps(now, peer, steps),
        };
        self.outputs
            .extend(
                follow
                    .into_iter()
                    .map(|request| Output::SyncRequest { peer, tag, request }),
            );
    }

    fn summarise(&self, key: PrefixKey, range: &Range, budget: &mut Budget) -> Option<Sum> {
        let mut sum = Sum::default();
        for (_, id) in self.index.scan(key, range.from, range.to) {
            if !budget.spend() {
                return None;
            }
            if let Some(entry) = self.entries.get(&id) {
                sum.add(&entry_digest(entry));
            }
        }
        Some(sum)
    }

    fn answer_reconcile(&self, requested: &[RangeSummary], complete: bool) -> SyncResponse {
        let requested = requested.get(..MAX_REQUEST_RANGES).unwrap_or(requested);
        let mut budget = Budget(MAX_SCAN);
        let mut entries = EntryList::default();
        let mut ranges = Vec::new();
        'ranges: for theirs in requested {
            if entries.is_full() && ranges.len() >= MAX_RANGES {
                break;
            }
            let range = &theirs.range;
            let Some(key) = prefix_key(&range.prefix) else {
                continue;
            };
            let Some(own) = self.summarise(key, range, &mut budget) else {
                break;
            };
            // Nothing here: the requester has more, which is its peer's own pull to find.
            if own.count == 0 || own.matches(theirs) {
                continue;
            }
            if own.count <= SPLIT_THRESHOLD || range.prefix.len() >= 2 {
                for (_, id) in self.index.scan(key, range.from, range.to) {
                    if entries.is_full() {
                        break;
                    }
                    if !budget.spend() {
                        break 'ranges;
                    }
                    if let Some(entry) = self.entries.get(&id) {
                        entries.push(id, entry_digest(entry));
                    }
                }
                continue;
            }
            if ranges.len() >= MAX_RANGES {
                continue;
            }
            let depth = range.prefix.len();
            let mut parts: BTreeMap<u8, Sum> = BTreeMap::new();
            for (_, id) in self.index.scan(key, range.from, range.to) {
                if !budget.spend() {
                    break 'ranges;
                }
                if let (Some(entry), Some(&byte)) =
                    (self.entries.get(&id), id.as_bytes().get(depth))
                {
                    parts.entry(byte).or_default().add(&entry_digest(entry));
                }
            }
            for (byte, sum) in parts {
                if ranges.len() >= MAX_RANGES {
                    break;
                }
                let mut prefix = range.prefix.clone();
                prefix.push(byte);
                ranges.push(sum.of(Range {
                    from: range.from,
                    to: range.to,
                    prefix,
                }));
            }
        }
        if complete {
            self.add_uncovered(requested, &mut budget, &mut entries);
        }
        SyncResponse::Reconcile {
            entries: entries.list,
            ranges,
        }
    }

    /// Own entries outside every requested range: the requester has nothing there.
    fn add_uncovered(
        &self,
        requested: &[RangeSummary],
        budget: &mut Budget,
        entries: &mut EntryList,
    ) {
        let mut cover: BTreeMap<PrefixKey, Vec<(u64, u64)>> = BTreeMap::new();
        for r in requested {
            if let Some(key) = prefix_key(&r.range.prefix)
                && r.range.from < r.range.to
            {
                cover
                    .entry(key)
                    .or_default()
                    .push((r.range.from, r.range.to));
            }
        }
        let cover: BTreeMap<PrefixKey, Vec<(u64, u64)>> = cover
            .into_iter()
            .map(|(key, intervals)| (key, merge(intervals)))
            .collect();
        // Scan only the gaps between whole-key-space intervals; prefixed intervals are
        // checked per proposal found there.
        let mut gaps = Vec::new();
        let mut lo = 0u64;
        for &(from, to) in cover.get(&WHOLE).into_iter().flatten() {
            gaps.push((lo, from));
            lo = to;
        }
        gaps.push((lo, u64::MAX));
        for (from, to) in gaps {
            for (t, id) in self.index.scan(WHOLE, from, to) {
                if entries.is_full() || !budget.spend() {
                    return;
                }
                let [a, b, ..] = *id.as_bytes();
                if covers(cover.get(&(1, a, 0)), t) || covers(cover.get(&(2, a, b)), t) {
                    continue;
                }
                if let Some(entry) = self.entries.get(&id) {
                    entries.push(id, entry_digest(entry));
                }
            }
        }
    }

    fn answer_fetch(&self, ids: &[ProposalId]) -> SyncResponse {
        let limit = MAX_SYNC_BYTES.saturating_sub(ITEMS_MARGIN);
        let mut size = 0usize;
        let mut seen = BTreeSet::new();
        let (mut proposals, mut ballots, mut receipts) = (Vec::new(), Vec::new(), Vec::new());
        for id in ids.iter().take(MAX_FETCH) {
            if !seen.insert(*id) {
                continue;
            }
            let Some(entry) = self.entries.get(id) else {
                continue;
            };
            // A sequence's body is its length prefix and its elements' bodies, so these
            // sizes add up to the response's size, less the margin's few header bytes.
            let proposal: &SignedProposal = &entry.proposal;
            let item = entry
                .tally
                .ballots()
                .fold(codec::encode_body(proposal).len(), |acc, b| {
                    acc.saturating_add(codec::encode_body(b).len())
                });
            let item = self.receipts(id).fold(item, |acc, r| {
                acc.saturating_add(codec::encode_body(r).len())
            });
            let total = size.saturating_add(item);
            if total > limit {
                break;
            }
            size = total;
            proposals.push(proposal.clone());
            ballots.extend(entry.tally.ballots().cloned());
            receipts.extend(self.receipts(id).cloned());
        }
        // Without receipts, the answer every node has always sent.
        if receipts.is_empty() {
            SyncResponse::Items { proposals, ballots }
        } else {
            SyncResponse::ItemsWithReceipts {
                proposals,
                ballots,
                receipts,
            }
        }
    }

    fn follow_up(
        &self,
        entries: &[(ProposalId, [u8; 32])],
        ranges: &[RangeSummary],
    ) -> Vec<SyncRequest> {
        let mut wanted = BTreeSet::new();
        let mut fetch = Vec::new();
        for (id, digest) in entries.iter().take(MAX_ENTRIES) {
            if fetch.len() >= MAX_FETCH {
                break;
            }
            let differs = self
                .entries
                .get(id)
                .is_none_or(|e| entry_digest(e) != *digest);
            if differs && wanted.insert(*id) {
                fetch.push(*id);
            }
        }
        let mut budget = Budget(MAX_SCAN);
        let mut narrower = Vec::new();
        for theirs in ranges.iter().take(MAX_RANGES) {
            let Some(key) = prefix_key(&theirs.range.prefix) else {
                continue;
            };
            let Some(own) = self.summarise(key, &theirs.range, &mut budget) else {
                break;
            };
            if !own.matches(theirs) {
                narrower.push(own.of(theirs.range.clone()));
            }
        }
        let mut out = Vec::new();
        if !fetch.is_empty() {
            out.push(SyncRequest::Fetch(fetch));
        }
        if !narrower.is_empty() {
            out.push(SyncRequest::Reconcile {
                ranges: narrower,
                complete: false,
            });
        }
        out
    }

    fn take_items(
        &mut self,
        now: UnixMillis,
        peer: PeerTag,
        proposals: Vec<SignedProposal>,
        ballots: Vec<SignedBallot>,
        receipts: Vec<SignedReceipt>,
    ) -> Vec<SyncRequest> {
        // Proposals first, so their ballots find them rather than the orphan buffer.
        let mut behind = false;
        for p in proposals.into_iter().take(MAX_FETCH) {
            let result = self.on_proposal(now, peer, p, super::Sig::Unchecked(None));
            behind |= result == Validation::Ignore(super::IgnoreReason::UnknownRoster);
            self.report_reject(peer, result);
        }
        for b in ballots.into_iter().take(MAX_ITEM_BALLOTS) {
            let result = self.on_ballot(now, peer, b, None);
            self.report_reject(peer, result);
        }
        // After the ballots, so a receipt is judged against the approval it names.
        for r in receipts.into_iter().take(MAX_ITEM_BALLOTS) {
            let result = self.on_receipt(peer, r);
            self.report_reject(peer, result);
        }
        // The peer holds proposals under a roster this node does not know: ask it for
        // the chain's steps past our head, then fetch them again.
        if behind {
            vec![SyncRequest::Steps {
                after: self.chain.head().epoch(),
            }]
        } else {
            Vec::new()
        }
    }

    fn report_reject(&mut self, peer: PeerTag, result: Validation) {
        if let Validation::Reject(reason) = result {
            self.event(Event::InvalidMessage { peer, reason });
        }
    }
}
