//! `swarmvote gate exec` and `swarmvote gate hook`: the command-line glue around
//! `swarmvote_node::gate` (finding the node, the roster and the config; printing; exit
//! codes).

use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Subcommand;
use swarmvote_node::cli::client::{ClientError, Locator, NodeClient};
use swarmvote_node::cli::render::Names;
use swarmvote_node::config::{self, NodeConfig, Overrides};
use swarmvote_node::gate::exec::{
    EXIT_CERTIFICATE, EXIT_CODES, EXIT_EXPIRED, EXIT_NODE, EXIT_REJECTED, EXIT_UNDECIDED,
    EXIT_USAGE, run_approved,
};
use swarmvote_node::gate::hook::{self, Answer, MAX_EVENT_BYTES, Step};
use swarmvote_node::gate::{GateError, Request, Verdict, no_reasons, seek_approval};
use swarmvote_protocol::Roster;

use super::client::NodeArgs;
use super::proposals::read_payload;

/// Time kept back from `deadline_s` for writing the answer.
const ANSWER_MARGIN: Duration = Duration::from_millis(300);

#[derive(Subcommand)]
pub enum GateCommand {
    /// Propose an action, wait for the swarm's decision, and run PROGRAM (no shell) only
    /// if it is approved, with the verified certificate's path in SWARMVOTE_CERT and
    /// SWARMVOTE_PROPOSAL_ID and SWARMVOTE_ACTION in its environment.
    #[command(after_help = EXIT_CODES)]
    Exec(ExecArgs),
    /// Answer an agent's tool hook: read a Claude Code PreToolUse event on stdin, write
    /// the decision as JSON on stdout (exit 0). Calls that match no [[gate.rules]] are
    /// answered at once without the node; critical ones become proposals.
    #[command(
        after_help = "Exit codes: 0 an answer was written (deny included: the gate fails \
closed, so an unreadable event, a broken config or an unreachable node is a deny), 1 the \
answer could not be written, 2 usage error."
    )]
    Hook(HookArgs),
}

/// `swarmvote gate exec`'s arguments.
#[derive(clap::Args)]
pub struct ExecArgs {
    #[command(flatten)]
    node: NodeArgs,
    /// The action, such as fs.delete.
    #[arg(long)]
    action: String,
    /// The payload: JSON text, or @FILE to read it from a file.
    #[arg(long, value_name = "JSON")]
    payload: String,
    /// Proposal lifetime in seconds [default: the node's, 60].
    #[arg(long, value_name = "S")]
    ttl_s: Option<u64>,
    /// Stop waiting for the decision after this many seconds [default: the lifetime + 5].
    #[arg(long, value_name = "S")]
    wait_s: Option<u64>,
    /// The roster that the certificate must verify against [default: the config's].
    #[arg(long, value_name = "FILE")]
    roster: Option<PathBuf>,
    /// The program and its arguments.
    #[arg(last = true, required = true, value_name = "PROGRAM")]
    argv: Vec<OsString>,
}

/// `swarmvote gate hook`'s arguments.
#[derive(clap::Args)]
pub struct HookArgs {
    /// The node config: its [gate] section says which calls are critical; the node is
    /// found as for the other client commands.
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
}

/// Runs a `gate` subcommand; the exit code is its answer.
pub fn run(command: GateCommand) -> anyhow::Result<u8> {
    match command {
        GateCommand::Exec(args) => Ok(exec(args)),
        GateCommand::Hook(args) => hook(&args),
    }
}

/// The roster that certificates are checked against: `--roster`, else the config's.
fn roster_file(args: &ExecArgs, locator: &Locator) -> Result<PathBuf, String> {
    if let Some(r) = &args.roster {
        return Ok(r.clone());
    }
    match locator {
        Locator::Config(path) => NodeConfig::load(path, &Overrides::default())
            .map(|c| c.roster_file)
            .map_err(|e| e.to_string()),
        Locator::DataDir(_) => Err(
            "the certificate is verified against the swarm's roster: pass --roster FILE, or \
             --config instead of --data-dir"
                .into(),
        ),
    }
}

