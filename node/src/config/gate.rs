//! `[gate]` in the node config: which agent tool calls are critical, and how each becomes
//! a proposal's action and payload. Pure: no I/O, so the hook can decide a non-critical
//! call without touching anything but the config.
//!
//! ```toml
//! [gate]
//! deadline_s = 50              # the hook answers within this, whatever happens
//! [[gate.rules]]
//! tool = "Bash"                # glob over the tool's name ("Write", "mcp__db__*")
//! field = "command"            # the tool_input field the globs look at
//! match = ["rm -rf *", "*kubectl delete *"]
//! action = "shell.exec"
//! ```
//!
//! Rules are tried in order; the first that matches makes the call critical. A rule
//! without `field` makes every call of its tools critical.

use globset::{GlobBuilder, GlobMatcher};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use swarmvote_protocol::Action;

/// The longest `deadline_s`: an hour (an agent's hook runner kills a hook long before).
pub const MAX_DEADLINE_S: u64 = 3600;

fn default_deadline_s() -> u64 {
    50
}

/// `[gate]` as written in the config.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateSection {
    /// Seconds from the hook's start by which it answers, decided or not. Keep it below
    /// the agent's own hook timeout (a hook the agent kills decides nothing).
    #[serde(default = "default_deadline_s")]
    pub deadline_s: u64,
    /// Lifetime of the proposals the hook makes, in seconds; default `deadline_s` (an
    /// answer nobody waits for any more need not be reached).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_s: Option<u64>,
    /// What the hook answers for a call no rule matches.
    #[serde(default)]
    pub unmatched: Unmatched,
    /// The rules, first match wins.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<GateRuleSection>,
}

impl Default for GateSection {
    fn default() -> Self {
        Self {
            deadline_s: default_deadline_s(),
            ttl_s: None,
            unmatched: Unmatched::default(),
            rules: Vec::new(),
        }
    }
}

/// The answer to a call that matches no rule.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unmatched {
    /// No decision: the agent's own permission rules and prompts apply, as without the
    /// gate.
    #[default]
    Pass,
    /// An explicit allow, which skips the agent's permission prompt.
    Allow,
}

/// One `[[gate.rules]]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateRuleSection {
    /// Glob over the tool's name.
    pub tool: String,
    /// The `tool_input` field the globs look at; without it, every call of the tool
    /// matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Globs over the field's value (a string as is, any other value as compact JSON);
    /// any one matching is enough.
    #[serde(default, rename = "match", skip_serializing_if = "Vec::is_empty")]
    pub patterns: Vec<String>,
    /// Match letters regardless of case (for SQL such as `*drop table*`).
    #[serde(default)]
    pub case_insensitive: bool,
    /// The proposal's action.
    pub action: String,
    /// The `tool_input` fields copied into the payload; default all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<String>>,
}

/// Why a `[gate]` section was refused; the message names the field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct GateConfigError {
    /// The field, such as `gate.rules[1].match[0]`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

#[derive(Clone, Debug)]
struct Rule {
    tool: GlobMatcher,
    field: Option<String>,
    patterns: Vec<GlobMatcher>,
    action: Action,
    fields: Option<Vec<String>>,
}

/// A checked `[gate]` section.
#[derive(Clone, Debug)]
pub struct GateRules {
    rules: Vec<Rule>,
    /// The section's `deadline_s`.
    pub deadline_s: u64,
    /// Proposal lifetime, seconds.
    pub ttl_s: u64,
    /// The answer to an unmatched call.
    pub unmatched: Unmatched,
}

/// A critical call: what to propose.
#[derive(Clone, Debug, PartialEq)]
pub struct Critical {
    /// Index of the matching rule.
    pub rule: usize,
    /// The action.
    pub action: Action,
    /// The payload: the selected `tool_input` fields, with `tool_name` and `cwd` from
    /// the event.
    pub payload: Value,
}

fn glob(
    field: String,
    pattern: &str,
    case_insensitive: bool,
) -> Result<GlobMatcher, GateConfigError> {
    GlobBuilder::new(pattern)
        .case_insensitive(case_insensitive)
        // `*` crosses `/`: "rm -rf *" must match "rm -rf /srv/x".
        .literal_separator(false)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| GateConfigError {
            field,
            message: format!("{pattern:?} is not a glob ({e})"),
        })
}

