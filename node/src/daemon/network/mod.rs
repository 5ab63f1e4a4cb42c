//! The libp2p stack: TCP + noise + yamux, gossipsub for proposals and ballots,
//! request-response for catch-up, identify (carrying the roster digest) and ping,
//! connection limits, a block list, optional mDNS, and Kademlia discovery (see
//! [`discovery`]). Addresses may name hosts by DNS (`/dns`, `/dns4`, `/dns6`).
//!
//! Gossipsub runs with `MessageAuthenticity::Anonymous`: our messages carry their own
//! ed25519 signatures, and libp2p's per-message signing would only cost time. Message ids
//! are a hash of the content, so the same ballot is one message however it travels.
//! Every message is validated by the engine before it is forwarded.

pub mod addrs;
pub mod codec;
pub mod discovery;
pub mod refusals;

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use libp2p::gossipsub::{
    self, IdentTopic, MessageAuthenticity, MessageId, PeerScoreParams, PeerScoreThresholds,
    TopicScoreParams, ValidationMode,
};
use libp2p::identity::Keypair;
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::{
    Swarm, allow_block_list, connection_limits, identify, mdns, noise, ping, request_response, tcp,
    yamux,
};
use swarmvote_protocol::codec::MAX_MESSAGE_BYTES;
use swarmvote_protocol::crypto::sha256;
use swarmvote_protocol::{Roster, SwarmId};
use tracing::warn;

use self::codec::{PROTOCOL, SyncCodec};

/// Gossipsub frames carry the codec's message plus protobuf framing.
pub const MAX_GOSSIP_FRAME: usize = MAX_MESSAGE_BYTES + 4096;
/// Catch-up frames: the protocol's sync limit.
pub const MAX_SYNC_FRAME: usize = swarmvote_protocol::codec::MAX_SYNC_BYTES;

/// Network settings, from the config's `[network]` section.
#[derive(Clone, Debug)]
pub struct NetworkSettings {
    /// Close a connection only after this long without any stream.
    pub idle_timeout: Duration,
    /// Established connections in total.
    pub max_connections: u32,
    /// Discover peers on the LAN with mDNS.
    pub mdns: bool,
    /// Discover members through the members we know (Kademlia).
    pub discovery: bool,
}

mod behaviour;
pub use behaviour::{Behaviour, BehaviourEvent};

