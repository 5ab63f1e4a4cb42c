//! Reading a JSON file an operator hands the CLI (a certificate, a chain file), with a
//! size cap checked before and while reading; errors name the file.

use std::io::Read;
use std::path::Path;

use serde_json::Value;

use super::client::ClientError;

/// Largest certificate file `verify-cert` reads.
pub const MAX_CERTIFICATE_FILE: u64 = 32 * 1024 * 1024;

/// Reads a JSON file of at most `max` bytes; errors name the file.
pub(crate) fn read_json_file(path: &Path, max: u64) -> Result<Value, ClientError> {
    let bad = |message: String| ClientError::BadFile {
        path: path.to_owned(),
        message,
    };
    let read = |source| ClientError::Read {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read)?;
    let size = file.metadata().map_err(read)?.len();
    let mib = max / (1024 * 1024);
    if size > max {
        return Err(bad(format!(
            "{size} bytes; this file may be at most {max} bytes ({mib} MiB)"
        )));
    }
    // The cap again while reading: the file may grow, or be a pipe.
    let mut bytes = Vec::new();
    file.take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(read)?;
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > max {
        return Err(bad(format!(
            "more than {max} bytes; this file may be at most {mib} MiB"
        )));
    }
    serde_json::from_slice(&bytes).map_err(|e| bad(format!("not JSON: {e}")))
}
