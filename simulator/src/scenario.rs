//! Scenario files: who the nodes are, how they behave, the network, faults and workload.
//!
//! Parsing is strict: unknown fields are refused and every error names the file and the
//! field at fault.

use std::path::Path;

use serde::Deserialize;
use swarmvote_protocol::message::MAX_TTL_MS;
use swarmvote_protocol::policy::EvaluatorSection;
use swarmvote_protocol::{Quorum, QuorumError};

pub use crate::behaviour::FieldError;
use crate::behaviour::faults::Schedule;
pub use crate::behaviour::{Behaviour, MAX_FLOOD_PER_NODE};
use crate::behaviour::{HonestEvaluator, Policy, cloned};
mod changes;
mod roster;
pub use changes::RosterChange;
pub use roster::RosterSection;
// The network's tables are part of a scenario file; they live with the network model.
pub use crate::network::{Latency, LinkConfig, LinkOverride, NetworkConfig, PartitionConfig};

/// Why a scenario could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The TOML does not parse or does not match the schema (toml names the field).
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// toml's message, naming the key and line.
        message: String,
    },
    /// A field parses but its value is unusable.
    #[error("{path}: field `{field}`: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// The field, as a dotted path.
        field: String,
        /// What is wrong.
        message: String,
    },
}

/// A whole scenario.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// A short name for reports.
    pub name: String,
    /// The default seed (`--seed` overrides it).
    #[serde(default)]
    pub seed: u64,
    /// The roster's quorum, e.g. `"2/3"`: the default tier's.
    pub quorum: String,
    /// Thresholds tiered by risk: the roster document's `four_eyes`, `[groups]` and
    /// `[[rules]]`, written as in `roster.toml` (see [`RosterSection`]).
    #[serde(default)]
    pub roster: Option<RosterSection>,
    /// Roster changes proposed mid-run, in time order (see [`RosterChange`]).
    #[serde(default)]
    pub roster_changes: Vec<RosterChange>,
    /// Groups of nodes; node indices are assigned in file order, from 0. Every node is
    /// a roster member except `cloned` ones, whose groups come last.
    pub nodes: Vec<NodeGroup>,
    /// The simulated network.
    #[serde(default)]
    pub network: NetworkConfig,
    /// Scheduled partitions.
    #[serde(default)]
    pub partitions: Vec<PartitionConfig>,
    /// The proposals.
    pub workload: Workload,
    /// The quiet period at the end: every partition is healed and sync keeps running for
    /// this long before the invariants are checked.
    #[serde(default = "default_quiet_ms")]
    pub quiet_ms: u64,
    /// Test-only faults in the protocol itself (never in a real scenario).
    #[serde(default)]
    pub testing: Testing,
    /// The node's policy evaluator, in the node's config format (`kind = "policy"` and
    /// `[[evaluator.rules]]`, or `kind = "rego"` and `policy = "file.rego"`), for honest
    /// members with `evaluator = "policy"`.
    #[serde(default)]
    pub evaluator: Option<EvaluatorSection>,
    /// The text of a `rego` evaluator's policy file, read when the scenario is parsed
    /// (the path resolved against the scenario file's directory), so a run reads no file.
    #[serde(skip)]
    pub rego_source: Option<String>,
}

/// Test-only knobs that break the honest nodes' engines on purpose, to prove the
/// invariant checker reports what it should. No real scenario sets them.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Testing {
    /// Node indices whose engine's own-vote guard is switched off: when such a node
    /// re-judges a proposal (after a restart) and changes its mind, it signs a second,
    /// contradicting ballot instead of being refused, so it equivocates.
    #[serde(default)]
    pub broken_guard: Vec<usize>,
    /// Node indices that ignore their engine's doppelganger alarm: they neither stop
    /// signing nor report it, so a cloned key of theirs goes uncaught.
    #[serde(default)]
    pub ignore_doppelganger: Vec<usize>,
    /// Names of `[[roster.rules]]` that every engine judges at the default tier instead
    /// (see [`RosterSection::lowered`]), while the checker holds the roster as written:
    /// approvals under those rules then come with too few YES votes or the wrong `q`, and
    /// the wrong-tier check must report them.
    #[serde(default)]
    pub lowered_rules: Vec<String>,
    /// Node indices that never adopt a roster change: the model withholds from them every
    /// proposal and ballot of a change and every catch-up answer carrying steps, so they
    /// stay at the genesis roster and the epoch check must report them.
    #[serde(default)]
    pub skip_steps: Vec<usize>,
}

