//! The simulated network: per-link latency, loss and duplication, and scheduled
//! partitions (two-way or one-way).

use std::collections::BTreeMap;

mod config;

pub use config::{Latency, LinkConfig, LinkOverride, NetworkConfig, PartitionConfig};

use crate::rng::SimRng;

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
    ms_to_us_capped(ms, 3_600_000_000)
}

/// `ms` in whole microseconds, rounded, clamped to `0..=cap_us` (NaN is 0).
pub fn ms_to_us_capped(ms: f64, cap_us: u64) -> u64 {
    let us = (ms * 1000.0).round();
    // `cap_us as f64` may round up past `cap_us` (u64::MAX does): the cap still holds.
    let cap = cap_us as f64;
    if us.is_nan() || us <= 0.0 {
        0
    } else if us >= cap {
        cap_us
    } else {
        // In range by the checks above.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let v = us as u64;
        v
    }
}

/// Who is connected to whom.
///
/// A swarm of at most `max_peers + 1` members is a full mesh: every node is connected to
/// every other, as a small gossipsub swarm is. A larger swarm is a fixed random graph:
/// each node opens connections to `max_peers / 2` random others that still have room,
/// and accepts connections while it has fewer than `max_peers`, so no node exceeds its
/// limit, like a node's `max_connections`. Flood publish then reaches a node's peers,
/// not the whole swarm, and the rest of the swarm hears through forwarding.
#[derive(Clone, Debug)]
pub enum Topology {
    /// Everyone is connected to everyone.
    Full,
    /// Each node's peers, sorted.
    Sparse(Vec<Vec<u32>>),
}

impl Topology {
    /// The topology of `n` nodes with at most `max_peers` connections each. Draws from
    /// `rng` only for a sparse graph, so full-mesh runs use the same draws as before
    /// peer limits existed.
    pub fn build(n: usize, max_peers: usize, rng: &mut SimRng) -> Self {
        if n <= max_peers.saturating_add(1) {
            return Self::Full;
        }
        let mut adj: Vec<std::collections::BTreeSet<u32>> = vec![Default::default(); n];
        let want = (max_peers / 2).max(1);
        for i in 0..n {
            let mut opened = 0usize;
            let mut tries = want.saturating_mul(8);
            while opened < want && tries > 0 {
                tries -= 1;
                let j = rng.below(n);
                let room = |k: usize| adj.get(k).is_some_and(|s| s.len() < max_peers);
                let (Ok(iu), Ok(ju)) = (u32::try_from(i), u32::try_from(j)) else {
                    continue;
                };
                let linked = adj.get(i).is_some_and(|s| s.contains(&ju));
                if j == i || linked || !room(i) || !room(j) {
                    continue;
                }
                if let Some(s) = adj.get_mut(i) {
                    s.insert(ju);
                }
                if let Some(s) = adj.get_mut(j) {
                    s.insert(iu);
                }
                opened = opened.saturating_add(1);
            }
        }
        Self::Sparse(adj.into_iter().map(|s| s.into_iter().collect()).collect())
    }

    /// `i`'s peers, or `None` in a full mesh (everyone else).
    pub fn peers(&self, i: usize) -> Option<&[u32]> {
        match self {
            Self::Full => None,
            Self::Sparse(adj) => Some(adj.get(i).map_or(&[][..], Vec::as_slice)),
        }
    }

    /// Whether `i` and `j` (distinct) are connected.
    pub fn connected(&self, i: usize, j: usize) -> bool {
        match self.peers(i) {
            None => true,
            Some(p) => u32::try_from(j).is_ok_and(|j| p.binary_search(&j).is_ok()),
        }
    }
}

