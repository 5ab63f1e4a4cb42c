//! Tiered thresholds, group requirements and four-eyes: which tier judges a proposal, the
//! verdict at every boundary, what a certificate must carry, and which rosters are
//! refused because some proposal could never be approved.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{ballot, key};
use proptest::prelude::*;
use swarmvote_protocol::certificate::TierLabel;
use swarmvote_protocol::roster::TierId;
use swarmvote_protocol::tally::{Count, verdict_of};
use swarmvote_protocol::{
    Action, Certificate, CertificateError, Nonce, Payload, Proposal, Quorum, Roster, RosterError,
    SignedProposal, Tally, UnixMillis, Verdict, Verified, Vote,
};

/// Members `m0..m{n-1}` with keys `key(i)`, then `extra` TOML (groups, rules, ...).
fn roster_toml(n: u32, quorum: &str, extra: &str) -> String {
    let mut s = format!("swarm_id = \"tiers\"\nquorum = \"{quorum}\"\n{extra}\n");
    for i in 0..n {
        s.push_str(&format!(
            "[[members]]\nname = \"m{i}\"\nkey = \"{}\"\n",
            key(i).public().unwrap()
        ));
    }
    s
}

fn roster(n: u32, quorum: &str, extra: &str) -> Roster {
    Roster::from_toml(&roster_toml(n, quorum, extra)).unwrap()
}

fn propose(r: &Roster, proposer: u32, action: &str, payload: &str) -> Verified<SignedProposal> {
    Proposal {
        swarm: r.swarm().clone(),
        roster: r.digest(),
        proposer: key(proposer).voter_id(),
        action: Action::new(action).unwrap(),
        payload: Payload::from_json_text(payload).unwrap(),
        created_at: UnixMillis(1_700_000_000_000),
        expires_at: UnixMillis(1_700_000_060_000),
        nonce: Nonce([3; 16]),
    }
    .sign(&key(proposer))
    .unwrap()
    .verify(r)
    .unwrap()
}

fn tier_of(r: &Roster, action: &str, payload: &str) -> String {
    let p = propose(r, 0, action, payload);
    Tally::new(r, &p).tier_name().to_string()
}

const THREE_TIERS: &str = r#"
[[rules]]
name = "backup-deletes"
action = "fs.delete"
payload = { path = "/backup/**" }
quorum = "1"

[[rules]]
name = "restarts"
action = "service.restart"
quorum = "1/3"

[[rules]]
name = "any-delete"
action = "fs.*"
quorum = "2/3"
four_eyes = true
"#;

