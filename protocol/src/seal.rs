//! The seal on an audit export: the exporting node's voter key signs the hash of the
//! export's last line before the seal and the number of lines, domain-separated from
//! every other signature. A file that was cut short, or rewritten with its hash chain
//! recomputed, no longer carries a valid seal.

use crate::crypto::{BadSignature, Domain, PublicKey, SecretKey, Signature};
use crate::ids::SwarmId;

/// The sealed bytes: the chain hash, then the line count (big-endian).
fn body(chain: &[u8; 32], lines: u64) -> [u8; 40] {
    let mut out = [0u8; 40];
    out[..32].copy_from_slice(chain);
    out[32..].copy_from_slice(&lines.to_be_bytes());
    out
}

/// Signs a seal.
pub fn sign(key: &SecretKey, swarm: &SwarmId, chain: &[u8; 32], lines: u64) -> Signature {
    key.sign(Domain::ExportSeal, swarm, &body(chain, lines))
}

/// Checks a seal (strict verification, like every signature).
pub fn verify(
    key: &PublicKey,
    swarm: &SwarmId,
    chain: &[u8; 32],
    lines: u64,
    seal: &Signature,
) -> Result<(), BadSignature> {
    key.verify(Domain::ExportSeal, swarm, &body(chain, lines), seal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seal_verifies_only_for_its_hash_count_swarm_and_key() {
        let key = SecretKey::from_seed([7; 32]);
        let other = SecretKey::from_seed([8; 32]);
        let swarm: SwarmId = "ops".parse().unwrap();
        let sig = sign(&key, &swarm, &[1; 32], 10);
        let public = key.public().unwrap();
        assert!(verify(&public, &swarm, &[1; 32], 10, &sig).is_ok());
        assert!(verify(&public, &swarm, &[2; 32], 10, &sig).is_err());
        assert!(verify(&public, &swarm, &[1; 32], 9, &sig).is_err());
        assert!(verify(&public, &"dev".parse().unwrap(), &[1; 32], 10, &sig).is_err());
        assert!(verify(&other.public().unwrap(), &swarm, &[1; 32], 10, &sig).is_err());
        // The same bytes signed for a ballot are not a seal.
        let ballot = key.sign(Domain::Ballot, &swarm, &body(&[1; 32], 10));
        assert!(verify(&public, &swarm, &[1; 32], 10, &ballot).is_err());
    }
}
