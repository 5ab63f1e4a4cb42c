//! A node's store with the real node's durability rules.
//!
//! Records the engine marks `must_sync` (its own ballots) are durable at once, as the
//! node syncs them before broadcasting. Everything else sits in a write buffer until the
//! next periodic flush (sled flushes in the background every 500 ms by default). A crash
//! loses the buffer.

use swarmvote_protocol::engine::Record;

/// One node's simulated store.
#[derive(Default)]
pub struct Store {
    durable: Vec<Record>,
    buffered: Vec<Record>,
    lost: u64,
}

impl Store {
    /// Stores a record: durable now if it must be synced, else at the next flush.
    pub fn persist(&mut self, record: Record) {
        if record.must_sync() {
            // A sync also writes out everything buffered before it, as sled's does.
            self.flush();
            self.durable.push(record);
        } else {
            self.buffered.push(record);
        }
    }

    /// The periodic background flush.
    pub fn flush(&mut self) {
        self.durable.append(&mut self.buffered);
    }

    /// A crash: the write buffer is gone.
    pub fn crash(&mut self) {
        let n = u64::try_from(self.buffered.len()).unwrap_or(u64::MAX);
        self.lost = self.lost.saturating_add(n);
        self.buffered.clear();
    }

    /// What survives a crash, in write order, for `Engine::restore`.
    pub fn durable(&self) -> &[Record] {
        &self.durable
    }

    /// Records lost to crashes so far.
    pub fn lost(&self) -> u64 {
        self.lost
    }
}
