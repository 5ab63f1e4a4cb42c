//! No import circles: within every crate of the workspace, at every level of the module
//! tree, the sibling modules' `crate::` and `super::` imports form an acyclic graph.
//!
//! A module may use its parent's items (a submodule is part of its parent), so only edges
//! between siblings count: `crate::codec` using `crate::engine` and `crate::engine` using
//! `crate::codec` is a circle; `engine::sync` using `super::Engine` is not. Test modules
//! (`#[cfg(test)] mod tests`) and comments are not read.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One crate: its source root, its root file, and the files that belong to another crate
/// in the same tree (a binary beside a library).
struct CrateSrc {
    name: &'static str,
    dir: &'static str,
    root: &'static str,
    /// Top-level files or directories of `dir` that this crate does not own.
    exclude: &'static [&'static str],
    /// When set, only these top-level files and directories belong to the crate.
    only: &'static [&'static str],
}

const CRATES: &[CrateSrc] = &[
    CrateSrc {
        name: "swarmvote-protocol",
        dir: "protocol/src",
        root: "lib.rs",
        exclude: &[],
        only: &[],
    },
    CrateSrc {
        name: "swarmvote-node (lib)",
        dir: "node/src",
        root: "lib.rs",
        exclude: &["main.rs", "cmd"],
        only: &[],
    },
    CrateSrc {
        name: "swarmvote (bin)",
        dir: "node/src",
        root: "main.rs",
        exclude: &[],
        only: &["main.rs", "cmd"],
    },
    CrateSrc {
        name: "swarmvote-sim (lib)",
        dir: "simulator/src",
        root: "lib.rs",
        exclude: &["main.rs"],
        only: &[],
    },
];

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// A file's module path inside its crate: `engine/sync.rs` is `[engine, sync]`,
/// `engine/mod.rs` is `[engine]`, the root file is `[]`.
fn module_path(rel: &Path, root: &str) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|c| c.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap_or_default();
    if last != "mod.rs" && last != root {
        parts.push(last.trim_end_matches(".rs").to_string());
    }
    parts
}

