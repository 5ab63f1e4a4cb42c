//! Checks an audit export offline against the genesis roster: the numbering and the hash
//! chain, every signature (proposals, ballots, evidence, certificates, roster steps),
//! every tally recounted from the exported ballots against the recorded decision, and the
//! seal on the last line. The first line at fault is named.
//!
//! Which line is at fault when a `prev` does not match: line k's `prev` not being the hash
//! of line k−1 means that one of the two was altered. If line k+1's `prev` is the hash of
//! line k as it stands (or, for the sealed last line, if the seal verifies over line k's
//! `prev`), line k is intact and line k−1 is the one that changed; otherwise line k did.

use std::io::BufRead;

use swarmvote_protocol::chain::RosterChain;
use swarmvote_protocol::crypto::sha256;
use swarmvote_protocol::receipt::{self, SignedReceipt};
use swarmvote_protocol::{
    ProposalId, PublicKey, Roster, SignedProposal, Tally, UnixMillis, Verdict, Verified, VoterId,
    seal,
};

use super::GENESIS_PREV;
use crate::api::{EXPORT_FORMAT, EXPORT_VERSION, ExportEntry, ExportHeader, ExportLine};

/// The longest line read: far above any real entry (a certificate of a large roster).
pub const MAX_LINE: usize = 8 << 20;

/// The first fault found: the line and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {what}")]
pub struct Fault {
    /// The 1-based line number.
    pub line: u64,
    /// What is wrong.
    pub what: String,
}

/// What a valid export holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Lines, the end line included.
    pub lines: u64,
    /// The swarm.
    pub swarm: String,
    /// The window.
    pub since: UnixMillis,
    /// The window's end, if it had one.
    pub until: Option<UnixMillis>,
    /// The node that wrote and sealed it.
    pub node: Option<VoterId>,
    /// Its name in a roster of the chain, if it is a member of one.
    pub node_name: Option<String>,
    /// Roster steps.
    pub steps: u64,
    /// Proposals.
    pub proposals: u64,
    /// Of which approved, by the recount.
    pub approved: u64,
    /// Of which rejected, by the recount.
    pub rejected: u64,
    /// Ballots.
    pub ballots: u64,
    /// Equivocation evidence.
    pub evidence: u64,
    /// Certificates.
    pub certificates: u64,
    /// Execution records.
    pub executions: u64,
    /// Signed execution receipts.
    pub receipts: u64,
    /// The receipts no certificate in the file backs: evidence against their executors,
    /// each with its line and why.
    pub unbacked: Vec<String>,
}

/// The proposal whose lines are being read.
struct Open {
    line: u64,
    proposal: Verified<SignedProposal>,
    tally: Tally,
    decision: Option<(u64, Verdict)>,
    certificate: bool,
}

struct Checker {
    chain: RosterChain,
    header: Option<ExportHeader>,
    open: Option<Open>,
    /// The last proposal's position: proposals come in creation order.
    last: Option<(UnixMillis, ProposalId)>,
    summary: Summary,
    ended: bool,
    /// Receipts for proposals not in the file have begun: no proposal may follow.
    orphans: bool,
}

