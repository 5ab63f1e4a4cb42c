//! Claude Code's `PreToolUse` hook: the event read from stdin, the answer written to
//! stdout, exit status 0.
//!
//! The event is a JSON object with `session_id`, `transcript_path`, `cwd`,
//! `permission_mode`, `hook_event_name`, `tool_name`, `tool_input` and `tool_use_id`;
//! fields we do not use, and fields added later, are accepted. The answer is
//!
//! ```json
//! {"hookSpecificOutput": {"hookEventName": "PreToolUse",
//!   "permissionDecision": "allow" | "deny",
//!   "permissionDecisionReason": "..."}}
//! ```
//!
//! or `{}` (no decision: the agent's own permission rules apply). A `deny` reason is
//! shown to the model, so it names the tally and the NO reasons. Other events
//! (`PostToolUse`, `Stop`, ...) get `{}`. Anything that keeps the gate from telling
//! whether a call is critical, or from getting a verified approval for a critical one,
//! is a `deny`: the gate fails closed.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use swarmvote_protocol::Payload;

use super::{GateError, Verdict, no_reasons, tally_text};
use crate::cli::render::Names;
use crate::config::gate::{Critical, GateRules, Unmatched};

/// The largest event read (a `Write` carries the whole file).
pub const MAX_EVENT_BYTES: u64 = 16 * 1024 * 1024;

/// The event name this hook decides.
pub const PRE_TOOL_USE: &str = "PreToolUse";

/// The fields of a hook event that the gate reads.
#[derive(Debug, Deserialize)]
struct HookEvent {
    hook_event_name: String,
    #[serde(default)]
    tool_name: Option<String>,
    #[serde(default)]
    tool_input: Option<Value>,
    #[serde(default)]
    cwd: Option<String>,
}

/// The hook's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// No decision (`{}`).
    Pass,
    /// `allow`, with why.
    Allow(String),
    /// `deny`, with why.
    Deny(String),
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Output<'a> {
    hook_specific_output: SpecificOutput<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SpecificOutput<'a> {
    hook_event_name: &'static str,
    permission_decision: &'static str,
    permission_decision_reason: &'a str,
}

impl Answer {
    /// The JSON written to stdout.
    pub fn to_json(&self) -> Value {
        let (decision, reason) = match self {
            Answer::Pass => return Value::Object(Map::new()),
            Answer::Allow(r) => ("allow", r),
            Answer::Deny(r) => ("deny", r),
        };
        serde_json::to_value(Output {
            hook_specific_output: SpecificOutput {
                hook_event_name: PRE_TOOL_USE,
                permission_decision: decision,
                permission_decision_reason: reason,
            },
        })
        .unwrap_or_else(|_| Value::Object(Map::new()))
    }
}

/// What to do with an event.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Answer now, without the node.
    Answer(Answer),
    /// A critical call: ask the swarm.
    Ask(Critical),
}

/// A deny for an event the gate cannot read.
fn malformed(detail: &str) -> Step {
    Step::Answer(Answer::Deny(format!(
        "swarmvote gate: cannot read the hook event ({detail}); denied, because the gate \
         fails closed"
    )))
}

/// Reads an event and decides everything that needs no node: other events and
/// non-critical calls get their answer here; a critical call becomes a proposal.
pub fn read_event(input: &[u8], rules: &GateRules) -> Step {
    let event: HookEvent = match serde_json::from_slice(input) {
        Ok(e) => e,
        Err(e) => return malformed(&format!("not a hook event object: {e}")),
    };
    if event.hook_event_name != PRE_TOOL_USE {
        return Step::Answer(Answer::Pass);
    }
    let Some(tool) = event.tool_name else {
        return malformed("PreToolUse without tool_name");
    };
    let input = match event.tool_input {
        Some(Value::Object(m)) => m,
        Some(_) => return malformed("tool_input is not an object"),
        None => return malformed("PreToolUse without tool_input"),
    };
    match rules.classify(&tool, &input, event.cwd.as_deref()) {
        Some(critical) => {
            if let Err(e) = Payload::from_value(&critical.payload) {
                return Step::Answer(Answer::Deny(format!(
                    "swarmvote gate: this {tool} call needs the swarm's approval (action {}), \
                     but it cannot be proposed: {e}; list fewer tool_input fields in \
                     gate.rules[{}].fields",
                    critical.action, critical.rule
                )));
            }
            Step::Ask(critical)
        }
        None => Step::Answer(match rules.unmatched {
            Unmatched::Pass => Answer::Pass,
            Unmatched::Allow => {
                Answer::Allow(format!("swarmvote gate: {tool} call matches no gate rule"))
            }
        }),
    }
}

