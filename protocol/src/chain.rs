//! Roster epochs: the chain of rosters from the genesis roster, each step proved by the
//! quorum certificate that approved it under the roster before.
//!
//! A roster change is a proposal with the reserved action [`ROSTER_ACTION`] whose payload
//! is the complete next roster (its [`RosterDocument`](crate::roster::RosterDocument) as
//! JSON). [`next_roster`] checks it against the roster it is judged by: same swarm, the
//! next epoch, and `previous` naming that roster's digest. It is judged under the
//! roster's [`change tier`](crate::roster::Roster::change_tier).
//!
//! A [`RosterChain`] holds every step it verified. Two changes approved at the same epoch
//! (possible only with a change quorum below a strict majority, or with keys that voted
//! YES on both) both stay known, so proposals made under either are still judged, but
//! only one continues the chain: **the change with the lowest proposal id wins**. The
//! head is found by walking from the genesis roster, at each epoch to the lowest-id
//! approved child, so every node that knows the same steps has the same head, whatever
//! order it learnt them in.

use std::collections::BTreeMap;

use crate::certificate::{Certificate, CertificateError};
use crate::ids::{ProposalId, RosterDigest, SwarmId};
use crate::message::Proposal;
use crate::roster::{Roster, RosterError};

pub use crate::roster::tier::ROSTER_ACTION;

/// Rosters one chain holds: the genesis roster and its approved successors. Every step
/// needs a quorum certificate, so only a quorum can grow this; the bound keeps even a
/// colluding quorum from growing a node's memory without limit.
pub const MAX_ROSTERS: usize = 1024;

/// Why a roster change proposal is not a valid step from its roster.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangeError {
    /// An action under the reserved prefix that the protocol does not define.
    #[error("action {action:?} is reserved for the protocol; only {ROSTER_ACTION:?} is defined")]
    Reserved {
        /// The action.
        action: String,
    },
    /// The payload is not a valid roster.
    #[error("the payload is not a valid next roster: {0}")]
    Roster(RosterError),
    /// The next roster is for another swarm.
    #[error("the next roster is for swarm {found}, this swarm is {expected}")]
    OtherSwarm {
        /// This swarm.
        expected: SwarmId,
        /// The next roster's.
        found: SwarmId,
    },
    /// The next roster's epoch is not one more than the current one's.
    #[error(
        "the next roster has epoch {found}; a change from epoch {current} must give epoch {expected}"
    )]
    Epoch {
        /// The current roster's epoch.
        current: u64,
        /// Its successor's.
        expected: u64,
        /// What the payload says.
        found: u64,
    },
    /// The next roster does not name the current one as its predecessor.
    #[error("the next roster's `previous` is {found:?}; it must be the current roster {expected}")]
    Previous {
        /// The current roster's digest.
        expected: RosterDigest,
        /// What the payload names.
        found: Option<RosterDigest>,
    },
}

/// Why a step could not join a chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// The first roster of a chain must be epoch 0.
    #[error("the genesis roster has epoch {epoch}; a chain starts at epoch 0")]
    NotGenesis {
        /// Its epoch.
        epoch: u64,
    },
    /// The certificate is not for a roster change.
    #[error("certificate for proposal {proposal} has action {action:?}, not {ROSTER_ACTION:?}")]
    NotAChange {
        /// Its proposal.
        proposal: ProposalId,
        /// Its action.
        action: String,
    },
    /// The step's proposal was judged by a roster this chain does not hold.
    #[error("step {proposal} was approved under roster {roster}, which is not in the chain")]
    UnknownRoster {
        /// The step's proposal.
        proposal: ProposalId,
        /// The roster it names.
        roster: RosterDigest,
    },
    /// The certificate does not verify against the roster before the step.
    #[error("step {proposal} (to epoch {epoch}): {source}")]
    Certificate {
        /// The step's proposal.
        proposal: ProposalId,
        /// The epoch it leads to.
        epoch: u64,
        /// Why.
        source: CertificateError,
    },
    /// The payload is not a valid successor.
    #[error("step {proposal}: {source}")]
    Change {
        /// The step's proposal.
        proposal: ProposalId,
        /// Why.
        source: ChangeError,
    },
    /// The chain is full.
    #[error("the chain already holds {max} rosters")]
    Full {
        /// [`MAX_ROSTERS`].
        max: usize,
    },
}