fn exec(args: ExecArgs) -> u8 {
    let fail = |code: u8, message: &str| {
        eprintln!("swarmvote gate exec: {message}");
        code
    };
    let payload = match read_payload(&args.payload) {
        Ok(p) => p,
        Err(e) => return fail(EXIT_USAGE, &format!("{e:#}")),
    };
    let locator = args.node.locator();
    let roster = match roster_file(&args, &locator)
        .and_then(|path| config::load_roster(&path).map_err(|e| e.to_string()))
    {
        Ok(r) => r,
        Err(e) => return fail(EXIT_USAGE, &e),
    };
    let ttl_s = args
        .ttl_s
        .unwrap_or(swarmvote_node::api::DEFAULT_TTL_MS / 1000);
    let wait_s = args.wait_s.unwrap_or(ttl_s.saturating_add(5));
    let request = Request {
        action: &args.action,
        payload,
        ttl_ms: args.ttl_s.map(|s| s.saturating_mul(1000)),
        deadline: Instant::now() + Duration::from_secs(wait_s),
    };
    let names = Names::new(Some(roster.clone()));
    let verdict = locator
        .resolve()
        .map_err(GateError::from)
        .and_then(|endpoint| seek_approval(NodeClient::new(endpoint), &roster, request));
    match verdict {
        Ok(Verdict::Approved {
            id, certificate, ..
        }) => run_approved(&args.argv, &certificate, id, &args.action),
        Ok(Verdict::Rejected { id, report }) => {
            let mut text = format!(
                "swarmvote gate exec: proposal {id} (action {}) was rejected; the program \
                 did not run\n{}",
                args.action,
                report.outcome(&names)
            );
            let reasons = no_reasons(&report, &names);
            if !reasons.is_empty() {
                text.push_str("NO reasons:\n");
                for r in reasons {
                    text.push_str(&format!("  {r}\n"));
                }
            }
            eprint!("{text}");
            EXIT_REJECTED
        }
        Ok(Verdict::Expired { id, report }) => {
            eprint!(
                "swarmvote gate exec: proposal {id} (action {}) expired undecided; the \
                 program did not run\n{}",
                args.action,
                report.outcome(&names)
            );
            EXIT_EXPIRED
        }
        Ok(Verdict::Undecided { id, report }) => {
            eprint!(
                "swarmvote gate exec: proposal {id} (action {}) is still pending after \
                 {wait_s} s; the program did not run\n{}",
                args.action,
                report.outcome(&names)
            );
            EXIT_UNDECIDED
        }
        Err(e @ GateError::Certificate { .. }) => {
            fail(EXIT_CERTIFICATE, &format!("{e}; the program did not run"))
        }
        Err(e @ GateError::Client(_)) => fail(EXIT_NODE, &format!("{e}; the program did not run")),
    }
}

/// `gate hook`: always answers (exit 0) unless stdout cannot be written.
fn hook(args: &HookArgs) -> anyhow::Result<u8> {
    let start = Instant::now();
    let answer = hook_answer(args, start);
    let mut text = serde_json::to_string(&answer.to_json())?;
    text.push('\n');
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(ClientError::Output)?;
    Ok(0)
}

fn hook_answer(args: &HookArgs, start: Instant) -> Answer {
    let deny = |what: String| {
        Answer::Deny(format!(
            "swarmvote gate: {what}; denied, because the gate fails closed"
        ))
    };
    let config = match NodeConfig::load(&args.config, &Overrides::default()) {
        Ok(c) => c,
        Err(e) => return deny(format!("the gate's config cannot be used: {e}")),
    };
    // Checked by NodeConfig::load.
    let rules = match config.gate.check() {
        Ok(r) => r,
        Err(e) => return deny(format!("{}: {e}", args.config.display())),
    };
    let mut input = Vec::new();
    if let Err(e) = std::io::stdin()
        .lock()
        .take(MAX_EVENT_BYTES + 1)
        .read_to_end(&mut input)
    {
        return deny(format!("cannot read the hook event from stdin: {e}"));
    }
    if u64::try_from(input.len()).unwrap_or(u64::MAX) > MAX_EVENT_BYTES {
        return deny(format!(
            "the hook event is larger than {MAX_EVENT_BYTES} bytes"
        ));
    }
    let critical = match hook::read_event(&input, &rules) {
        Step::Answer(a) => return a,
        Step::Ask(c) => c,
    };
    let deadline = (start + Duration::from_secs(rules.deadline_s))
        .checked_sub(ANSWER_MARGIN)
        .unwrap_or(start);
    let roster: Result<Roster, GateError> = config::load_roster(&config.roster_file)
        .map_err(|e| GateError::Client(ClientError::Config(e)));
    let names = Names::new(roster.as_ref().ok().cloned());
    let result = roster.and_then(|roster| {
        let endpoint = Locator::Config(args.config.clone()).resolve()?;
        seek_approval(
            NodeClient::new(endpoint),
            &roster,
            Request {
                action: critical.action.as_str(),
                payload: critical.payload.clone(),
                ttl_ms: Some(rules.ttl_s.saturating_mul(1000)),
                deadline,
            },
        )
    });
    hook::verdict_answer(&critical, result, &names, rules.deadline_s)
}
