//! The human renderings the `swarmvote` commands print: lists, reports, status, events
//! and times, with voters named from the roster.

use std::fmt::Write as _;

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use swarmvote_protocol::engine::Event;
use swarmvote_protocol::{Roster, Status, VoterId};

use crate::api::{
    ExecutionRecord, HealthEvent, NodeEvent, Numbered, ProposalPage, ProposalReport,
    ProposalSummary, StatusReport, VoterHealthReport,
};

use super::client::ClientError;
use super::progress::Progress;
use super::sse::SseEvent;

/// Names voters: by roster name when a roster is known, else by short id.
#[derive(Clone, Debug, Default)]
pub struct Names {
    roster: Option<Roster>,
}

impl Names {
    /// With a roster (`None`: short ids).
    pub fn new(roster: Option<Roster>) -> Self {
        Self { roster }
    }

    /// A voter's display name.
    pub fn of(&self, v: &VoterId) -> String {
        self.roster
            .as_ref()
            .and_then(|r| r.member(v))
            .map_or_else(|| v.short(), |m| m.name.to_string())
    }
}

/// Unix ms as `YYYY-MM-DD HH:MM:SS.mmmZ` (UTC).
pub fn format_time(ms: u64) -> String {
    let secs = ms / 1000;
    let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX / 2);
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

pub(crate) fn indent_json(v: &Value) -> String {
    let text = serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string());
    text.replace('\n', "\n           ")
}

pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    what: &str,
    v: &Value,
) -> Result<T, ClientError> {
    serde_json::from_value(v.clone()).map_err(|e| ClientError::Decode {
        what: what.to_owned(),
        detail: e.to_string(),
    })
}

impl ProposalPage {
    /// Decodes a page.
    pub fn from_json(v: &Value) -> Result<Self, ClientError> {
        decode("GET /v1/proposals", v)
    }
}

/// The proposals table.
pub fn render_list(rows: &[ProposalSummary], names: &Names) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<64}  {:<8}  {:>3}  {:>3}  {:<24}  {:<12}  CREATED",
        "ID", "STATUS", "YES", "NO", "ACTION", "PROPOSER"
    );
    for r in rows {
        let _ = writeln!(
            out,
            "{:<64}  {:<8}  {:>3}  {:>3}  {:<24}  {:<12}  {}",
            r.id,
            status_word(r.status),
            r.yes,
            r.no,
            r.action,
            names.of(&r.proposer),
            format_time(r.created_at.0)
        );
    }
    if rows.is_empty() {
        let _ = writeln!(out, "(no proposals)");
    }
    out
}

/// A status as one word.
pub fn status_word(s: Status) -> &'static str {
    match s {
        Status::Pending => "pending",
        Status::Approved => "approved",
        Status::Rejected => "rejected",
        Status::Expired => "expired",
    }
}

impl ProposalReport {
    /// Decodes a report.
    pub fn from_json(v: &Value) -> Result<Self, ClientError> {
        decode("GET /v1/proposals/{id}", v)
    }

    /// `approved: 2 yes, 0 no (n = 3, q = 2)` and the signers.
    pub fn outcome(&self, names: &Names) -> String {
        let t = &self.tally;
        let list = |v: &BTreeSet<VoterId>| {
            if v.is_empty() {
                "-".to_owned()
            } else {
                v.iter().map(|x| names.of(x)).collect::<Vec<_>>().join(", ")
            }
        };
        let mut out = format!(
            "{}: {} yes, {} no (n = {}, q = {}){}\n",
            status_word(self.status),
            t.yes.len(),
            t.no.len(),
            t.n,
            t.q,
            if t.conflicting {
                " CONFLICTING: approved through equivocation"
            } else {
                ""
            }
        );
        let _ = writeln!(out, "  yes: {}", list(&t.yes));
        let _ = writeln!(out, "  no:  {}", list(&t.no));
        for line in self.tier_lines(names) {
            let _ = writeln!(out, "  {line}");
        }
        out
    }

