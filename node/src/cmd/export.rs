//! `swarmvote export`: save a running node's audit export (a sealed hash chain of JSON
//! lines) to a file; `swarmvote export verify`: check such a file offline.

use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use swarmvote_node::cli::when::{format_time, parse_time};
use swarmvote_node::config;
use swarmvote_node::export::verify::{Summary, verify};

use super::client::{NodeArgs, emit};

/// `swarmvote export`'s arguments.
#[derive(Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct ExportArgs {
    #[command(subcommand)]
    pub command: Option<ExportCommand>,
    #[command(flatten)]
    pub node: Option<NodeArgs>,
    /// Proposals created at or after this: an RFC 3339 time, unix ms, or a duration back
    /// from now (`7d`).
    #[arg(long, value_name = "TIME", required = true)]
    pub since: Option<String>,
    /// ... and before this (same forms). Default: up to now.
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// The file to write (`-`: standard output). Written beside it first and renamed
    /// into place once the node has sent the sealed end line.
    #[arg(long, value_name = "FILE", required = true)]
    pub out: Option<PathBuf>,
}

/// `swarmvote export verify`.
#[derive(Subcommand)]
pub enum ExportCommand {
    /// Check an export offline: numbering, hash chain, every signature, every tally
    /// against its decision and certificate, and the seal. Names the first line at fault.
    Verify {
        /// The export file (`-`: standard input).
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// The swarm's genesis roster (the export carries the approved changes since).
        #[arg(long, value_name = "FILE")]
        roster: PathBuf,
    },
}

/// Runs `export` or `export verify`.
pub fn run(args: ExportArgs) -> anyhow::Result<u8> {
    match args.command {
        Some(ExportCommand::Verify { file, roster }) => verify_file(&file, &roster),
        None => export(args),
    }
}

fn export(args: ExportArgs) -> anyhow::Result<u8> {
    let (Some(node), Some(since), Some(out)) = (args.node, args.since, args.out) else {
        bail!("export needs --config or --data-dir, --since and --out");
    };
    let now = swarmvote_node::daemon::clock::now();
    let since = parse_time(&since, now).map_err(|e| anyhow::anyhow!("--since {e}"))?;
    let until = args
        .until
        .map(|u| parse_time(&u, now).map_err(|e| anyhow::anyhow!("--until {e}")))
        .transpose()?;
    if until.is_some_and(|u| u <= since) {
        bail!("--until must be after --since");
    }
    let client = node.client()?;
    if out == Path::new("-") {
        let mut stdout = std::io::stdout().lock();
        client.export(since.0, until.map(|u| u.0), &mut stdout)?;
        stdout.flush()?;
        return Ok(0);
    }
    // Never leave a partial file under the name asked for.
    let partial = out.with_extension("partial");
    let file = std::fs::File::create(&partial)
        .with_context(|| format!("--out: cannot create {}", partial.display()))?;
    let mut writer = BufWriter::new(file);
    let written = client.export(since.0, until.map(|u| u.0), &mut writer);
    let finished = written.map_err(anyhow::Error::from).and_then(|bytes| {
        writer
            .into_inner()
            .map_err(|e| e.into_error())
            .and_then(|f| f.sync_all())
            .with_context(|| format!("cannot write {}", partial.display()))?;
        Ok(bytes)
    });
    let bytes = match finished {
        Ok(b) => b,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    std::fs::rename(&partial, &out)
        .with_context(|| format!("cannot rename {} to {}", partial.display(), out.display()))?;
    emit(&format!(
        "wrote {} ({bytes} bytes): proposals created from {}{}\ncheck it with: swarmvote export verify {} --roster ROSTER\n",
        out.display(),
        format_time(since),
        until
            .map(|u| format!(" until {}", format_time(u)))
            .unwrap_or_default(),
        out.display()
    ))?;
    Ok(0)
}

fn verify_file(file: &Path, roster: &Path) -> anyhow::Result<u8> {
    let genesis = config::load_roster(roster).context("--roster")?;
    let result = if file == Path::new("-") {
        verify(std::io::stdin().lock(), genesis)
    } else {
        let f =
            std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
        verify(BufReader::new(f), genesis)
    };
    match result {
        Ok(summary) => {
            emit(&render(file, &summary))?;
            Ok(0)
        }
        Err(fault) => bail!("{}: {fault}", file.display()),
    }
}

fn render(file: &Path, s: &Summary) -> String {
    let node = match (&s.node_name, &s.node) {
        (Some(name), _) => format!("{name} (a member)"),
        (None, Some(v)) => format!("{} (a key no roster of the chain lists)", v.short()),
        (None, None) => "nobody".into(),
    };
    let window = match s.until {
        Some(u) => format!("{} until {}", format_time(s.since), format_time(u)),
        None => format!("from {}", format_time(s.since)),
    };
    format!(
        "{}: valid: {} lines, sealed by {node}\n  swarm {}, proposals created {window}\n  \
         {} proposals ({} approved, {} rejected, {} neither), {} ballots, {} certificates, \
         {} evidence, {} executions, {} receipts, {} roster steps\n{}",
        file.display(),
        s.lines,
        s.swarm,
        s.proposals,
        s.approved,
        s.rejected,
        s.proposals
            .saturating_sub(s.approved)
            .saturating_sub(s.rejected),
        s.ballots,
        s.certificates,
        s.evidence,
        s.executions,
        s.receipts,
        s.steps,
        s.unbacked
            .iter()
            .map(|u| format!("  EVIDENCE: {u}\n"))
            .collect::<String>(),
    )
}
