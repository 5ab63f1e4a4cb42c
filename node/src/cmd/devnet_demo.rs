//! The devnet's cast and script: how each node votes, the roster's threshold tiers, and
//! the proposals `swarmvote devnet --demo` makes: a benign one (approved), a dangerous
//! one (rejected) and, when the swarm has tiers, a secret rotation under four-eyes that
//! the proposer's own YES cannot carry, so the demo casts the missing vote by hand.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use swarmvote_node::api::ProposalReport;
use swarmvote_node::cli::certificate::verify_certificate_file;
use swarmvote_node::cli::progress::Progress;
use swarmvote_node::cli::render::{Names, status_word};
use swarmvote_node::dev::cluster::{ApiClient, Cluster, ClusterError};
use swarmvote_protocol::{Roster, Status, Vote};

use super::devnet_term::{Interrupted, Out, Stop};

/// How long a demo proposal may take to be decided everywhere.
const DECIDE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the ballots of the nodes that vote on their own may take to arrive.
const BALLOTS_TIMEOUT: Duration = Duration::from_secs(10);

/// How a devnet node votes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// YES on everything.
    Approver,
    /// NO on deleting anything under /backup, YES on anything else.
    Guardian,
    /// Votes by hand (a `manual` evaluator): the tiered devnet's security officer.
    Officer,
}

/// Who votes how, and whether the roster has tiers.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Plan {
    n: usize,
    q: usize,
    /// The roster carries the rules of [`Plan::roster_rules`]. Needs 3 nodes (four-eyes
    /// needs two members besides the proposer, one of them the officer) and a default
    /// `q` below `n` (the officer votes by hand, so the others must approve on their own).
    tiers: bool,
}

impl Plan {
    /// The plan for `n` nodes with `q` YES votes approving by default.
    pub(crate) fn new(n: usize, q: usize) -> Self {
        Self {
            n,
            q,
            tiers: n >= 3 && q < n,
        }
    }

    /// The plan a devnet's roster was made by: its `n` and default `q`.
    pub(crate) fn of(roster: &Roster) -> Self {
        let n = usize::try_from(roster.len()).unwrap_or(usize::MAX);
        let q = usize::try_from(roster.required()).unwrap_or(usize::MAX);
        Self::new(n, q)
    }

    /// How node `i` votes. With tiers: node0 proposes and approves everything, the last
    /// node is the officer, the others guard /backup. Without: the last `n - q + 1` nodes
    /// guard /backup, the fewest NO votes that make approval impossible.
    pub(crate) fn role(&self, i: usize) -> Role {
        if self.tiers {
            return match i {
                0 => Role::Approver,
                i if i + 1 == self.n => Role::Officer,
                _ => Role::Guardian,
            };
        }
        let guardians = self.n.saturating_sub(self.q).saturating_add(1).min(self.n);
        if i >= self.n.saturating_sub(guardians) {
            Role::Guardian
        } else {
            Role::Approver
        }
    }

    /// Node `i`'s `[evaluator]` section.
    pub(crate) fn policy(&self, i: usize) -> String {
        match self.role(i) {
            Role::Approver => policy_toml(false),
            Role::Guardian => policy_toml(true),
            Role::Officer => "[evaluator]\nkind = \"manual\"\n".to_owned(),
        }
    }

    /// The officer's index, with tiers.
    pub(crate) fn officer(&self) -> Option<usize> {
        self.tiers.then(|| self.n.saturating_sub(1))
    }

    /// The roster's tiers (TOML after its quorum), or nothing: one rule per risk. A
    /// backup delete needs every member, so one NO blocks it; a restart needs a third; a
    /// secret rotation is four-eyes (every member but the proposer must approve) and needs
    /// a YES from `security`, whose members are node0 and the officer.
    pub(crate) fn roster_rules(&self) -> String {
        let Some(officer) = self.officer() else {
            return String::new();
        };
        let others = self.n.saturating_sub(1);
        format!(
            r#"[groups]
security = ["node0", "node{officer}"]

[[rules]]
name = "backup-deletes"
action = "fs.delete"
payload = {{ path = "/backup/**" }}
quorum = "1"

[[rules]]
name = "restarts"
action = "service.restart"
quorum = "1/3"

[[rules]]
name = "secret-rotation"
action = "secrets.*"
quorum = "{others}/{n}"
four_eyes = true
require = [{{ group = "security", yes = 1 }}]
"#,
            n = self.n
        )
    }

