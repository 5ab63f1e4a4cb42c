//! The `swarmvote` binary's key, roster, config and store commands, run as processes:
//! good inputs work; each bad input exits non-zero with a message that names the problem.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use swarmvote_node::daemon::store::Store;

fn swarmvote(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_swarmvote"))
        .args(args)
        .current_dir(cwd)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// Exits 1 and says every one of `needles` on stderr.
fn fails(out: &Output, needles: &[&str]) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    for n in needles {
        assert!(err.contains(n), "{n:?} not in: {err}");
    }
}

struct Swarm {
    dir: tempfile::TempDir,
    keys: Vec<String>,
}

impl Swarm {
    /// Three keys, a roster, and a node config for member a.
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut keys = Vec::new();
        for name in ["a", "b", "c"] {
            let out = swarmvote(&["keygen", "--out", &format!("{name}.key")], dir.path());
            keys.push(ok(&out).trim().to_owned());
        }
        let out = swarmvote(
            &[
                "roster",
                "init",
                "--swarm-id",
                "cli-test",
                "--quorum",
                "2/3",
                "--member",
                &format!("a={}", keys[0]),
                "--member",
                &format!("b={}", keys[1]),
                "--member",
                &format!("c={}", keys[2]),
                "--out",
                "roster.toml",
            ],
            dir.path(),
        );
        ok(&out);
        std::fs::write(dir.path().join("node.toml"), NODE).unwrap();
        Self { dir, keys }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn run(&self, args: &[&str]) -> Output {
        swarmvote(args, self.dir.path())
    }
}

const NODE: &str = r#"
# member a
data_dir = "data"
key_file = "a.key"
roster_file = "roster.toml"
listen = ["/ip4/127.0.0.1/tcp/7000"]
"#;