/// The source without comments, string literals and the trailing test module.
fn code_of(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    };
    let mut out = String::with_capacity(text.len());
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
            i += 2;
            while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                i += 1;
            }
            i += 2;
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Expands the path that starts at `s` (after `crate::` or `super::`) into every full path
/// it names: `a::{b, c::d}` gives `a::b` and `a::c::d`.
fn expand(s: &str) -> Vec<Vec<String>> {
    let s = s.trim_start();
    if let Some(rest) = s.strip_prefix('{') {
        // A group: split at top-level commas up to the matching brace.
        let mut depth = 0usize;
        let mut items = Vec::new();
        let mut start = 0;
        for (i, c) in rest.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => {
                    items.push(&rest[start..i]);
                    break;
                }
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    items.push(&rest[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        return items
            .into_iter()
            .filter(|i| !i.trim().is_empty())
            .flat_map(expand)
            .collect();
    }
    let ident: String = s.chars().take_while(|c| is_ident(*c)).collect();
    if ident.is_empty() {
        return vec![vec![]];
    }
    let rest = &s[ident.len()..];
    if let Some(after) = rest.strip_prefix("::") {
        expand(after)
            .into_iter()
            .map(|mut tail| {
                tail.insert(0, ident.clone());
                tail
            })
            .collect()
    } else {
        vec![vec![ident]]
    }
}

/// Every absolute module-relative path this file's code names through `crate::` or
/// `super::`.
fn references(code: &str, me: &[String], is_mod_file: bool) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for (kw, is_super) in [("crate::", false), ("super::", true)] {
        let mut from = 0;
        while let Some(pos) = code[from..].find(kw) {
            let at = from + pos;
            from = at + kw.len();
            let before = &code[..at];
            if before.chars().next_back().is_some_and(is_ident) || before.ends_with("::") {
                continue;
            }
            let mut tail = &code[from..];
            let mut base: Vec<String> = Vec::new();
            if is_super {
                // `super` of a plain file is its parent; of a `mod.rs`, the grandparent.
                base = me.to_vec();
                base.pop();
                if is_mod_file {
                    base.pop();
                }
                while let Some(t) = tail.strip_prefix("super::") {
                    base.pop();
                    tail = t;
                }
            }
            for path in expand(tail) {
                let mut full = base.clone();
                full.extend(path);
                out.push(full);
            }
        }
    }
    out
}

/// The circles among sibling modules, each as its members and one witness edge each.
fn circles(krate: &CrateSrc) -> Vec<String> {
    let dir = workspace().join(krate.dir);
    let mut files = Vec::new();
    rust_files(&dir, &mut files);
    files.retain(|f| {
        let rel = f.strip_prefix(&dir).unwrap();
        let top = rel.iter().next().unwrap().to_string_lossy().into_owned();
        let top_ok = krate.only.is_empty() || krate.only.contains(&top.as_str());
        top_ok && !krate.exclude.contains(&top.as_str())
    });
    let modules: BTreeSet<Vec<String>> = files
        .iter()
        .map(|f| module_path(f.strip_prefix(&dir).unwrap(), krate.root))
        .collect();
    // (parent, from-child, to-child) -> a witness "file: crate::path".
    let mut edges: BTreeMap<(Vec<String>, String, String), String> = BTreeMap::new();
    for f in &files {
        let rel = f.strip_prefix(&dir).unwrap();
        let me = module_path(rel, krate.root);
        let is_mod = rel.ends_with("mod.rs") || rel == Path::new(krate.root);
        let code = code_of(&std::fs::read_to_string(f).unwrap());
        for path in references(&code, &me, is_mod) {
            // The longest prefix that is a module.
            let target = (0..=path.len())
                .rev()
                .map(|k| path[..k].to_vec())
                .find(|p| modules.contains(p))
                .unwrap_or_default();
            let common = me.iter().zip(&target).take_while(|(a, b)| a == b).count();
            if common >= me.len() || common >= target.len() {
                continue; // one is an ancestor of the other
            }
            let key = (
                me[..common].to_vec(),
                me[common].clone(),
                target[common].clone(),
            );
            edges
                .entry(key)
                .or_insert_with(|| format!("{}: {}", rel.display(), path.join("::")));
        }
    }
    // Tarjan-free: a circle exists between a and b when each reaches the other.
    let mut found = Vec::new();
    let parents: BTreeSet<Vec<String>> = edges.keys().map(|(p, _, _)| p.clone()).collect();
    for parent in parents {
        let adj: BTreeMap<&str, Vec<&str>> = edges.keys().filter(|(p, _, _)| *p == parent).fold(
            BTreeMap::new(),
            |mut m, (_, a, b)| {
                m.entry(a.as_str())
                    .or_insert_with(Vec::new)
                    .push(b.as_str());
                m
            },
        );
        let reach = |from: &str| -> BTreeSet<String> {
            let mut seen = BTreeSet::new();
            let mut stack = vec![from.to_string()];
            while let Some(n) = stack.pop() {
                for next in adj.get(n.as_str()).into_iter().flatten() {
                    if seen.insert((*next).to_string()) {
                        stack.push((*next).to_string());
                    }
                }
            }
            seen
        };
        for a in adj.keys() {
            if reach(a).contains(*a) {
                let members: Vec<String> = reach(a)
                    .into_iter()
                    .filter(|b| reach(b).contains(*a))
                    .collect();
                let witnesses: Vec<String> = edges
                    .iter()
                    .filter(|((p, x, y), _)| {
                        *p == parent && members.contains(x) && members.contains(y)
                    })
                    .map(|((_, x, y), w)| format!("    {x} -> {y} ({w})"))
                    .collect();
                let line = format!(
                    "{} in `{}`: {{{}}}\n{}",
                    krate.name,
                    if parent.is_empty() {
                        "crate".to_string()
                    } else {
                        parent.join("::")
                    },
                    members.join(", "),
                    witnesses.join("\n")
                );
                if !found.contains(&line) {
                    found.push(line);
                }
            }
        }
    }
    found
}

#[test]
fn no_crate_has_an_import_circle() {
    let all: Vec<String> = CRATES.iter().flat_map(circles).collect();
    assert!(all.is_empty(), "import circles:\n{}", all.join("\n"));
}

#[test]
fn the_checker_finds_a_circle() {
    // Guard the guard: two siblings that name each other are found.
    let me = vec!["codec".to_string()];
    let refs = references(
        "use crate::engine::{SyncRequest, sync::X};\nuse super::roster;",
        &me,
        false,
    );
    assert_eq!(
        refs,
        vec![
            vec!["engine".to_string(), "SyncRequest".to_string()],
            vec!["engine".to_string(), "sync".to_string(), "X".to_string()],
            vec!["roster".to_string()],
        ]
    );
    assert_eq!(code_of("a // crate::x\n\"crate::y\" b"), "a \n\"\" b");
}