/// Why the network could not start: which libp2p component refused its configuration.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// The noise handshake's keys.
    #[error("network setup: {0}")]
    Noise(#[from] noise::Error),
    /// The gossipsub configuration.
    #[error("network setup: {0}")]
    GossipConfig(#[from] gossipsub::ConfigBuilderError),
    /// Gossipsub refused its authenticity mode (its own words).
    #[error("network setup: {0}")]
    Gossipsub(&'static str),
    /// Gossipsub refused the peer-scoring parameters (its own words).
    #[error("network setup: {0}")]
    Scoring(String),
    /// Subscribing to the swarm's topic.
    #[error("network setup: {0}")]
    Subscribe(#[from] gossipsub::SubscriptionError),
    /// mDNS could not start.
    #[error("network setup: {0}")]
    Mdns(#[source] std::io::Error),
}

/// The gossipsub topic of a swarm.
pub fn topic(swarm: &SwarmId) -> IdentTopic {
    IdentTopic::new(format!("swarmvote/v1/{swarm}"))
}

/// What identify announces: swarm and roster digest. Peers compare it with their own and
/// refuse a mismatch.
pub fn protocol_version(roster: &Roster) -> String {
    format!("/swarmvote/1/{}/{}", roster.swarm(), roster.digest())
}

/// Peer scoring. A peer that forwards a message the engine rejects (bad signature,
/// malformed, non-member) loses 100 points per message, squared: one such message puts
/// it below the gossip (-10) and publish (-50) thresholds, two below the graylist (-80),
/// after which its messages are ignored. The penalty decays by 10% per decay interval
/// (1 s), so it takes minutes to recover. Mesh-delivery penalties are off: a quiet swarm
/// has few messages, and honest peers must not be punished for silence.
fn scoring(topic: &IdentTopic) -> (PeerScoreParams, PeerScoreThresholds) {
    let topic_params = TopicScoreParams {
        topic_weight: 1.0,
        time_in_mesh_weight: 0.01,
        time_in_mesh_quantum: Duration::from_secs(1),
        time_in_mesh_cap: 100.0,
        first_message_deliveries_weight: 1.0,
        first_message_deliveries_decay: 0.9,
        first_message_deliveries_cap: 50.0,
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        invalid_message_deliveries_weight: -100.0,
        invalid_message_deliveries_decay: 0.9,
        ..TopicScoreParams::default()
    };
    let mut topics = HashMap::new();
    topics.insert(topic.hash(), topic_params);
    // Swarms on one host or LAN are normal here: no penalty for sharing an address.
    let whitelist: HashSet<IpAddr> = [
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(Ipv6Addr::LOCALHOST),
    ]
    .into_iter()
    .collect();
    let params = PeerScoreParams {
        topics,
        ip_colocation_factor_whitelist: whitelist,
        ..PeerScoreParams::default()
    };
    let thresholds = PeerScoreThresholds {
        gossip_threshold: -10.0,
        publish_threshold: -50.0,
        graylist_threshold: -80.0,
        accept_px_threshold: 10.0,
        opportunistic_graft_threshold: 5.0,
    };
    (params, thresholds)
}

/// Builds the swarm (not yet listening).
pub fn build(
    keypair: Keypair,
    roster: &Roster,
    settings: &NetworkSettings,
) -> Result<Swarm<Behaviour>, NetworkError> {
    // Built before the swarm, so its errors keep their types (the swarm builder would
    // box them).
    let behaviour = behaviour(&keypair, roster, settings)?;
    let (dns, dns_opts, fallback) = addrs::resolver();
    if let Some(why) = fallback {
        warn!(
            error = %why,
            "no usable DNS servers in /etc/resolv.conf; names resolve through /etc/hosts only"
        );
    }
    let built = libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )?
        .with_dns_config(dns, dns_opts)
        .with_behaviour(|_| behaviour);
    let builder = match built {
        Ok(builder) => builder,
        Err(never) => match never {},
    };
    Ok(builder
        .with_swarm_config(|c| c.with_idle_connection_timeout(settings.idle_timeout))
        .build())
}

/// Gossipsub (scored, validating, subscribed to the swarm's topic), catch-up,
/// identify, ping, connection limits, the block list, optional mDNS and discovery.
fn behaviour(
    key: &Keypair,
    roster: &Roster,
    settings: &NetworkSettings,
) -> Result<Behaviour, NetworkError> {
    let topic = topic(roster.swarm());
    let version = protocol_version(roster);
    let (score_params, score_thresholds) = scoring(&topic);
    let gossip_config = gossipsub::ConfigBuilder::default()
        .validation_mode(ValidationMode::Anonymous)
        .validate_messages()
        .message_id_fn(|m: &gossipsub::Message| {
            MessageId::from(sha256(&m.data).get(..20).unwrap_or_default().to_vec())
        })
        .max_transmit_size(MAX_GOSSIP_FRAME)
        .heartbeat_interval(Duration::from_millis(500))
        .build()?;
    let mut gossipsub = gossipsub::Behaviour::new(MessageAuthenticity::Anonymous, gossip_config)
        .map_err(NetworkError::Gossipsub)?;
    gossipsub
        .with_peer_score(score_params, score_thresholds)
        .map_err(NetworkError::Scoring)?;
    gossipsub.subscribe(&topic)?;
    let sync = request_response::Behaviour::with_codec(
        SyncCodec {
            limit: MAX_SYNC_FRAME,
        },
        [(PROTOCOL, request_response::ProtocolSupport::Full)],
        request_response::Config::default().with_request_timeout(Duration::from_secs(20)),
    );
    let identify = identify::Behaviour::new(
        identify::Config::new(version.clone(), key.public())
            .with_agent_version(format!("swarmvote/{}", env!("CARGO_PKG_VERSION"))),
    );
    let limits = connection_limits::Behaviour::new(
        connection_limits::ConnectionLimits::default()
            .with_max_established(Some(settings.max_connections))
            .with_max_established_per_peer(Some(2))
            .with_max_pending_incoming(Some(64)),
    );
    let mdns = if settings.mdns {
        Some(
            mdns::tokio::Behaviour::new(mdns::Config::default(), key.public().to_peer_id())
                .map_err(NetworkError::Mdns)?,
        )
    } else {
        None
    };
    let kad = settings
        .discovery
        .then(|| discovery::behaviour(key.public().to_peer_id(), &version));
    Ok(Behaviour {
        gossipsub,
        sync,
        identify,
        ping: ping::Behaviour::new(ping::Config::new()),
        limits,
        blocked: allow_block_list::Behaviour::default(),
        mdns: Toggle::from(mdns),
        kad: Toggle::from(kad),
    })
}