#[test]
fn keygen_writes_0600_prints_the_key_and_never_overwrites() {
    use std::os::unix::fs::PermissionsExt;
    let s = Swarm::new();
    assert!(
        s.keys
            .iter()
            .all(|k| k.len() == 64 && hex::decode(k).is_ok())
    );
    let mode = std::fs::metadata(s.path("a.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let before = std::fs::read(s.path("a.key")).unwrap();
    fails(&s.run(&["keygen", "--out", "a.key"]), &["a.key", "exists"]);
    assert_eq!(std::fs::read(s.path("a.key")).unwrap(), before);
}

#[test]
fn roster_show_reports_tolerance() {
    let s = Swarm::new();
    let out = ok(&s.run(&["roster", "show", "roster.toml"]));
    assert!(out.contains("members (n)    3"), "{out}");
    assert!(out.contains("required (q)   2"), "{out}");
    assert!(out.contains("up to 1 members may be offline"), "{out}");
    let json: serde_json::Value =
        serde_json::from_str(&ok(&s.run(&["roster", "show", "roster.toml", "--json"]))).unwrap();
    assert_eq!(json["report"]["q"], 2);
    assert_eq!(json["members"].as_array().unwrap().len(), 3);
    // Never overwritten.
    fails(
        &s.run(&[
            "roster",
            "init",
            "--swarm-id",
            "x",
            "--quorum",
            "1",
            "--member",
            &format!("a={}", s.keys[0]),
            "--out",
            "roster.toml",
        ]),
        &["roster.toml"],
    );
}

#[test]
fn bad_rosters_name_the_member() {
    let s = Swarm::new();
    let identity = format!("01{}", "00".repeat(31));
    fails(
        &s.run(&[
            "roster",
            "init",
            "--swarm-id",
            "x",
            "--quorum",
            "1/2",
            "--member",
            &format!("good={}", s.keys[0]),
            "--member",
            &format!("weak={identity}"),
        ]),
        &["weak", "small order"],
    );
    let dup = format!(
        "swarm_id = \"x\"\nquorum = \"1/2\"\n[[members]]\nname = \"a\"\nkey = \"{}\"\n[[members]]\nname = \"a\"\nkey = \"{}\"\n",
        s.keys[0], s.keys[1]
    );
    std::fs::write(s.path("dup.toml"), dup).unwrap();
    fails(
        &s.run(&["roster", "show", "dup.toml"]),
        &["dup.toml", "\"a\"", "twice"],
    );
    fails(
        &s.run(&[
            "roster",
            "init",
            "--swarm-id",
            "x",
            "--quorum",
            "150%",
            "--member",
            &format!("a={}", s.keys[0]),
        ]),
        &["--quorum", "at most 1"],
    );
}

#[test]
fn config_check_prints_the_effective_config() {
    let s = Swarm::new();
    let out = ok(&s.run(&[
        "config",
        "check",
        "node.toml",
        "--listen",
        "/ip4/127.0.0.1/tcp/9999",
    ]));
    assert!(
        out.contains("/ip4/127.0.0.1/tcp/9999"),
        "flag overrides file: {out}"
    );
    assert!(!out.contains("tcp/7000"), "{out}");
    let data = s.path("data");
    assert!(
        out.contains(&data.display().to_string()),
        "paths are resolved: {out}"
    );
    assert!(out.contains("voter a"), "{out}");
}

#[test]
fn bad_configs_name_file_and_field() {
    let s = Swarm::new();
    std::fs::write(
        s.path("unknown.toml"),
        format!("{NODE}\ncolour = \"red\"\n"),
    )
    .unwrap();
    fails(
        &s.run(&["config", "check", "unknown.toml"]),
        &["unknown.toml", "colour"],
    );

    std::fs::write(s.path("broken.toml"), "data_dir = \"data\"\nkey_file = [\n").unwrap();
    fails(
        &s.run(&["config", "check", "broken.toml"]),
        &["broken.toml", "line"],
    );

    std::fs::write(
        s.path("addr.toml"),
        NODE.replace("/ip4/127.0.0.1/tcp/7000", "7000"),
    )
    .unwrap();
    fails(
        &s.run(&["config", "check", "addr.toml"]),
        &["addr.toml", "listen[0]"],
    );

    fails(
        &s.run(&["config", "check", "missing.toml"]),
        &["missing.toml"],
    );

    // A key that is not in the roster.
    ok(&s.run(&["keygen", "--out", "stranger.key"]));
    std::fs::write(
        s.path("stranger.toml"),
        NODE.replace("a.key", "stranger.key"),
    )
    .unwrap();
    fails(
        &s.run(&["config", "check", "stranger.toml"]),
        &["stranger.key", "not a member", "roster.toml"],
    );

    // A key file other users can read.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(s.path("b.key"), std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(s.path("open.toml"), NODE.replace("a.key", "b.key")).unwrap();
    fails(
        &s.run(&["config", "check", "open.toml"]),
        &["b.key", "chmod 600"],
    );

    // A missing key file.
    std::fs::write(s.path("nokey.toml"), NODE.replace("a.key", "gone.key")).unwrap();
    fails(&s.run(&["config", "check", "nokey.toml"]), &["gone.key"]);
}

#[test]
fn store_info_refuses_locked_corrupt_and_foreign_data_dirs() {
    let s = Swarm::new();
    let data = s.path("data");
    // Fresh: created by the first open, then readable.
    let (store, _) = Store::open(&data).unwrap();
    fails(
        &s.run(&["store", "info", "--config", "node.toml"]),
        &["LOCK", "in use"],
    );
    drop(store);
    let out = ok(&s.run(&["store", "info", "--config", "node.toml"]));
    assert!(out.contains("schema         1"), "{out}");

    {
        let db = swarmvote_node::daemon::store::open_sled(&data.join("db")).unwrap();
        db.open_tree("meta")
            .unwrap()
            .insert("schema_version", &7u32.to_be_bytes())
            .unwrap();
        db.flush().unwrap();
    }
    fails(
        &s.run(&["store", "info", "--data-dir", "data"]),
        &["data", "schema version 7"],
    );

    std::fs::write(s.path("file"), b"x").unwrap();
    fails(
        &s.run(&["store", "info", "--data-dir", "file"]),
        &["file", "not a directory"],
    );
    fails(
        &s.run(&["store", "info", "--data-dir", "nowhere"]),
        &["nowhere"],
    );

    let corrupt = s.path("corrupt");
    drop(Store::open(&corrupt).unwrap());
    {
        let db = swarmvote_node::daemon::store::open_sled(&corrupt.join("db")).unwrap();
        db.open_tree("own_ballots")
            .unwrap()
            .insert([1u8; 32], b"junk".to_vec())
            .unwrap();
        db.flush().unwrap();
    }
    fails(
        &s.run(&["store", "info", "--data-dir", "corrupt"]),
        &["corrupt", "own_ballots"],
    );
}

#[test]
fn the_example_configs_are_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs");
    let out = ok(&swarmvote(
        &["roster", "show", "roster.example.toml"],
        &root,
    ));
    assert!(out.contains("members (n)    3"), "{out}");
    // The tiered example: every rule in the table, with its n, q and offline tolerance.
    let out = ok(&swarmvote(
        &["roster", "show", "roster.tiers.example.toml"],
        &root,
    ));
    for needle in [
        "backup-deletes   fs.delete path=/backup/**      1/1     3     3        0  -",
        "restarts         service.restart                1/3     3     1        2  -",
        "secret-rotation  secrets.*                      2/3     2     2        0  four-eyes, 1 from security",
        "roster-change    swarmvote.roster               1/1     3     3        0  -",
        "group          security         bob, carol",
    ] {
        assert!(out.contains(needle), "no {needle:?} in:\n{out}");
    }
    let json: serde_json::Value = serde_json::from_str(&ok(&swarmvote(
        &["roster", "show", "roster.tiers.example.toml", "--json"],
        &root,
    )))
    .unwrap();
    let tiers = json["report"]["tiers"].as_array().unwrap();
    let names: Vec<&str> = tiers.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "backup-deletes",
            "restarts",
            "secret-rotation",
            "default",
            "roster-change"
        ]
    );
    assert_eq!(tiers[2]["four_eyes"], true);
    assert_eq!(tiers[2]["n"], 2);
    assert_eq!(tiers[2]["require"][0], "1 from security");
    assert_eq!(
        json["groups"]["security"],
        serde_json::json!(["bob", "carol"])
    );
    let config = swarmvote_node::config::NodeConfig::load(
        &root.join("node.example.toml"),
        &swarmvote_node::config::Overrides::default(),
    )
    .unwrap();
    assert_eq!(config.bootstrap.len(), 2);
    assert_eq!(config.gate.rules.len(), 3);
}