fn default_quiet_ms() -> u64 {
    10_000
}

/// `count` nodes with one behaviour.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeGroup {
    /// How many.
    #[serde(default = "one")]
    pub count: u32,
    /// How they behave.
    pub behaviour: Behaviour,
}

fn one() -> u32 {
    1
}

/// The proposals.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    /// How many proposals arrive.
    pub proposals: u32,
    /// Poisson arrival rate, per second.
    pub rate_per_sec: f64,
    /// Share of anomalous proposals (they should be blocked).
    #[serde(default)]
    pub anomalous_fraction: f64,
    /// Each proposal's time to live.
    #[serde(default = "default_ttl")]
    pub ttl_ms: u64,
    /// How long a node takes to judge a proposal after it sees it (default 1 ms).
    #[serde(default)]
    pub eval_delay_ms: Option<u64>,
    /// Or a distribution of that time, drawn per judgement (the kinds of link latency):
    /// agents that consult a model take seconds, and not all the same. Replaces
    /// `eval_delay_ms`; setting both is an error.
    #[serde(default)]
    pub eval_delay: Option<Latency>,
    /// The actions benign proposals are drawn from, by weight.
    #[serde(default = "default_benign")]
    pub benign: Vec<MixEntry>,
    /// The actions anomalous proposals are drawn from, by weight.
    #[serde(default = "default_anomalous")]
    pub anomalous: Vec<MixEntry>,
}

/// One kind of action in the workload's mix: proposal `k` drawn from it is `action` with
/// the payload `{field: value}`, where `{k}` in `value` becomes `k`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MixEntry {
    /// The action name, e.g. `fs.delete`.
    pub action: String,
    /// The payload's one string field, e.g. `path`.
    pub field: String,
    /// Its value; `{k}` is replaced by the proposal's number.
    pub value: String,
    /// Relative weight within its list.
    #[serde(default = "default_weight")]
    pub weight: u32,
}

impl MixEntry {
    fn new(action: &str, field: &str, value: &str, weight: u32) -> Self {
        Self {
            action: action.to_string(),
            field: field.to_string(),
            value: value.to_string(),
            weight,
        }
    }

    /// The action name and payload of proposal `k`.
    pub fn render(&self, k: u32) -> (String, serde_json::Value) {
        let value = self.value.replace("{k}", &k.to_string());
        let mut payload = serde_json::Map::new();
        payload.insert(self.field.clone(), serde_json::Value::String(value));
        (self.action.clone(), serde_json::Value::Object(payload))
    }
}

/// Picks from `mix` by weight, given a uniform draw `u` in `[0, 1)`. `None` for an
/// empty mix or zero total weight (refused when the scenario is checked).
pub fn pick(mix: &[MixEntry], u: f64) -> Option<&MixEntry> {
    let total: u64 = mix.iter().map(|e| u64::from(e.weight)).sum();
    if total == 0 {
        return None;
    }
    // Exact integer bucket: floor(u * total) is in 0..total for u in [0, 1).
    let target = ((u * total as f64) as u64).min(total.saturating_sub(1));
    let mut acc = 0u64;
    mix.iter().find(|e| {
        acc = acc.saturating_add(u64::from(e.weight));
        target < acc
    })
}

/// Routine operations an agent does all day.
fn default_benign() -> Vec<MixEntry> {
    vec![
        MixEntry::new("fs.delete", "path", "/tmp/scratch/{k}.log", 4),
        MixEntry::new("service.restart", "name", "web-{k}", 3),
        MixEntry::new("db.migrate", "version", "2026{k}", 2),
        MixEntry::new("net.allow", "host", "api-{k}.internal", 1),
    ]
}

