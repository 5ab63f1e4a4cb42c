//! Append-only, fsync'd journals: the own-ballot journal (fsync'd before an own ballot
//! leaves the node) and the execution journal (fsync'd before an executor process starts).
//! The file format is the same; only the magic and what the entries hold differ.
//!
//! sled 0.34.7's `flush` ends in `sync_file_range(2)` on Linux, which neither writes file
//! metadata nor flushes the drive's cache, and sled never fsyncs its directory. That is
//! not enough for a ballot that must survive `kill -9` or power loss, so own ballots are
//! also appended here and the file is `fsync`ed (`File::sync_data` after every batch;
//! `sync_all` and a directory fsync when the file is created).
//!
//! Format: an 8-byte magic (`SVJOURN1` for own ballots), then entries `[len: u32 LE]
//! [crc32 of bytes: u32 LE][bytes]`, where `bytes` is one record (a codec-encoded
//! `SignedBallot` in the own-ballot journal), then zeros. Entries are only
//! ever appended and synced in order, so an invalid entry means it and everything after it
//! were never synced; on open they are cut off (and counted), never guessed at.
//!
//! The file is preallocated in 1 MiB chunks of zeros and entries are written in place:
//! then `fdatasync` has no file size to commit, which made it 1.5× faster here (109 µs
//! against 166 µs median on ext4). A zero length ends the entries.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::StoreError;

/// An entry larger than this is corrupt: records are far smaller.
const MAX_ENTRY: u32 = 64 * 1024;
/// Preallocation step.
const CHUNK: u64 = 1 << 20;

/// The open journal.
pub(crate) struct Journal {
    file: File,
    path: PathBuf,
    /// Where the next entry goes.
    end: u64,
    /// Bytes of the file that exist (zeros past `end`).
    allocated: u64,
    /// Bytes written since the last sync.
    dirty: bool,
}

/// What opening the journal found.
pub(crate) struct Replay {
    /// Every complete entry, with its byte offset (for error messages), in order.
    pub(crate) entries: Vec<(u64, Vec<u8>)>,
    /// Bytes of an unsynced tail that were cut off.
    pub(crate) truncated: u64,
}

impl Journal {
    /// Opens (or creates) the journal and reads back every complete entry.
    pub(crate) fn open(path: &Path, magic: &[u8; 8]) -> Result<(Self, Replay), StoreError> {
        let io = |source| StoreError::Io {
            path: path.to_owned(),
            source,
        };
        let exists = path.exists();
        // Not O_APPEND: entries are written in place into preallocated space.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io)?;
        if !exists {
            file.write_all(magic).map_err(io)?;
            file.sync_all().map_err(io)?;
            if let Some(dir) = path.parent() {
                File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
            }
        }
        let mut bytes = Vec::new();
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        file.read_to_end(&mut bytes).map_err(io)?;
        if bytes.get(..magic.len()) != Some(magic.as_slice()) {
            return Err(StoreError::Corrupt {
                path: path.to_owned(),
                detail: "not a swarmvote journal (bad header)".into(),
            });
        }
        let (entries, good_len) = parse(&bytes, magic.len());
        let total = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        // Non-zero bytes past the last good entry are a torn, unsynced tail.
        let tail = bytes
            .get(usize::try_from(good_len).unwrap_or(usize::MAX)..)
            .unwrap_or_default();
        let truncated = tail.iter().rposition(|b| *b != 0).map_or(0, |i| {
            u64::try_from(i).unwrap_or(u64::MAX).saturating_add(1)
        });
        if truncated > 0 {
            // Zero the torn bytes rather than guess at them; keep the preallocation.
            let zeros = vec![0u8; usize::try_from(truncated).unwrap_or(0)];
            file.write_all_at(&zeros, good_len).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        Ok((
            Self {
                file,
                path: path.to_owned(),
                end: good_len,
                allocated: total,
                dirty: false,
            },
            Replay { entries, truncated },
        ))
    }

    /// The file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record. Not durable until [`Journal::sync`].
    pub(crate) fn append(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        let len = match u32::try_from(bytes.len()) {
            Ok(len) if len > 0 && len <= MAX_ENTRY => len,
            _ => {
                return Err(StoreError::Corrupt {
                    path: self.path.clone(),
                    detail: format!(
                        "a {}-byte record does not fit a journal entry ({} bytes at most)",
                        bytes.len(),
                        MAX_ENTRY
                    ),
                });
            }
        };
        let mut entry = Vec::with_capacity(bytes.len().saturating_add(8));
        entry.extend_from_slice(&len.to_le_bytes());
        entry.extend_from_slice(&crc32fast::hash(bytes).to_le_bytes());
        entry.extend_from_slice(bytes);
        let io = |source| StoreError::Io {
            path: self.path.clone(),
            source,
        };
        let len = u64::try_from(entry.len()).unwrap_or(u64::MAX);
        let needed = self.end.saturating_add(len);
        if needed > self.allocated {
            // Grow by whole chunks of zeros and make the new size durable once.
            let target = needed.div_ceil(CHUNK).saturating_mul(CHUNK);
            let zeros =
                vec![0u8; usize::try_from(target.saturating_sub(self.allocated)).unwrap_or(0)];
            self.file.write_all_at(&zeros, self.allocated).map_err(io)?;
            self.file.sync_all().map_err(io)?;
            self.allocated = target;
        }
        // One write per entry: a crash tears at most this entry, which replay cuts off.
        self.file.write_all_at(&entry, self.end).map_err(io)?;
        self.end = needed;
        self.dirty = true;
        Ok(())
    }

    /// Replaces the whole journal with `entries`, atomically: a new file is written and
    /// fsync'd beside it, then renamed over it, and the directory is fsync'd. A crash
    /// leaves either the old journal or the new one. Used by pruning, the only thing that
    /// ever removes an entry.
    pub(crate) fn replace(
        &mut self,
        magic: &[u8; 8],
        entries: &[Vec<u8>],
    ) -> Result<(), StoreError> {
        let tmp = self.path.with_extension("journal.tmp");
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| StoreError::Io { path, source }
        };
        {
            let mut file = File::create(&tmp).map_err(io(&tmp))?;
            file.write_all(magic).map_err(io(&tmp))?;
            file.sync_all().map_err(io(&tmp))?;
        }
        let (mut fresh, _) = Journal::open(&tmp, magic)?;
        for e in entries {
            fresh.append(e)?;
        }
        fresh.sync()?;
        std::fs::rename(&tmp, &self.path).map_err(io(&self.path))?;
        if let Some(dir) = self.path.parent() {
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(io(dir))?;
        }
        fresh.path = self.path.clone();
        *self = fresh;
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

/// Parses entries after the magic; returns them and the length of the valid prefix.
/// Decoding an entry is the caller's business: a checksummed entry that does not decode
/// was written by other code, and the caller refuses it rather than drop a durable record.
fn parse(bytes: &[u8], header: usize) -> (Vec<(u64, Vec<u8>)>, u64) {
    let mut entries = Vec::new();
    let mut at = header;
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
        entries.push((u64::try_from(at).unwrap_or(u64::MAX), body.to_vec()));
        at = start.saturating_add(len as usize);
    }
    (entries, u64::try_from(at).unwrap_or(u64::MAX))
}
