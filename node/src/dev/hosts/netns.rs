//! One Linux network namespace per node, each with its own address on a bridge in the
//! host's namespace: created with `ip`, torn down on drop (also while a test panics),
//! and stale ones of dead processes swept first.
//!
//! Names are unique per run: `sv<pid>x<k>` (k counts beds in this process), so parallel
//! tests and leftovers of killed runs never collide; interface names stay within
//! Linux's 15 characters.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use super::HostsError;

/// Beds made by this process so far, for unique names.
static BEDS: AtomicU32 = AtomicU32::new(0);

/// The namespaces, veths and bridge of one bed.
pub struct Net {
    /// The prefix of every name, `sv<pid>x<k>`.
    pub prefix: String,
    /// The bridge in the host's namespace.
    pub bridge: String,
    /// The namespace of each node.
    pub namespaces: Vec<String>,
    /// Each node's address.
    pub ips: Vec<Ipv4Addr>,
    /// The host's address on the bridge (how the tests reach the nodes' APIs).
    pub host_ip: Ipv4Addr,
}

/// Runs `ip` (or another program) and fails with its stderr.
pub(super) fn run(program: &str, args: &[&str]) -> Result<(), HostsError> {
    run_input(program, args, None)
}

/// [`run`] with `input` on standard input (an `nft -f -` script).
pub(super) fn run_input(
    program: &str,
    args: &[&str],
    input: Option<&str>,
) -> Result<(), HostsError> {
    use std::io::Write;
    let mut child = Command::new(program)
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| HostsError::Tool {
            command: format!("{program} {}", args.join(" ")),
            message: source.to_string(),
        })?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        let _ = stdin.write_all(text.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|source| HostsError::Tool {
            command: format!("{program} {}", args.join(" ")),
            message: source.to_string(),
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(HostsError::Tool {
            command: format!("{program} {}", args.join(" ")),
            message: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}

/// The standard output of a command, or empty.
fn output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .stderr(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// Why namespaces cannot be made here, or `None` if they can: not root, or `ip` or
/// `nft` missing.
pub fn unavailable() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("needs root (network namespaces, veths, nftables)".into());
    }
    for (tool, package) in [("ip", "iproute2"), ("nft", "nftables")] {
        let found = Command::new(tool)
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            return Some(format!("`{tool}` not found (Debian package {package})"));
        }
    }
    None
}

/// Deletes namespaces, bridges and veths left by processes that no longer exist
/// (`sv<pid>x…` whose pid is gone), killing whatever still runs inside.
pub fn sweep_stale() {
    let dead = |name: &str| {
        let Some(pid) = name
            .strip_prefix("sv")
            .and_then(|r| r.split_once('x'))
            .and_then(|(p, _)| p.parse::<u32>().ok())
        else {
            return false;
        };
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
    };
    for line in output("ip", &["netns", "list"]).lines() {
        let Some(ns) = line.split_whitespace().next() else {
            continue;
        };
        if dead(ns) {
            kill_inside(ns);
            let _ = run("ip", &["netns", "delete", ns]);
            let _ = std::fs::remove_dir_all(PathBuf::from("/etc/netns").join(ns));
        }
    }
    for line in output("ip", &["-o", "link", "show"]).lines() {
        // "12: sv123x0b: <…" or "13: sv123x0v1@if2: <…"
        let Some(name) = line
            .split(": ")
            .nth(1)
            .map(|n| n.split('@').next().unwrap_or(n))
        else {
            continue;
        };
        if dead(name) {
            let _ = run("ip", &["link", "delete", name]);
        }
    }
}

/// SIGKILLs every process in namespace `ns`.
fn kill_inside(ns: &str) {
    for pid in output("ip", &["netns", "pids", ns]).split_whitespace() {
        if let Ok(pid) = pid.parse::<i32>() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

/// A /24 in 10.100–199.x that no interface of the host uses yet.
fn free_subnet() -> Result<(u8, u8), HostsError> {
    let used = output("ip", &["-o", "-4", "addr", "show"]);
    let start = std::process::id() % 100;
    for k in 0..100u32 {
        let a = 100 + (start + k) % 100;
        for b in 0..=255u8 {
            let a = u8::try_from(a).unwrap_or(100);
            if !used.contains(&format!(" 10.{a}.{b}.")) {
                return Ok((a, b));
            }
        }
    }
    Err(HostsError::Setup("no free 10.x.y.0/24 subnet".into()))
}

impl Net {
    /// Creates `nodes` namespaces on a new bridge, each with address `.1`, `.2`, …; the
    /// host gets `.254`.
    pub fn create(nodes: usize) -> Result<Self, HostsError> {
        if let Some(why) = unavailable() {
            return Err(HostsError::Unavailable(why));
        }
        if nodes == 0 || nodes > 200 {
            return Err(HostsError::Setup(format!("{nodes} nodes: 1 to 200")));
        }
        sweep_stale();
        let k = BEDS.fetch_add(1, Ordering::Relaxed);
        let prefix = format!("sv{}x{k}", std::process::id());
        let (a, b) = free_subnet()?;
        let mut net = Self {
            bridge: format!("{prefix}b"),
            prefix,
            namespaces: Vec::new(),
            ips: Vec::new(),
            host_ip: Ipv4Addr::new(10, a, b, 254),
        };
        // On failure half-way, drop tears down what exists.
        net.build(nodes, (a, b))?;
        Ok(net)
    }

    fn build(&mut self, nodes: usize, (a, b): (u8, u8)) -> Result<(), HostsError> {
        let bridge = self.bridge.clone();
        run("ip", &["link", "add", &bridge, "type", "bridge"])?;
        run(
            "ip",
            &[
                "addr",
                "add",
                &format!("{}/24", self.host_ip),
                "dev",
                &bridge,
            ],
        )?;
        run("ip", &["link", "set", &bridge, "up"])?;
        for i in 0..nodes {
            let ns = format!("{}n{i}", self.prefix);
            let veth = format!("{}v{i}", self.prefix);
            let ip = Ipv4Addr::new(10, a, b, u8::try_from(i + 1).unwrap_or(1));
            run("ip", &["netns", "add", &ns])?;
            self.namespaces.push(ns.clone());
            self.ips.push(ip);
            run(
                "ip",
                &[
                    "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &ns,
                ],
            )?;
            run("ip", &["link", "set", &veth, "master", &bridge, "up"])?;
            run(
                "ip",
                &["-n", &ns, "addr", "add", &format!("{ip}/24"), "dev", "eth0"],
            )?;
            run("ip", &["-n", &ns, "link", "set", "eth0", "up"])?;
            run("ip", &["-n", &ns, "link", "set", "lo", "up"])?;
        }
        Ok(())
    }

    /// The namespace of node `i`.
    pub fn namespace(&self, i: usize) -> Result<&str, HostsError> {
        self.namespaces
            .get(i)
            .map(String::as_str)
            .ok_or_else(|| HostsError::Setup(format!("no node {i}")))
    }

    /// The command prefix that runs a program in node `i`'s namespace.
    pub fn exec_prefix(&self, i: usize) -> Result<Vec<String>, HostsError> {
        Ok(vec![
            "ip".into(),
            "netns".into(),
            "exec".into(),
            self.namespace(i)?.to_owned(),
        ])
    }

    /// Writes `/etc/netns/<ns>/hosts` for every namespace (`ip netns exec` shows it as
    /// `/etc/hosts`), so nodes can find each other by name.
    pub fn write_hosts(&self, names: &[(String, Ipv4Addr)]) -> Result<(), HostsError> {
        let mut text = String::from("127.0.0.1 localhost\n");
        for (name, ip) in names {
            text.push_str(&format!("{ip} {name}\n"));
        }
        for ns in &self.namespaces {
            let dir = PathBuf::from("/etc/netns").join(ns);
            std::fs::create_dir_all(&dir)
                .and_then(|()| std::fs::write(dir.join("hosts"), &text))
                .map_err(|e| HostsError::Setup(format!("{}: {e}", dir.display())))?;
        }
        Ok(())
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for ns in &self.namespaces {
            kill_inside(ns);
            if let Err(e) = run("ip", &["netns", "delete", ns]) {
                tracing::warn!(%ns, error = %e, "cannot delete namespace");
            }
            let _ = std::fs::remove_dir_all(PathBuf::from("/etc/netns").join(ns));
        }
        // The veths went with their namespaces.
        let _ = run("ip", &["link", "delete", &self.bridge]);
    }
}
