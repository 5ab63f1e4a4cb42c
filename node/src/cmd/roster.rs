//! `swarmvote roster`: write a roster file, or show what one tolerates (offline); propose
//! a change or list the chain of changes through a node (see `roster_change`).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Subcommand;
use swarmvote_node::config;
use swarmvote_protocol::{MemberName, PublicKey, Quorum, Roster, SwarmId};

#[derive(Subcommand)]
pub enum RosterCommand {
    /// Write a roster file from members and a quorum.
    Init {
        /// The swarm's name; every signature commits to it.
        #[arg(long, value_name = "ID")]
        swarm_id: String,
        /// The quorum: "2/3", "0.66" or "66%".
        #[arg(long)]
        quorum: String,
        /// A member as name=PUBLIC_KEY (64 hex characters); repeat for each member.
        #[arg(long = "member", value_name = "NAME=KEY", required = true)]
        members: Vec<String>,
        /// Write to this file (never overwritten) instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Propose a roster change to the swarm (action `swarmvote.roster`): the node's head
    /// roster with members added, removed or given new keys, or a new quorum.
    #[command(
        after_help = "Exit codes: 0 proposed (with --wait-s: approved), 3 rejected \
(--wait-s), 4 expired or still pending (--wait-s), 1 error (the message names the flag and \
member at fault), 2 usage error."
    )]
    Propose(super::roster_change::ProposeArgs),
    /// Show the node's roster chain: each epoch with its digest, the change that approved
    /// it and the certificate's signers.
    History(super::roster_change::HistoryArgs),
    /// Print a roster's size, quorum and what it tolerates.
    Show {
        /// The roster file.
        file: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a `roster` subcommand.
pub fn run(command: RosterCommand) -> anyhow::Result<()> {
    match command {
        RosterCommand::Init {
            swarm_id,
            quorum,
            members,
            out,
        } => init(&swarm_id, &quorum, &members, out.as_deref()),
        RosterCommand::Show { file, json } => show(&file, json),
        online @ (RosterCommand::Propose(_) | RosterCommand::History(_)) => {
            run_online(online).map(|_| ())
        }
    }
}

impl RosterCommand {
    /// Whether it talks to a node (then [`run_online`] runs it, with its exit code).
    pub fn is_online(&self) -> bool {
        matches!(self, RosterCommand::Propose(_) | RosterCommand::History(_))
    }
}

/// Runs a `roster` subcommand that talks to a node; returns its exit code.
pub fn run_online(command: RosterCommand) -> anyhow::Result<u8> {
    match command {
        RosterCommand::Propose(args) => super::roster_change::propose(args),
        RosterCommand::History(args) => super::roster_change::history(args),
        other => run(other).map(|()| 0),
    }
}

fn init(
    swarm_id: &str,
    quorum: &str,
    members: &[String],
    out: Option<&Path>,
) -> anyhow::Result<()> {
    let swarm = SwarmId::new(swarm_id).context("--swarm-id")?;
    let quorum: Quorum = quorum.parse().context("--quorum")?;
    let mut parsed = Vec::with_capacity(members.len());
    for m in members {
        let Some((name, key)) = m.split_once('=') else {
            bail!("--member {m:?}: expected NAME=PUBLIC_KEY");
        };
        let name = MemberName::new(name).with_context(|| format!("--member {m:?}"))?;
        let key: PublicKey = key
            .parse()
            .with_context(|| format!("--member {name}: key"))?;
        parsed.push((name, key));
    }
    let roster = Roster::new(swarm, quorum, parsed)?;
    let text = roster.to_toml();
    match out {
        Some(path) => {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
                .with_context(|| {
                    format!(
                        "{}: cannot create (an existing roster is never overwritten)",
                        path.display()
                    )
                })?;
            file.write_all(text.as_bytes())
                .with_context(|| format!("{}: write", path.display()))?;
            eprint!("{}", roster.report());
            eprintln!("wrote {}", path.display());
        }
        None => print!("{text}"),
    }
    Ok(())
}

fn show(file: &Path, json: bool) -> anyhow::Result<()> {
    let roster = config::load_roster(file)?;
    let report = roster.report();
    // Each group's members by name, for the requirements in the tier table.
    let groups: std::collections::BTreeMap<String, Vec<String>> = roster
        .groups()
        .map(|(g, members)| {
            let names = members
                .iter()
                .filter_map(|&i| roster.voter_at(i).and_then(|v| roster.member(v)))
                .map(|m| m.name.to_string())
                .collect();
            (g.to_string(), names)
        })
        .collect();
    if json {
        let members: Vec<_> = roster
            .members()
            .map(|(id, m)| serde_json::json!({ "name": m.name, "key": id }))
            .collect();
        let doc = serde_json::json!({ "report": report, "members": members, "groups": groups });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        print!("{report}");
        for (id, m) in roster.members() {
            println!("member         {:<16} {id}", m.name.as_str());
        }
        for (g, names) in &groups {
            println!("group          {g:<16} {}", names.join(", "));
        }
    }
    Ok(())
}
