//! The model and the real stack, on the same scenario, reach the same outcomes: every
//! proposal decided, every anomaly blocked, every benign proposal approved, agreement and
//! validity, and on the real stack every message delivered once to every other node.
//! Latency is not compared: the model charges only the links.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use swarmvote_sim::Scenario;
use swarmvote_sim::live::run_libp2p;

const SCENARIO: &str = "\
name = 'model-vs-live'
quorum = '2/3'
quiet_ms = 5000

[[nodes]]
count = 4
behaviour = { kind = 'honest', error_rate = 0.0 }

[network.default]
latency = { kind = 'fixed', ms = 0.2 }

[workload]
proposals = 10
rate_per_sec = 40.0
anomalous_fraction = 0.5
ttl_ms = 15000
eval_delay_ms = 0
";

#[test]
fn model_and_real_stacks_agree_on_outcomes() {
    let scenario = Scenario::parse("model-vs-live", SCENARIO).unwrap();
    let seed = 7;
    let model = swarmvote_sim::run(scenario.clone(), seed).unwrap();
    let live = run_libp2p(&scenario, seed).unwrap();

    for (mode, p, x, inv) in [
        (
            "model",
            &model.proposals,
            &model.security,
            &model.invariants,
        ),
        ("live", &live.proposals, &live.security, &live.invariants),
    ] {
        assert_eq!(p.created, 10, "{mode}: created");
        // Honest voters that never err: each verdict follows the ground truth exactly.
        assert_eq!(p.approved + p.rejected, 10, "{mode}: all decided");
        assert_eq!(p.rejected, x.anomalous, "{mode}: anomalies rejected");
        assert_eq!(x.false_approvals, 0, "{mode}: false approvals");
        assert_eq!(x.false_rejections, 0, "{mode}: false rejections");
        assert!(
            (x.block_rate - 1.0).abs() < f64::EPSILON,
            "{mode}: block rate"
        );
        assert!(
            inv.agreement && inv.validity && inv.no_honest_equivocation,
            "{mode}: {inv:?}"
        );
        assert_eq!(inv.honest_checked, 4, "{mode}: honest nodes checked");
    }
    // Each published message (a proposal or a ballot) reaches each of the other 3 nodes
    // exactly once on the real stack: gossipsub's duplicate cache, like the model's,
    // hands the engine one copy.
    let t = &live.traffic;
    assert!(
        t.published >= 10 + 2 * 10,
        "too few messages published: {t:?}"
    );
    assert_eq!(t.received, 3 * t.published, "{t:?}");
    assert_eq!(live.started, 4);
}
