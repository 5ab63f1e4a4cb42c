//! A node's signing history as a portable document: its own proposals and ballots, for
//! moving a voter key to another machine with its own-vote guard (in the spirit of
//! EIP-3076's slashing-protection interchange format).
//!
//! The document is versioned JSON that names the swarm, the roster digest and the voter,
//! and carries each signed message in the API's JSON form (signature included). Import
//! checks everything before it writes anything: format and version, swarm, roster,
//! voter, every signature against the roster, and that no imported ballot contradicts
//! one the data dir already holds.

use serde::{Deserialize, Serialize};
use swarmvote_protocol::engine::Record;
use swarmvote_protocol::{
    ProposalId, Roster, RosterDigest, SignedBallot, SignedProposal, SwarmId, UnixMillis,
    VerifyError, Vote, VoterId,
};

use super::{Store, StoreError};

/// The `format` field's value.
pub const FORMAT: &str = "swarmvote-signing-history";
/// The version this code writes and reads.
pub const VERSION: u32 = 1;

/// The document (see the module documentation).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningHistory {
    /// Always [`FORMAT`].
    pub format: String,
    /// Always [`VERSION`] for this code.
    pub version: u32,
    /// The swarm the messages were signed for.
    pub swarm: SwarmId,
    /// The roster they were signed under.
    pub roster_digest: RosterDigest,
    /// The voter who signed them.
    pub voter: VoterId,
    /// When the document was written.
    pub exported_at: UnixMillis,
    /// Every proposal the voter signed that the data dir holds.
    pub proposals: Vec<SignedProposal>,
    /// Every ballot the voter signed, one per proposal at most.
    pub ballots: Vec<SignedBallot>,
}

/// What an import wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Proposals written (new or already held: writing is idempotent).
    pub proposals: usize,
    /// Own ballots written that the data dir did not hold.
    pub ballots: usize,
    /// Own ballots the data dir already held, byte for byte.
    pub already_held: usize,
}

/// Why a history was refused. Nothing is written when one is returned.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// Not a signing history.
    #[error("format is {found:?}, not {FORMAT:?}")]
    Format {
        /// The `format` found.
        found: String,
    },
    /// A version this code does not read.
    #[error("version {found} is not supported (this swarmvote reads version {VERSION})")]
    Version {
        /// The version found.
        found: u32,
    },
    /// Signed for another swarm.
    #[error("the history is for swarm {found:?}, this node is in swarm {expected:?}")]
    Swarm {
        /// This node's swarm.
        expected: String,
        /// The document's.
        found: String,
    },
    /// Signed under another roster.
    #[error("the history is for roster {found}, this node's roster is {expected}")]
    Roster {
        /// This node's roster digest.
        expected: RosterDigest,
        /// The document's.
        found: RosterDigest,
    },
    /// Another voter's history.
    #[error("the history is voter {found}'s, this node's key is voter {expected}")]
    Voter {
        /// This node's voter id.
        expected: VoterId,
        /// The document's.
        found: VoterId,
    },
    /// A message signed by someone else.
    #[error("{what} {index} (proposal {proposal}) is signed by {signer}, not by this voter")]
    NotOurs {
        /// `proposal` or `ballot`.
        what: &'static str,
        /// Its index in its list.
        index: usize,
        /// The proposal concerned.
        proposal: ProposalId,
        /// Who signed it.
        signer: VoterId,
    },
    /// A message that does not verify against the roster.
    #[error("{what} {index} (proposal {proposal}): {source}")]
    Invalid {
        /// `proposal` or `ballot`.
        what: &'static str,
        /// Its index in its list.
        index: usize,
        /// The proposal concerned.
        proposal: ProposalId,
        /// Why.
        source: Box<VerifyError>,
    },
    /// Two ballots on one proposal in the document.
    #[error("ballot {index}: a second ballot on proposal {proposal}")]
    Duplicate {
        /// Its index.
        index: usize,
        /// The proposal.
        proposal: ProposalId,
    },
    /// A ballot that contradicts the one this data dir holds.
    #[error(
        "ballot {index}: this data dir already holds a different ballot ({stored}) on proposal {proposal}; the history ({imported}) contradicts it"
    )]
    Conflict {
        /// Its index.
        index: usize,
        /// The proposal.
        proposal: ProposalId,
        /// The stored ballot's vote.
        stored: Vote,
        /// The imported ballot's vote.
        imported: Vote,
    },
    /// The data dir failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The history of `voter` held in `store`.
