//! `swarmvote roster propose`'s edit: the head roster's document changed by `--add`,
//! `--remove`, `--rotate` and `--quorum`, given the next epoch and its predecessor's
//! digest, and checked as the swarm will check it (the roster's own validation, then the
//! chain's successor rule) before anything is sent. Every refusal names the flag and the
//! member at fault.

use std::str::FromStr;

use swarmvote_protocol::chain::{self, ChangeError, ROSTER_ACTION};
use swarmvote_protocol::roster::document::{MemberDocument, QuorumValue};
use swarmvote_protocol::{
    Action, MemberName, Nonce, Payload, Proposal, PublicKey, Quorum, Roster, RosterDocument,
    RosterError, UnixMillis,
};

/// What to change.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RosterEdit {
    /// `--add NAME=KEY`, in order.
    pub add: Vec<String>,
    /// `--remove NAME`.
    pub remove: Vec<String>,
    /// `--rotate NAME=NEWKEY`.
    pub rotate: Vec<String>,
    /// `--quorum F`.
    pub quorum: Option<String>,
}

/// Why the edit cannot make a valid next roster.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// A flag's value does not parse.
    #[error("{flag} {value:?}: {why}")]
    Usage {
        /// The flag.
        flag: &'static str,
        /// Its value.
        value: String,
        /// What is wrong.
        why: String,
    },
    /// `--remove` or `--rotate` names nobody.
    #[error("{flag} {name}: no member of the head roster (epoch {epoch}) is named {name:?}")]
    UnknownMember {
        /// The flag.
        flag: &'static str,
        /// The name.
        name: String,
        /// The head roster's epoch.
        epoch: u64,
    },
    /// `--add` names a member already there.
    #[error("--add {name}: the roster already has a member named {name:?}")]
    DuplicateName {
        /// The name.
        name: String,
    },
    /// A key that another member already holds.
    #[error("{flag} {name}: key {key} is already {holder:?}'s")]
    DuplicateKey {
        /// The flag.
        flag: &'static str,
        /// The member being added or rotated.
        name: String,
        /// The key.
        key: String,
        /// Who holds it.
        holder: String,
    },
    /// No flag changes anything.
    #[error("nothing to change: give --add, --remove, --rotate or --quorum")]
    NoChange,
    /// The edited roster is not a valid roster (no quorum possible, no members…).
    #[error("the next roster would be invalid: {0}")]
    Roster(RosterError),
    /// The edited roster is not a valid successor of the head.
    #[error("the next roster is not a valid roster change: {0}")]
    Change(ChangeError),
    /// The document does not fit in a proposal's payload.
    #[error("the next roster does not fit in a proposal: {0}")]
    Payload(String),
}

/// The next roster: its document (the change's payload) and the roster it validates to.
#[derive(Clone, Debug)]
pub struct NextRoster {
    /// The document to propose.
    pub document: RosterDocument,
    /// The roster it makes.
    pub roster: Roster,
    /// The payload of the change proposal.
    pub payload: serde_json::Value,
}

fn split<'a>(flag: &'static str, value: &'a str) -> Result<(&'a str, &'a str), EditError> {
    value.split_once('=').ok_or_else(|| EditError::Usage {
        flag,
        value: value.to_owned(),
        why: "expected NAME=PUBLIC_KEY".to_owned(),
    })
}

fn parse_key(flag: &'static str, name: &str, key: &str) -> Result<PublicKey, EditError> {
    PublicKey::from_str(key).map_err(|e| EditError::Usage {
        flag,
        value: format!("{name}={key}"),
        why: format!("invalid key: {e}"),
    })
}

/// Refuses `key` if a member other than `name` holds it.
fn key_free(
    doc: &RosterDocument,
    flag: &'static str,
    name: &str,
    key: &PublicKey,
) -> Result<(), EditError> {
    let text = key.to_string();
    match doc
        .members
        .iter()
        .find(|m| m.name != name && m.key.eq_ignore_ascii_case(&text))
    {
        Some(holder) => Err(EditError::DuplicateKey {
            flag,
            name: name.to_owned(),
            key: text,
            holder: holder.name.clone(),
        }),
        None => Ok(()),
    }
}