    /// Where the tier's rules apply (a rule, four-eyes or a group): its counts and, while
    /// pending, what is missing; after a rejection, why approval became impossible.
    /// Nothing for a plain proposal, whose `yes`/`q` counts say it all.
    pub fn tier_lines(&self, names: &Names) -> Vec<String> {
        let progress = Progress::of(self);
        if progress.is_plain() {
            return Vec::new();
        }
        let mut lines = vec![progress.summary()];
        let proposer = names.of(&self.proposal.proposal().proposer);
        let why = match self.status {
            Status::Pending => progress.missing(&proposer),
            Status::Rejected => progress.why_rejected(),
            Status::Approved | Status::Expired => None,
        };
        lines.extend(why);
        lines
    }

    /// The full `show` text.
    pub fn render(&self, names: &Names) -> String {
        let p = self.proposal.proposal();
        let t = &self.tally;
        let mut out = String::new();
        let _ = writeln!(out, "proposal   {}", self.id);
        let _ = writeln!(out, "action     {}", p.action);
        let _ = writeln!(out, "payload    {}", indent_json(&p.payload.to_value()));
        let _ = writeln!(out, "proposer   {}", names.of(&p.proposer));
        let _ = writeln!(out, "created    {}", format_time(p.created_at.0));
        let _ = writeln!(out, "expires    {}", format_time(p.expires_at.0));
        let _ = write!(out, "status     {}", status_word(self.status));
        if let Some(at) = self.decided_at {
            let _ = write!(out, " (decided {})", format_time(at.0));
        }
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "tally      n = {}, q = {}, yes = {}, no = {}{}",
            t.n,
            t.q,
            t.yes.len(),
            t.no.len(),
            if t.conflicting {
                " (conflicting: approved through equivocation)"
            } else {
                ""
            }
        );
        for (i, line) in self.tier_lines(names).iter().enumerate() {
            let label = if i == 0 { "tier" } else { "" };
            let line = line.strip_prefix("tier ").unwrap_or(line);
            let _ = writeln!(out, "{label:<10} {line}");
        }
        let _ = writeln!(out, "ballots    {}", self.ballots.len());
        for b in &self.ballots {
            let b = b.ballot();
            let mut line = format!("  {:<16} {:<3}", names.of(&b.voter), b.vote.to_string());
            if let Some(r) = &b.reason {
                let _ = write!(line, "  {:?}", r.as_str());
            }
            let _ = writeln!(out, "{}", line.trim_end());
        }
        if self.equivocations.is_empty() && t.equivocators.is_empty() {
            let _ = writeln!(out, "equivocations  none");
        } else {
            let _ = writeln!(out, "equivocations  {}", self.equivocations.len());
            for e in &self.equivocations {
                let _ = writeln!(out, "  {} signed both yes and no", names.of(&e.voter()));
            }
        }
        match &self.own_ballot {
            Some(b) => {
                let _ = writeln!(out, "own ballot {}", b.ballot().vote);
            }
            None => {
                let _ = writeln!(out, "own ballot none");
            }
        }
        if let Some(exec) = &self.execution {
            let _ = writeln!(out, "execution");
            render_execution(&mut out, exec);
        }
        for r in &self.receipts {
            let inner = r.receipt.receipt();
            let _ = writeln!(
                out,
                "receipt      {}: exit {}  {}",
                names.of(&inner.executor),
                inner
                    .exit_code
                    .map_or_else(|| "none".to_string(), |c| c.to_string()),
                r.standing
            );
            let _ = writeln!(out, "  command          {}", inner.command);
            let _ = writeln!(out, "  certificate      {}", inner.certificate);
            let _ = writeln!(out, "  stdout sha256    {}", inner.stdout);
            let _ = writeln!(out, "  stderr sha256    {}", inner.stderr);
        }
        out
    }
}

