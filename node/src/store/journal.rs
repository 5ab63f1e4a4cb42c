//! The own-ballot journal: a small append-only file that is fsync'd before an own ballot
//! leaves the node.
//!
//! sled 0.34.7's `flush` ends in `sync_file_range(2)` on Linux, which neither writes file
//! metadata nor flushes the drive's cache, and sled never fsyncs its directory. That is
//! not enough for a ballot that must survive `kill -9` or power loss, so own ballots are
//! also appended here and the file is `fsync`ed (`File::sync_data` after every batch;
//! `sync_all` and a directory fsync when the file is created).
//!
//! Format: the 8 bytes `SVJOURN1`, then entries `[len: u32 LE][crc32 of bytes: u32 LE]
//! [bytes]`, where `bytes` is a codec-encoded `SignedBallot`. Entries are only ever
//! appended and synced in order, so an invalid entry means it and everything after it
//! were never synced; on open they are cut off (and counted), never guessed at.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use swarmvote_protocol::{SignedBallot, codec};

use super::StoreError;

const MAGIC: &[u8; 8] = b"SVJOURN1";
/// An entry larger than this is corrupt: ballots are far smaller.
const MAX_ENTRY: u32 = 64 * 1024;

/// The open journal.
pub(crate) struct Journal {
    file: File,
    path: PathBuf,
    /// Bytes appended since the last sync.
    dirty: bool,
}

/// What opening the journal found.
pub(crate) struct Replay {
    pub(crate) ballots: Vec<SignedBallot>,
    /// Bytes of an unsynced tail that were cut off.
    pub(crate) truncated: u64,
}

impl Journal {
    /// Opens (or creates) the journal and reads back every complete entry.
    pub(crate) fn open(path: &Path) -> Result<(Self, Replay), StoreError> {
        let io = |source| StoreError::Io {
            path: path.to_owned(),
            source,
        };
        let exists = path.exists();
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(io)?;
        if !exists {
            file.write_all(MAGIC).map_err(io)?;
            file.sync_all().map_err(io)?;
            if let Some(dir) = path.parent() {
                File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
            }
        }
        let mut bytes = Vec::new();
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        file.read_to_end(&mut bytes).map_err(io)?;
        if bytes.get(..MAGIC.len()) != Some(MAGIC.as_slice()) {
            return Err(StoreError::Corrupt {
                path: path.to_owned(),
                detail: "not a swarmvote journal (bad header)".into(),
            });
        }
        let (ballots, good_len) = parse(&bytes, path)?;
        let total = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        let truncated = total.saturating_sub(good_len);
        if truncated > 0 {
            file.set_len(good_len).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        Ok((
            Self {
                file,
                path: path.to_owned(),
                dirty: false,
            },
            Replay { ballots, truncated },
        ))
    }

    /// Appends a ballot. Not durable until [`Journal::sync`].
    pub(crate) fn append(&mut self, ballot: &SignedBallot) -> Result<(), StoreError> {
        let bytes = codec::encode(ballot).map_err(|e| StoreError::Corrupt {
            path: self.path.clone(),
            detail: e.to_string(),
        })?;
        let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
        let mut entry = Vec::with_capacity(bytes.len().saturating_add(8));
        entry.extend_from_slice(&len.to_le_bytes());
        entry.extend_from_slice(&crc32fast::hash(&bytes).to_le_bytes());
        entry.extend_from_slice(&bytes);
        // One write per entry: a crash tears at most this entry, which replay cuts off.
        self.file
            .write_all(&entry)
            .map_err(|source| StoreError::Io {
                path: self.path.clone(),
                source,
            })?;
        self.dirty = true;
        Ok(())
    }

    /// Makes every appended entry durable.
    pub(crate) fn sync(&mut self) -> Result<(), StoreError> {
        if self.dirty {
            self.file.sync_data().map_err(|source| StoreError::Io {
                path: self.path.clone(),
                source,
            })?;
            self.dirty = false;
        }
        Ok(())
    }
}

/// Parses entries; returns them and the length of the valid prefix.
fn parse(bytes: &[u8], path: &Path) -> Result<(Vec<SignedBallot>, u64), StoreError> {
    let mut ballots = Vec::new();
    let mut at = MAGIC.len();
    while let Some(header) = bytes.get(at..at.saturating_add(8)) {
        let mut len_bytes = [0u8; 4];
        let mut crc_bytes = [0u8; 4];
        len_bytes.copy_from_slice(header.get(..4).unwrap_or(&[0; 4]));
        crc_bytes.copy_from_slice(header.get(4..).unwrap_or(&[0; 4]));
        let len = u32::from_le_bytes(len_bytes);
        if len == 0 || len > MAX_ENTRY {
            break;
        }
        let start = at.saturating_add(8);
        let Some(body) = bytes.get(start..start.saturating_add(len as usize)) else {
            break;
        };
        if crc32fast::hash(body) != u32::from_le_bytes(crc_bytes) {
            break;
        }
        // A checksummed entry that does not decode was written by other code: refuse
        // rather than drop a ballot that was durable.
        let ballot = codec::decode::<SignedBallot>(body).map_err(|e| StoreError::Corrupt {
            path: path.to_owned(),
            detail: format!("journal entry at byte {at}: {e}"),
        })?;
        ballots.push(ballot);
        at = start.saturating_add(len as usize);
    }
    Ok((ballots, u64::try_from(at).unwrap_or(u64::MAX)))
}
