//! The faults a bed injects, and the nftables rules that make the network ones: link
//! cuts (one way or both), partitions and loss, as `input` rules in the receiving node's
//! namespace, plus the standing rule that forces every libp2p dial through a relay.

use std::collections::BTreeSet;
use std::fmt;
use std::net::Ipv4Addr;
use std::time::Duration;

/// One fault, or its repair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Packets from `from` no longer reach `to` (the other way still works).
    Cut {
        /// The sender.
        from: usize,
        /// The receiver.
        to: usize,
    },
    /// Node `node` can send but not receive: every link into it is cut.
    Deafen(usize),
    /// Only nodes in the same group reach each other.
    Partition(Vec<Vec<usize>>),
    /// Every cut and partition is repaired (loss and latency stay).
    Heal,
    /// Every link between nodes drops this percentage of packets (0 repairs).
    Loss(u8),
    /// Every link delays each way by `delay` ± `jitter` (zero repairs).
    Latency {
        /// The mean delay.
        delay: Duration,
        /// The spread either side of it.
        jitter: Duration,
    },
    /// SIGSTOP.
    Pause(usize),
    /// SIGCONT.
    Resume(usize),
    /// SIGKILL.
    Kill(usize),
    /// Starts a killed node again on its data dir.
    Restart(usize),
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cut { from, to } => write!(f, "cut n{from} -> n{to}"),
            Self::Deafen(n) => write!(f, "deafen n{n} (it sends, hears nothing)"),
            Self::Partition(groups) => {
                let groups: Vec<String> = groups
                    .iter()
                    .map(|g| {
                        g.iter()
                            .map(|n| format!("n{n}"))
                            .collect::<Vec<_>>()
                            .join(",")
                    })
                    .collect();
                write!(f, "partition {}", groups.join(" | "))
            }
            Self::Heal => f.write_str("heal"),
            Self::Loss(p) => write!(f, "loss {p}%"),
            Self::Latency { delay, jitter } => write!(f, "latency {delay:?} ± {jitter:?}"),
            Self::Pause(n) => write!(f, "pause n{n} (SIGSTOP)"),
            Self::Resume(n) => write!(f, "resume n{n} (SIGCONT)"),
            Self::Kill(n) => write!(f, "kill n{n} (SIGKILL)"),
            Self::Restart(n) => write!(f, "restart n{n}"),
        }
    }
}

/// A fault schedule: each fault at its offset from the schedule's start.
pub type Schedule = Vec<(Duration, Fault)>;

/// The network faults in force.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetFaults {
    /// Directed links cut: (from, to).
    pub cuts: BTreeSet<(usize, usize)>,
    /// Loss on every link, in percent.
    pub loss: u8,
    /// Whether nodes may dial each other directly, bypassing the relays.
    pub direct_dials: bool,
    /// Whether a cut resets the TCP connections over it at once (as a host that is
    /// gone does), instead of silently dropping their packets until it heals (the
    /// default, after which the connections may carry on as if nothing happened).
    pub reset: bool,
}

impl NetFaults {
    /// Applies a network fault; false if `fault` is not one.
    pub fn apply(&mut self, fault: &Fault, nodes: usize) -> bool {
        match fault {
            Fault::Cut { from, to } => {
                self.cuts.insert((*from, *to));
            }
            Fault::Deafen(n) => {
                self.cuts
                    .extend((0..nodes).filter(|m| m != n).map(|m| (m, *n)));
            }
            Fault::Partition(groups) => {
                let group = |n: usize| groups.iter().position(|g| g.contains(&n));
                for a in 0..nodes {
                    for b in 0..nodes {
                        if a != b && group(a) != group(b) {
                            self.cuts.insert((a, b));
                        }
                    }
                }
            }
            Fault::Heal => self.cuts.clear(),
            Fault::Loss(p) => self.loss = (*p).min(100),
            _ => return false,
        }
        true
    }

    /// The nftables script for node `me`'s namespace: the standing relay rule, then the
    /// cuts into `me` and the loss.
    pub fn script(&self, me: usize, ips: &[Ipv4Addr], p2p_port: u16, mark: u32) -> String {
        let own = ips.get(me).copied().unwrap_or(Ipv4Addr::UNSPECIFIED);
        let peers: Vec<String> = ips
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != me)
            .map(|(_, ip)| ip.to_string())
            .collect();
        let relay_only = if self.direct_dials {
            String::new()
        } else {
            format!("\t\ttcp dport {p2p_port} ip daddr != {own} meta mark != {mark:#x} drop\n")
        };
        let mut s = format!(
            "table inet svbed\ndelete table inet svbed\ntable inet svbed {{\n\
             \tchain out {{\n\t\ttype filter hook output priority 0; policy accept;\n\
             {relay_only}\t}}\n\
             \tchain in {{\n\t\ttype filter hook input priority 0; policy accept;\n"
        );
        for (from, _) in self.cuts.iter().filter(|(_, to)| *to == me) {
            if let Some(ip) = ips.get(*from) {
                if self.reset {
                    // Let the other side's resets in, or the cut, being symmetric, would
                    // swallow them and the connections would only stall, not end.
                    s.push_str(&format!(
                        "\t\tip saddr {ip} tcp flags & rst == rst accept\n\
                         \t\tip saddr {ip} meta l4proto tcp reject with tcp reset\n"
                    ));
                }
                s.push_str(&format!("\t\tip saddr {ip} drop\n"));
            }
        }
        if self.loss > 0 && !peers.is_empty() {
            s.push_str(&format!(
                "\t\tip saddr {{ {} }} numgen random mod 100 < {} drop\n",
                peers.join(", "),
                self.loss
            ));
        }
        s.push_str("\t}\n}\n");
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partition_cuts_exactly_the_links_between_groups() {
        let mut f = NetFaults::default();
        assert!(f.apply(&Fault::Partition(vec![vec![0, 1], vec![2, 3, 4]]), 5));
        assert_eq!(f.cuts.len(), 2 * 2 * 3);
        assert!(f.cuts.contains(&(0, 2)) && f.cuts.contains(&(4, 1)));
        assert!(!f.cuts.contains(&(0, 1)) && !f.cuts.contains(&(2, 3)));
        f.apply(&Fault::Heal, 5);
        assert!(f.cuts.is_empty());
        f.apply(&Fault::Deafen(3), 5);
        assert_eq!(f.cuts.len(), 4);
        assert!(f.cuts.iter().all(|(_, to)| *to == 3));
        assert!(!f.apply(&Fault::Pause(1), 5));
    }

    #[test]
    fn the_script_drops_what_reaches_the_node_over_a_cut_link() {
        let ips: Vec<Ipv4Addr> = (1..=3).map(|i| Ipv4Addr::new(10, 0, 0, i)).collect();
        let mut f = NetFaults::default();
        f.apply(&Fault::Cut { from: 0, to: 2 }, 3);
        f.apply(&Fault::Loss(5), 3);
        let s = f.script(2, &ips, 7000, 0x5e1);
        assert!(s.contains("ip saddr 10.0.0.1 drop"), "{s}");
        assert!(s.contains("ip saddr { 10.0.0.1, 10.0.0.2 } numgen random mod 100 < 5 drop"));
        assert!(s.contains("ip daddr != 10.0.0.3 meta mark != 0x5e1 drop"));
        assert!(
            !f.script(1, &ips, 7000, 0x5e1)
                .contains("saddr 10.0.0.1 drop")
        );
    }
}