/// The head roster `current` changed as `edit` says, checked as the swarm will check it.
pub fn next_roster(current: &Roster, edit: &RosterEdit) -> Result<NextRoster, EditError> {
    if edit == &RosterEdit::default() {
        return Err(EditError::NoChange);
    }
    let mut doc = current.to_document();
    doc.epoch = current.epoch().saturating_add(1);
    doc.previous = Some(current.digest().to_string());
    let unknown = |flag, name: &str| EditError::UnknownMember {
        flag,
        name: name.to_owned(),
        epoch: current.epoch(),
    };
    for name in &edit.remove {
        let before = doc.members.len();
        doc.members.retain(|m| &m.name != name);
        if doc.members.len() == before {
            return Err(unknown("--remove", name));
        }
        // A removed member leaves its groups too (a group left empty is refused below,
        // naming it).
        for members in doc.groups.values_mut() {
            members.retain(|m| m != name);
        }
    }
    for value in &edit.rotate {
        let (name, key) = split("--rotate", value)?;
        let key = parse_key("--rotate", name, key)?;
        key_free(&doc, "--rotate", name, &key)?;
        let member = doc
            .members
            .iter_mut()
            .find(|m| m.name == name)
            .ok_or_else(|| unknown("--rotate", name))?;
        if member.key.eq_ignore_ascii_case(&key.to_string()) {
            return Err(EditError::Usage {
                flag: "--rotate",
                value: value.clone(),
                why: format!("{name} already has this key"),
            });
        }
        member.key = key.to_string();
    }
    for value in &edit.add {
        let (name, key) = split("--add", value)?;
        MemberName::new(name).map_err(|e| EditError::Usage {
            flag: "--add",
            value: value.clone(),
            why: format!("invalid name: {e}"),
        })?;
        if doc.members.iter().any(|m| m.name == name) {
            return Err(EditError::DuplicateName {
                name: name.to_owned(),
            });
        }
        let key = parse_key("--add", name, key)?;
        key_free(&doc, "--add", name, &key)?;
        doc.members.push(MemberDocument {
            name: name.to_owned(),
            key: key.to_string(),
        });
    }
    if let Some(q) = &edit.quorum {
        Quorum::from_str(q).map_err(|e| EditError::Usage {
            flag: "--quorum",
            value: q.clone(),
            why: e.to_string(),
        })?;
        doc.quorum = QuorumValue::Text(q.clone());
    }
    let roster = Roster::from_document(&doc).map_err(EditError::Roster)?;
    let payload = serde_json::to_value(&doc).map_err(|e| EditError::Payload(e.to_string()))?;
    // The chain's own successor rule, on the proposal the node will sign (only the
    // fields the rule reads matter here).
    let draft = Proposal {
        swarm: current.swarm().clone(),
        roster: current.digest(),
        proposer: current
            .voters()
            .first()
            .copied()
            .unwrap_or_else(|| swarmvote_protocol::VoterId::from_bytes([0; 32])),
        action: Action::new(ROSTER_ACTION).map_err(|e| EditError::Payload(e.to_string()))?,
        payload: Payload::from_value(&payload).map_err(|e| EditError::Payload(e.to_string()))?,
        created_at: UnixMillis(0),
        expires_at: UnixMillis(1),
        nonce: Nonce([0; 16]),
    };
    chain::next_roster(current, &draft).map_err(EditError::Change)?;
    Ok(NextRoster {
        document: doc,
        roster,
        payload,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use swarmvote_protocol::SecretKey;

    use super::*;

    fn key(i: u8) -> PublicKey {
        SecretKey::from_seed([i; 32]).public().unwrap()
    }

    fn three() -> Roster {
        Roster::new(
            swarmvote_protocol::SwarmId::new("t").unwrap(),
            "2/3".parse().unwrap(),
            (0..3u8).map(|i| (MemberName::new(format!("m{i}")).unwrap(), key(i))),
        )
        .unwrap()
    }

    fn edit() -> RosterEdit {
        RosterEdit::default()
    }

    #[test]
    fn add_remove_rotate_and_quorum_make_the_next_epoch() {
        let r = three();
        let next = next_roster(
            &r,
            &RosterEdit {
                add: vec![format!("m3={}", key(3))],
                remove: vec!["m0".into()],
                rotate: vec![format!("m1={}", key(11))],
                quorum: Some("1/2".into()),
            },
        )
        .unwrap();
        assert_eq!(next.roster.epoch(), 1);
        assert_eq!(next.roster.previous(), Some(r.digest()));
        let names: Vec<String> = next
            .roster
            .members()
            .map(|(_, m)| m.name.to_string())
            .collect();
        assert_eq!(names.len(), 3);
        assert!(!names.contains(&"m0".to_owned()));
        assert!(next.roster.member(&key(11).id()).is_some());
        assert!(next.roster.member(&key(1).id()).is_none());
        assert_eq!(next.roster.quorum().to_string(), "1/2");
        // The payload reads back to the same roster.
        assert_eq!(
            Roster::from_json_value(&next.payload).unwrap().digest(),
            next.roster.digest()
        );
    }

    #[test]
    fn every_refusal_names_what_is_wrong() {
        let r = three();
        let fails = |e: RosterEdit, needles: &[&str]| {
            let err = next_roster(&r, &e).unwrap_err().to_string();
            for n in needles {
                assert!(err.contains(n), "{err:?} lacks {n:?}");
            }
        };
        fails(edit(), &["nothing to change"]);
        fails(
            RosterEdit {
                remove: vec!["zed".into()],
                ..edit()
            },
            &["--remove", "zed", "no member"],
        );
        fails(
            RosterEdit {
                rotate: vec![format!("zed={}", key(9))],
                ..edit()
            },
            &["--rotate", "zed", "no member"],
        );
        fails(
            RosterEdit {
                add: vec![format!("m1={}", key(9))],
                ..edit()
            },
            &["--add", "m1", "already has a member"],
        );
        fails(
            RosterEdit {
                add: vec![format!("new={}", key(2))],
                ..edit()
            },
            &["--add", "new", "m2"],
        );
        fails(
            RosterEdit {
                rotate: vec![format!("m0={}", key(1))],
                ..edit()
            },
            &["--rotate", "m0", "m1"],
        );
        fails(
            RosterEdit {
                add: vec!["new=zz".into()],
                ..edit()
            },
            &["--add", "invalid key"],
        );
        fails(
            RosterEdit {
                add: vec!["nokey".into()],
                ..edit()
            },
            &["--add", "NAME=PUBLIC_KEY"],
        );
        fails(
            RosterEdit {
                quorum: Some("7/3".into()),
                ..edit()
            },
            &["--quorum", "7/3"],
        );
        // Removing everyone leaves no quorum possible.
        fails(
            RosterEdit {
                remove: vec!["m0".into(), "m1".into(), "m2".into()],
                ..edit()
            },
            &["next roster would be invalid"],
        );
    }
}