pub fn export(
    store: &Store,
    roster: &Roster,
    voter: VoterId,
    now: UnixMillis,
) -> Result<SigningHistory, StoreError> {
    let mut proposals = Vec::new();
    let mut ballots = Vec::new();
    for record in store.load()? {
        match record {
            Record::Proposal(p) if p.proposal().proposer == voter => {
                proposals.push(std::sync::Arc::unwrap_or_clone(p));
            }
            Record::OwnBallot(b) if b.ballot().voter == voter => {
                ballots.push(std::sync::Arc::unwrap_or_clone(b));
            }
            _ => {}
        }
    }
    proposals.sort_by_key(SignedProposal::id);
    ballots.sort_by_key(|b| b.ballot().proposal);
    Ok(SigningHistory {
        format: FORMAT.to_owned(),
        version: VERSION,
        swarm: roster.swarm().clone(),
        roster_digest: roster.digest(),
        voter,
        exported_at: now,
        proposals,
        ballots,
    })
}

/// Checks `history` against `roster` and `voter`, and the ballots against those `store`
/// holds; then writes every message and syncs. On any error nothing is written.
pub fn import(
    store: &mut Store,
    roster: &Roster,
    voter: VoterId,
    history: SigningHistory,
) -> Result<ImportReport, HistoryError> {
    check_header(roster, voter, &history)?;
    for (index, p) in history.proposals.iter().enumerate() {
        let proposal = p.id();
        let signer = p.proposal().proposer;
        if signer != voter {
            return Err(HistoryError::NotOurs {
                what: "proposal",
                index,
                proposal,
                signer,
            });
        }
        p.clone()
            .verify(roster)
            .map_err(|source| HistoryError::Invalid {
                what: "proposal",
                index,
                proposal,
                source: Box::new(source),
            })?;
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut report = ImportReport::default();
    let mut new_ballots = Vec::new();
    for (index, b) in history.ballots.iter().enumerate() {
        let inner = b.ballot();
        let proposal = inner.proposal;
        if inner.voter != voter {
            return Err(HistoryError::NotOurs {
                what: "ballot",
                index,
                proposal,
                signer: inner.voter,
            });
        }
        b.clone()
            .verify(roster)
            .map_err(|source| HistoryError::Invalid {
                what: "ballot",
                index,
                proposal,
                source: Box::new(source),
            })?;
        if !seen.insert(proposal) {
            return Err(HistoryError::Duplicate { index, proposal });
        }
        match store.own_ballot(&proposal)? {
            Some(stored) if stored == *b => report.already_held += 1,
            Some(stored) => {
                return Err(HistoryError::Conflict {
                    index,
                    proposal,
                    stored: stored.ballot().vote,
                    imported: inner.vote,
                });
            }
            None => new_ballots.push(b.clone()),
        }
    }
    for p in history.proposals {
        store.apply(&Record::Proposal(std::sync::Arc::new(p)))?;
        report.proposals += 1;
    }
    for b in new_ballots {
        store.apply(&Record::OwnBallot(std::sync::Arc::new(b)))?;
        report.ballots += 1;
    }
    store.sync()?;
    store.flush()?;
    Ok(report)
}

fn check_header(
    roster: &Roster,
    voter: VoterId,
    history: &SigningHistory,
) -> Result<(), HistoryError> {
    if history.format != FORMAT {
        return Err(HistoryError::Format {
            found: history.format.clone(),
        });
    }
    if history.version != VERSION {
        return Err(HistoryError::Version {
            found: history.version,
        });
    }
    if history.swarm != *roster.swarm() {
        return Err(HistoryError::Swarm {
            expected: roster.swarm().to_string(),
            found: history.swarm.to_string(),
        });
    }
    if history.roster_digest != roster.digest() {
        return Err(HistoryError::Roster {
            expected: roster.digest(),
            found: history.roster_digest,
        });
    }
    if history.voter != voter {
        return Err(HistoryError::Voter {
            expected: voter,
            found: history.voter,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use std::sync::Arc;

    use swarmvote_protocol::{
        Action, Ballot, MemberName, Nonce, Payload, Proposal, Quorum, SecretKey,
    };

    use super::*;

    fn keys() -> [SecretKey; 2] {
        [SecretKey::from_seed([1; 32]), SecretKey::from_seed([2; 32])]
    }

    fn roster(swarm: &str) -> Roster {
        let k = keys();
        Roster::new(
            SwarmId::new(swarm).unwrap(),
            "1".parse::<Quorum>().unwrap(),
            vec![
                (MemberName::new("a").unwrap(), k[0].public().unwrap()),
                (MemberName::new("b").unwrap(), k[1].public().unwrap()),
            ],
        )
        .unwrap()
    }

    fn proposal(r: &Roster, by: &SecretKey, n: u8) -> SignedProposal {
        Proposal {
            swarm: r.swarm().clone(),
            roster: r.digest(),
            proposer: by.voter_id(),
            action: Action::new("deploy").unwrap(),
            payload: Payload::from_json_text("{}").unwrap(),
            created_at: UnixMillis(1_000),
            expires_at: UnixMillis(61_000),
            nonce: Nonce([n; 16]),
        }
        .sign(by)
        .unwrap()
    }

    fn ballot(r: &Roster, by: &SecretKey, p: &SignedProposal, vote: Vote) -> SignedBallot {
        Ballot {
            swarm: r.swarm().clone(),
            proposal: p.id(),
            voter: by.voter_id(),
            vote,
            reason: None,
        }
        .sign(by)
    }

    /// A data dir holding member a's proposal and ballot, and member b's ballot.
    fn source(dir: &std::path::Path) -> (Store, SignedProposal, SignedBallot) {
        let r = roster("t");
        let [a, b] = keys();
        let (mut store, _) = Store::open(dir).unwrap();
        let p = proposal(&r, &a, 1);
        let mine = ballot(&r, &a, &p, Vote::Yes);
        store.apply(&Record::Proposal(Arc::new(p.clone()))).unwrap();
        store
            .apply(&Record::OwnBallot(Arc::new(mine.clone())))
            .unwrap();
        let theirs = ballot(&r, &b, &p, Vote::No);
        store.apply(&Record::Ballot(Arc::new(theirs))).unwrap();
        store.sync().unwrap();
        (store, p, mine)
    }

    #[test]
    fn a_history_round_trips_and_holds_only_our_messages() {
        let dir = tempfile::tempdir().unwrap();
        let (store, p, mine) = source(&dir.path().join("old"));
        let r = roster("t");
        let me = keys()[0].voter_id();
        let doc = export(&store, &r, me, UnixMillis(2_000)).unwrap();
        assert_eq!(
            (doc.proposals.clone(), doc.ballots.clone()),
            (vec![p], vec![mine.clone()])
        );
        let json = serde_json::to_string(&doc).unwrap();
        let back: SigningHistory = serde_json::from_str(&json).unwrap();
        let (mut fresh, _) = Store::open(&dir.path().join("new")).unwrap();
        let report = import(&mut fresh, &r, me, back.clone()).unwrap();
        assert_eq!(
            (report.proposals, report.ballots, report.already_held),
            (1, 1, 0)
        );
        assert_eq!(
            fresh.own_ballot(&mine.ballot().proposal).unwrap(),
            Some(mine)
        );
        // Importing again changes nothing.
        let again = import(&mut fresh, &r, me, back).unwrap();
        assert_eq!((again.ballots, again.already_held), (0, 1));
    }

    #[test]
    fn a_bad_history_is_refused_by_name_and_nothing_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let (store, p, _) = source(&dir.path().join("old"));
        let r = roster("t");
        let [a, b] = keys();
        let doc = export(&store, &r, a.voter_id(), UnixMillis(2_000)).unwrap();
        let (mut fresh, _) = Store::open(&dir.path().join("new")).unwrap();
        let refused = |fresh: &mut Store, roster: &Roster, voter, doc| {
            let e = import(fresh, roster, voter, doc).unwrap_err();
            assert!(fresh.load().unwrap().is_empty(), "written despite {e}");
            e
        };
        let mut bad = doc.clone();
        bad.version = 2;
        assert!(matches!(
            refused(&mut fresh, &r, a.voter_id(), bad),
            HistoryError::Version { found: 2 }
        ));
        assert!(matches!(
            refused(&mut fresh, &r, b.voter_id(), doc.clone()),
            HistoryError::Voter { .. }
        ));
        assert!(matches!(
            refused(&mut fresh, &roster("other"), a.voter_id(), doc.clone()),
            HistoryError::Swarm { .. }
        ));
        // Another member's ballot slipped in.
        let mut bad = doc.clone();
        bad.ballots.push(ballot(&r, &b, &p, Vote::No));
        let e = refused(&mut fresh, &r, a.voter_id(), bad);
        assert!(matches!(e, HistoryError::NotOurs { index: 1, .. }), "{e}");
        // A ballot whose vote was changed after signing.
        let mut bad = doc.clone();
        let no = ballot(&r, &a, &p, Vote::No);
        let forged = SignedBallot::from_parts(
            Ballot {
                vote: Vote::Yes,
                ..no.ballot().clone()
            },
            *no.signature(),
        );
        bad.ballots = vec![forged];
        let e = refused(&mut fresh, &r, a.voter_id(), bad);
        assert!(e.to_string().contains("ballot 0"), "{e}");
        // Two ballots on one proposal.
        let mut bad = doc.clone();
        bad.ballots.push(ballot(&r, &a, &p, Vote::No));
        assert!(matches!(
            refused(&mut fresh, &r, a.voter_id(), bad),
            HistoryError::Duplicate { index: 1, .. }
        ));
        // A data dir that voted the other way.
        fresh
            .apply(&Record::OwnBallot(Arc::new(ballot(&r, &a, &p, Vote::No))))
            .unwrap();
        let e = import(&mut fresh, &r, a.voter_id(), doc).unwrap_err();
        assert!(
            matches!(
                e,
                HistoryError::Conflict {
                    stored: Vote::No,
                    imported: Vote::Yes,
                    ..
                }
            ),
            "{e}"
        );
    }
}