/// Reads and checks an export. `genesis` is the swarm's genesis roster (`--roster`).
pub fn verify(mut input: impl BufRead, genesis: Roster) -> Result<Summary, Fault> {
    let chain = RosterChain::new(genesis).map_err(|e| Fault {
        line: 0,
        what: format!("--roster: {e}"),
    })?;
    let mut checker = Checker {
        chain,
        header: None,
        open: None,
        last: None,
        summary: Summary::default(),
        ended: false,
        orphans: false,
    };
    let mut n: u64 = 0;
    let mut prev_raw: Option<Vec<u8>> = None;
    let mut next = read_line(&mut input, 1)?;
    while let Some(raw) = next.take() {
        n = n.saturating_add(1);
        if checker.ended {
            return Err(fault(n, "a line after the sealed end line"));
        }
        let line = parse(&raw, n)?;
        if line.n != n {
            return Err(fault(
                n,
                if line.n > n {
                    format!("numbered {}: a line before it is missing", line.n)
                } else {
                    format!("numbered {}: lines were repeated or reordered", line.n)
                },
            ));
        }
        next = read_line(&mut input, n.saturating_add(1))?;
        let expected = prev_raw.as_deref().map_or(GENESIS_PREV, sha256);
        if line.prev != hex::encode(expected) {
            let this_intact = match (&next, &line.entry) {
                (Some(after), _) => parse(after, n.saturating_add(1))
                    .is_ok_and(|a| a.prev == hex::encode(sha256(&raw))),
                (None, ExportEntry::End { seal, lines, .. }) => {
                    checker.seal_holds(&line.prev, *lines, seal)
                }
                (None, _) => false,
            };
            return Err(if this_intact && n > 1 {
                fault(
                    n.saturating_sub(1),
                    format!("altered: line {n} records another hash of it"),
                )
            } else {
                fault(
                    n,
                    format!(
                        "altered: its prev is not the hash of line {}",
                        n.saturating_sub(1)
                    ),
                )
            });
        }
        checker.entry(n, line.entry, &expected)?;
        prev_raw = Some(raw);
    }
    if !checker.ended {
        return Err(fault(
            n.saturating_add(1),
            "missing: the file ends without its sealed end line (cut short?)",
        ));
    }
    checker.summary.lines = n;
    let mut summary = checker.summary;
    summary.name_node(&checker.chain);
    Ok(summary)
}

fn fault(line: u64, what: impl Into<String>) -> Fault {
    Fault {
        line,
        what: what.into(),
    }
}

/// The next line's bytes without its newline, or `None` at the end of the input.
fn read_line(input: &mut impl BufRead, n: u64) -> Result<Option<Vec<u8>>, Fault> {
    let mut raw = Vec::new();
    let limit = u64::try_from(MAX_LINE)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    let read = std::io::Read::take(&mut *input, limit)
        .read_until(b'\n', &mut raw)
        .map_err(|e| fault(n, format!("cannot read: {e}")))?;
    if read == 0 {
        return Ok(None);
    }
    if raw.last() == Some(&b'\n') {
        raw.pop();
    } else if raw.len() > MAX_LINE {
        return Err(fault(n, format!("longer than {MAX_LINE} bytes")));
    }
    Ok(Some(raw))
}

fn parse(raw: &[u8], n: u64) -> Result<ExportLine, Fault> {
    serde_json::from_slice(raw).map_err(|e| fault(n, format!("not an export line: {e}")))
}

impl Checker {
    fn seal_holds(&self, prev: &str, lines: u64, seal: &swarmvote_protocol::Signature) -> bool {
        let (Some(h), Ok(chain)) = (&self.header, hex::decode(prev)) else {
            return false;
        };
        let (Ok(chain), Ok(key), Ok(swarm)) = (
            <[u8; 32]>::try_from(chain.as_slice()),
            PublicKey::try_from(h.node),
            h.swarm.parse(),
        ) else {
            return false;
        };
        seal::verify(&key, &swarm, &chain, lines, seal).is_ok()
    }

    fn entry(&mut self, n: u64, entry: ExportEntry, prev: &[u8; 32]) -> Result<(), Fault> {
        // A proposal's lines end where the next proposal, a receipt of another
        // proposal, or the end line starts.
        let ends = match &entry {
            ExportEntry::Proposal { .. } | ExportEntry::End { .. } => true,
            ExportEntry::Receipt { receipt } => self
                .open
                .as_ref()
                .is_some_and(|o| o.proposal.id() != receipt.receipt().proposal),
            _ => false,
        };
        if ends {
            self.close()?;
        }
        self.check(n, entry, prev).map_err(|what| fault(n, what))
    }

