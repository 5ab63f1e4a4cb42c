//! The proposal as the JSON document an evaluator judges: the `command` evaluator's stdin
//! and the `rego` evaluator's `input`, built in one place so both see the same thing.

use serde_json::{Value, json};

use crate::ids::ProposalId;
use crate::message::Proposal;

/// `{"id", "action", "payload", "proposer": {"name", "key"}, "created_at", "expires_at"}`:
/// the id and key in hex, the payload as a JSON value, times in unix milliseconds.
/// `proposer_name` is the proposer's roster name (`null` if unknown).
pub fn proposal_input(id: ProposalId, proposal: &Proposal, proposer_name: Option<&str>) -> Value {
    json!({
        "id": id.to_string(),
        "action": proposal.action.as_str(),
        "payload": proposal.payload.to_value(),
        "proposer": {
            "name": proposer_name,
            "key": proposal.proposer.to_string(),
        },
        "created_at": proposal.created_at.0,
        "expires_at": proposal.expires_at.0,
    })
}