/// Each node's gossip mesh: the peers it forwards every message to, fixed for the run, as
/// gossipsub keeps a mesh of degree about D per topic.
///
/// Links are symmetric (a GRAFT makes both ends mesh peers) and lie inside the
/// [`Topology`]. Each node grafts random peers until it has `d` of them, and a peer accepts
/// while it has fewer than `2d` (gossipsub's `D_high` is 12 for D = 6), so every node has
/// between `d` and `2d` mesh peers, or all of its peers when it has at most `d` (which
/// can take a neighbour past `2d`). Such a
/// graph is connected with overwhelming probability, so a message that every node
/// forwards reaches everyone, as in gossipsub; a fresh random choice of `d` peers per
/// message would leave each node without a copy about `e^-d` of the time.
///
/// The mesh draws from its own stream (seeded from the run's seed), so building it does
/// not shift any other draw of a run.
#[derive(Clone, Debug)]
pub struct Mesh {
    /// Each node's mesh peers, in the order they were grafted.
    peers: Vec<Vec<u32>>,
    /// Whether the node's mesh is all of its peers (it has at most `d`).
    complete: Vec<bool>,
}

impl Mesh {
    /// The mesh of degree `d` over `topology` (of `n` nodes).
    pub fn build(n: usize, d: usize, topology: &Topology, rng: &mut SimRng) -> Self {
        let d_high = d.saturating_mul(2);
        let mut peers: Vec<Vec<u32>> = vec![Vec::new(); n];
        let mut complete = vec![false; n];
        let degree = |i: usize| match topology.peers(i) {
            None => n.saturating_sub(1),
            Some(p) => p.len(),
        };
        // A symmetric link, once.
        let link = |peers: &mut Vec<Vec<u32>>, i: usize, j: usize| {
            let (Ok(iu), Ok(ju)) = (u32::try_from(i), u32::try_from(j)) else {
                return;
            };
            if i == j || peers.get(i).is_none_or(|p| p.contains(&ju)) {
                return;
            }
            if let Some(p) = peers.get_mut(i) {
                p.push(ju);
            }
            if let Some(p) = peers.get_mut(j) {
                p.push(iu);
            }
        };
        for i in 0..n {
            if degree(i) <= d {
                // Everyone it is connected to (they may pass 2d by this node).
                complete[i] = true;
                let all: Vec<usize> = match topology.peers(i) {
                    None => (0..n).filter(|&j| j != i).collect(),
                    Some(p) => p.iter().map(|&j| j as usize).collect(),
                };
                for j in all {
                    link(&mut peers, i, j);
                }
                continue;
            }
            let mut tries = d.saturating_mul(16).saturating_add(64);
            while peers[i].len() < d && tries > 0 {
                tries -= 1;
                let j = match topology.peers(i) {
                    None => rng.below(n),
                    Some(p) => p.get(rng.below(p.len())).map_or(i, |&j| j as usize),
                };
                if peers[j].len() < d_high {
                    link(&mut peers, i, j);
                }
            }
        }
        Self { peers, complete }
    }

    /// `i`'s mesh peers.
    pub fn peers(&self, i: usize) -> &[u32] {
        self.peers.get(i).map_or(&[][..], Vec::as_slice)
    }

