//! `swarmvote policy test`: evaluates a Rego policy offline, against sample proposals or
//! a table of cases with expected votes, so an operator (or CI) can test a policy before
//! deploying it.
//!
//! A sample proposal is the evaluator's `input` (see
//! [`swarmvote_protocol::policy::proposal_input`]) with defaults: only `action` is
//! required; `payload` defaults to `{}`, `id` to the id of the sample's proposal,
//! `proposer` to `{"name": "sample", "key": "00…00"}`, `created_at` to 0 and
//! `expires_at` to `created_at` + 60 s. The sample becomes a real proposal first, so an
//! action or payload a node would refuse is refused here too.
//!
//! A cases file (TOML) is a list of `[[case]]` tables, each with a `name`, a `proposal`
//! (a sample, inline), the expected `vote` (`yes`, `no` or `none` for no opinion) and,
//! optionally, a `reason` the verdict's reason must contain.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Subcommand;
use serde::Deserialize;
use swarmvote_node::daemon::evaluator::read_policy;
use swarmvote_protocol::policy::{DEFAULT_ENTRYPOINT, RegoPolicy, proposal_input};
use swarmvote_protocol::{
    Action, Nonce, Payload, Proposal, ProposalId, Reason, RosterDigest, SwarmId, UnixMillis, Vote,
    VoterId,
};

/// `swarmvote policy ...`.
#[derive(Subcommand)]
pub enum PolicyCommand {
    /// Evaluate a Rego policy against sample proposals (JSON) or a cases file (TOML) and
    /// print each vote and reason.
    #[command(
        after_help = "Exit codes: 0 every proposal was evaluated (and every case \
gave the expected vote), 1 the policy does not compile, a proposal or case could not be \
read, evaluating one failed, or a case gave another vote than expected; 2 usage error."
    )]
    Test(TestArgs),
}

/// `swarmvote policy test`.
#[derive(clap::Args)]
pub struct TestArgs {
    /// The Rego policy file.
    #[arg(long, value_name = "FILE")]
    policy: PathBuf,
    /// The rule asked for the verdict.
    #[arg(long, value_name = "RULE", default_value = DEFAULT_ENTRYPOINT)]
    entrypoint: String,
    /// A sample proposal, a JSON file in the `input` shape (only `action` is required);
    /// repeat for several.
    #[arg(long = "proposal", value_name = "FILE")]
    proposals: Vec<PathBuf>,
    /// A TOML file of `[[case]]`s: `name`, `proposal` (inline), expected `vote` ("yes",
    /// "no", "none") and optionally `reason` (a text the reason must contain).
    #[arg(long, value_name = "FILE", required_unless_present = "proposals")]
    cases: Option<PathBuf>,
}

/// Runs a `policy` subcommand.
pub fn run(command: PolicyCommand) -> anyhow::Result<()> {
    match command {
        PolicyCommand::Test(args) => test(&args),
    }
}

/// The proposer of a sample.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SampleProposer {
    name: Option<String>,
    key: Option<VoterId>,
}

/// A sample proposal: the `input` shape, with defaults.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Sample {
    action: String,
    #[serde(default)]
    payload: Option<serde_json::Value>,
    id: Option<ProposalId>,
    #[serde(default)]
    proposer: SampleProposer,
    created_at: Option<u64>,
    expires_at: Option<u64>,
}

/// What a case expects.
#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Expected {
    Yes,
    No,
    None,
}

/// One `[[case]]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    proposal: Sample,
    vote: Expected,
    reason: Option<String>,
}

/// A cases file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Cases {
    case: Vec<Case>,
}

/// Default sample lifetime.
const SAMPLE_TTL_MS: u64 = 60_000;

impl Sample {
    /// The evaluator's input for this sample, built as for a real proposal.
    fn input(self) -> anyhow::Result<serde_json::Value> {
        let action = Action::new(&self.action).context("action")?;
        let payload = self
            .payload
            .unwrap_or_else(|| serde_json::Value::Object(Default::default()));
        let payload = Payload::from_value(&payload).context("payload")?;
        let created_at = self.created_at.unwrap_or(0);
        let proposal = Proposal {
            swarm: SwarmId::new("sample").context("swarm")?,
            roster: RosterDigest::from_bytes([0; 32]),
            proposer: self
                .proposer
                .key
                .unwrap_or_else(|| VoterId::from_bytes([0; 32])),
            action,
            payload,
            created_at: UnixMillis(created_at),
            expires_at: UnixMillis(
                self.expires_at
                    .unwrap_or(created_at.saturating_add(SAMPLE_TTL_MS)),
            ),
            nonce: Nonce([0; 16]),
        };
        let id = self.id.unwrap_or_else(|| proposal.id());
        let name = self.proposer.name.as_deref().unwrap_or("sample");
        Ok(proposal_input(id, &proposal, Some(name)))
    }
}