/// What drift or a prompt injection turns into: destroying backups, dropping
/// production data, granting admin, opening the network.
fn default_anomalous() -> Vec<MixEntry> {
    vec![
        MixEntry::new("fs.delete", "path", "/backup/{k}.tar", 4),
        MixEntry::new("db.drop", "name", "prod-{k}", 3),
        MixEntry::new("iam.grant", "role", "admin:agent-{k}", 2),
        MixEntry::new("net.allow", "host", "0.0.0.0/0:{k}", 1),
    ]
}

fn default_weight() -> u32 {
    1
}

fn default_ttl() -> u64 {
    30_000
}
/// `workload.eval_delay_ms` when neither it nor `eval_delay` is given.
pub const DEFAULT_EVAL_DELAY_MS: u64 = 1;

/// The longest average span of a workload's arrivals (`proposals / rate_per_sec`), in
/// seconds: 30 days.
pub const MAX_WORKLOAD_SPAN_S: f64 = 30.0 * 24.0 * 3600.0;

impl Workload {
    /// The fixed evaluation delay, when no distribution is given.
    pub fn fixed_eval_delay_ms(&self) -> u64 {
        self.eval_delay_ms.unwrap_or(DEFAULT_EVAL_DELAY_MS)
    }
}

impl Scenario {
    /// Reads and checks a scenario file.
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: shown.clone(),
            source,
        })?;
        Self::parse(&shown, &text)
    }

    /// Parses and checks scenario text; `path` names it in errors, and a `rego`
    /// evaluator's relative policy path is resolved against its directory.
    pub fn parse(path: &str, text: &str) -> Result<Self, ScenarioError> {
        let mut s: Scenario = toml::from_str(text).map_err(|e| ScenarioError::Parse {
            path: path.to_string(),
            message: e.to_string().trim_end().to_string(),
        })?;
        let invalid = |FieldError { field, message }| ScenarioError::Invalid {
            path: path.to_string(),
            field,
            message,
        };
        s.read_rego_policy(Path::new(path)).map_err(invalid)?;
        s.check().map_err(invalid)?;
        Ok(s)
    }

    /// Reads a `rego` evaluator's policy file into [`Scenario::rego_source`].
    fn read_rego_policy(&mut self, scenario_file: &Path) -> Result<(), FieldError> {
        let Some(section) = self.evaluator.as_mut() else {
            return Ok(());
        };
        let Some(policy) = section.policy.as_mut() else {
            return Ok(());
        };
        if section.kind != swarmvote_protocol::policy::EvaluatorKind::Rego {
            // The check refuses the field, naming it.
            return Ok(());
        }
        if policy.is_relative()
            && let Some(dir) = scenario_file.parent()
        {
            *policy = dir.join(&*policy);
        }
        let text = std::fs::File::open(&*policy)
            .and_then(swarmvote_protocol::policy::read_source)
            .map_err(|e| {
                FieldError::new(
                    "evaluator.policy",
                    format!("cannot read {}: {e}", policy.display()),
                )
            })?;
        self.rego_source = Some(text);
        Ok(())
    }

    /// Every node's behaviour, by index.
    pub fn behaviours(&self) -> Vec<Behaviour> {
        self.nodes
            .iter()
            .flat_map(|g| std::iter::repeat_n(g.behaviour.clone(), g.count as usize))
            .collect()
    }

    /// The quorum, parsed.
    pub fn parsed_quorum(&self) -> Result<Quorum, QuorumError> {
        self.quorum.parse::<Quorum>()
    }

    fn check(&self) -> Result<(), FieldError> {
        let bad = |field: &str, message: &str| Err(FieldError::new(field, message));
        self.parsed_quorum()
            .map_err(|e| FieldError::new("quorum", e.to_string()))?;
        let n = self.behaviours().len();
        if n == 0 {
            return bad("nodes", "at least one node is needed");
        }
        // Roster::new enforces its own cap; this keeps runs sane.
        if n > 10_000 {
            return bad("nodes", "at most 10000 nodes");
        }
        let behaviours = self.behaviours();
        let mut after_clones = false;
        for (i, g) in self.nodes.iter().enumerate() {
            let field = format!("nodes[{i}].behaviour");
            if let Behaviour::Cloned { of, .. } = &g.behaviour {
                after_clones = true;
                if let Some(of) = of {
                    cloned::check_target(*of, &behaviours)
                        .or_else(|m| bad(&format!("{field}.of"), &m))?;
                }
            } else if after_clones && g.count > 0 {
                return bad(
                    &format!("nodes[{i}]"),
                    "a member group after a cloned group: cloned nodes are not roster members, so they come last",
                );
            }
            match &g.behaviour {
                Behaviour::Honest { error_rate: p, .. }
                | Behaviour::Drift { p }
                | Behaviour::Crash { error_rate: p, .. }
                | Behaviour::Colluding { p, .. }
                | Behaviour::Slow { error_rate: p, .. } => {
                    check_probability(&field, *p)?;
                }
                Behaviour::Flooder { rate_per_s }
                    if !(rate_per_s.is_finite() && *rate_per_s > 0.0) =>
                {
                    return bad(&format!("{field}.rate_per_s"), "must be a positive number");
                }
                _ => {}
            }
            Schedule::of(&g.behaviour).check(&field)?;
            if let Behaviour::Colluding { bloc, .. } = &g.behaviour
                && bloc.is_empty()
            {
                return bad(&format!("{field}.bloc"), "must not be empty");
            }
            match &g.behaviour {
                Behaviour::Honest {
                    evaluator: HonestEvaluator::Oracle,
                    unmatched: Some(_),
                    ..
                } => {
                    return bad(
                        &format!("{field}.unmatched"),
                        "only used with evaluator = \"policy\"",
                    );
                }
                Behaviour::Honest {
                    evaluator: HonestEvaluator::Policy,
                    ..
                } if self.evaluator.is_none() => {
                    return bad(
                        &format!("{field}.evaluator"),
                        "\"policy\" needs an [evaluator] table: kind = \"policy\" and [[evaluator.rules]], or kind = \"rego\" and policy",
                    );
                }
                _ => {}
            }
        }
        if let Some(section) = &self.evaluator {
            Policy::new(section, self.rego_source.as_deref())?;
            if !self.nodes.iter().any(|g| g.behaviour.uses_policy()) {
                return bad(
                    "evaluator",
                    "no node uses it: set evaluator = \"policy\" on an honest node group",
                );
            }
        }
        if !self.behaviours().iter().any(Behaviour::is_honest) {
            return bad(
                "nodes",
                "at least one honest, drift, crash or slow node must propose",
            );
        }
        check_link("network.default", &self.network.default)?;
        for (i, l) in self.network.links.iter().enumerate() {
            let field = format!("network.links[{i}]");
            if l.from >= n || l.to >= n || l.from == l.to {
                return bad(&field, "from and to must be distinct node indices");
            }
            check_link(&field, &l.link())?;
        }
        if self.network.fanout == 0 {
            return bad("network.fanout", "must be at least 1");
        }
        if self.network.max_peers < 2 {
            return bad("network.max_peers", "must be at least 2");
        }
        if self.network.sync_interval_ms == 0 {
            return bad("network.sync_interval_ms", "must be at least 1");
        }
        if self.network.flush_interval_ms == 0 {
            return bad("network.flush_interval_ms", "must be at least 1");
        }
        for (i, p) in self.partitions.iter().enumerate() {
            let field = format!("partitions[{i}]");
            if p.a.is_empty() || p.b.is_empty() {
                return bad(&field, "a and b must both name nodes");
            }
            if p.a.iter().chain(&p.b).any(|&x| x >= n) {
                return bad(&field, &format!("node index out of range (0..{n})"));
            }
            if p.heal_ms.is_some_and(|h| h <= p.start_ms) {
                return bad(&format!("{field}.heal_ms"), "must be after start_ms");
            }
        }
        self.check_roster(&behaviours)?;
        self.check_changes(&behaviours)?;
        let knobs = [
            ("broken_guard", &self.testing.broken_guard),
            ("ignore_doppelganger", &self.testing.ignore_doppelganger),
            ("skip_steps", &self.testing.skip_steps),
        ];
        for (knob, nodes) in knobs {
            for (k, &i) in nodes.iter().enumerate() {
                let honest = behaviours.get(i).is_some_and(Behaviour::is_honest);
                if !honest {
                    return bad(
                        &format!("testing.{knob}[{k}]"),
                        &format!("must name an honest, drift, crash or slow node (0..{n})"),
                    );
                }
            }
        }
        let w = &self.workload;
        if !(w.rate_per_sec.is_finite() && w.rate_per_sec > 0.0) {
            return bad("workload.rate_per_sec", "must be a positive number");
        }
        // Every node keeps its catch-up rounds running for the whole span, so a rate
        // that spreads the proposals over years would never finish.
        let span_s = f64::from(w.proposals) / w.rate_per_sec;
        if span_s > MAX_WORKLOAD_SPAN_S {
            return bad(
                "workload.rate_per_sec",
                &format!(
                    "{} proposals at {}/s take {span_s:.0} s on average; at most \
                     {MAX_WORKLOAD_SPAN_S:.0} s (30 days) of arrivals are simulated",
                    w.proposals, w.rate_per_sec
                ),
            );
        }
        check_probability("workload.anomalous_fraction", w.anomalous_fraction)?;
        if w.ttl_ms == 0 || w.ttl_ms > MAX_TTL_MS {
            return bad("workload.ttl_ms", &format!("must be in 1..={MAX_TTL_MS}"));
        }
        for (list, mix) in [("benign", &w.benign), ("anomalous", &w.anomalous)] {
            check_mix(&format!("workload.{list}"), mix)?;
        }
        if let Some(d) = &w.eval_delay {
            if w.eval_delay_ms.is_some() {
                return bad(
                    "workload.eval_delay",
                    "set eval_delay_ms (fixed) or eval_delay (a distribution), not both",
                );
            }
            check_delay("workload.eval_delay", d)?;
        }
        Ok(())
    }
}

