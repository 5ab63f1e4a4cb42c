//! Catch-up over request-response: one round at a time per peer, on admission and on
//! the sync timer; answers to peers' rounds.

use std::collections::BTreeMap;

use libp2p::PeerId;
use libp2p::request_response::{self, OutboundRequestId};
use swarmvote_protocol::codec;
use swarmvote_protocol::engine::{SyncRequest, SyncResponse};
use tracing::{debug, warn};

use super::Driver;
use crate::daemon::clock::now;

/// Our catch-up rounds in flight.
#[derive(Default)]
pub(super) struct Syncs {
    inflight: BTreeMap<OutboundRequestId, PeerId>,
}

impl Driver {
    pub(super) fn sync_all(&mut self) {
        let peers: Vec<PeerId> = self.peers.admitted.iter().copied().collect();
        for p in peers {
            self.sync_with(p);
        }
    }

    pub(super) fn sync_with(&mut self, peer: PeerId) {
        // One round at a time per peer.
        if self.syncs.inflight.values().any(|p| *p == peer) {
            return;
        }
        let request = self.engine.sync_request(now());
        self.send_sync(peer, &request);
    }

    fn send_sync(&mut self, peer: PeerId, request: &SyncRequest) {
        match codec::encode(request) {
            Ok(bytes) => {
                let id = self.swarm.behaviour_mut().sync.send_request(&peer, bytes);
                self.syncs.inflight.insert(id, peer);
            }
            Err(e) => warn!(%peer, error = %e, "cannot encode sync request"),
        }
    }

    pub(super) fn on_sync(&mut self, event: request_response::Event<Vec<u8>, Vec<u8>>) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => {
                    let tag = self.peers.tag(peer);
                    let response = match codec::decode::<SyncRequest>(&request) {
                        Ok(req) => self.engine.handle_sync_request(now(), tag, &req),
                        Err(e) => {
                            warn!(%peer, error = %e, "invalid sync request");
                            self.count_sync("server", "failed");
                            return;
                        }
                    };
                    self.count_sync("server", "ok");
                    match codec::encode(&response) {
                        Ok(bytes) => {
                            let _ = self
                                .swarm
                                .behaviour_mut()
                                .sync
                                .send_response(channel, bytes);
                        }
                        Err(e) => warn!(%peer, error = %e, "cannot encode sync response"),
                    }
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
                            let follow = self.engine.handle_sync_response(now(), tag, resp);
                            for request in follow {
                                self.send_sync(peer, &request);
                            }
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
