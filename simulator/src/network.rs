//! The simulated network: per-link latency, loss and duplication, and scheduled
//! partitions (two-way or one-way).

use std::collections::BTreeMap;

use crate::rng::SimRng;
use crate::scenario::{Latency, LinkConfig, NetworkConfig, PartitionConfig};

/// A directed cut `from → to` active in `[start_us, end_us)`. The node lists are sorted,
/// so a membership test is a binary search.
#[derive(Clone, Debug)]
struct Cut {
    start_us: u64,
    end_us: u64,
    from: Vec<usize>,
    to: Vec<usize>,
}

fn sorted(v: &[usize]) -> Vec<usize> {
    let mut v = v.to_vec();
    v.sort_unstable();
    v.dedup();
    v
}

/// Links and partitions, queried at send time.
pub struct Network {
    default: LinkConfig,
    links: BTreeMap<(usize, usize), LinkConfig>,
    cuts: Vec<Cut>,
    /// Per node, latency added to every transmission from and to it (slow nodes).
    extra_us: Vec<u64>,
}

/// What happens to one transmission.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fate {
    /// The link is cut: there is no connection, nothing is sent.
    Cut,
    /// Sent but lost.
    Lost,
    /// Arrives after the first delay, and again after the second when duplicated.
    Arrives(u64, Option<u64>),
}

impl Network {
    /// The network of a scenario. Every partition heals at `heal_all_us` at the latest
    /// (the start of the quiet period).
    pub fn new(config: &NetworkConfig, partitions: &[PartitionConfig], heal_all_us: u64) -> Self {
        let links = config
            .links
            .iter()
            .map(|l| ((l.from, l.to), l.link()))
            .collect();
        let mut cuts = Vec::new();
        for p in partitions {
            let start_us = p.start_ms.saturating_mul(1000);
            let end_us = p
                .heal_ms
                .map_or(heal_all_us, |h| h.saturating_mul(1000))
                .min(heal_all_us);
            cuts.push(Cut {
                start_us,
                end_us,
                from: sorted(&p.a),
                to: sorted(&p.b),
            });
            if !p.one_way {
                cuts.push(Cut {
                    start_us,
                    end_us,
                    from: sorted(&p.b),
                    to: sorted(&p.a),
                });
            }
        }
        Self {
            default: config.default.clone(),
            links,
            cuts,
            extra_us: Vec::new(),
        }
    }

    /// Adds `extra_us[i]` to every transmission from or to node `i` (a slow node's
    /// access link sits on both directions of each of its paths).
    pub fn with_extra(mut self, extra_us: Vec<u64>) -> Self {
        self.extra_us = extra_us;
        self
    }

    fn extra(&self, from: usize, to: usize) -> u64 {
        let get = |i: usize| self.extra_us.get(i).copied().unwrap_or(0);
        get(from).saturating_add(get(to))
    }

    fn link(&self, from: usize, to: usize) -> &LinkConfig {
        self.links.get(&(from, to)).unwrap_or(&self.default)
    }

    /// Whether `from` cannot reach `to` at `t_us`.
    pub fn is_cut(&self, from: usize, to: usize, t_us: u64) -> bool {
        self.cuts.iter().any(|c| {
            c.start_us <= t_us
                && t_us < c.end_us
                && c.from.binary_search(&from).is_ok()
                && c.to.binary_search(&to).is_ok()
        })
    }

    /// The last time any partition heals (0 if there are none).
    pub fn last_heal_us(&self) -> u64 {
        self.cuts.iter().map(|c| c.end_us).max().unwrap_or(0)
    }

    /// One latency draw on `from → to`, in microseconds.
    pub fn latency_us(&self, from: usize, to: usize, rng: &mut SimRng) -> u64 {
        sample_us(&self.link(from, to).latency, rng).saturating_add(self.extra(from, to))
    }

    /// The fate of one gossip transmission `from → to` sent at `t_us`.
    pub fn gossip(&self, from: usize, to: usize, t_us: u64, rng: &mut SimRng) -> Fate {
        if self.is_cut(from, to, t_us) {
            return Fate::Cut;
        }
        let link = self.link(from, to);
        if rng.chance(link.loss) {
            return Fate::Lost;
        }
        let extra = self.extra(from, to);
        let first = sample_us(&link.latency, rng).saturating_add(extra);
        let copy = rng
            .chance(link.duplicate)
            .then(|| sample_us(&link.latency, rng).saturating_add(extra));
        Fate::Arrives(first, copy)
    }
}

/// A latency draw in whole microseconds, clamped at 0 (and at an hour, so a wild
/// log-normal tail cannot overflow the clock).
pub fn sample_us(latency: &Latency, rng: &mut SimRng) -> u64 {
    let ms = match *latency {
        Latency::Fixed { ms } => ms,
        Latency::Uniform { min_ms, max_ms } => min_ms + (max_ms - min_ms) * rng.unit(),
        Latency::Normal { mean_ms, std_ms } => mean_ms + std_ms * rng.normal(),
        Latency::Lognormal { median_ms, sigma } => (median_ms.ln() + sigma * rng.normal()).exp(),
    };
    let us = (ms * 1000.0).round();
    if us.is_nan() || us <= 0.0 {
        0
    } else if us >= 3.6e9 {
        3_600_000_000
    } else {
        // In range by the checks above.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let v = us as u64;
        v
    }
}