/// A mix must have weight, valid action names, and payloads the protocol accepts.
fn check_mix(field: &str, mix: &[MixEntry]) -> Result<(), FieldError> {
    if pick(mix, 0.0).is_none() {
        return Err(FieldError::new(
            field.to_string(),
            "needs at least one entry with a positive weight".to_string(),
        ));
    }
    for (i, e) in mix.iter().enumerate() {
        if let Err(err) = swarmvote_protocol::Action::new(&e.action) {
            return Err(FieldError::new(
                format!("{field}[{i}].action"),
                err.to_string(),
            ));
        }
        let (_, payload) = e.render(u32::MAX);
        if let Err(err) = swarmvote_protocol::Payload::from_value(&payload) {
            return Err(FieldError::new(
                format!("{field}[{i}].value"),
                err.to_string(),
            ));
        }
    }
    Ok(())
}

fn check_probability(field: &str, p: f64) -> Result<(), FieldError> {
    if (0.0..=1.0).contains(&p) {
        Ok(())
    } else {
        Err(FieldError::new(
            field.to_string(),
            "must be a probability in [0, 1]".to_string(),
        ))
    }
}

fn check_link(field: &str, l: &LinkConfig) -> Result<(), FieldError> {
    check_probability(&format!("{field}.loss"), l.loss)?;
    check_probability(&format!("{field}.duplicate"), l.duplicate)?;
    check_delay(&format!("{field}.latency"), &l.latency)
}

