//! The systemd deployment in `configs/systemd/`: the unit's required keys (always, by
//! parsing it), `systemd-analyze verify` and its offline security score when the tool is
//! installed, and the example node config passing `swarmvote config check`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_swarmvote");

fn configs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/systemd")
}

fn unit_text() -> String {
    std::fs::read_to_string(configs().join("swarmvote.service")).unwrap()
}

/// A unit file: section → key → every assignment in order (a key may repeat; an empty
/// assignment resets the list, as systemd reads it).
type Unit = BTreeMap<String, BTreeMap<String, Vec<String>>>;

fn parse_unit(text: &str) -> Unit {
    let mut unit = Unit::new();
    let mut section: Option<String> = None;
    let mut pending = String::new();
    for (n, raw) in text.lines().enumerate() {
        let line = format!("{pending}{}", raw.trim());
        pending.clear();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(cont) = line.strip_suffix('\\') {
            pending = format!("{cont} ");
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = Some(name.to_owned());
            unit.entry(name.to_owned()).or_default();
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("line {}: not key=value: {raw}", n + 1));
        let section = section
            .as_ref()
            .unwrap_or_else(|| panic!("line {}: outside a section", n + 1));
        unit.entry(section.clone())
            .or_default()
            .entry(key.trim().to_owned())
            .or_default()
            .push(value.trim().to_owned());
    }
    unit
}

fn values<'a>(unit: &'a Unit, section: &str, key: &str) -> &'a [String] {
    unit.get(section)
        .and_then(|s| s.get(key))
        .map(Vec::as_slice)
        .unwrap_or_else(|| panic!("[{section}] {key}= is missing"))
}

/// The one value of a key that must be set exactly once.
fn one<'a>(unit: &'a Unit, section: &str, key: &str) -> &'a str {
    match values(unit, section, key) {
        [v] => v,
        more => panic!("[{section}] {key}= set {} times: {more:?}", more.len()),
    }
}

fn yes(unit: &Unit, key: &str) {
    let v = one(unit, "Service", key);
    assert!(
        ["yes", "true", "on", "1"].contains(&v),
        "[Service] {key}={v}, want yes"
    );
}

#[test]
fn the_unit_has_every_required_setting() {
    let unit = parse_unit(&unit_text());
    assert_eq!(
        one(&unit, "Service", "ExecStart"),
        "/usr/local/bin/swarmvote run --config /etc/swarmvote/node.toml"
    );
    assert_eq!(one(&unit, "Service", "User"), "swarmvote");
    assert_eq!(one(&unit, "Service", "Group"), "swarmvote");
    assert_eq!(one(&unit, "Service", "StateDirectory"), "swarmvote");
    for key in [
        "NoNewPrivileges",
        "ProtectHome",
        "PrivateTmp",
        "PrivateDevices",
    ] {
        yes(&unit, key);
    }
    assert_eq!(one(&unit, "Service", "ProtectSystem"), "strict");
    let families: Vec<&str> = one(&unit, "Service", "RestrictAddressFamilies")
        .split_whitespace()
        .collect();
    let mut sorted = families.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, ["AF_INET", "AF_INET6", "AF_UNIX"], "{families:?}");
    // Empty: no capabilities at all (and nothing added back later).
    assert_eq!(one(&unit, "Service", "CapabilityBoundingSet"), "");
    let filters = values(&unit, "Service", "SystemCallFilter");
    assert_eq!(
        filters.first().map(String::as_str),
        Some("@system-service"),
        "the allow list comes first: {filters:?}"
    );
    assert!(
        filters.iter().skip(1).all(|f| f.starts_with('~')),
        "later filters only take away: {filters:?}"
    );
    assert_eq!(one(&unit, "Service", "Restart"), "on-failure");
    assert_eq!(one(&unit, "Service", "RestartPreventExitStatus"), "5");
    let nofile: u64 = one(&unit, "Service", "LimitNOFILE").parse().unwrap();
    assert!(nofile >= 4096, "LimitNOFILE={nofile}");
    assert_eq!(one(&unit, "Service", "KillSignal"), "SIGTERM");
    assert_eq!(one(&unit, "Install", "WantedBy"), "multi-user.target");
}

/// `systemd-analyze`, if installed (`.ci/run` installs it where apt can).
fn analyze() -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join("systemd-analyze"))
        .find(|p| p.is_file())
}

/// The unit with ExecStart pointing at the built binary (verify checks that it exists).
fn testable_copy(dir: &Path) -> PathBuf {
    let text = unit_text().replace("/usr/local/bin/swarmvote", BIN);
    let path = dir.join("swarmvote.service");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn systemd_analyze_verifies_the_unit() {
    let Some(tool) = analyze() else {
        eprintln!("systemd-analyze not installed: the unit was checked by parsing only");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let unit = testable_copy(tmp.path());
    let out = Command::new(&tool)
        .arg("verify")
        .arg(&unit)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // verify exits 0 on unknown keys and bad values, but names the file in a warning.
    let complaints: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("swarmvote.service"))
        .collect();
    assert!(
        out.status.success() && complaints.is_empty(),
        "systemd-analyze verify: {}\n{stderr}",
        out.status
    );
    // The sandbox: systemd's own exposure score (0 best, 10 worst); older versions lack
    // --offline, which is not a failure of the unit.
    let out = Command::new(&tool)
        .args(["security", "--offline=true", "--no-pager"])
        .arg(&unit)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let score = text
        .lines()
        .find_map(|l| l.split_once("Overall exposure level for swarmvote.service:"))
        .and_then(|(_, rest)| rest.split_whitespace().next()?.parse::<f64>().ok());
    match score {
        Some(s) => assert!(s <= 2.5, "exposure {s} (want at most 2.5):\n{text}"),
        None => eprintln!(
            "no offline security score: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

fn cli(args: &[&std::ffi::OsStr]) -> (bool, String, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_example_node_config_passes_config_check() {
    let tmp = tempfile::tempdir().unwrap();
    let key = tmp.path().join("voter.key");
    let (ok, public, err) = cli(&["keygen".as_ref(), "--out".as_ref(), key.as_os_str()]);
    assert!(ok, "{err}");
    let roster = tmp.path().join("roster.toml");
    let member = format!("a={}", public.trim());
    let (ok, _, err) = cli(&[
        "roster".as_ref(),
        "init".as_ref(),
        "--swarm-id".as_ref(),
        "ops".as_ref(),
        "--quorum".as_ref(),
        "1/1".as_ref(),
        "--member".as_ref(),
        member.as_ref(),
        "--out".as_ref(),
        roster.as_os_str(),
    ]);
    assert!(ok, "{err}");
    // The paths under /etc and /var/lib are swapped for ours; everything else is the file's.
    let config = configs().join("node.toml");
    let data = tmp.path().join("data");
    let (ok, out, err) = cli(&[
        "config".as_ref(),
        "check".as_ref(),
        config.as_os_str(),
        "--data-dir".as_ref(),
        data.as_os_str(),
        "--key-file".as_ref(),
        key.as_os_str(),
        "--roster".as_ref(),
        roster.as_os_str(),
    ]);
    assert!(ok, "config check: {err}\n{out}");
    assert!(err.contains("config ok"), "{err}");
    // The file itself names the unit's StateDirectory and the ExecStart config path.
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("data_dir = \"/var/lib/swarmvote\""), "{text}");
    assert!(unit_text().contains("--config /etc/swarmvote/node.toml"));
}