    /// What is about to run: each node's policy, the tiers, and why.
    pub(crate) fn describe(&self, out: Out, cluster: &Cluster) {
        let (n, q) = (self.n, self.q);
        out.line(
            "policies (in each node's node.toml, [evaluator]; the first matching rule votes):",
        );
        for (i, node) in cluster.nodes.iter().enumerate() {
            let role = if i == 0 { ", proposes in the demo" } else { "" };
            let what = match self.role(i) {
                Role::Approver => "YES on everything",
                Role::Guardian => "NO on fs.delete of /backup or /backup/**, YES on anything else",
                Role::Officer => "votes by hand (evaluator manual): the security officer",
            };
            out.line(&format!("  {}  {what}{role}", node.name));
        }
        if self.tiers {
            out.line(
                "tiers (roster.toml [[rules]]; the first rule that matches sets the threshold):",
            );
            for t in cluster.roster.report().tiers {
                if t.name.as_str() == swarmvote_protocol::roster::tier::CHANGE_TIER {
                    continue;
                }
                let mut line = format!(
                    "  {:<16} {:<26} q = {} of {}",
                    t.name.as_str(),
                    t.applies_to,
                    t.q,
                    t.n
                );
                if t.four_eyes {
                    line.push_str(" others (four-eyes)");
                }
                for r in &t.require {
                    line.push_str(&format!(", {r}"));
                }
                out.line(&line);
            }
            out.line(&format!(
                "why: one NO blocks a backup delete (q = n = {n}); and no agent rotates a secret \
                 on its own say: under four-eyes the proposer's YES does not count, and a member \
                 of security must approve."
            ));
            return;
        }
        let guardians = (0..n).filter(|&i| self.role(i) == Role::Guardian).count();
        let why = if guardians >= n {
            format!(
                "why every node guards: {q} YES {} a proposal, so only {} can block one",
                if q == 1 { "approves" } else { "approve" },
                if n == 1 { "its NO" } else { "a unanimous NO" }
            )
        } else {
            format!(
                "why {}: {q} YES approve, and a proposal is rejected once more than n - q = {} voted NO; so it takes {guardians} NO to block a deletion the others approve",
                counted(guardians, "guardian"),
                counted(n.saturating_sub(q), "member")
            )
        };
        out.line(&format!("{why}."));
        if n >= 3 {
            out.line("tiers: off (the officer who votes by hand would leave q = n out of reach)");
        }
    }
}

/// `1 member`, `2 members`.
fn counted(k: usize, noun: &str) -> String {
    if k == 1 {
        format!("1 {noun}")
    } else {
        format!("{k} {noun}s")
    }
}

/// One demo proposal and the verdict it must get.
struct Case {
    title: &'static str,
    action: &'static str,
    payload: &'static str,
    expect: Status,
    /// Four-eyes: once the nodes that vote on their own have voted, show why it is still
    /// pending and cast the officer's YES by hand.
    by_hand: bool,
}

const BENIGN: Case = Case {
    title: "a benign action: clean up scratch logs",
    action: "fs.delete",
    payload: r#"{"path":"/tmp/scratch/*.log"}"#,
    expect: Status::Approved,
    by_hand: false,
};

const DANGEROUS: Case = Case {
    title: "a dangerous action: delete a protected backup",
    action: "fs.delete",
    payload: r#"{"path":"/backup/db.tar"}"#,
    expect: Status::Rejected,
    by_hand: false,
};

const FOUR_EYES: Case = Case {
    title: "four-eyes: rotate a secret",
    action: "secrets.rotate",
    payload: r#"{"name":"db-password"}"#,
    expect: Status::Approved,
    by_hand: true,
};

/// What every demo step needs.
pub(crate) struct Demo<'a> {
    pub(crate) cluster: &'a Cluster,
    pub(crate) clients: &'a [ApiClient],
    pub(crate) stop: &'a Stop,
    pub(crate) out: Out,
    pub(crate) dir: &'a Path,
    /// The dir outlives the devnet, so its certificates can be checked again.
    pub(crate) kept: bool,
    pub(crate) plan: Plan,
}

