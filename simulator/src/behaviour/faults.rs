//! Benign faults: `offline`, `crash(at)` with `restart(at)`, and `slow(extra latency)`.
//!
//! These members follow the protocol and vote like the honest oracle (ground truth,
//! wrong with probability `error_rate`, see [`super::honest::oracle`]); what they add is
//! a schedule, which this module states and checks. The mechanics stay in
//! [`crate::sim`]: it takes a node down, keeps its durable records, restores it and
//! adds link latency.
//!
//! * **offline**: a member whose key is in the roster but which never runs: it never
//!   votes, proposes or relays. The swarm should decide without it while `n - 1` honest
//!   members can still reach `q`, and otherwise leave proposals to expire.
//! * **crash(at)**: up from the start, down at `at_ms`: it loses its engine, its
//!   duplicate cache and every record not yet flushed (own ballots are durable at once).
//!   **restart(at)**: with `restart_at_ms`, it comes back from its durable records and
//!   re-judges every open proposal with fresh draws. The swarm should show no honest
//!   equivocation: the restored own-vote guard refuses any vote that contradicts a ballot
//!   it signed before the crash (counted as `votes_refused`).
//! * **slow(extra)**: up for the whole run, with `extra_ms` added to every transmission
//!   from and to it, gossip and catch-up alike. The swarm should decide as before, the
//!   slow member later.

use super::{Behaviour, FieldError};

/// The most latency a slow member may add, per transmission.
pub const MAX_EXTRA_MS: u64 = 60_000;

/// When a member is up, and how its links are slowed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Schedule {
    /// Whether it runs at all (false only for `offline`).
    pub runs: bool,
    /// When it crashes, in virtual ms.
    pub crash_at_ms: Option<u64>,
    /// When it restarts after the crash, in virtual ms.
    pub restart_at_ms: Option<u64>,
    /// Latency added to each transmission from and to it, in ms.
    pub extra_ms: u64,
}

impl Schedule {
    /// A member's schedule. Behaviours other than the faults run the whole time.
    pub fn of(behaviour: &Behaviour) -> Self {
        let up = Self {
            runs: true,
            ..Self::default()
        };
        match behaviour {
            Behaviour::Offline => Self::default(),
            Behaviour::Crash {
                at_ms,
                restart_at_ms,
                ..
            } => Self {
                crash_at_ms: Some(*at_ms),
                restart_at_ms: *restart_at_ms,
                ..up
            },
            Behaviour::Slow { extra_ms, .. } => Self {
                extra_ms: *extra_ms,
                ..up
            },
            _ => up,
        }
    }

    /// Whether the member is up for the whole run (runs and never crashes).
    pub fn stable(&self) -> bool {
        self.runs && self.crash_at_ms.is_none()
    }

    /// Whether the member is up at virtual time `t_ms` (a crash or restart at `t_ms` has
    /// happened by then).
    pub fn up_at(&self, t_ms: u64) -> bool {
        if !self.runs {
            return false;
        }
        match (self.crash_at_ms, self.restart_at_ms) {
            (Some(c), _) if t_ms < c => true,
            (Some(_), Some(r)) => t_ms >= r,
            (Some(_), None) => false,
            (None, _) => true,
        }
    }

    /// Checks the schedule's fields; errors name the field under `field` (the node
    /// group's behaviour).
    pub fn check(&self, field: &str) -> Result<(), FieldError> {
        if self.extra_ms > MAX_EXTRA_MS {
            return Err(FieldError::new(
                format!("{field}.extra_ms"),
                format!("at most {MAX_EXTRA_MS}"),
            ));
        }
        if let (Some(at), Some(r)) = (self.crash_at_ms, self.restart_at_ms)
            && r <= at
        {
            return Err(FieldError::new(
                format!("{field}.restart_at_ms"),
                "must be after at_ms".to_string(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crash(at_ms: u64, restart_at_ms: Option<u64>) -> Behaviour {
        Behaviour::Crash {
            error_rate: 0.0,
            at_ms,
            restart_at_ms,
        }
    }

    #[test]
    fn the_schedules_say_when_each_member_is_up() {
        let offline = Schedule::of(&Behaviour::Offline);
        assert!(!offline.up_at(0) && !offline.stable());
        let honest = Schedule::of(&Behaviour::honest(0.0));
        assert!(honest.up_at(0) && honest.up_at(u64::MAX) && honest.stable());
        let down = Schedule::of(&crash(100, None));
        assert!(down.up_at(99) && !down.up_at(100) && !down.up_at(10_000));
        assert!(!down.stable());
        let back = Schedule::of(&crash(100, Some(300)));
        let up: Vec<bool> = [0, 99, 100, 299, 300, 5_000]
            .iter()
            .map(|&t| back.up_at(t))
            .collect();
        assert_eq!(up, [true, true, false, false, true, true]);
        let slow = Schedule::of(&Behaviour::Slow {
            extra_ms: 250,
            error_rate: 0.0,
        });
        assert_eq!(slow.extra_ms, 250);
        assert!(slow.stable());
    }

    #[test]
    fn bad_schedules_name_the_field() {
        let field = |b: &Behaviour| Schedule::of(b).check("nodes[2].behaviour").err();
        assert_eq!(
            field(&crash(100, Some(100))).map(|e| e.field).as_deref(),
            Some("nodes[2].behaviour.restart_at_ms")
        );
        assert!(field(&crash(100, Some(101))).is_none());
        let too_slow = Behaviour::Slow {
            extra_ms: MAX_EXTRA_MS + 1,
            error_rate: 0.0,
        };
        assert_eq!(
            field(&too_slow).map(|e| e.field).as_deref(),
            Some("nodes[2].behaviour.extra_ms")
        );
    }
}
