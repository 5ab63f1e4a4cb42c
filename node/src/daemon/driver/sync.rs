//! Catch-up over request-response: one round at a time per peer, on admission and on
//! the sync timer; answers to peers' rounds.

use std::collections::BTreeMap;

use libp2p::PeerId;
use libp2p::request_response::{self, OutboundRequestId, ResponseChannel};
use swarmvote_protocol::codec;
use swarmvote_protocol::engine::{PeerTag, SyncRequest, SyncResponse, SyncTag};
use tracing::{debug, warn};

use super::Driver;
use super::peers::Peers;
use crate::daemon::clock::now;
use crate::daemon::network::codec::SyncCodec;

/// Peers' catch-up requests awaiting the engine's answer.
const PENDING_ANSWERS: usize = 1_024;

/// Test-only switch: set to `1`, the node never asks a peer for anything, neither a
/// periodic round nor the engine's follow-ups (such as fetching the proposal of an
/// orphan ballot); it still answers peers. The test bed uses it to show that its checker
/// catches nodes that missed what was decided while they were cut off.
pub const NO_CATCHUP_ENV: &str = "SWARMVOTE_TEST_NO_CATCHUP";

/// Whether [`NO_CATCHUP_ENV`] is set, read once.
fn catchup_disabled() -> bool {
    static DISABLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *DISABLED.get_or_init(|| {
        let off = std::env::var(NO_CATCHUP_ENV).is_ok_and(|v| v == "1");
        if off {
            warn!("catch-up disabled by {NO_CATCHUP_ENV}: a test-only switch");
        }
        off
    })
}

/// The libp2p side of catch-up.
type Transport = request_response::Behaviour<SyncCodec>;

/// Our catch-up rounds in flight, and the peers' rounds the engine has yet to answer.
#[derive(Default)]
pub(super) struct Syncs {
    inflight: BTreeMap<OutboundRequestId, PeerId>,
    /// Where to send each answer the engine has yet to output.
    answers: BTreeMap<SyncTag, ResponseChannel<Vec<u8>>>,
    next: u64,
}

impl Syncs {
    /// A new handle for one catch-up exchange.
    fn tag(&mut self) -> SyncTag {
        self.next = self.next.wrapping_add(1);
        SyncTag(self.next)
    }

    /// Sends one request of ours.
    fn send(&mut self, transport: &mut Transport, peer: PeerId, request: &SyncRequest) {
        match codec::encode(request) {
            Ok(bytes) => {
                let id = transport.send_request(&peer, bytes);
                self.inflight.insert(id, peer);
            }
            Err(e) => warn!(%peer, error = %e, "cannot encode sync request"),
        }
    }

    /// Sends the engine's answer on the channel its request came with.
    pub(super) fn answer(
        &mut self,
        transport: &mut Transport,
        peers: &Peers,
        peer: PeerTag,
        tag: SyncTag,
        response: &SyncResponse,
    ) {
        let Some(channel) = self.answers.remove(&tag) else {
            return;
        };
        match codec::encode(response) {
            Ok(bytes) => {
                let _ = transport.send_response(channel, bytes);
            }
            Err(e) => warn!(peer = %peers.name(peer), error = %e, "cannot encode sync response"),
        }
    }

    /// Sends the engine's follow-up request to the peer that answered.
    pub(super) fn follow_up(
        &mut self,
        transport: &mut Transport,
        peers: &Peers,
        peer: PeerTag,
        request: &SyncRequest,
    ) {
        if catchup_disabled() {
            return;
        }
        if let Some(peer) = peers.peer_id(peer) {
            self.send(transport, peer, request);
        }
    }
}

impl Driver {
    pub(super) fn sync_all(&mut self) {
        let peers: Vec<PeerId> = self.peers.admitted.iter().copied().collect();
        for p in peers {
            self.sync_with(p);
        }
    }

    pub(super) fn sync_with(&mut self, peer: PeerId) {
        if catchup_disabled() {
            return;
        }
        // One round at a time per peer.
        if self.syncs.inflight.values().any(|p| *p == peer) {
            return;
        }
        let request = self.engine.sync_request(now());
        self.send_sync(peer, &request);
    }

    fn send_sync(&mut self, peer: PeerId, request: &SyncRequest) {
        self.syncs
            .send(&mut self.swarm.behaviour_mut().sync, peer, request);
    }

    pub(super) fn on_sync(&mut self, event: request_response::Event<Vec<u8>, Vec<u8>>) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => {
                    let tag = self.peers.tag(peer);
                    let req = match codec::decode::<SyncRequest>(&request) {
                        Ok(req) => req,
                        Err(e) => {
                            warn!(%peer, error = %e, "invalid sync request");
                            self.count_sync("server", "failed");
                            return;
                        }
                    };
                    self.count_sync("server", "ok");
                    // The answer is an output: keep the channel until the drain sends it.
                    if self.syncs.answers.len() >= PENDING_ANSWERS {
                        // Only fills if outputs are not drained; drop the oldest (its
                        // peer sees the request fail) rather than grow.
                        self.syncs.answers.pop_first();
                    }
                    let sync = self.syncs.tag();
                    self.syncs.answers.insert(sync, channel);
                    self.engine.handle_sync_request(now(), tag, sync, &req);
                }
                request_response::Message::Response {
                    request_id,
                    response,
                } => {
                    self.syncs.inflight.remove(&request_id);
                    let tag = self.peers.tag(peer);
                    match codec::decode::<SyncResponse>(&response) {
                        Ok(resp) => {
                            self.count_sync("client", "ok");
                            // Follow-ups are outputs, sent by the drain.
                            let sync = self.syncs.tag();
                            self.engine.handle_sync_response(now(), tag, sync, resp);
                        }
                        Err(e) => {
                            self.count_sync("client", "failed");
                            warn!(%peer, error = %e, "invalid sync response");
                        }
                    }
                }
            },
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                self.syncs.inflight.remove(&request_id);
                self.count_sync("client", "failed");
                debug!(%peer, %error, "sync request failed");
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                self.count_sync("server", "failed");
                debug!(%peer, %error, "sync answer failed");
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }
}
