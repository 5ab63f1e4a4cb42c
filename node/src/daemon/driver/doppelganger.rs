//! Doppelganger protection, the driver's half: the start-up listening window and the stop.
//!
//! The engine reports [`Event::Doppelganger`] when a message signed with this node's key
//! arrives that it did not sign (a pure decision). Time is the driver's: for the window
//! after start it keeps the engine's signing paused ([`Pause::Listening`]) and holds the
//! evaluator's verdicts, so a second instance of a key that is already voting finds out
//! before it signs anything; when the window ends it casts the held verdicts. Once an
//! alarm comes, at start or at any later time, signing is paused for good
//! ([`Pause::Doppelganger`]), the held verdicts are dropped, and the node exits with
//! [`EXIT_CODE`] after a short grace that lets the webhook go out.

use std::time::Duration;

use swarmvote_protocol::engine::{Engine, Event, Pause, PeerTag};
use swarmvote_protocol::{ProposalId, Reason, Vote};
use tokio::time::Instant;
use tracing::{info, warn};

/// The process exit code after a doppelganger alarm (documented in `swarmvote --help`).
pub const EXIT_CODE: u8 = 5;

/// Evaluator verdicts held during the window at most; more are dropped (and logged): the
/// window is seconds long, and a node that far behind catches up by voting through the API.
const HELD_MAX: usize = 4096;

/// How long the driver keeps running after an alarm, signing nothing, so the webhook
/// and the API's event stream can still carry the news.
const GRACE: Duration = Duration::from_secs(2);

/// A verdict the evaluator reached during the window.
pub(super) type Held = (ProposalId, Vote, Option<Reason>);

/// The window and the alarm.
pub(super) struct Guard {
    /// When the window ends; `None` once it has (or with no window).
    listening_until: Option<Instant>,
    /// When to exit, once an alarm came.
    exit_at: Option<Instant>,
    held: Vec<Held>,
}

impl Guard {
    /// No window, no alarm: the state before [`Guard::start`].
    pub(super) fn idle() -> Self {
        Self {
            listening_until: None,
            exit_at: None,
            held: Vec::new(),
        }
    }

    /// Starts the window on `engine` (none if `listen` is zero).
    pub(super) fn start(engine: &mut Engine, listen: Duration, now: Instant) -> Self {
        let listening_until = (!listen.is_zero()).then(|| {
            engine.pause_signing(Pause::Listening);
            info!(
                listen_secs = listen.as_secs_f64(),
                "doppelganger protection: listening before signing"
            );
            now + listen
        });
        Self {
            listening_until,
            exit_at: None,
            held: Vec::new(),
        }
    }

    /// When the loop must wake up next for the guard, if ever.
    pub(super) fn deadline(&self) -> Option<Instant> {
        self.exit_at.or(self.listening_until)
    }

    /// Whether the node must exit now.
    pub(super) fn must_exit(&self, now: Instant) -> bool {
        self.exit_at.is_some_and(|at| now >= at)
    }

    /// Holds an evaluator verdict while the window lasts; `false` if it must be cast now.
    pub(super) fn hold(&mut self, engine: &Engine, verdict: Held) -> bool {
        if engine.paused() != Some(Pause::Listening) {
            return false;
        }
        if self.held.len() >= HELD_MAX {
            warn!(proposal = %verdict.0.short(), "doppelganger window: too many held verdicts; dropped");
        } else {
            self.held.push(verdict);
        }
        true
    }

    /// Ends the window if it is over and no alarm came: signing resumes and the held
    /// verdicts are returned, to be cast.
    pub(super) fn end_window(&mut self, engine: &mut Engine, now: Instant) -> Vec<Held> {
        match self.listening_until {
            Some(until) if now >= until && self.exit_at.is_none() => {
                self.listening_until = None;
                engine.resume_signing();
                info!(
                    held = self.held.len(),
                    "doppelganger protection: nobody else signs with this key; signing"
                );
                std::mem::take(&mut self.held)
            }
            _ => Vec::new(),
        }
    }

    /// Acts on an engine event: on an alarm, stops signing for good and schedules the
    /// exit. Returns the alarm's (proposal, vote, peer) the first time, for the webhook.
    pub(super) fn observe(
        &mut self,
        engine: &mut Engine,
        event: &Event,
        now: Instant,
    ) -> Option<(ProposalId, Vote, Option<PeerTag>)> {
        let Event::Doppelganger {
            proposal,
            vote,
            peer,
        } = event
        else {
            return None;
        };
        engine.pause_signing(Pause::Doppelganger);
        self.listening_until = None;
        self.held.clear();
        if self.exit_at.is_some() {
            return None;
        }
        self.exit_at = Some(now + GRACE);
        Some((*proposal, *vote, *peer))
    }
}