    fn check(&mut self, n: u64, entry: ExportEntry, prev: &[u8; 32]) -> Result<(), String> {
        if self.header.is_none() && !matches!(entry, ExportEntry::Header { .. }) {
            return Err("the first line must be the header".into());
        }
        match entry {
            ExportEntry::Header { header } => self.header(n, header),
            ExportEntry::RosterStep { certificate } => {
                if self.last.is_some() {
                    return Err("a roster step after the proposals".into());
                }
                self.chain
                    .add(certificate)
                    .map_err(|e| format!("roster step: {e}"))?;
                self.summary.steps = self.summary.steps.saturating_add(1);
                Ok(())
            }
            ExportEntry::Proposal { proposal } => self.proposal(n, proposal),
            ExportEntry::Ballot { ballot } => {
                let open = open_for(&mut self.open, ballot.ballot().proposal, "ballot")?;
                let roster = roster_of(&self.chain, &open.proposal)?;
                let verified = ballot.verify(roster).map_err(|e| format!("ballot: {e}"))?;
                open.tally
                    .add(verified)
                    .map_err(|e| format!("ballot: {e}"))?;
                self.summary.ballots = self.summary.ballots.saturating_add(1);
                Ok(())
            }
            ExportEntry::Evidence { evidence } => {
                let open = open_for(&mut self.open, evidence.proposal(), "evidence")?;
                let roster = roster_of(&self.chain, &open.proposal)?;
                evidence
                    .verify(roster)
                    .map_err(|e| format!("evidence: {e}"))?;
                self.summary.evidence = self.summary.evidence.saturating_add(1);
                Ok(())
            }
            ExportEntry::Decision { decision } => {
                let open = open_for(&mut self.open, decision.proposal, "decision")?;
                if open.decision.replace((n, decision.verdict)).is_some() {
                    return Err("a second decision on the same proposal".into());
                }
                Ok(())
            }
            ExportEntry::Certificate { certificate } => {
                let open = open_for(&mut self.open, certificate.proposal().id(), "certificate")?;
                let roster = roster_of(&self.chain, &open.proposal)?;
                certificate
                    .verify(roster)
                    .map_err(|e| format!("certificate: {e}"))?;
                open.certificate = true;
                self.summary.certificates = self.summary.certificates.saturating_add(1);
                Ok(())
            }
            ExportEntry::Execution { execution } => {
                let open = open_for(&mut self.open, execution.proposal, "execution record")?;
                let _ = open;
                self.summary.executions = self.summary.executions.saturating_add(1);
                Ok(())
            }
            ExportEntry::Receipt { receipt } => self.receipt(n, receipt),
            ExportEntry::End {
                lines,
                proposals,
                seal,
            } => {
                if lines != n.saturating_sub(1) {
                    return Err(format!(
                        "the end line counts {lines} lines before it, the file has {}",
                        n.saturating_sub(1)
                    ));
                }
                if proposals != self.summary.proposals {
                    return Err(format!(
                        "the end line counts {proposals} proposals, the file has {}",
                        self.summary.proposals
                    ));
                }
                if !self.seal_holds(&hex::encode(prev), lines, &seal) {
                    return Err(
                        "the seal does not verify under the header's node key: the file was \
                         cut or rewritten"
                            .into(),
                    );
                }
                self.ended = true;
                Ok(())
            }
        }
    }

    fn header(&mut self, n: u64, h: ExportHeader) -> Result<(), String> {
        if n != 1 {
            return Err("a second header".into());
        }
        if h.format != EXPORT_FORMAT {
            return Err(format!("format is {:?}, not {EXPORT_FORMAT:?}", h.format));
        }
        if h.version != EXPORT_VERSION {
            return Err(format!(
                "version {} is not supported (this swarmvote reads version {EXPORT_VERSION})",
                h.version
            ));
        }
        let genesis = self.chain.genesis();
        if h.swarm != genesis.swarm().as_str() {
            return Err(format!(
                "the export is for swarm {:?}, --roster is for swarm {:?}",
                h.swarm,
                genesis.swarm().as_str()
            ));
        }
        if h.genesis != genesis.digest() {
            return Err(format!(
                "the export's genesis roster is {}, --roster is {}: give the swarm's genesis roster",
                h.genesis,
                genesis.digest()
            ));
        }
        PublicKey::try_from(h.node).map_err(|e| format!("node {}: {e}", h.node))?;
        self.summary.swarm = h.swarm.clone();
        self.summary.since = h.since;
        self.summary.until = h.until;
        self.summary.node = Some(h.node);
        self.header = Some(h);
        Ok(())
    }

