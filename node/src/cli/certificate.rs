//! Offline certificate checks: a certificate file verified against a roster, and what
//! it proves.

use std::fmt;
use std::path::Path;

use serde::Serialize;
use serde_json::Value;
use swarmvote_protocol::certificate::TierLabel;
use swarmvote_protocol::{
    Certificate, CertificateError, ProposalId, Roster, SignedBallot, SignedProposal, VoterId,
};

use super::client::ClientError;
pub use super::json_file::MAX_CERTIFICATE_FILE;
use super::json_file::read_json_file;
use super::render::{format_time, indent_json};
use crate::config;

/// A signer of a verified certificate.
#[derive(Clone, Debug, Serialize)]
pub struct Signer {
    /// Its roster name.
    pub name: String,
    /// Its voter id.
    pub voter: VoterId,
    /// Its reason, if it gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What a verified certificate proves.
#[derive(Clone, Debug, Serialize)]
pub struct CertificateSummary {
    /// The approved proposal.
    pub proposal: ProposalId,
    /// The swarm.
    pub swarm: String,
    /// The roster digest it commits to.
    pub roster: String,
    /// The action.
    pub action: String,
    /// The payload.
    pub payload: Value,
    /// The proposer's name.
    pub proposer: String,
    /// Creation time (unix ms).
    pub created_at: u64,
    /// Expiry (unix ms).
    pub expires_at: u64,
    /// Members.
    pub n: u32,
    /// The roster tier that judged it.
    pub tier: String,
    /// YES votes needed under that tier.
    pub q: u32,
    /// Whether the proposer's own YES was left out (four-eyes).
    pub four_eyes: bool,
    /// The YES signers.
    pub signers: Vec<Signer>,
}

impl fmt::Display for CertificateSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "certificate ok")?;
        writeln!(f, "proposal   {}", self.proposal)?;
        writeln!(f, "swarm      {} (roster {})", self.swarm, self.roster)?;
        writeln!(f, "action     {}", self.action)?;
        writeln!(f, "payload    {}", indent_json(&self.payload))?;
        writeln!(f, "proposer   {}", self.proposer)?;
        writeln!(f, "created    {}", format_time(self.created_at))?;
        writeln!(f, "expires    {}", format_time(self.expires_at))?;
        writeln!(
            f,
            "quorum     {} of {} signed yes (q = {})",
            self.signers.len(),
            self.n,
            self.q
        )?;
        writeln!(
            f,
            "tier       {}{}",
            self.tier,
            if self.four_eyes {
                " (four-eyes: the proposer's own yes does not count)"
            } else {
                ""
            }
        )?;
        for s in &self.signers {
            match &s.reason {
                Some(r) => writeln!(f, "  {:<16} {}  {r:?}", s.name, s.voter)?,
                None => writeln!(f, "  {:<16} {}", s.name, s.voter)?,
            }
        }
        Ok(())
    }
}

/// Reads a certificate file (at most [`MAX_CERTIFICATE_FILE`] bytes) and checks it
/// against a roster file, offline. Every error names the file and the field, ballot or
/// rule at fault.
pub fn verify_certificate_file(
    cert_path: &Path,
    roster_path: &Path,
) -> Result<CertificateSummary, ClientError> {
    verify_certificate_in_chain(cert_path, roster_path, None)
}

/// [`verify_certificate_file`], where `roster_path` is the genesis roster and
/// `chain_path` (if given) a chain file of roster steps (see [`super::roster`]): the
/// certificate is checked against the roster its proposal names, which the chain must
/// reach from the genesis roster, every step verified on the way.
pub fn verify_certificate_in_chain(
    cert_path: &Path,
    roster_path: &Path,
    chain_path: Option<&Path>,
) -> Result<CertificateSummary, ClientError> {
    let bad = |message: String| ClientError::BadFile {
        path: cert_path.to_owned(),
        message,
    };
    let value = read_json_file(cert_path, MAX_CERTIFICATE_FILE)?;
    // The roster the certificate's proposal names (if it is a certificate at all: if
    // not, the check below says why).
    let named = parse_certificate(&value)
        .ok()
        .map(|c| c.proposal().proposal().roster);
    let (roster, against) = roster_named(cert_path, roster_path, chain_path, named)?;
    verify_certificate(&value, &roster).map_err(|e| match e {
        CertificateFault::Malformed(m) => bad(m),
        CertificateFault::Invalid(m) => bad(format!("does not verify against {against}: {m}")),
    })
}

