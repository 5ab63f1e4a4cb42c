//! `gate exec`: runs the gated program once its proposal is approved, and the exit codes
//! that say why it did not run.
//!
//! The program is started directly (no shell) with the gate's stdin, stdout and stderr,
//! and with `SWARMVOTE_CERT` (the path of the verified certificate, a 0600 temp file
//! removed when the program ends), `SWARMVOTE_PROPOSAL_ID` and `SWARMVOTE_ACTION` in its
//! environment: the names the node's executor uses. The gate waits for it and exits
//! with its status. SIGTERM and SIGHUP sent to the gate are passed on to the program;
//! SIGINT and SIGQUIT from the terminal reach the program directly and do not stop the
//! gate before it.

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use serde_json::Value;
use swarmvote_protocol::ProposalId;

/// Exit code: the proposal was rejected; the program did not run.
pub const EXIT_REJECTED: u8 = 80;
/// Exit code: the proposal expired undecided; the program did not run.
pub const EXIT_EXPIRED: u8 = 81;
/// Exit code: the proposal was still pending at `--wait-s`; the program did not run (the
/// proposal may still be decided later, but this gate will not run it).
pub const EXIT_UNDECIDED: u8 = 82;
/// Exit code: the node could not be reached, refused the token or the request, or
/// answered something unexpected; the program did not run.
pub const EXIT_NODE: u8 = 83;
/// Exit code: the node reported an approval whose certificate does not verify, or proves
/// another proposal; the program did not run.
pub const EXIT_CERTIFICATE: u8 = 84;
/// Exit code: a command-line or config error (as for every `swarmvote` command); nothing
/// was proposed.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: the approved program could not be executed (as `env` and `sudo` do).
pub const EXIT_CANNOT_EXECUTE: u8 = 126;
/// Exit code: the approved program was not found.
pub const EXIT_NOT_FOUND: u8 = 127;

/// The exit codes, for `--help`.
pub const EXIT_CODES: &str = "Exit codes: the program's own if it ran (128+N if signal N \
ended it); otherwise 80 rejected (the tally and the NO reasons are printed), 81 expired \
undecided, 82 still pending at --wait-s, 83 the node could not be reached or refused the \
request, 84 the approval's certificate does not verify, 126 the program cannot be \
executed, 127 it was not found, 2 usage or config error.";

/// The exit code that reports how a program ended.
pub fn status_code(status: ExitStatus) -> u8 {
    match (status.code(), status.signal()) {
        (Some(code), _) => u8::try_from(code & 0xff).unwrap_or(1),
        (None, Some(signal)) => u8::try_from(128 + (signal & 0x7f)).unwrap_or(1),
        (None, None) => 1,
    }
}

/// Runs `argv` (program and arguments) with the certificate in a temp file and the
/// proposal in the environment; waits for it and returns the exit code to report. A
/// program that cannot be started is reported on stderr and gets 126 or 127.
pub fn run_approved(argv: &[OsString], certificate: &Value, id: ProposalId, action: &str) -> u8 {
    let Some((program, args)) = argv.split_first() else {
        eprintln!("swarmvote gate exec: no program given after --");
        return EXIT_USAGE;
    };
    let shown = program.to_string_lossy();
    // Created 0600 in the temp dir; removed when `cert` is dropped, after the program.
    let cert = tempfile::Builder::new()
        .prefix("swarmvote-cert-")
        .suffix(".json")
        .tempfile()
        .and_then(|mut f| {
            let text = serde_json::to_vec_pretty(certificate).map_err(std::io::Error::other)?;
            f.write_all(&text)?;
            f.flush()?;
            Ok(f)
        });
    let cert = match cert {
        Ok(c) => c,
        Err(e) => {
            eprintln!("swarmvote gate exec: cannot write the certificate to a temp file: {e}");
            return EXIT_CANNOT_EXECUTE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("swarmvote gate exec: cannot start: {e}");
            return EXIT_CANNOT_EXECUTE;
        }
    };
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .env("SWARMVOTE_CERT", cert.path())
        .env("SWARMVOTE_PROPOSAL_ID", id.to_string())
        .env("SWARMVOTE_ACTION", action);
    let code = runtime.block_on(async move {
        let mut child = match command.spawn() {
            Ok(c) => c,
            Err(e) => {
                eprintln!("swarmvote gate exec: cannot run {shown}: {e}");
                return if e.kind() == std::io::ErrorKind::NotFound {
                    EXIT_NOT_FOUND
                } else {
                    EXIT_CANNOT_EXECUTE
                };
            }
        };
        match wait_forwarding(&mut child).await {
            Ok(status) => status_code(status),
            Err(e) => {
                eprintln!("swarmvote gate exec: waiting for {shown}: {e}");
                1
            }
        }
    });
    drop(cert);
    code
}

/// Waits for `child`, passing SIGTERM and SIGHUP on to it, and outliving SIGINT and
/// SIGQUIT (which the terminal sends to the child as well).
async fn wait_forwarding(child: &mut tokio::process::Child) -> std::io::Result<ExitStatus> {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    use tokio::signal::unix::{SignalKind, signal};

    let mut term = signal(SignalKind::terminate())?;
    let mut hup = signal(SignalKind::hangup())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut quit = signal(SignalKind::quit())?;
    let pid = child
        .id()
        .and_then(|p| i32::try_from(p).ok())
        .map(Pid::from_raw);
    let forward = |s: Signal| {
        if let Some(pid) = pid {
            // The child may have ended meanwhile; nothing to do then.
            let _ = kill(pid, s);
        }
    };
    loop {
        tokio::select! {
            status = child.wait() => return status,
            _ = term.recv() => forward(Signal::SIGTERM),
            _ = hup.recv() => forward(Signal::SIGHUP),
            _ = int.recv() => {}
            _ = quit.recv() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_statuses_map_to_codes() {
        assert_eq!(status_code(ExitStatus::from_raw(0)), 0);
        assert_eq!(status_code(ExitStatus::from_raw(7 << 8)), 7);
        // Killed by SIGKILL (9).
        assert_eq!(status_code(ExitStatus::from_raw(9)), 137);
    }
}