/// The roster a change proposal carries, checked as a successor of `current` (the
/// roster the proposal is judged by). Pure: every node gets the same answer.
pub fn next_roster(current: &Roster, proposal: &Proposal) -> Result<Roster, ChangeError> {
    let next =
        Roster::from_json_value(&proposal.payload.to_value()).map_err(ChangeError::Roster)?;
    if next.swarm() != current.swarm() {
        return Err(ChangeError::OtherSwarm {
            expected: current.swarm().clone(),
            found: next.swarm().clone(),
        });
    }
    let expected = current.epoch().saturating_add(1);
    if next.epoch() != expected {
        return Err(ChangeError::Epoch {
            current: current.epoch(),
            expected,
            found: next.epoch(),
        });
    }
    if next.previous() != Some(current.digest()) {
        return Err(ChangeError::Previous {
            expected: current.digest(),
            found: next.previous(),
        });
    }
    Ok(next)
}

/// The protocol's check of a proposal's reserved action, if it has one: a roster
/// change must carry a valid next roster (returned); other reserved actions are refused.
pub fn check_reserved(
    current: &Roster,
    proposal: &Proposal,
) -> Result<Option<Roster>, ChangeError> {
    let action = proposal.action.as_str();
    if action == ROSTER_ACTION {
        next_roster(current, proposal).map(Some)
    } else if action.starts_with(crate::roster::tier::RESERVED_PREFIX) {
        Err(ChangeError::Reserved {
            action: action.to_owned(),
        })
    } else {
        Ok(None)
    }
}

/// One verified step: the roster it leads to and the certificate that approved it.
#[derive(Clone, Debug)]
pub struct Step {
    /// The roster the change installed.
    pub roster: Roster,
    /// The approval, verified against the roster before.
    pub certificate: Certificate,
}

impl Step {
    /// The change proposal's id.
    pub fn proposal(&self) -> ProposalId {
        self.certificate.proposal().id()
    }

    /// The roster the change was judged by.
    pub fn parent(&self) -> RosterDigest {
        self.certificate.proposal().proposal().roster
    }
}

/// What [`RosterChain::add`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Adopted {
    /// The step was already known.
    Known,
    /// A new step; the head did not move (it lost to a lower-id change at its epoch,
    /// or its branch is not the head's).
    Side,
    /// A new step, and the head moved.
    Head,
}

/// Every verified roster from the genesis roster on, and the head.
#[derive(Clone, Debug)]
pub struct RosterChain {
    genesis: Roster,
    /// Every roster after genesis, by digest.
    steps: BTreeMap<RosterDigest, Step>,
    /// Approved changes by parent: (proposal id -> child digest), lowest id first.
    children: BTreeMap<RosterDigest, BTreeMap<ProposalId, RosterDigest>>,
    /// The main chain, genesis first: at each roster, its lowest-id child.
    main: Vec<RosterDigest>,
}

impl RosterChain {
    /// A chain of one roster, which must be epoch 0.
    pub fn new(genesis: Roster) -> Result<Self, ChainError> {
        if genesis.epoch() != 0 {
            return Err(ChainError::NotGenesis {
                epoch: genesis.epoch(),
            });
        }
        let main = vec![genesis.digest()];
        Ok(Self {
            genesis,
            steps: BTreeMap::new(),
            children: BTreeMap::new(),
            main,
        })
    }

    /// A chain from the genesis roster and step certificates in any order. Each is
    /// verified against its parent; the first refused step (a step whose parent never
    /// appears included) is the error.
    pub fn from_steps(
        genesis: Roster,
        certificates: impl IntoIterator<Item = Certificate>,
    ) -> Result<Self, ChainError> {
        let mut chain = Self::new(genesis)?;
        match chain.add_all(certificates).into_iter().next() {
            Some((_, e)) => Err(e),
            None => Ok(chain),
        }
    }