/// A verdict, for people.
fn show(verdict: &Option<(Vote, Option<Reason>)>) -> String {
    match verdict {
        None => "no vote (the policy has no opinion)".to_owned(),
        Some((vote, None)) => vote.to_string(),
        Some((vote, Some(reason))) => format!("{vote}: {reason}"),
    }
}

fn test(args: &TestArgs) -> anyhow::Result<()> {
    let file = args.policy.display().to_string();
    let text = read_policy(&args.policy).map_err(|e| anyhow::anyhow!("{file}: {e}"))?;
    let policy = RegoPolicy::compile(&file, &text, &args.entrypoint)?;
    let mut failed = 0usize;
    for path in &args.proposals {
        match evaluate_file(&policy, path) {
            Ok(verdict) => println!("{}: {}", path.display(), show(&verdict)),
            Err(e) => {
                failed += 1;
                println!("{}: error: {e:#}", path.display());
            }
        }
    }
    let mut total = args.proposals.len();
    if let Some(cases) = &args.cases {
        let (count, bad) = run_cases(&policy, cases)?;
        total += count;
        failed += bad;
    }
    if failed > 0 {
        bail!("{failed} of {total} failed");
    }
    eprintln!("{total} passed");
    Ok(())
}

fn evaluate_file(
    policy: &RegoPolicy,
    path: &Path,
) -> anyhow::Result<Option<(Vote, Option<Reason>)>> {
    let text = std::fs::read_to_string(path).context("cannot read")?;
    let sample: Sample = serde_json::from_str(&text).context("not a sample proposal")?;
    Ok(policy.decide(&sample.input()?)?)
}

/// Runs a cases file; returns how many cases there were and how many failed.
fn run_cases(policy: &RegoPolicy, path: &Path) -> anyhow::Result<(usize, usize)> {
    let shown = path.display();
    let text = std::fs::read_to_string(path).with_context(|| format!("{shown}: cannot read"))?;
    let cases: Cases =
        toml::from_str(&text).with_context(|| format!("{shown}: not a cases file"))?;
    let count = cases.case.len();
    let mut failed = 0usize;
    for (i, case) in cases.case.into_iter().enumerate() {
        let label = format!("{shown}: case {} ({})", i + 1, case.name);
        let verdict = case
            .proposal
            .input()
            .and_then(|input| Ok(policy.decide(&input)?));
        let problem = match &verdict {
            Err(e) => Some(format!("error: {e:#}")),
            Ok(v) => mismatch(case.vote, case.reason.as_deref(), v),
        };
        match problem {
            None => println!("ok   {label}: {}", show(verdict.as_ref().unwrap_or(&None))),
            Some(why) => {
                failed += 1;
                println!("FAIL {label}: {why}");
            }
        }
    }
    Ok((count, failed))
}

/// Why `verdict` is not what a case expects, if it is not.
fn mismatch(
    vote: Expected,
    reason: Option<&str>,
    verdict: &Option<(Vote, Option<Reason>)>,
) -> Option<String> {
    let got = match verdict {
        None => Expected::None,
        Some((Vote::Yes, _)) => Expected::Yes,
        Some((Vote::No, _)) => Expected::No,
    };
    let name = |e: Expected| match e {
        Expected::Yes => "yes",
        Expected::No => "no",
        Expected::None => "no vote",
    };
    if got != vote {
        return Some(format!("expected {}, got {}", name(vote), show(verdict)));
    }
    let want = reason?;
    let has = verdict
        .as_ref()
        .and_then(|(_, r)| r.as_ref())
        .is_some_and(|r| r.as_str().contains(want));
    (!has).then(|| {
        format!(
            "expected a reason containing {want:?}, got {}",
            show(verdict)
        )
    })
}