    fn receipt(&mut self, n: u64, receipt: SignedReceipt) -> Result<(), String> {
        let inner = receipt.receipt();
        let (executor, proposal) = (inner.executor, inner.proposal);
        let unbacked = match &self.open {
            Some(open) => {
                let roster = roster_of(&self.chain, &open.proposal)?;
                let verified = receipt
                    .verify(roster)
                    .map_err(|e| format!("receipt: {e}"))?;
                let (standing, _) = receipt::standing_under(
                    verified.receipt(),
                    &open.proposal,
                    &open.tally,
                    roster,
                    None,
                );
                (!standing.is_backed()).then(|| standing.to_string())
            }
            None => {
                // A proposal not in the file: checked under a roster that lists the
                // executor, and backed by nothing here.
                self.orphans = true;
                let roster = self
                    .chain
                    .rosters()
                    .find(|r| r.member(&executor).is_some())
                    .ok_or_else(|| format!("receipt by {executor}, whom no roster lists"))?;
                receipt
                    .verify(roster)
                    .map_err(|e| format!("receipt: {e}"))?;
                Some(format!(
                    "unbacked: proposal {proposal} is not in the export"
                ))
            }
        };
        self.summary.receipts = self.summary.receipts.saturating_add(1);
        if let Some(why) = unbacked {
            self.summary.unbacked.push(format!(
                "line {n}: receipt of {executor} on {proposal}: {why}"
            ));
        }
        Ok(())
    }

    fn proposal(&mut self, n: u64, proposal: SignedProposal) -> Result<(), String> {
        if self.orphans {
            return Err("a proposal after the receipts of proposals not in the export".into());
        }
        let id = proposal.id();
        let p = proposal.proposal();
        let key = (p.created_at, id);
        if let Some(h) = &self.header
            && (p.created_at < h.since || h.until.is_some_and(|u| p.created_at >= u))
        {
            return Err(format!(
                "proposal {id} was created at {}, outside the export's window",
                p.created_at.0
            ));
        }
        if self.last.is_some_and(|last| last >= key) {
            return Err(format!(
                "proposal {id} is out of creation order: lines were moved or repeated"
            ));
        }
        let roster = self.chain.get(&p.roster).ok_or_else(|| {
            format!(
                "proposal {id} names roster {}, which neither --roster nor the export's roster steps hold",
                p.roster
            )
        })?;
        let verified = proposal
            .verify(roster)
            .map_err(|e| format!("proposal {id}: {e}"))?;
        let tally = Tally::new(roster, &verified);
        self.last = Some(key);
        self.open = Some(Open {
            line: n,
            proposal: verified,
            tally,
            decision: None,
            certificate: false,
        });
        self.summary.proposals = self.summary.proposals.saturating_add(1);
        Ok(())
    }
}

/// The open proposal, which `what` must be about.
fn open_for<'a>(
    open: &'a mut Option<Open>,
    id: ProposalId,
    what: &str,
) -> Result<&'a mut Open, String> {
    match open.as_mut() {
        Some(o) if o.proposal.id() == id => Ok(o),
        Some(o) => Err(format!(
            "a {what} on proposal {id} among the lines of proposal {}",
            o.proposal.id()
        )),
        None => Err(format!("a {what} before any proposal")),
    }
}

impl Checker {
    /// Ends the open proposal: its recount must agree with its decision and certificate.
    fn close(&mut self) -> Result<(), Fault> {
        let Some(open) = self.open.take() else {
            return Ok(());
        };
        let counted = open.tally.verdict();
        if let Some((line, verdict)) = open.decision
            && verdict != counted
        {
            return Err(fault(
                line,
                format!("the decision says {verdict:?}, the exported ballots count {counted:?}"),
            ));
        }
        match counted {
            Verdict::Approved => {
                self.summary.approved = self.summary.approved.saturating_add(1);
                if !open.certificate {
                    return Err(fault(
                        open.line,
                        format!(
                            "proposal {} is approved by its ballots but has no certificate line",
                            open.proposal.id()
                        ),
                    ));
                }
            }
            Verdict::Rejected => self.summary.rejected = self.summary.rejected.saturating_add(1),
            Verdict::Pending => {}
        }
        Ok(())
    }
}

fn roster_of<'a>(
    chain: &'a RosterChain,
    proposal: &Verified<SignedProposal>,
) -> Result<&'a Roster, String> {
    let digest = proposal.proposal().roster;
    chain
        .get(&digest)
        .ok_or_else(|| format!("roster {digest} is not held"))
}

impl Summary {
    /// The node's name, looked up in every roster of the chain.
    pub fn name_node(&mut self, rosters: &RosterChain) {
        self.node_name = self.node.and_then(|v| {
            rosters
                .rosters()
                .find_map(|r| r.member(&v).map(|m| m.name.to_string()))
        });
    }
}