/// The record as a table of its fields, by name (empty ones left out).
fn render_execution(out: &mut String, exec: &ExecutionRecord) {
    let Ok(Value::Object(obj)) = serde_json::to_value(exec) else {
        return;
    };
    for (k, v) in &obj {
        let text = match v {
            Value::Null => continue,
            Value::String(s) if s.is_empty() => continue,
            Value::String(s) => {
                let s = s.trim_end();
                if s.contains('\n') {
                    format!("\n    {}", s.replace('\n', "\n    "))
                } else {
                    s.to_owned()
                }
            }
            Value::Number(n) if k.ends_with("_at") => {
                n.as_u64().map_or_else(|| n.to_string(), format_time)
            }
            other => other.to_string(),
        };
        let _ = writeln!(out, "  {k:<16} {text}");
    }
}

/// The `status` text of a `GET /v1/status` answer.
pub fn render_status(s: &Value) -> String {
    match StatusReport::deserialize(s) {
        Ok(report) => render_status_report(&report),
        Err(e) => format!("GET /v1/status: unexpected answer: {e}\n"),
    }
}

/// The `status` text.
pub fn render_status_report(s: &StatusReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "node       {} (voter {})", s.name, s.voter);
    let _ = writeln!(out, "version    {}", s.version);
    let _ = writeln!(out, "peer id    {}", s.peer_id);
    let _ = writeln!(
        out,
        "swarm      {}: n = {}, q = {} (roster {}, epoch {})",
        s.swarm, s.n, s.q, s.roster_digest, s.epoch
    );
    if !s.member {
        let _ = writeln!(
            out,
            "member     no: the head roster does not list this node's key; it signs nothing \
             (joining: until a roster change adds it)"
        );
    }
    let admitted = s.peers.iter().filter(|p| p.admitted).count();
    let _ = writeln!(
        out,
        "peers      {} connected, {admitted} admitted, {} in the gossip mesh",
        s.peers.len(),
        s.mesh_peers
    );
    for p in &s.peers {
        let score = p
            .score
            .map_or_else(|| "-".to_owned(), |x| format!("{x:.1}"));
        let _ = writeln!(
            out,
            "  {}  {}  score {score}",
            p.peer_id,
            if p.admitted {
                "admitted"
            } else {
                "not admitted"
            }
        );
    }
    for u in &s.unreachable {
        let _ = writeln!(
            out,
            "unreachable  {} ({} failed dials): {}",
            u.peer_id
                .as_ref()
                .map_or_else(|| u.address.clone(), |id| format!("{id} at {}", u.address)),
            u.failures,
            u.error
        );
    }
    // The server lists every status; one it left out has no proposals.
    let count = |k: &str| s.counts.get(k).copied().unwrap_or(0);
    let _ = writeln!(
        out,
        "proposals  pending {}, approved {}, rejected {}, expired {}",
        count("pending"),
        count("approved"),
        count("rejected"),
        count("expired")
    );
    let _ = writeln!(out, "orphans    {}", s.orphans);
    match s.last_decision_ms {
        Some(ms) => {
            let _ = writeln!(out, "last decision  {ms} ms");
        }
        None => {
            let _ = writeln!(out, "last decision  none");
        }
    }
    let t = &s.traffic;
    let _ = writeln!(
        out,
        "traffic    in {} msgs ({} B), out {} msgs ({} B)",
        t.messages_in, t.bytes_in, t.messages_out, t.bytes_out
    );
    render_health(&mut out, s);
    out
}