/// The roster that judges a proposal committing to `named` (the genesis roster when
/// `named` is unknown): `roster_path` itself, or, with `chain_path`, the roster the chain
/// reaches from it, every step verified. Also says what it is, for messages. Errors name
/// `file`, the file being checked.
pub(crate) fn roster_named(
    file: &Path,
    roster_path: &Path,
    chain_path: Option<&Path>,
    named: Option<swarmvote_protocol::RosterDigest>,
) -> Result<(Roster, String), ClientError> {
    let bad = |message: String| ClientError::BadFile {
        path: file.to_owned(),
        message,
    };
    let roster = config::load_roster(roster_path)?;
    Ok(match (chain_path, named) {
        (None, Some(digest)) if digest != roster.digest() => {
            return Err(bad(format!(
                "its proposal commits to roster {digest}, not {} ({}); if the swarm \
                 changed its roster since, give the genesis roster and the roster chain \
                 (--chain, from `swarmvote roster history --json`)",
                roster_path.display(),
                roster.digest()
            )));
        }
        (None, _) => (roster, format!("roster {}", roster_path.display())),
        (Some(path), named) => {
            let chain = super::roster::load_chain(roster, roster_path, path)?;
            let digest = named.unwrap_or_else(|| chain.genesis().digest());
            let Some(r) = chain.get(&digest) else {
                return Err(bad(format!(
                    "its proposal commits to roster {digest}, which the chain does not \
                     reach: {} holds {} step(s) from genesis {} up to epoch {}; the chain is \
                     truncated (or of another swarm)",
                    path.display(),
                    chain.all_steps().count(),
                    chain.genesis().digest().short(),
                    chain.head().epoch()
                )));
            };
            (
                r.clone(),
                format!(
                    "roster epoch {} ({}) reached by the chain in {}",
                    r.epoch(),
                    digest.short(),
                    path.display()
                ),
            )
        }
    })
}

/// Why a certificate was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CertificateFault {
    /// It is not a certificate; the message names the part at fault.
    #[error("not a certificate: {0}")]
    Malformed(String),
    /// Its signatures or quorum do not hold for the roster; the message names the
    /// ballot or rule at fault.
    #[error("does not verify: {0}")]
    Invalid(String),
}

/// Checks a certificate (as JSON) against a roster, offline, and says what it proves.
pub fn verify_certificate(
    value: &Value,
    roster: &Roster,
) -> Result<CertificateSummary, CertificateFault> {
    let cert = parse_certificate(value).map_err(CertificateFault::Malformed)?;
    let name = |v: &VoterId| {
        roster.member(v).map_or_else(
            || format!("non-member {}", v.short()),
            |m| m.name.to_string(),
        )
    };
    if let Err(e) = cert.clone().verify(roster) {
        let who = match &e {
            CertificateError::NotYes { voter, .. }
            | CertificateError::DuplicateVoter { voter, .. } => format!(" ({})", name(voter)),
            _ => String::new(),
        };
        return Err(CertificateFault::Invalid(format!("{e}{who}")));
    }
    let p = cert.proposal().proposal();
    let tier = roster.tier(roster.tier_for(p.action.as_str(), || p.payload.to_value()));
    Ok(CertificateSummary {
        proposal: cert.proposal().id(),
        swarm: p.swarm.to_string(),
        roster: p.roster.to_string(),
        action: p.action.to_string(),
        payload: p.payload.to_value(),
        proposer: name(&p.proposer),
        created_at: p.created_at.0,
        expires_at: p.expires_at.0,
        n: roster.len(),
        tier: tier.name().to_string(),
        q: tier.required(),
        four_eyes: tier.four_eyes(),
        signers: cert
            .ballots()
            .iter()
            .map(|b| Signer {
                name: name(&b.ballot().voter),
                voter: b.ballot().voter,
                reason: b.ballot().reason.as_ref().map(|r| r.to_string()),
            })
            .collect(),
    })
}

/// Deserialises a certificate; on failure, finds the part at fault so the message can
/// name it (serde's own message for a nested value has no path).
fn parse_certificate(value: &Value) -> Result<Certificate, String> {
    let whole = match serde_json::from_value::<Certificate>(value.clone()) {
        Ok(c) => return Ok(c),
        Err(e) => e.to_string(),
    };
    let Some(obj) = value.as_object() else {
        return Err("expected a JSON object with `proposal` and `ballots`".into());
    };
    for field in ["proposal", "ballots"] {
        if !obj.contains_key(field) {
            return Err(format!("missing field `{field}`"));
        }
    }
    if let Some(extra) = obj
        .keys()
        .find(|k| !["proposal", "ballots", "tier"].contains(&k.as_str()))
    {
        return Err(format!("unknown field `{extra}`"));
    }
    if let Err(e) = serde_json::from_value::<SignedProposal>(value["proposal"].clone()) {
        return Err(format!("field `proposal`: {e}"));
    }
    let Some(ballots) = value["ballots"].as_array() else {
        return Err("field `ballots`: expected an array".into());
    };
    for (i, b) in ballots.iter().enumerate() {
        if let Err(e) = serde_json::from_value::<SignedBallot>(b.clone()) {
            return Err(format!("ballots[{i}]: {e}"));
        }
    }
    if let Some(tier) = obj.get("tier")
        && let Err(e) = serde_json::from_value::<Option<TierLabel>>(tier.clone())
    {
        return Err(format!("field `tier`: {e}"));
    }
    Err(whole)
}
