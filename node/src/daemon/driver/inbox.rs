//! Gossip messages in: each is handed to the engine under a tag, and its validation
//! result goes back to gossipsub (which forwards only what the engine accepted).

use std::collections::BTreeMap;

use libp2p::PeerId;
use libp2p::gossipsub::{self, MessageAcceptance, MessageId};
use swarmvote_protocol::engine::{MessageTag, Validation};
use swarmvote_protocol::{Kind, codec};

use super::Driver;
use super::telemetry::{ignore_label, reject_label};
use crate::daemon::clock::now;
use crate::daemon::metrics::{Metrics, ReasonLabel};

/// Gossip messages awaiting their validation result.
const PENDING_VALIDATIONS: usize = 10_000;

/// Gossip messages the engine has not yet validated.
#[derive(Default)]
pub(super) struct Inbox {
    pending: BTreeMap<MessageTag, (MessageId, PeerId, Option<Kind>)>,
    next_message: u64,
}

impl Inbox {
    /// Tells gossipsub what the engine made of a message (and counts ballot verdicts).
    pub(super) fn report(
        &mut self,
        tag: MessageTag,
        result: Validation,
        gossipsub: &mut gossipsub::Behaviour,
        metrics: &Metrics,
    ) {
        let Some((id, source, kind)) = self.pending.remove(&tag) else {
            return;
        };
        if kind == Some(Kind::Ballot) {
            match &result {
                Validation::Accept => {}
                Validation::Reject(r) => Metrics::inc(
                    &metrics.ballots_rejected,
                    ReasonLabel {
                        reason: reject_label(r),
                    },
                ),
                Validation::Ignore(r) => Metrics::inc(
                    &metrics.ballots_ignored,
                    ReasonLabel {
                        reason: ignore_label(r),
                    },
                ),
            }
        }
        let acceptance = match result {
            Validation::Accept => MessageAcceptance::Accept,
            Validation::Ignore(_) => MessageAcceptance::Ignore,
            Validation::Reject(_) => MessageAcceptance::Reject,
        };
        gossipsub.report_message_validation_result(&id, &source, acceptance);
    }
}

impl Driver {
    /// A gossip message: to the engine, under a tag its validation result will carry.
    pub(super) fn on_gossip(
        &mut self,
        propagation_source: PeerId,
        message_id: MessageId,
        message: &gossipsub::Message,
    ) {
        let peer = self.peers.tag(propagation_source);
        self.inbox.next_message = self.inbox.next_message.wrapping_add(1);
        let tag = MessageTag(self.inbox.next_message);
        if self.inbox.pending.len() >= PENDING_VALIDATIONS {
            // The engine answers synchronously, so this only fills if outputs are
            // not drained; drop the oldest rather than grow.
            self.inbox.pending.pop_first();
        }
        // The kind labels validation metrics; the engine judges undecodable bytes.
        let kind = codec::kind_of(&message.data).ok();
        self.inbox
            .pending
            .insert(tag, (message_id, propagation_source, kind));
        self.telemetry.count_traffic("in", message.data.len());
        self.engine.handle_message(now(), peer, tag, &message.data);
    }
}