/// A delay distribution's parameters must be finite and non-negative.
fn check_delay(field: &str, d: &Latency) -> Result<(), FieldError> {
    let ok = |x: f64| x.is_finite() && x >= 0.0;
    let fine = match *d {
        Latency::Fixed { ms } => ok(ms),
        Latency::Uniform { min_ms, max_ms } => ok(min_ms) && ok(max_ms) && min_ms <= max_ms,
        Latency::Normal { mean_ms, std_ms } => ok(mean_ms) && ok(std_ms),
        Latency::Lognormal { median_ms, sigma } => {
            ok(sigma) && median_ms.is_finite() && median_ms > 0.0
        }
    };
    if fine {
        Ok(())
    } else {
        Err(FieldError::new(
            field.to_string(),
            "parameters must be finite and non-negative (min <= max, median > 0)".to_string(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mix() -> Vec<MixEntry> {
        vec![
            MixEntry::new("a.one", "p", "x{k}", 1),
            MixEntry::new("a.two", "p", "y{k}", 0),
            MixEntry::new("a.three", "p", "z{k}", 3),
        ]
    }

    #[test]
    fn pick_follows_the_weights_and_skips_zero_weight_entries() {
        let m = mix();
        let names = |u: f64| pick(&m, u).map(|e| e.action.clone());
        assert_eq!(names(0.0).as_deref(), Some("a.one"));
        assert_eq!(names(0.2499).as_deref(), Some("a.one"));
        assert_eq!(names(0.25).as_deref(), Some("a.three"));
        assert_eq!(names(0.999_999).as_deref(), Some("a.three"));
        // 1,000 evenly spaced draws land 1:3, none on the zero-weight entry.
        let mut counts = [0u32; 3];
        for i in 0..1000 {
            let e = pick(&m, f64::from(i) / 1000.0).map(|e| e.action.as_str());
            match e {
                Some("a.one") => counts[0] += 1,
                Some("a.two") => counts[1] += 1,
                _ => counts[2] += 1,
            }
        }
        assert_eq!(counts, [250, 0, 750]);
        assert!(pick(&[], 0.5).is_none());
        assert!(pick(&[MixEntry::new("a.b", "p", "v", 0)], 0.5).is_none());
    }

    #[test]
    fn an_entry_renders_its_number_into_the_payload() {
        let (action, payload) = MixEntry::new("fs.delete", "path", "/backup/{k}.tar", 1).render(7);
        assert_eq!(action, "fs.delete");
        assert_eq!(payload, serde_json::json!({"path": "/backup/7.tar"}));
    }

    #[test]
    fn a_workload_spread_over_more_than_30_days_is_refused_by_name() {
        let text = |proposals: u32, rate: &str| {
            format!(
                "name = \"w\"\nquorum = \"2/3\"\n[[nodes]]\ncount = 3\n\
                 behaviour = {{ kind = \"honest\" }}\n[workload]\nproposals = {proposals}\n\
                 rate_per_sec = {rate}\n"
            )
        };
        // One a day for 30 days is the limit; one more proposal is past it.
        let per_day = format!("{}", 1.0 / 86_400.0);
        assert!(Scenario::parse("w.toml", &text(30, &per_day)).is_ok());
        match Scenario::parse("w.toml", &text(31, &per_day)) {
            Err(ScenarioError::Invalid { field, message, .. }) => {
                assert_eq!(field, "workload.rate_per_sec");
                assert!(
                    message.contains("31 proposals") && message.contains("30 days"),
                    "{message}"
                );
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    /// A scenario with `nodes` and `tail` (extra tables), parsed; the error's field.
    fn policy_field(nodes: &str, tail: &str) -> Option<String> {
        let text = format!(
            "name = \"p\"\nquorum = \"2/3\"\n[[nodes]]\ncount = 3\nbehaviour = {nodes}\n[workload]\nproposals = 1\nrate_per_sec = 1.0\n{tail}"
        );
        match Scenario::parse("p.toml", &text) {
            Ok(_) => None,
            Err(ScenarioError::Invalid { field, .. }) => Some(field),
            Err(other) => Some(other.to_string()),
        }
    }

    #[test]
    fn an_evaluation_delay_is_fixed_or_a_distribution_not_both() {
        let honest = "{ kind = \"honest\" }";
        assert_eq!(policy_field(honest, "eval_delay_ms = 50\n"), None);
        let spread = "eval_delay = { kind = \"uniform\", min_ms = 500.0, max_ms = 1500.0 }\n";
        assert_eq!(policy_field(honest, spread), None);
        assert_eq!(
            policy_field(honest, &format!("eval_delay_ms = 1\n{spread}")).as_deref(),
            Some("workload.eval_delay")
        );
        assert_eq!(
            policy_field(
                honest,
                "eval_delay = { kind = \"uniform\", min_ms = 9.0, max_ms = 1.0 }\n"
            )
            .as_deref(),
            Some("workload.eval_delay")
        );
        assert_eq!(
            policy_field(
                honest,
                "eval_delay = { kind = \"lognormal\", median_ms = 0.0, sigma = 1.0 }\n"
            )
            .as_deref(),
            Some("workload.eval_delay")
        );
    }

    const RULE: &str =
        "[evaluator]\nkind = \"policy\"\n[[evaluator.rules]]\naction = \"db.*\"\nvote = \"no\"\n";

    #[test]
    fn a_policy_scenario_parses_and_bad_policy_config_names_the_field() {
        let policy = "{ kind = \"honest\", evaluator = \"policy\", unmatched = \"oracle\" }";
        assert_eq!(policy_field(policy, RULE), None);
        assert_eq!(
            policy_field("{ kind = \"honest\", evaluator = \"policy\" }", "").as_deref(),
            Some("nodes[0].behaviour.evaluator")
        );
        assert_eq!(
            policy_field("{ kind = \"honest\", unmatched = \"yes\" }", "").as_deref(),
            Some("nodes[0].behaviour.unmatched")
        );
        assert_eq!(
            policy_field("{ kind = \"honest\" }", RULE).as_deref(),
            Some("evaluator")
        );
        assert_eq!(
            policy_field(policy, "[evaluator]\nkind = \"policy\"\n").as_deref(),
            Some("evaluator.rules")
        );
        assert_eq!(
            policy_field(policy, "[evaluator]\nkind = \"manual\"\n").as_deref(),
            Some("evaluator.kind")
        );
        let bad_glob = RULE.replace("db.*", "db.[");
        assert_eq!(
            policy_field(policy, &bad_glob).as_deref(),
            Some("evaluator.rules[0].action")
        );
        // Unknown values and fields are refused by the parser, naming them.
        let e = policy_field(
            "{ kind = \"honest\", evaluator = \"policy\", unmatched = \"maybe\" }",
            RULE,
        )
        .unwrap_or_default();
        assert!(e.contains("maybe") && e.contains("p.toml"), "{e}");
        let e = policy_field(policy, &format!("{RULE}colour = \"red\"\n")).unwrap_or_default();
        assert!(e.contains("colour"), "{e}");
    }

    #[test]
    fn every_shipped_scenario_still_parses() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/scenarios");
        let mut count = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|x| x == "toml") {
                let s = Scenario::load(&path).unwrap();
                let policy = s.name.starts_with("policy-guard");
                assert_eq!(s.evaluator.is_some(), policy, "{}", s.name);
                count += 1;
            }
        }
        assert!(count >= 9);
    }

    #[test]
    fn a_bad_mix_is_refused_naming_the_entry() {
        assert_eq!(
            check_mix("workload.benign", &[]).map_err(|e| e.field),
            Err("workload.benign".to_string())
        );
        let bad_action = [MixEntry::new("Not An Action!", "p", "v", 1)];
        assert_eq!(
            check_mix("workload.anomalous", &bad_action).map_err(|e| e.field),
            Err("workload.anomalous[0].action".to_string())
        );
        assert!(check_mix("workload.benign", &default_benign()).is_ok());
        assert!(check_mix("workload.anomalous", &default_anomalous()).is_ok());
    }
}
