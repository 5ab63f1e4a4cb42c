//! A node's store with the real node's durability rules.
//!
//! Records the engine marks `must_sync` (its own ballots) are durable at once, as the
//! node syncs them before broadcasting. Everything else sits in a write buffer until the
//! next periodic flush (sled flushes in the background every 500 ms by default). A crash
//! loses the buffer.
//!
//! Only a node that can crash ever reads its records back, so the others keep none (a
//! 1,000-node run would otherwise hold every ballot a thousand times over): they count
//! what they would have written and drop it.

use swarmvote_protocol::engine::Record;

/// One node's simulated store.
pub struct Store {
    /// Whether records are kept (the node can crash and restore from them).
    keep: bool,
    durable: Vec<Record>,
    buffered: Vec<Record>,
    /// Records written but not yet flushed, for a store that keeps none.
    unflushed: u64,
    written: u64,
    lost: u64,
}

impl Default for Store {
    fn default() -> Self {
        Self::new(true)
    }
}

impl Store {
    /// A store that keeps its records when `keep`, else only counts them.
    pub fn new(keep: bool) -> Self {
        Self {
            keep,
            durable: Vec::new(),
            buffered: Vec::new(),
            unflushed: 0,
            written: 0,
            lost: 0,
        }
    }

    /// Stores a record: durable now if it must be synced, else at the next flush.
    pub fn persist(&mut self, record: Record) {
        self.written = self.written.saturating_add(1);
        let sync = record.must_sync();
        if sync {
            // A sync also writes out everything buffered before it, as sled's does.
            self.flush();
        }
        if !self.keep {
            if !sync {
                self.unflushed = self.unflushed.saturating_add(1);
            }
            return;
        }
        if sync {
            self.durable.push(record);
        } else {
            self.buffered.push(record);
        }
    }

    /// The periodic background flush.
    pub fn flush(&mut self) {
        self.unflushed = 0;
        self.durable.append(&mut self.buffered);
    }

    /// A crash: the write buffer is gone.
    pub fn crash(&mut self) {
        let n = u64::try_from(self.buffered.len())
            .unwrap_or(u64::MAX)
            .saturating_add(self.unflushed);
        self.lost = self.lost.saturating_add(n);
        self.buffered.clear();
        self.unflushed = 0;
    }

    /// What survives a crash, in write order, for `Engine::restore` (empty for a store
    /// that keeps nothing).
    pub fn durable(&self) -> &[Record] {
        &self.durable
    }

    /// Records written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Records lost to crashes so far.
    pub fn lost(&self) -> u64 {
        self.lost
    }
}
