//! Acting on engine outputs in the order the engine's contract demands.

use swarmvote_protocol::engine::{Engine, Output, Record};

use crate::daemon::store::{Store, StoreError};

/// Where records go: the store, or a fake in the drain's unit tests.
pub trait Durable {
    /// Applies one record (durable only after [`Durable::sync`]).
    fn apply(&mut self, record: &Record) -> Result<(), StoreError>;
    /// Makes every applied record durable.
    fn sync(&mut self) -> Result<(), StoreError>;
}

impl Durable for Store {
    fn apply(&mut self, record: &Record) -> Result<(), StoreError> {
        Store::apply(self, record)
    }

    fn sync(&mut self) -> Result<(), StoreError> {
        Store::sync(self)
    }
}

/// Drains `engine`: records go to `store`, every other output to `sink`.
///
/// Outputs that follow an own-ballot record are held back until one fsync has made
/// every own ballot of this drain durable (a group commit), then released in order. So
/// an own ballot is never broadcast before it is on disk.
pub fn drain(
    engine: &mut Engine,
    store: &mut impl Durable,
    mut sink: impl FnMut(Output),
) -> Result<(), StoreError> {
    let mut held = Vec::new();
    let mut must_sync = false;
    while let Some(output) = engine.poll_output() {
        match output {
            Output::Persist(record) => {
                store.apply(&record)?;
                must_sync |= record.must_sync();
            }
            other if must_sync => held.push(other),
            other => sink(other),
        }
    }
    if must_sync {
        store.sync()?;
    }
    held.into_iter().for_each(sink);
    Ok(())
}
