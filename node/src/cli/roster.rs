//! The roster chain on the operator's side: `roster history`'s rendering, and the chain
//! file `verify-cert --chain` reads (the JSON of `roster history --json`, or a plain
//! array of step certificates), rebuilt into a verified [`RosterChain`] from the genesis
//! roster the operator trusts.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::Value;
use swarmvote_protocol::chain::RosterChain;
use swarmvote_protocol::{Certificate, Roster, RosterDigest};

use super::client::ClientError;
use super::json_file::{MAX_CERTIFICATE_FILE, read_json_file};
use super::render::decode;
use crate::api::{RosterHistory, RosterView};

impl RosterView {
    /// Decodes `GET /v1/roster`'s answer.
    pub fn from_json(v: &Value) -> Result<Self, ClientError> {
        decode("GET /v1/roster", v)
    }
}

impl RosterHistory {
    /// Decodes `GET /v1/roster/history`'s answer.
    pub fn from_json(v: &Value) -> Result<Self, ClientError> {
        decode("GET /v1/roster/history", v)
    }

    /// One line per epoch: digest, the approving proposal and who signed it.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "swarm {}: head epoch {} ({})",
            self.swarm, self.epoch, self.head
        );
        let _ = writeln!(out, "epoch 0  {}  genesis (the roster file)", self.genesis);
        for s in &self.steps {
            let signers: Vec<&str> = s.signers.iter().map(|m| m.name.as_str()).collect();
            let _ = writeln!(
                out,
                "epoch {}  {}  proposal {}{}",
                s.epoch,
                s.digest,
                s.proposal,
                if s.superseded {
                    "  SUPERSEDED (a lower proposal id won this epoch)"
                } else {
                    ""
                }
            );
            let _ = writeln!(
                out,
                "         approved under {} by {} ({})",
                s.previous.short(),
                signers.len(),
                signers.join(", ")
            );
        }
        out
    }
}

/// A chain file: the step certificates, and the genesis digest it claims, if it says.
#[derive(Clone, Debug)]
pub struct ChainFile {
    /// The genesis roster's digest the file names (`roster history --json` does).
    pub genesis: Option<RosterDigest>,
    /// The steps' certificates, in file order.
    pub certificates: Vec<Certificate>,
}

/// Parses a chain file's JSON: `{"genesis"?, "steps": [{"certificate": …}, …]}` (what
/// `roster history --json` prints) or `[certificate, …]`. Errors name the entry.
pub fn parse_chain(value: &Value) -> Result<ChainFile, String> {
    let (genesis, entries) = match value {
        Value::Array(items) => (None, items.iter().map(|v| (v, None)).collect::<Vec<_>>()),
        Value::Object(obj) => {
            let genesis = match obj.get("genesis") {
                None => None,
                Some(g) => Some(
                    serde_json::from_value::<RosterDigest>(g.clone())
                        .map_err(|e| format!("field `genesis`: {e}"))?,
                ),
            };
            let Some(Value::Array(steps)) = obj.get("steps") else {
                return Err(
                    "expected `roster history --json` output (an object with `steps`) or an \
                     array of certificates"
                        .to_owned(),
                );
            };
            let entries = steps
                .iter()
                .map(|s| (s.get("certificate").unwrap_or(s), Some("certificate")))
                .collect();
            (genesis, entries)
        }
        _ => return Err("expected an object with `steps` or an array of certificates".into()),
    };
    let mut certificates = Vec::with_capacity(entries.len());
    for (i, (v, field)) in entries.into_iter().enumerate() {
        let c = serde_json::from_value::<Certificate>(v.clone()).map_err(|e| match field {
            Some(f) => format!("steps[{i}].{f}: {e}"),
            None => format!("[{i}]: {e}"),
        })?;
        certificates.push(c);
    }
    Ok(ChainFile {
        genesis,
        certificates,
    })
}

/// Reads a chain file and verifies it from `genesis` (the roster file `genesis_path`):
/// every step against the roster before it. The error names the step at fault.
pub fn load_chain(
    genesis: Roster,
    genesis_path: &Path,
    chain_path: &Path,
) -> Result<RosterChain, ClientError> {
    let bad = |message: String| ClientError::BadFile {
        path: chain_path.to_owned(),
        message,
    };
    let value = read_json_file(chain_path, MAX_CERTIFICATE_FILE)?;
    chain_from(genesis, &genesis_path.display().to_string(), &value).map_err(bad)
}

/// A chain from `genesis` (named `genesis_from` in errors: its file) and a chain file's
/// JSON (or `GET /v1/roster/history`'s answer), every step verified against the roster
/// before it. The error names the step.
pub fn chain_from(
    genesis: Roster,
    genesis_from: &str,
    value: &Value,
) -> Result<RosterChain, String> {
    let file = parse_chain(value)?;
    if let Some(claimed) = file.genesis
        && claimed != genesis.digest()
    {
        return Err(format!(
            "the chain starts from genesis roster {claimed}, but {genesis_from} has digest {}",
            genesis.digest()
        ));
    }
    RosterChain::from_steps(genesis, file.certificates)
        .map_err(|e| format!("roster step refused: {e}"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn a_chain_file_names_the_entry_that_does_not_parse() {
        let err =
            parse_chain(&serde_json::json!({"steps": [{"certificate": {"x": 1}}]})).unwrap_err();
        assert!(err.contains("steps[0].certificate"), "{err}");
        let err = parse_chain(&serde_json::json!([{"proposal": 1}])).unwrap_err();
        assert!(err.starts_with("[0]"), "{err}");
        let err = parse_chain(&serde_json::json!({"genesis": "zz", "steps": []})).unwrap_err();
        assert!(err.contains("genesis"), "{err}");
        let err = parse_chain(&serde_json::json!("text")).unwrap_err();
        assert!(err.contains("array of certificates"), "{err}");
        let ok = parse_chain(&serde_json::json!({"steps": []})).unwrap();
        assert!(ok.certificates.is_empty() && ok.genesis.is_none());
    }
}
