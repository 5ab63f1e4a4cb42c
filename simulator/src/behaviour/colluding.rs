//! `colluding`: a bloc of members that err together, as after a shared prompt injection.
//!
//! Every member with the same `bloc` id shares one coin per proposal: the first member of
//! the bloc to judge the proposal draws it (true with probability `p`), and every member
//! votes the wrong way when it is true, the right way otherwise. Members sign with their
//! own keys, so every ballot is valid.
//!
//! What the swarm should do: a bloc smaller than `q` cannot pass an anomaly on its own
//! (honest members vote NO). A bloc of `q` or more can, on a fraction `p` of anomalies:
//! that is the false-approval rate the report shows. Correlated errors break a quorum
//! where independent ones ([`super::drift`]) rarely do.

use std::collections::BTreeMap;

use swarmvote_protocol::ProposalId;

use crate::rng::SimRng;

/// The blocs' shared coins, per (bloc, proposal).
#[derive(Debug, Default)]
pub struct Blocs(BTreeMap<(String, ProposalId), bool>);

impl Blocs {
    /// Whether `bloc` votes the wrong way on `proposal`: drawn (one `chance(p)`) by the
    /// first member to ask, remembered for the others.
    pub fn coin(&mut self, bloc: &str, proposal: ProposalId, p: f64, rng: &mut SimRng) -> bool {
        let key = (bloc.to_string(), proposal);
        if let Some(&wrong) = self.0.get(&key) {
            return wrong;
        }
        let wrong = rng.chance(p);
        self.0.insert(key, wrong);
        wrong
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bloc_shares_one_coin_per_proposal() {
        let mut blocs = Blocs::default();
        let mut rng = SimRng::new(11);
        let (mut flipped, mut kept) = (0, 0);
        for k in 0..200u8 {
            let id = ProposalId::from_bytes([k; 32]);
            let first = blocs.coin("pair", id, 0.5, &mut rng);
            // Four more members of the bloc see the same coin, whatever their own p.
            for p in [0.0, 1.0, 0.5, 0.5] {
                assert_eq!(blocs.coin("pair", id, p, &mut rng), first);
            }
            if first { flipped += 1 } else { kept += 1 }
        }
        // The coin itself is a fair one here: both sides come up.
        assert!(flipped > 60 && kept > 60, "{flipped} flipped, {kept} kept");
    }

    #[test]
    fn the_coin_is_drawn_once_and_blocs_are_independent() {
        let mut blocs = Blocs::default();
        let (mut rng, mut reference) = (SimRng::new(5), SimRng::new(5));
        let id = ProposalId::from_bytes([1; 32]);
        blocs.coin("a", id, 0.5, &mut rng);
        blocs.coin("a", id, 0.5, &mut rng);
        reference.unit();
        assert_eq!(rng.unit().to_bits(), reference.unit().to_bits());
        // Another bloc, or another proposal, draws its own coin.
        assert!(blocs.coin("b", id, 1.0, &mut rng));
        assert!(!blocs.coin("b", ProposalId::from_bytes([2; 32]), 0.0, &mut rng));
        assert!(blocs.coin("b", id, 0.0, &mut rng), "remembered");
    }
}