    /// Adds steps in any order, in as many passes as their parents need, and returns the
    /// ones refused with why (a step whose parent never appears is `UnknownRoster`).
    pub fn add_all(
        &mut self,
        certificates: impl IntoIterator<Item = Certificate>,
    ) -> Vec<(ProposalId, ChainError)> {
        let mut refused = Vec::new();
        let mut pending: Vec<Certificate> = certificates.into_iter().collect();
        while !pending.is_empty() {
            let before = pending.len();
            let mut later = Vec::new();
            for cert in pending {
                if self.get(&cert.proposal().proposal().roster).is_none() {
                    later.push(cert);
                    continue;
                }
                let proposal = cert.proposal().id();
                if let Err(e) = self.add(cert) {
                    refused.push((proposal, e));
                }
            }
            if later.len() == before {
                refused.extend(later.into_iter().map(|c| {
                    let proposal = c.proposal().id();
                    let roster = c.proposal().proposal().roster;
                    (proposal, ChainError::UnknownRoster { proposal, roster })
                }));
                break;
            }
            pending = later;
        }
        refused
    }

    /// Verifies a step and adds it. The certificate must approve a roster change under a
    /// roster of this chain (its change tier), and carry a valid successor of it.
    pub fn add(&mut self, certificate: Certificate) -> Result<Adopted, ChainError> {
        let p = certificate.proposal().proposal();
        let proposal = certificate.proposal().id();
        if p.action.as_str() != ROSTER_ACTION {
            return Err(ChainError::NotAChange {
                proposal,
                action: p.action.to_string(),
            });
        }
        let parent = self
            .get(&p.roster)
            .ok_or(ChainError::UnknownRoster {
                proposal,
                roster: p.roster,
            })?
            .clone();
        if self
            .children
            .get(&parent.digest())
            .is_some_and(|c| c.contains_key(&proposal))
        {
            return Ok(Adopted::Known);
        }
        let next =
            next_roster(&parent, p).map_err(|source| ChainError::Change { proposal, source })?;
        let certificate = certificate
            .verify(&parent)
            .map_err(|source| ChainError::Certificate {
                proposal,
                epoch: next.epoch(),
                source,
            })?
            .into_inner();
        if self.steps.contains_key(&next.digest()) {
            // The same roster through another change at the same epoch: one step suffices.
            self.children
                .entry(parent.digest())
                .or_default()
                .insert(proposal, next.digest());
            return Ok(self.rebuild_main());
        }
        if self.steps.len().saturating_add(1) >= MAX_ROSTERS {
            return Err(ChainError::Full { max: MAX_ROSTERS });
        }
        self.children
            .entry(parent.digest())
            .or_default()
            .insert(proposal, next.digest());
        self.steps.insert(
            next.digest(),
            Step {
                roster: next,
                certificate,
            },
        );
        Ok(self.rebuild_main())
    }

    /// Walks from genesis to the lowest-id child at every epoch.
    fn rebuild_main(&mut self) -> Adopted {
        let old_head = self.head().digest();
        let mut main = vec![self.genesis.digest()];
        let mut at = self.genesis.digest();
        while let Some((_, child)) = self.children.get(&at).and_then(|c| c.first_key_value()) {
            if main.contains(child) {
                break; // a roster cannot be its own ancestor; refuse to loop
            }
            main.push(*child);
            at = *child;
        }
        self.main = main;
        if self.head().digest() == old_head {
            Adopted::Side
        } else {
            Adopted::Head
        }
    }

    /// The genesis roster.
    pub fn genesis(&self) -> &Roster {
        &self.genesis
    }

    /// The head: the roster new proposals are made under.
    pub fn head(&self) -> &Roster {
        self.main
            .last()
            .and_then(|d| self.get(d))
            .unwrap_or(&self.genesis)
    }

    /// A roster of this chain by digest, on the main chain or not.
    pub fn get(&self, digest: &RosterDigest) -> Option<&Roster> {
        if *digest == self.genesis.digest() {
            return Some(&self.genesis);
        }
        self.steps.get(digest).map(|s| &s.roster)
    }

    /// Whether `digest` is on the main chain.
    pub fn is_main(&self, digest: &RosterDigest) -> bool {
        self.main.contains(digest)
    }

    /// The main chain's steps in epoch order (the genesis roster has none).
    pub fn main_steps(&self) -> impl Iterator<Item = &Step> {
        self.main.iter().skip(1).filter_map(|d| self.steps.get(d))
    }

    /// Every verified step, main chain or not, in digest order.
    pub fn all_steps(&self) -> impl Iterator<Item = &Step> {
        self.steps.values()
    }

    /// Every roster this chain holds (genesis first), for lookups by member key.
    pub fn rosters(&self) -> impl Iterator<Item = &Roster> {
        std::iter::once(&self.genesis).chain(self.steps.values().map(|s| &s.roster))
    }
}