    /// Whether `i`'s mesh is every peer it has.
    pub fn is_complete(&self, i: usize) -> bool {
        self.complete.get(i).copied().unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_swarms_are_a_full_mesh_and_draw_nothing() {
        let mut a = SimRng::new(7);
        let t = Topology::build(129, 128, &mut a);
        assert!(t.peers(0).is_none() && t.connected(0, 128));
        let mut b = SimRng::new(7);
        assert_eq!(a.below(1_000_000), b.below(1_000_000), "no draw was taken");
    }

    #[test]
    fn large_swarms_respect_the_peer_limit_and_stay_connected() {
        let (n, max) = (2_000, 16);
        let t = Topology::build(n, max, &mut SimRng::new(3));
        let mut degrees = Vec::new();
        for i in 0..n {
            let p = t.peers(i).unwrap();
            assert!(p.len() <= max, "node {i} has {} peers", p.len());
            assert!(!p.contains(&(i as u32)));
            for &j in p {
                assert!(t.connected(j as usize, i), "links are symmetric");
            }
            degrees.push(p.len());
        }
        degrees.sort_unstable();
        assert!(
            degrees[n / 2] >= max / 2,
            "median degree {}",
            degrees[n / 2]
        );
        // Connected: a search from node 0 reaches everyone.
        let mut seen = vec![false; n];
        let mut stack = vec![0usize];
        seen[0] = true;
        while let Some(i) = stack.pop() {
            for &j in t.peers(i).unwrap() {
                if !seen[j as usize] {
                    seen[j as usize] = true;
                    stack.push(j as usize);
                }
            }
        }
        assert!(seen.iter().all(|&s| s));
    }

    fn mesh_degrees(m: &Mesh, n: usize) -> Vec<usize> {
        (0..n).map(|i| m.peers(i).len()).collect()
    }

    #[test]
    fn a_mesh_is_symmetric_inside_the_topology_with_degrees_between_d_and_2d() {
        let (n, max, d) = (1_500, 32, 6);
        let t = Topology::build(n, max, &mut SimRng::new(5));
        let m = Mesh::build(n, d, &t, &mut SimRng::new(9));
        for i in 0..n {
            let p = m.peers(i);
            assert!(!m.is_complete(i), "node {i} has more than d peers");
            for &j in p {
                assert!(
                    t.connected(i, j as usize),
                    "mesh link {i}-{j} is no connection"
                );
                assert!(
                    m.peers(j as usize).contains(&(i as u32)),
                    "{i}-{j} is one-way"
                );
            }
            let mut q = p.to_vec();
            q.sort_unstable();
            q.dedup();
            assert_eq!(q.len(), p.len(), "node {i} grafted a peer twice");
        }
        let deg = mesh_degrees(&m, n);
        assert!(
            deg.iter().all(|&k| k <= 2 * d),
            "max {:?}",
            deg.iter().max()
        );
        let short = deg.iter().filter(|&&k| k < d).count();
        assert!(
            short <= n / 100,
            "{short} nodes have fewer than d mesh peers"
        );
        // Connected: a search from node 0 over mesh links reaches everyone.
        let mut seen = vec![false; n];
        let mut stack = vec![0usize];
        seen[0] = true;
        while let Some(i) = stack.pop() {
            for &j in m.peers(i) {
                if !seen[j as usize] {
                    seen[j as usize] = true;
                    stack.push(j as usize);
                }
            }
        }
        assert!(seen.iter().all(|&s| s), "the mesh is not connected");
    }

    #[test]
    fn nodes_with_few_peers_mesh_with_all_of_them_and_links_stay_symmetric() {
        // Peer sets of about 8: some nodes have at most d = 6 peers and take them all,
        // while their neighbours graft by choice.
        let (n, d) = (400, 6);
        let t = Topology::build(n, 8, &mut SimRng::new(2));
        let m = Mesh::build(n, d, &t, &mut SimRng::new(3));
        let mut complete = 0;
        for i in 0..n {
            let p = m.peers(i);
            let mut q = p.to_vec();
            q.sort_unstable();
            q.dedup();
            assert_eq!(q.len(), p.len(), "node {i} lists a mesh peer twice");
            for &j in p {
                assert!(
                    m.peers(j as usize).contains(&(i as u32)),
                    "{i}-{j} is one-way"
                );
            }
            if m.is_complete(i) {
                complete += 1;
                assert_eq!(q, t.peers(i).unwrap().to_vec(), "node {i}");
            }
        }
        assert!(
            complete > 0,
            "no node with at most d peers: the test tests nothing"
        );
    }

    #[test]
    fn a_node_with_at_most_d_peers_meshes_with_all_of_them_and_draws_nothing() {
        let t = Topology::build(7, 128, &mut SimRng::new(1));
        let mut a = SimRng::new(4);
        let m = Mesh::build(7, 6, &t, &mut a);
        for i in 0..7 {
            assert!(m.is_complete(i));
            assert_eq!(m.peers(i).len(), 6);
        }
        let mut b = SimRng::new(4);
        assert_eq!(a.below(1_000_000), b.below(1_000_000), "no draw was taken");
        // One more member and the mesh is a choice.
        let m = Mesh::build(8, 6, &Topology::Full, &mut SimRng::new(4));
        assert!((0..8).all(|i| !m.is_complete(i)));
    }
}
