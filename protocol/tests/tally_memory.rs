//! The tally's memory: a counting allocator measures what one tally of 1,000 members holds
//! beyond the (shared) ballots themselves, against the map-backed layout it replaced.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, unsafe_code)]

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::Arc;

use common::*;
use swarmvote_protocol::{SignatureCache, SignedBallot, Tally, Verified, Vote, VoterId};

/// Tracks the bytes this thread holds (allocated minus freed), so other test threads do
/// not disturb the measurement.
struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
}

fn track(delta: isize) {
    let _ = LIVE.try_with(|c| c.set(c.get().saturating_add(delta)));
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        track(layout.size() as isize);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        track(-(layout.size() as isize));
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The bytes still held after `f`, and its result.
fn held_by<T>(f: impl FnOnce() -> T) -> (T, isize) {
    let before = LIVE.with(Cell::get);
    let out = f();
    (out, LIVE.with(Cell::get) - before)
}

#[test]
fn a_thousand_yes_ballots_cost_one_pointer_each() {
    const N: u32 = 1_000;
    let r = roster(N, "2/3");
    let p = verified_proposal(&r);
    let cache = SignatureCache::new(2 * N as usize);
    // The ballots are shared `Arc`s made before measuring, as the engine's are (the
    // signature cache holds them), so only the tally's own structure is counted.
    let ballots: Vec<Verified<Arc<SignedBallot>>> = (0..N)
        .map(|i| ballot(&p, i, Vote::Yes).verify_shared(&r, &cache).unwrap())
        .collect();

    let (tally, dense) = held_by(|| {
        let mut t = Tally::new(&r, &p);
        for b in &ballots {
            t.add_shared(b.clone()).unwrap();
        }
        t
    });
    assert_eq!(tally.outcome().yes.len(), N as usize);

    // The layout it replaced: voter id -> shared ballot, in a B-tree.
    let (map, btree) = held_by(|| {
        let mut m: BTreeMap<VoterId, Arc<SignedBallot>> = BTreeMap::new();
        for b in &ballots {
            m.insert(b.ballot().voter, Arc::clone(b));
        }
        m
    });
    assert_eq!(map.len(), N as usize);

    eprintln!(
        "tally of {N} YES ballots: dense {dense} bytes ({:.1}/member), b-tree {btree} bytes ({:.1}/member)",
        dense as f64 / f64::from(N),
        btree as f64 / f64::from(N),
    );
    // One 8-byte slot per member on the YES side, nothing for NO.
    let pointer = size_of::<Option<Arc<SignedBallot>>>() as isize;
    assert_eq!(dense, pointer * N as isize);
    assert!(dense * 4 < btree, "dense {dense} vs b-tree {btree}");
}