impl GateSection {
    /// Checks the section and compiles its globs; the first problem is reported.
    pub fn check(&self) -> Result<GateRules, GateConfigError> {
        let err = |field: String, message: String| GateConfigError { field, message };
        if self.deadline_s == 0 || self.deadline_s > MAX_DEADLINE_S {
            return Err(err(
                "gate.deadline_s".into(),
                format!("must be between 1 and {MAX_DEADLINE_S}"),
            ));
        }
        let ttl_s = self.ttl_s.unwrap_or(self.deadline_s);
        let max_ttl_s = swarmvote_protocol::message::MAX_TTL_MS / 1000;
        if ttl_s == 0 || ttl_s > max_ttl_s {
            return Err(err(
                "gate.ttl_s".into(),
                format!("must be between 1 and {max_ttl_s} (7 days)"),
            ));
        }
        let rules = self
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let at = |f: &str| format!("gate.rules[{i}].{f}");
                let action = Action::new(r.action.as_str())
                    .map_err(|e| err(at("action"), format!("{:?}: {e}", r.action)))?;
                match (&r.field, r.patterns.is_empty()) {
                    (Some(_), true) => {
                        return Err(err(
                            at("match"),
                            "a rule with `field` needs at least one glob in `match`".into(),
                        ));
                    }
                    (None, false) => {
                        return Err(err(
                            at("field"),
                            "`match` needs `field`: the tool_input field it looks at".into(),
                        ));
                    }
                    _ => {}
                }
                if r.field.as_deref() == Some("") {
                    return Err(err(at("field"), "must not be empty".into()));
                }
                if let Some(f) = &r.fields
                    && f.iter().any(String::is_empty)
                {
                    return Err(err(at("fields"), "field names must not be empty".into()));
                }
                let patterns = r
                    .patterns
                    .iter()
                    .enumerate()
                    .map(|(j, p)| glob(at(&format!("match[{j}]")), p, r.case_insensitive))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Rule {
                    tool: glob(at("tool"), &r.tool, false)?,
                    field: r.field.clone(),
                    patterns,
                    action,
                    fields: r.fields.clone(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(GateRules {
            rules,
            deadline_s: self.deadline_s,
            ttl_s,
            unmatched: self.unmatched,
        })
    }
}

/// The text a glob sees: a string as is, anything else as compact JSON.
fn as_text(v: &Value) -> std::borrow::Cow<'_, str> {
    match v {
        Value::String(s) => s.as_str().into(),
        other => other.to_string().into(),
    }
}

impl GateRules {
    /// Whether any rule exists (without one, every call passes).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The first rule matching a call of `tool` with `input` (the `tool_input` object),
    /// made into a proposal; `None` for a non-critical call.
    pub fn classify(
        &self,
        tool: &str,
        input: &Map<String, Value>,
        cwd: Option<&str>,
    ) -> Option<Critical> {
        let (index, rule) = self.rules.iter().enumerate().find(|(_, r)| {
            r.tool.is_match(tool)
                && match &r.field {
                    None => true,
                    Some(f) => input.get(f).is_some_and(|v| {
                        let text = as_text(v);
                        r.patterns.iter().any(|p| p.is_match(text.as_ref()))
                    }),
                }
        })?;
        let mut payload: Map<String, Value> = match &rule.fields {
            None => input.clone(),
            Some(names) => names
                .iter()
                .filter_map(|n| input.get(n).map(|v| (n.clone(), v.clone())))
                .collect(),
        };
        // The event's own values win over tool_input fields of the same names, so a
        // tool's input cannot pose as another tool or directory.
        payload.insert("tool_name".into(), Value::String(tool.to_owned()));
        match cwd {
            Some(c) => payload.insert("cwd".into(), Value::String(c.to_owned())),
            None => payload.remove("cwd"),
        };
        Some(Critical {
            rule: index,
            action: rule.action.clone(),
            payload: Value::Object(payload),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use serde_json::json;

    fn section(toml_text: &str) -> GateSection {
        #[derive(Deserialize)]
        struct File {
            gate: GateSection,
        }
        toml::from_str::<File>(toml_text).unwrap().gate
    }

    const EXAMPLE: &str = r#"
        [gate]
        deadline_s = 20
        [[gate.rules]]
        tool = "Bash"
        field = "command"
        match = ["rm -rf *", "*kubectl delete *"]
        action = "shell.exec"
        fields = ["command"]
        [[gate.rules]]
        tool = "{Write,Edit,MultiEdit}"
        field = "file_path"
        match = ["/etc/**"]
        action = "fs.write"
        [[gate.rules]]
        tool = "mcp__*"
        field = "sql"
        match = ["*drop table*", "*drop database*"]
        case_insensitive = true
        action = "db.drop"
        [[gate.rules]]
        tool = "mcp__prod__*"
        action = "prod.call"
    "#;

    fn input(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn action_of(rules: &GateRules, tool: &str, v: Value) -> Option<String> {
        rules
            .classify(tool, &input(v), Some("/work"))
            .map(|c| c.action.to_string())
    }

    #[test]
    fn the_example_rules_pick_critical_calls_and_pass_the_rest() {
        let rules = section(EXAMPLE).check().unwrap();
        assert_eq!((rules.deadline_s, rules.ttl_s), (20, 20));
        let cases = [
            (
                "Bash",
                json!({"command": "rm -rf /srv/backup"}),
                Some("shell.exec"),
            ),
            // A newline inside the command does not hide it from `*`.
            (
                "Bash",
                json!({"command": "cd /x &&\nkubectl delete ns prod"}),
                Some("shell.exec"),
            ),
            ("Bash", json!({"command": "ls -la"}), None),
            ("Bash", json!({"command": "echo rm -rf /"}), None),
            ("Bash", json!({"description": "no command"}), None),
            (
                "Write",
                json!({"file_path": "/etc/hosts", "content": "x"}),
                Some("fs.write"),
            ),
            (
                "Edit",
                json!({"file_path": "/etc/ssh/sshd_config"}),
                Some("fs.write"),
            ),
            ("Write", json!({"file_path": "/home/me/etc/x"}), None),
            ("Read", json!({"file_path": "/etc/hosts"}), None),
            (
                "mcp__pg__query",
                json!({"sql": "DROP TABLE users;"}),
                Some("db.drop"),
            ),
            ("mcp__pg__query", json!({"sql": "select 1"}), None),
            ("mcp__prod__anything", json!({}), Some("prod.call")),
            // Tool names are case-sensitive, as the agent reports them.
            ("bash", json!({"command": "rm -rf /"}), None),
        ];
        for (tool, v, want) in cases {
            assert_eq!(
                action_of(&rules, tool, v.clone()).as_deref(),
                want,
                "{tool} {v}"
            );
        }
    }

    #[test]
    fn the_payload_carries_the_selected_fields_and_the_event_wins_on_names() {
        let rules = section(EXAMPLE).check().unwrap();
        let c = rules
            .classify(
                "Bash",
                &input(
                    json!({"command": "rm -rf /a", "description": "clean", "tool_name": "Read"}),
                ),
                Some("/repo"),
            )
            .unwrap();
        assert_eq!(c.rule, 0);
        assert_eq!(
            c.payload,
            json!({"command": "rm -rf /a", "tool_name": "Bash", "cwd": "/repo"})
        );
        // Without `fields`, the whole input; a non-string field matches as JSON text.
        let rules = section(
            "[gate]\n[[gate.rules]]\ntool = \"T\"\nfield = \"n\"\nmatch = [\"*,2]\"]\naction = \"a\"\n",
        )
        .check()
        .unwrap();
        let c = rules
            .classify("T", &input(json!({"n": [1, 2], "cwd": "/fake"})), None)
            .unwrap();
        assert_eq!(c.payload, json!({"n": [1, 2], "tool_name": "T"}));
    }

    #[test]
    fn bad_sections_are_refused_naming_the_field() {
        let rule = |body: &str| format!("[gate]\n[[gate.rules]]\n{body}\n");
        for (text, field) in [
            ("[gate]\ndeadline_s = 0\n".to_owned(), "gate.deadline_s"),
            ("[gate]\ndeadline_s = 99999\n".to_owned(), "gate.deadline_s"),
            ("[gate]\nttl_s = 0\n".to_owned(), "gate.ttl_s"),
            (
                rule("tool = \"Bash\"\nfield = \"command\"\naction = \"a\""),
                "gate.rules[0].match",
            ),
            (
                rule("tool = \"Bash\"\nmatch = [\"x\"]\naction = \"a\""),
                "gate.rules[0].field",
            ),
            (
                rule("tool = \"Bash\"\nfield = \"c\"\nmatch = [\"ok\", \"[\"]\naction = \"a\""),
                "gate.rules[0].match[1]",
            ),
            (rule("tool = \"[\"\naction = \"a\""), "gate.rules[0].tool"),
            (
                rule("tool = \"Bash\"\naction = \"rm -rf\""),
                "gate.rules[0].action",
            ),
            (
                rule("tool = \"Bash\"\naction = \"a\"\nfields = [\"\"]"),
                "gate.rules[0].fields",
            ),
        ] {
            let err = section(&text).check().unwrap_err();
            assert_eq!(err.field, field, "{text}: {err}");
        }
        // An unknown key is a parse error that names it.
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct File {
            gate: GateSection,
        }
        let err = toml::from_str::<File>(&rule("tool = \"B\"\naction = \"a\"\nregex = \"x\""))
            .unwrap_err();
        assert!(err.to_string().contains("regex"), "{err}");
    }

    #[test]
    fn no_rules_means_nothing_is_critical() {
        let rules = GateSection::default().check().unwrap();
        assert!(rules.is_empty());
        assert_eq!(rules.unmatched, Unmatched::Pass);
        assert!(
            rules
                .classify("Bash", &input(json!({"command": "rm -rf /"})), None)
                .is_none()
        );
    }
}
