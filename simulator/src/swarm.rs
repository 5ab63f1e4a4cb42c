//! A run's members, the same in the model and in live mode: deterministic keys, the
//! roster, and the wall-clock origin of virtual time.

use swarmvote_protocol::crypto::{KeyError, sha256};
use swarmvote_protocol::ids::IdError;
use swarmvote_protocol::{
    MemberName, Quorum, QuorumError, Roster, RosterError, SecretKey, SwarmId,
};

/// The wall-clock origin of virtual time: engines see `START_MS + t / 1000`.
pub const START_MS: u64 = 1_700_000_000_000;

/// Why a run's roster could not be built.
#[derive(Debug, thiserror::Error)]
pub enum MembersError {
    /// The scenario's quorum does not parse.
    #[error("{0}")]
    Quorum(#[from] QuorumError),
    /// A member or swarm name is refused.
    #[error("{0}")]
    Name(#[from] IdError),
    /// A member key has no valid public key.
    #[error("{0}")]
    Key(#[from] KeyError),
    /// The roster refuses its members.
    #[error("{0}")]
    Roster(#[from] RosterError),
}

/// Member `i`'s key for a seed: SHA-256(seed || i), so runs are reproducible and seeds
/// do not share keys.
pub fn member_key(seed: u64, i: u32) -> SecretKey {
    let mut bytes = Vec::with_capacity(12);
    bytes.extend_from_slice(&seed.to_le_bytes());
    bytes.extend_from_slice(&i.to_le_bytes());
    SecretKey::from_seed(sha256(&bytes))
}

/// The roster of `n` members for `seed`: member `i` is `n<i>` with
/// [`member_key`]`(seed, i)`, swarm `sim`. Returns the keys too, in member order.
pub fn roster(
    n: usize,
    quorum: Quorum,
    seed: u64,
) -> Result<(Roster, Vec<SecretKey>), MembersError> {
    let keys: Vec<SecretKey> = (0..n)
        .map(|i| member_key(seed, u32::try_from(i).unwrap_or(u32::MAX)))
        .collect();
    let swarm = SwarmId::new("sim")?;
    let mut members = Vec::with_capacity(n);
    for (i, k) in keys.iter().enumerate() {
        members.push((MemberName::new(format!("n{i}"))?, k.public()?));
    }
    Ok((Roster::new(swarm, quorum, members)?, keys))
}