/// The answer to a critical call once the swarm was asked.
pub fn verdict_answer(
    critical: &Critical,
    result: Result<Verdict, GateError>,
    names: &Names,
    deadline_s: u64,
) -> Answer {
    let action = &critical.action;
    match result {
        Ok(Verdict::Approved { id, report, .. }) => Answer::Allow(format!(
            "swarmvote: approved by the swarm, {}; proposal {id}, action {action}",
            tally_text(&report)
        )),
        Ok(Verdict::Rejected { id, report }) => {
            let reasons = no_reasons(&report, names);
            Answer::Deny(format!(
                "swarmvote: the swarm rejected this call, {}; proposal {id}, action {action}. \
                 NO reasons: {}",
                tally_text(&report),
                if reasons.is_empty() {
                    "none given".to_owned()
                } else {
                    reasons.join("; ")
                }
            ))
        }
        Ok(Verdict::Expired { id, report }) => Answer::Deny(format!(
            "swarmvote: proposal {id} (action {action}) expired before the swarm decided, {}; \
             denied",
            tally_text(&report)
        )),
        Ok(Verdict::Undecided { id, report }) => Answer::Deny(format!(
            "swarmvote: no decision within the gate's deadline of {deadline_s} s, {}; proposal \
             {id} (action {action}) is still pending; denied",
            tally_text(&report)
        )),
        Err(e) => Answer::Deny(format!(
            "swarmvote: this call needs the swarm's approval (action {action}), but it could \
             not be obtained: {e}; denied, because the gate fails closed"
        )),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::config::gate::GateSection;
    use serde_json::json;

    fn rules(unmatched: Unmatched) -> GateRules {
        let mut s: GateSection = toml::from_str(
            "[[rules]]\ntool = \"Bash\"\nfield = \"command\"\nmatch = [\"rm -rf *\"]\naction = \"shell.exec\"\n",
        )
        .unwrap();
        s.unmatched = unmatched;
        s.check().unwrap()
    }

    fn event(name: &str, tool: &str, input: Value) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "session_id": "abc123",
            "transcript_path": "/home/u/.claude/projects/p/abc123.jsonl",
            "cwd": "/home/u/p",
            "permission_mode": "default",
            "hook_event_name": name,
            "tool_name": tool,
            "tool_input": input,
            "tool_use_id": "toolu_01",
            "some_future_field": {"x": 1}
        }))
        .unwrap()
    }

    #[test]
    fn events_are_sorted_into_answers_and_questions() {
        let r = rules(Unmatched::Pass);
        let ls = event("PreToolUse", "Bash", json!({"command": "ls"}));
        assert_eq!(read_event(&ls, &r), Step::Answer(Answer::Pass));
        let allow = rules(Unmatched::Allow);
        assert!(matches!(
            read_event(&ls, &allow),
            Step::Answer(Answer::Allow(_))
        ));
        let rm = event("PreToolUse", "Bash", json!({"command": "rm -rf /x"}));
        let Step::Ask(c) = read_event(&rm, &r) else {
            panic!("rm -rf is critical");
        };
        assert_eq!(
            c.payload,
            json!({"command": "rm -rf /x", "tool_name": "Bash", "cwd": "/home/u/p"})
        );
        // Other events are not decided.
        let post = event("PostToolUse", "Bash", json!({"command": "rm -rf /x"}));
        assert_eq!(read_event(&post, &r), Step::Answer(Answer::Pass));
    }

    #[test]
    fn unreadable_events_are_denied() {
        let r = rules(Unmatched::Allow);
        for bad in [
            &b"not json"[..],
            b"[1, 2]",
            b"{}",
            br#"{"hook_event_name": "PreToolUse", "tool_input": {}}"#,
            br#"{"hook_event_name": "PreToolUse", "tool_name": "Bash"}"#,
            br#"{"hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_input": "ls"}"#,
        ] {
            let Step::Answer(Answer::Deny(reason)) = read_event(bad, &r) else {
                panic!("{} must be denied", String::from_utf8_lossy(bad));
            };
            assert!(reason.contains("fails closed"), "{reason}");
        }
    }

    #[test]
    fn a_payload_too_large_to_propose_is_denied_naming_the_rule() {
        let r = rules(Unmatched::Pass);
        let huge = format!("rm -rf /x {}", "a".repeat(40_000));
        let Step::Answer(Answer::Deny(reason)) =
            read_event(&event("PreToolUse", "Bash", json!({"command": huge})), &r)
        else {
            panic!("too large to propose");
        };
        assert!(reason.contains("gate.rules[0].fields"), "{reason}");
    }

    #[test]
    fn answers_have_claude_codes_shape() {
        assert_eq!(Answer::Pass.to_json(), json!({}));
        assert_eq!(
            Answer::Deny("no".into()).to_json(),
            json!({"hookSpecificOutput": {
                "hookEventName": "PreToolUse",
                "permissionDecision": "deny",
                "permissionDecisionReason": "no"
            }})
        );
        assert_eq!(
            Answer::Allow("ok".into()).to_json()["hookSpecificOutput"]["permissionDecision"],
            "allow"
        );
    }
}