/// The health lines of `swarmvote status`: every degraded member with its reasons and
/// counts, or one line saying all are healthy.
fn render_health(out: &mut String, s: &StatusReport) {
    let (settled, size) = s.health_window;
    let degraded: Vec<&VoterHealthReport> = s.health.iter().filter(|h| h.health.degraded).collect();
    let _ = write!(
        out,
        "health     window {settled} of {size} settled proposals: "
    );
    if degraded.is_empty() {
        let _ = writeln!(out, "all {} members healthy", s.health.len());
        return;
    }
    let _ = writeln!(out, "{} degraded", degraded.len());
    for h in degraded {
        let reasons: Vec<&str> = h.health.reasons.iter().map(|r| r.as_str()).collect();
        let c = &h.health.counts;
        let _ = writeln!(
            out,
            "  DEGRADED {}  {}  (dissent {}, missed {}, invalid signatures {}, equivocations {})",
            h.name,
            reasons.join(", "),
            c.dissent,
            c.missed,
            c.invalid_signatures,
            c.equivocations
        );
    }
}

/// One human line for an event of the stream.
pub fn render_event(e: &SseEvent, names: &Names) -> String {
    let when = e.id.as_deref().unwrap_or("-");
    let numbered = match serde_json::from_str::<Numbered>(&e.data) {
        Ok(n) => n,
        // An event this client does not know (a newer node): shown as it came.
        Err(_) if serde_json::from_str::<Value>(&e.data).is_ok() => {
            return format!("{when}  {:<16} {}", e.event, e.data);
        }
        Err(_) => return format!("{:<16} {}", e.event, e.data),
    };
    let detail = match &numbered.event {
        NodeEvent::Engine(Event::ProposalSeen {
            proposal,
            proposer,
            action,
            local,
            ..
        }) => format!(
            "{}  {action} by {}{}",
            wire(proposal),
            names.of(proposer),
            if *local { " (here)" } else { "" }
        ),
        NodeEvent::Engine(Event::BallotAccepted {
            proposal,
            voter,
            vote,
            own,
            ..
        }) => format!(
            "{}  {} voted {}{}",
            wire(proposal),
            names.of(voter),
            wire(vote),
            if *own { " (this node)" } else { "" }
        ),
        NodeEvent::Engine(Event::Decided {
            proposal,
            action,
            verdict,
            yes,
            no,
            latency_ms,
            conflicting,
        }) => format!(
            "{}  {action} {}  yes {yes} no {no}  after {latency_ms} ms{}",
            wire(proposal),
            wire(verdict),
            if *conflicting { "  CONFLICTING" } else { "" }
        ),
        NodeEvent::Engine(Event::Equivocation { evidence }) => format!(
            "{}  {} signed both yes and no",
            wire(&evidence.proposal()),
            names.of(&evidence.voter())
        ),
        NodeEvent::Engine(Event::InvalidMessage { peer, reason }) => {
            format!("peer {}: {}", peer.0, json(reason))
        }
        NodeEvent::Engine(Event::Expired { proposal }) => wire(proposal),
        NodeEvent::Engine(Event::Receipt {
            proposal,
            executor,
            exit_code,
            standing,
        }) => format!(
            "{}  receipt from {}: exit {}  {standing}",
            wire(proposal),
            names.of(executor),
            exit_code.map_or_else(|| "none".to_string(), |c| c.to_string()),
        ),
        NodeEvent::Engine(Event::EpochChanged {
            epoch,
            roster,
            proposal,
            member,
        }) => format!(
            "{}  roster epoch {epoch} (roster {}){}",
            wire(proposal),
            wire(roster),
            if *member {
                ""
            } else {
                "  this node is no longer a member"
            }
        ),
        NodeEvent::Engine(Event::ChangeSuperseded { proposal, epoch }) => format!(
            "{}  roster change to epoch {epoch} superseded by a lower-id change",
            wire(proposal)
        ),
        NodeEvent::Engine(Event::Doppelganger { proposal, vote, .. }) => format!(
            "{}  DOPPELGANGER: a {} ballot signed with this node's key elsewhere",
            wire(proposal),
            wire(vote)
        ),
        NodeEvent::Health(h) => {
            let (word, change) = match h {
                HealthEvent::VoterDegraded(c) => ("degraded:", c),
                HealthEvent::VoterRecovered(c) => ("recovered, was", c),
            };
            let reasons: Vec<String> = change.reasons.iter().map(wire).collect();
            format!(
                "{}  {word} {}  (window {})",
                change.name,
                reasons.join(", "),
                change.window
            )
        }
    };
    format!("{when}  {:<16} {detail}", e.event)
}