impl Demo<'_> {
    /// Runs the cases in order; fails on the first that does not go as scripted.
    pub(crate) fn run(&self) -> anyhow::Result<()> {
        let mut cases = vec![&BENIGN, &DANGEROUS];
        if self.plan.tiers {
            cases.push(&FOUR_EYES);
        }
        let mut verdicts = Vec::new();
        for (k, case) in cases.iter().enumerate() {
            self.out.line("");
            self.out.line(&self.out.bold(&format!(
                "== demo {}/{}: {}",
                k + 1,
                cases.len(),
                case.title
            )));
            verdicts.push(self.case(case)?);
        }
        let word = |i: usize| verdicts.get(i).map(String::as_str).unwrap_or("?");
        let mut summary = format!("demo ok: benign {}, dangerous {}", word(0), word(1));
        if self.plan.tiers {
            summary.push_str(&format!(", four-eyes {} after a vote by hand", word(2)));
        }
        summary.push_str(", certificates verified");
        self.out.line("");
        self.out.line(&self.out.bold(&summary));
        Ok(())
    }

    fn names(&self) -> Names {
        Names::new(Some(self.cluster.roster.clone()))
    }

    fn node_name(&self, i: usize) -> &str {
        self.cluster.nodes.get(i).map_or("?", |x| x.name.as_str())
    }

    /// Proposes `case` from node0, sees it decided at every node, shows the ballots and
    /// the verdict, and checks the certificate (or its absence). Returns the verdict.
    fn case(&self, case: &Case) -> anyhow::Result<String> {
        let out = self.out;
        let names = self.names();
        let proposer = self.clients.first().context("no nodes")?;
        let payload: serde_json::Value = serde_json::from_str(case.payload)?;
        let id = proposer.propose(case.action, payload.clone(), 60_000)?;
        out.line(&format!(
            "{} proposes {} {payload}\nproposal {id}",
            self.node_name(0),
            case.action
        ));
        // The nodes that vote on their own; the officer only when the demo votes for it.
        let voters = (0..self.cluster.nodes.len())
            .filter(|&i| self.plan.role(i) != Role::Officer)
            .count();
        if case.by_hand {
            self.vote_by_hand(&id, voters)?;
        }
        let expected = voters + usize::from(case.by_hand);
        // Decided at every node: each computes the tally on its own.
        let mut statuses = Vec::with_capacity(self.clients.len());
        for (i, c) in self.clients.iter().enumerate() {
            let report = self.wait_until(
                DECIDE_TIMEOUT,
                &format!("{} to decide", self.node_name(i)),
                || {
                    Ok(c.proposal_report(&id)?
                        .filter(|r| r.status != Status::Pending))
                },
            )?;
            statuses.push((self.node_name(i).to_owned(), report.status));
        }
        // The proposer's view once every expected ballot arrived (a decision needs only some).
        let view = self.ballots_at_proposer(&id, expected)?;
        self.print_ballots(&view, &names);
        let t = &view.tally;
        let verdict = status_word(view.status).to_uppercase();
        let n = self.clients.len();
        let everywhere = statuses.iter().all(|(_, s)| *s == view.status);
        out.line(&out.bold(&format!(
            "verdict: {verdict}  ({} yes, {} no; n = {}, q = {}){}",
            t.yes.len(),
            t.no.len(),
            t.n,
            t.q,
            if everywhere && n > 1 {
                format!(", the same at all {n} nodes")
            } else {
                String::new()
            }
        )));
        for line in view.tier_lines(&names) {
            out.line(&format!("  {line}"));
        }
        if !everywhere {
            let list: Vec<_> = statuses
                .iter()
                .map(|(name, s)| format!("{name} {}", status_word(*s)))
                .collect();
            bail!("the nodes disagree: {}", list.join(", "));
        }
        if view.status != case.expect {
            bail!(
                "expected {}, got {}: the devnet's policies did not hold",
                status_word(case.expect),
                status_word(view.status)
            );
        }
        match view.status {
            Status::Approved => self.check_certificate(&id)?,
            _ => {
                let (status, _) =
                    proposer.call("GET", &format!("/v1/proposals/{id}/certificate"), None)?;
                if (200..300).contains(&status) {
                    bail!("a rejected proposal has a certificate");
                }
                out.line(&format!(
                    "certificate: none (HTTP {status}): nothing can prove an approval, so no executor runs it"
                ));
            }
        }
        Ok(verdict)
    }

    /// Four-eyes, step by step: waits for the `voters` ballots cast on their own, shows
    /// that the proposal is still pending and why, then casts the officer's YES.
    fn vote_by_hand(&self, id: &str, voters: usize) -> anyhow::Result<()> {
        let out = self.out;
        let names = self.names();
        let officer = self.plan.officer().context("no officer")?;
        let view = self.ballots_at_proposer(id, voters)?;
        if view.status != Status::Pending {
            bail!(
                "expected pending before the officer votes, got {}",
                status_word(view.status)
            );
        }
        self.print_ballots(&view, &names);
        let progress = Progress::of(&view);
        let proposer = self.node_name(0);
        out.line(&out.bold(&format!("still PENDING: {}", progress.summary())));
        if let Some(why) = progress.missing(proposer) {
            out.line(&format!("  {why}"));
        }
        out.line(&format!(
            "  ({} YES would approve it under the default tier; node0 is in security, but its \
             own YES does not count for the group either)",
            view.tally.yes.len()
        ));
        let data = self
            .cluster
            .nodes
            .get(officer)
            .map(|x| x.dir.join("data"))
            .unwrap_or_default();
        out.line(&format!(
            "{} (security) approves by hand: swarmvote vote --data-dir {} {id} yes",
            self.node_name(officer),
            data.display()
        ));
        let client = self.clients.get(officer).context("no officer client")?;
        let body = serde_json::json!({ "vote": "yes", "reason": "rotation reviewed by security" });
        let (status, answer) =
            client.call("POST", &format!("/v1/proposals/{id}/vote"), Some(&body))?;
        if !(200..300).contains(&status) {
            bail!("the officer's vote was refused: HTTP {status}: {answer}");
        }
        Ok(())
    }

    /// The proposer's report once it holds `count` ballots; after [`BALLOTS_TIMEOUT`], as
    /// it is.
    fn ballots_at_proposer(&self, id: &str, count: usize) -> anyhow::Result<ProposalReport> {
        let proposer = self.clients.first().context("no nodes")?;
        self.wait_until(BALLOTS_TIMEOUT, "the ballots", || {
            Ok(proposer
                .proposal_report(id)?
                .filter(|r| r.ballots.len() >= count))
        })
        .or_else(|e| match e.downcast_ref::<ClusterError>() {
            Some(ClusterError::Timeout { .. }) => proposer
                .proposal_report(id)?
                .context("the proposer forgot its proposal"),
            _ => Err(e),
        })
    }

    fn print_ballots(&self, view: &ProposalReport, names: &Names) {
        self.out.line(&format!("ballots at {}:", self.node_name(0)));
        let proposer = view.proposal.proposal().proposer;
        let mut ballots: Vec<_> = view.ballots.iter().map(|b| b.ballot()).collect();
        ballots.sort_by_key(|b| names.of(&b.voter));
        for b in ballots {
            let vote = match b.vote {
                Vote::Yes => "YES",
                Vote::No => "NO ",
            };
            let mut reason = b
                .reason
                .as_ref()
                .map(|r| r.as_str())
                .unwrap_or("")
                .to_owned();
            if view.tally.four_eyes && b.voter == proposer {
                reason.push_str("  (the proposer's own: not counted)");
            }
            let line = format!("  {:<8} {vote}  {reason}", names.of(&b.voter));
            self.out.line(line.trim_end());
        }
    }

    /// Fetches the certificate from another node than the proposer (any node can give
    /// it), saves it, and verifies it offline against roster.toml.
    fn check_certificate(&self, id: &str) -> anyhow::Result<()> {
        let out = self.out;
        let from = self.clients.len().saturating_sub(1);
        let giver = self.clients.get(from).context("no nodes")?;
        let cert = giver.certificate(id)?;
        let path = self
            .dir
            .join(format!("demo-{}.cert.json", id.get(..8).unwrap_or(id)));
        std::fs::write(&path, serde_json::to_string_pretty(&cert)?)
            .with_context(|| format!("{}: cannot write", path.display()))?;
        let roster_path = self.dir.join("roster.toml");
        let checked = verify_certificate_file(&path, &roster_path)
            .with_context(|| format!("certificate of {id}"))?;
        let signers: Vec<_> = checked.signers.iter().map(|s| s.name.as_str()).collect();
        out.line(&out.bold(&format!(
            "certificate verified offline against roster.toml: {} YES signatures ({}), q = {}",
            signers.len(),
            signers.join(", "),
            checked.q
        )));
        if checked.tier != swarmvote_protocol::roster::tier::DEFAULT_TIER {
            out.line(&format!(
                "  tier {} recorded and recomputed from the roster{}",
                checked.tier,
                if checked.four_eyes {
                    " (four-eyes: the proposer's signature is carried but not counted)"
                } else {
                    ""
                }
            ));
        }
        out.line(&format!(
            "  fetched from {}'s API, saved as {}",
            self.node_name(from),
            path.display()
        ));
        if self.kept {
            out.line(&format!(
                "  check it again: swarmvote verify-cert {} --roster {}",
                path.display(),
                roster_path.display()
            ));
        }
        Ok(())
    }

    /// Polls `f` every 50 ms until it returns `Some`, a signal arrives or `timeout` passes.
    fn wait_until<T>(
        &self,
        timeout: Duration,
        what: &str,
        mut f: impl FnMut() -> Result<Option<T>, ClusterError>,
    ) -> anyhow::Result<T> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(signal) = self.stop.signalled() {
                return Err(Interrupted(signal).into());
            }
            if let Some(v) = f()? {
                return Ok(v);
            }
            if Instant::now() >= deadline {
                return Err(ClusterError::Timeout {
                    what: what.to_owned(),
                    after: timeout,
                }
                .into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The `[evaluator]` section of a node: guardians refuse to delete anything under
/// /backup; every node approves everything else.
pub(crate) fn policy_toml(guardian: bool) -> String {
    let mut text = String::from("[evaluator]\nkind = \"policy\"\n");
    if guardian {
        for path in ["/backup", "/backup/**"] {
            let _ = write!(
                text,
                "\n[[evaluator.rules]]\naction = \"fs.delete\"\npayload = {{ path = \"{path}\" }}\nvote = \"no\"\nreason = \"protects /backup\"\n"
            );
        }
    }
    let reason = if guardian {
        "no rule against it"
    } else {
        "the devnet approves everything"
    };
    let _ = write!(
        text,
        "\n[[evaluator.rules]]\naction = \"*\"\nvote = \"yes\"\nreason = \"{reason}\"\n"
    );
    text
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use swarmvote_node::dev::cluster::governed_roster;
    use swarmvote_protocol::{MemberName, Quorum, Roster, SecretKey, SwarmId};

    /// `q` of `n` members at `quorum`.
    fn q_of(n: usize, quorum: &str) -> usize {
        let q = quorum.parse::<Quorum>().unwrap();
        usize::try_from(q.required(u32::try_from(n).unwrap())).unwrap()
    }

    /// The devnet roster of `n` nodes at `quorum`, built as the cluster builds it.
    fn roster(plan: &Plan, n: usize, quorum: &str) -> Roster {
        let members: Vec<_> = (0..n)
            .map(|i| {
                let key = SecretKey::from_seed([u8::try_from(i).unwrap() + 1; 32]);
                (
                    MemberName::new(format!("node{i}")).unwrap(),
                    key.public().unwrap(),
                )
            })
            .collect();
        let swarm = SwarmId::new("devnet").unwrap();
        let quorum: Quorum = quorum.parse().unwrap();
        if plan.roster_rules().is_empty() {
            return Roster::new(swarm, quorum, members).unwrap();
        }
        governed_roster(&swarm, quorum, &members, &plan.roster_rules()).unwrap()
    }

    #[test]
    fn every_devnet_shape_gets_a_valid_roster_and_a_reachable_default() {
        for n in 1..=16usize {
            for quorum in ["1/3", "1/2", "2/3", "0.75", "1"] {
                let q = q_of(n, quorum);
                let plan = Plan::new(n, q);
                let r = roster(&plan, n, quorum);
                assert_eq!(
                    plan.officer().is_some(),
                    !r.rules().is_empty(),
                    "{n} {quorum}"
                );
                // The demo reads the same plan back from the roster.
                let again = Plan::of(&r);
                assert!(
                    (0..n).all(|i| again.role(i) == plan.role(i)),
                    "{n} {quorum}"
                );
                // The nodes that vote on their own reach the default q.
                let own = (0..n).filter(|&i| plan.role(i) != Role::Officer).count();
                assert!(own >= q, "{n} {quorum}");
                if plan.officer().is_some() {
                    // One guardian at least, and node0 approves.
                    assert_eq!(plan.role(0), Role::Approver);
                    assert!((1..n).any(|i| plan.role(i) == Role::Guardian));
                    // The four-eyes rule needs every member but the proposer.
                    let t = r
                        .rules()
                        .iter()
                        .find(|x| x.action() == "secrets.*")
                        .unwrap();
                    assert_eq!(t.tier().required(), u32::try_from(n - 1).unwrap());
                }
            }
        }
    }
}