#[test]
fn the_first_matching_rule_gives_the_tier() {
    let r = roster(3, "2/3", THREE_TIERS);
    assert_eq!(
        tier_of(&r, "fs.delete", r#"{"path":"/backup/db"}"#),
        "backup-deletes"
    );
    assert_eq!(
        tier_of(&r, "fs.delete", r#"{"path":"/backup/a/b"}"#),
        "backup-deletes"
    );
    // A later rule catches what the first one's payload glob does not.
    assert_eq!(
        tier_of(&r, "fs.delete", r#"{"path":"/tmp/x"}"#),
        "any-delete"
    );
    // A missing or non-string field does not match a payload glob.
    assert_eq!(tier_of(&r, "fs.delete", r#"{}"#), "any-delete");
    assert_eq!(tier_of(&r, "fs.delete", r#"{"path":3}"#), "any-delete");
    assert_eq!(tier_of(&r, "service.restart", "{}"), "restarts");
    assert_eq!(tier_of(&r, "k8s.scale", "{}"), "default");
    // q per tier: 3/3, 1/3, 2/3.
    let q = |a: &str, p: &str| Tally::new(&r, &propose(&r, 0, a, p)).required();
    assert_eq!(q("fs.delete", r#"{"path":"/backup/db"}"#), 3);
    assert_eq!(q("service.restart", "{}"), 1);
    assert_eq!(q("k8s.scale", "{}"), 2);
}

#[test]
fn reserved_actions_never_match_a_rule() {
    let r = roster(
        3,
        "2/3",
        "[[rules]]\nname = \"all\"\naction = \"*\"\nquorum = \"1/3\"\n",
    );
    assert_eq!(
        r.tier_for("swarmvote.roster", || unreachable!()),
        TierId::Change
    );
    assert_eq!(
        r.tier_for("swarmvote.other", || unreachable!()),
        TierId::Default
    );
    assert_eq!(
        r.tier_for("anything", || serde_json::json!({})),
        TierId::Rule(0)
    );
}

/// The four-eyes rule by its definition: the proposer's ballots never count; approved
/// iff `q` others say YES; rejected iff more than `n - 1 - q` others say NO.
fn four_eyes_reference(n: u32, q: u32, yes_others: u32, no_others: u32) -> Verdict {
    if yes_others >= q {
        Verdict::Approved
    } else if no_others > n - 1 - q {
        Verdict::Rejected
    } else {
        Verdict::Pending
    }
}

const QUORUMS: &[&str] = &["1/3", "1/2", "0.51", "2/3", "0.75", "0.9"];

#[test]
fn four_eyes_boundaries_are_exact_for_every_n() {
    // The pure rule, for n = 2..200, every count of others' YES and NO.
    for quorum in QUORUMS {
        let parsed: Quorum = quorum.parse().unwrap();
        for n in 2..=200u32 {
            let q = parsed.required(n);
            if q > n - 1 {
                continue; // refused as a roster (see below)
            }
            for yes in 0..n {
                for no in 0..(n - yes) {
                    let got = verdict_of(&[Count {
                        eligible: n - 1,
                        need: q,
                        yes: yes as usize,
                        no: no as usize,
                    }]);
                    assert_eq!(
                        got,
                        four_eyes_reference(n, q, yes, no),
                        "{quorum} n={n} q={q} yes={yes} no={no}"
                    );
                }
            }
        }
    }
}

#[test]
fn four_eyes_tallies_ignore_the_proposers_ballot_at_every_boundary() {
    // Real signed ballots for n = 2..7: every split of the others' votes, with the
    // proposer silent, voting YES or voting NO.
    for quorum in QUORUMS {
        for n in 2..=7u32 {
            let extra = "four_eyes = true";
            let text = roster_toml(n, quorum, extra);
            let r = match Roster::from_toml(&text) {
                Ok(r) => r,
                Err(e) => {
                    // Only refused when q leaves nobody to spare.
                    let q = quorum.parse::<Quorum>().unwrap().required(n);
                    assert!(q > n - 1, "{quorum} n={n}: {e}");
                    assert!(e.to_string().contains("four-eyes"), "{e}");
                    continue;
                }
            };
            let q = r.required();
            let p = propose(&r, 0, "fs.delete", "{}");
            for own in [None, Some(Vote::Yes), Some(Vote::No)] {
                for yes in 0..n {
                    for no in 0..(n - yes) {
                        let mut t = Tally::new(&r, &p);
                        if let Some(v) = own {
                            t.add(ballot(&p, 0, v).verify(&r).unwrap()).unwrap();
                        }
                        for i in 1..=yes {
                            t.add(ballot(&p, i, Vote::Yes).verify(&r).unwrap()).unwrap();
                        }
                        for i in (yes + 1)..=(yes + no) {
                            t.add(ballot(&p, i, Vote::No).verify(&r).unwrap()).unwrap();
                        }
                        let expected = four_eyes_reference(n, q, yes, no);
                        assert_eq!(
                            t.verdict(),
                            expected,
                            "{quorum} n={n} q={q} own={own:?} yes={yes} no={no}"
                        );
                        let outcome = t.outcome();
                        assert!(outcome.four_eyes);
                        if expected == Verdict::Approved {
                            let cert = t.certificate(&p).unwrap();
                            cert.clone().verify(&r).unwrap();
                            // Without one of the others' YES it falls short, even with
                            // the proposer's YES inside.
                            let fewer: Vec<_> = cert
                                .ballots()
                                .iter()
                                .filter(|b| b.ballot().voter != key(1).voter_id())
                                .cloned()
                                .collect();
                            if yes == q {
                                let short = Certificate::new((*p).clone(), fewer);
                                assert!(matches!(
                                    short.verify(&r),
                                    Err(CertificateError::Insufficient { .. })
                                ));
                            }
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn without_four_eyes_the_proposers_yes_counts() {
    let r = roster(3, "2/3", "");
    let p = propose(&r, 0, "fs.delete", "{}");
    let mut t = Tally::new(&r, &p);
    t.add(ballot(&p, 0, Vote::Yes).verify(&r).unwrap()).unwrap();
    t.add(ballot(&p, 1, Vote::Yes).verify(&r).unwrap()).unwrap();
    assert_eq!(t.verdict(), Verdict::Approved);
    // The same two ballots under four-eyes: one short.
    let r = roster(3, "2/3", "four_eyes = true");
    let p = propose(&r, 0, "fs.delete", "{}");
    let mut t = Tally::new(&r, &p);
    t.add(ballot(&p, 0, Vote::Yes).verify(&r).unwrap()).unwrap();
    t.add(ballot(&p, 1, Vote::Yes).verify(&r).unwrap()).unwrap();
    assert_eq!(t.verdict(), Verdict::Pending);
    t.add(ballot(&p, 2, Vote::Yes).verify(&r).unwrap()).unwrap();
    assert_eq!(t.verdict(), Verdict::Approved);
}

const SECURITY: &str = r#"
[groups]
security = ["m1", "m2"]

[[rules]]
name = "secured"
action = "fs.delete"
quorum = "3/5"
require = [{ group = "security", yes = 1 }]
"#;

/// Quorum 3 of 5 and at least one of {m1, m2}, by definition.
fn secured_reference(votes: &[Option<Vote>]) -> Verdict {
    let yes = |i: usize| votes[i] == Some(Vote::Yes);
    let no = |i: usize| votes[i] == Some(Vote::No);
    let yes_all = (0..5).filter(|&i| yes(i)).count();
    let no_all = (0..5).filter(|&i| no(i)).count();
    let sec_yes = [1, 2].iter().filter(|&&i| yes(i)).count();
    let sec_no = [1, 2].iter().filter(|&&i| no(i)).count();
    if yes_all >= 3 && sec_yes >= 1 {
        Verdict::Approved
    } else if no_all > 2 || sec_no > 1 {
        Verdict::Rejected
    } else {
        Verdict::Pending
    }
}

#[test]
fn group_requirements_hold_for_every_vote_assignment() {
    let r = roster(5, "2/3", SECURITY);
    let p = propose(&r, 0, "fs.delete", "{}");
    let options = [None, Some(Vote::Yes), Some(Vote::No)];
    let mut approved = 0;
    for code in 0..3usize.pow(5) {
        let votes: Vec<Option<Vote>> = (0..5)
            .map(|i| options[(code / 3usize.pow(i)) % 3])
            .collect();
        let mut t = Tally::new(&r, &p);
        for (i, v) in votes.iter().enumerate() {
            if let Some(v) = v {
                t.add(ballot(&p, i as u32, *v).verify(&r).unwrap()).unwrap();
            }
        }
        let expected = secured_reference(&votes);
        assert_eq!(t.verdict(), expected, "{votes:?}");
        if expected == Verdict::Approved {
            approved += 1;
            t.certificate(&p).unwrap().verify(&r).unwrap();
        }
    }
    assert!(approved > 0);
    // Three YES outside the group: the quorum is met, the group is not.
    let mut t = Tally::new(&r, &p);
    for i in [0, 3, 4] {
        t.add(ballot(&p, i, Vote::Yes).verify(&r).unwrap()).unwrap();
    }
    assert_eq!(t.verdict(), Verdict::Pending);
    assert_eq!(t.outcome().groups[0].yes, 0);
    let cert = Certificate::new(
        (*p).clone(),
        [0, 3, 4]
            .iter()
            .map(|&i| ballot(&p, i, Vote::Yes))
            .collect(),
    );
    assert!(matches!(
        cert.verify(&r),
        Err(CertificateError::GroupShort {
            have: 0,
            need: 1,
            ..
        })
    ));
}

#[test]
fn a_lowered_tier_in_a_certificate_is_refused() {
    let r = roster(3, "2/3", THREE_TIERS);
    let p = propose(&r, 0, "fs.delete", r#"{"path":"/backup/db"}"#);
    let mut t = Tally::new(&r, &p);
    for i in 0..3 {
        t.add(ballot(&p, i, Vote::Yes).verify(&r).unwrap()).unwrap();
    }
    let cert = t.certificate(&p).unwrap();
    assert_eq!(cert.tier().unwrap().name.as_str(), "backup-deletes");
    assert_eq!(cert.tier().unwrap().required, 3);
    cert.clone().verify(&r).unwrap();
    // Claim the default tier (q = 2) and drop a ballot: refused for the label...
    let two: Vec<_> = cert.ballots()[..2].to_vec();
    let lowered = Certificate::new((*p).clone(), two.clone()).with_tier(TierLabel {
        name: "default".parse().unwrap(),
        required: 2,
    });
    let err = lowered.verify(&r).unwrap_err();
    assert!(
        matches!(err, CertificateError::TierMismatch { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("backup-deletes"), "{err}");
    // ... and without a label, for the count the recomputed tier needs.
    let unlabelled = Certificate::new((*p).clone(), two);
    assert!(matches!(
        unlabelled.verify(&r),
        Err(CertificateError::Insufficient { need: 3, .. })
    ));
}

#[test]
fn rosters_that_leave_a_proposal_unapprovable_are_refused() {
    let refused = |n: u32, quorum: &str, extra: &str, needle: &str| {
        let err = Roster::from_toml(&roster_toml(n, quorum, extra)).unwrap_err();
        assert!(
            matches!(
                err,
                RosterError::InvalidTier { .. } | RosterError::InvalidGroup { .. }
            ),
            "{err}"
        );
        assert!(err.to_string().contains(needle), "{needle:?} not in: {err}");
    };
    // Four-eyes at q = n.
    refused(3, "1", "four_eyes = true", "four-eyes");
    refused(1, "1/2", "four_eyes = true", "four-eyes");
    refused(
        3,
        "2/3",
        "[[rules]]\nname = \"all\"\naction = \"x\"\nquorum = \"1\"\nfour_eyes = true\n",
        "\"all\"",
    );
    // A group too small for its requirement, with and without four-eyes.
    refused(
        3,
        "2/3",
        "[groups]\nsec = [\"m1\"]\n[[rules]]\nname = \"r\"\naction = \"x\"\nrequire = [{ group = \"sec\", yes = 2 }]\n",
        "only 1 members",
    );
    refused(
        3,
        "1/3",
        "[groups]\nsec = [\"m1\"]\n[[rules]]\nname = \"r\"\naction = \"x\"\nfour_eyes = true\nrequire = [{ group = \"sec\", yes = 1 }]\n",
        "under four-eyes",
    );
    refused(
        3,
        "2/3",
        "[[rules]]\nname = \"r\"\naction = \"x\"\nrequire = [{ group = \"nope\", yes = 1 }]\n",
        "does not define",
    );
    refused(3, "2/3", "[groups]\nsec = [\"zed\"]\n", "not a member");
    refused(3, "2/3", "[groups]\nsec = []\n", "no members");
    // Roster changes weaker than the default.
    refused(
        3,
        "2/3",
        "[change]\nquorum = \"1/3\"\n",
        "at least as strict",
    );
    refused(
        3,
        "2/3",
        "four_eyes = true\n[change]\nfour_eyes = false\n",
        "at least as strict",
    );
    // Reserved actions and reserved or repeated names.
    refused(
        3,
        "2/3",
        "[[rules]]\nname = \"r\"\naction = \"swarmvote.*\"\n",
        "reserved",
    );
    refused(
        3,
        "2/3",
        "[[rules]]\nname = \"default\"\naction = \"x\"\n",
        "reserved",
    );
    refused(
        3,
        "2/3",
        "[[rules]]\nname = \"r\"\naction = \"x\"\n[[rules]]\nname = \"r\"\naction = \"y\"\n",
        "two rules",
    );
    refused(
        3,
        "2/3",
        "[[rules]]\nname = \"r\"\naction = \"a[\"\n",
        "action pattern",
    );
    // A stricter change tier is fine.
    roster(3, "2/3", "[change]\nquorum = \"1\"\n");
}

#[test]
fn a_plain_roster_keeps_its_digest_and_governance_changes_it() {
    let plain = roster(3, "2/3", "");
    // The digest a plain roster always had (the golden vectors pin it too).
    assert_eq!(
        plain.digest(),
        common::roster_in("tiers", 3, "2/3").digest()
    );
    let with_rules = roster(3, "2/3", THREE_TIERS);
    assert_ne!(plain.digest(), with_rules.digest());
    let four = roster(3, "2/3", "four_eyes = true");
    assert_ne!(plain.digest(), four.digest());
    let stricter_change = roster(3, "2/3", "[change]\nquorum = \"1\"\n");
    assert_ne!(plain.digest(), stricter_change.digest());
    // A [change] that repeats the default is the plain roster.
    let same_change = roster(3, "2/3", "[change]\nquorum = \"2/3\"\n");
    assert_eq!(plain.digest(), same_change.digest());
    // Every governed roster survives TOML and JSON.
    for r in [
        &with_rules,
        &four,
        &stricter_change,
        &roster(5, "2/3", SECURITY),
    ] {
        assert_eq!(
            Roster::from_toml(&r.to_toml()).unwrap().digest(),
            r.digest(),
            "{}",
            r.to_toml()
        );
        let json = serde_json::to_value(r.to_document()).unwrap();
        assert_eq!(Roster::from_json_value(&json).unwrap().digest(), r.digest());
    }
    // The report's table lists every tier with its n, q and offline tolerance.
    let table = roster(3, "2/3", THREE_TIERS).report().to_string();
    for needle in [
        "backup-deletes",
        "fs.delete path=/backup/**",
        "restarts",
        "four-eyes",
        "roster-change",
    ] {
        assert!(table.contains(needle), "{needle:?} not in\n{table}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    /// The tier and verdict depend only on the proposal and the set of ballots, never on
    /// the order they arrive in.
    #[test]
    fn tier_and_verdict_ignore_arrival_order(
        path in prop::sample::select(vec!["/backup/x", "/tmp/y", "/backup", "/"]),
        action in prop::sample::select(vec!["fs.delete", "service.restart", "k8s.scale", "fs.move"]),
        votes in prop::collection::vec(prop::option::of(any::<bool>()), 3),
        order in Just(()).prop_perturb(|_, mut rng| {
            let mut v: Vec<usize> = (0..3).collect();
            for i in (1..v.len()).rev() {
                v.swap(i, (rng.next_u32() as usize) % (i + 1));
            }
            v
        }),
    ) {
        let r = roster(3, "2/3", THREE_TIERS);
        let payload = format!(r#"{{"path":"{path}"}}"#);
        let p = propose(&r, 0, action, &payload);
        let ballots: Vec<_> = votes
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.map(|yes| ballot(&p, i as u32, if yes { Vote::Yes } else { Vote::No })))
            .collect();
        let mut forward = Tally::new(&r, &p);
        for b in &ballots {
            forward.add(b.clone().verify(&r).unwrap()).unwrap();
        }
        let mut shuffled = Tally::new(&r, &p);
        for &i in &order {
            if let Some(b) = ballots.get(i) {
                shuffled.add(b.clone().verify(&r).unwrap()).unwrap();
            }
        }
        for b in ballots.iter().rev() {
            shuffled.add(b.clone().verify(&r).unwrap()).unwrap();
        }
        prop_assert_eq!(forward.outcome(), shuffled.outcome());
        // Another node's roster object, rebuilt from TOML, picks the same tier.
        let again = Roster::from_toml(&r.to_toml()).unwrap();
        prop_assert_eq!(Tally::new(&again, &p).tier(), forward.tier());
    }
}