/// A value as its JSON string reads (the API's spelling of ids, votes and verdicts).
fn wire<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(e) => format!("<{e}>"),
    }
}

/// A value as compact JSON.
fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|e| format!("<{e}>"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    /// Each event kind as the server sends it, rendered as `watch` prints it.
    #[test]
    fn events_render_from_the_api_types() {
        use swarmvote_protocol::codec::CodecError;
        use swarmvote_protocol::engine::{PeerTag, RejectReason};
        use swarmvote_protocol::{Action, ProposalId, UnixMillis, Verdict};

        use crate::api::{Counts, HealthChange, Reason};

        let id: ProposalId = "ab".repeat(32).parse().unwrap();
        let voter: VoterId = "cd".repeat(32).parse().unwrap();
        let short = voter.short();
        let names = Names::new(None);
        let sse = |n: u64, event: NodeEvent| {
            let numbered = Numbered { id: n, event };
            let data = serde_json::to_string(&numbered).unwrap();
            let kind = serde_json::from_str::<Value>(&data).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_owned();
            render_event(
                &SseEvent {
                    id: Some(n.to_string()),
                    event: kind,
                    data,
                },
                &names,
            )
        };
        let action = Action::new("fs.delete").unwrap();
        let cases = [
            (
                NodeEvent::Engine(Event::ProposalSeen {
                    proposal: id,
                    proposer: voter,
                    action: action.clone(),
                    created_at: UnixMillis(1),
                    expires_at: UnixMillis(2),
                    local: true,
                }),
                format!("1  proposal_seen    {id}  fs.delete by {short} (here)"),
            ),
            (
                NodeEvent::Engine(Event::Decided {
                    proposal: id,
                    action,
                    verdict: Verdict::Approved,
                    yes: 2,
                    no: 1,
                    latency_ms: 7,
                    conflicting: true,
                }),
                format!(
                    "1  decided          {id}  fs.delete approved  yes 2 no 1  after 7 ms  CONFLICTING"
                ),
            ),
            (
                NodeEvent::Engine(Event::InvalidMessage {
                    peer: PeerTag(3),
                    reason: RejectReason::Malformed(CodecError::UnknownKind { found: 9 }.into()),
                }),
                "1  invalid_message  peer 3: {\"malformed\":\"unknown message kind 9\"}".to_owned(),
            ),
            (
                NodeEvent::Engine(Event::Expired { proposal: id }),
                format!("1  expired          {id}"),
            ),
            (
                NodeEvent::Health(HealthEvent::VoterDegraded(HealthChange {
                    voter,
                    name: "node2".into(),
                    reasons: vec![Reason::Dissent, Reason::Missed],
                    counts: Counts::default(),
                    window: 20,
                    evidence: vec![id],
                    at: UnixMillis(5),
                })),
                "1  voter_degraded   node2  degraded: dissent, missed  (window 20)".to_owned(),
            ),
        ];
        for (event, want) in cases {
            assert_eq!(sse(1, event), want);
        }
        // Not JSON, and JSON of an event this client does not know: shown as they came.
        let raw = |data: &str| SseEvent {
            id: Some("9".into()),
            event: "new_kind".into(),
            data: data.into(),
        };
        assert_eq!(render_event(&raw("x"), &names), "new_kind         x");
        assert_eq!(
            render_event(&raw("{\"a\":1}"), &names),
            "9  new_kind         {\"a\":1}"
        );
    }

    #[test]
    fn times_are_utc() {
        assert_eq!(format_time(0), "1970-01-01 00:00:00.000Z");
        assert_eq!(format_time(951_782_400_123), "2000-02-29 00:00:00.123Z");
        assert_eq!(format_time(1_700_000_000_000), "2023-11-14 22:13:20.000Z");
    }
}
