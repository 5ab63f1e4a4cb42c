//! Points in time on the command line: an RFC 3339 time (`2026-12-01T00:00:00Z`), unix
//! milliseconds (`1764547200000`), or a duration back from now (`7d`, `36h`, `90m`).

use std::time::{Duration, UNIX_EPOCH};

use swarmvote_protocol::UnixMillis;

/// Parses `text` (see the module documentation); `now` anchors durations. The error names
/// the three accepted forms.
pub fn parse_time(text: &str, now: UnixMillis) -> Result<UnixMillis, String> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse::<u64>()
            .map(UnixMillis)
            .map_err(|e| format!("{text:?}: {e}"));
    }
    if let Ok(at) = humantime::parse_rfc3339_weak(text) {
        let ms = at
            .duration_since(UNIX_EPOCH)
            .map_err(|_| format!("{text:?} is before 1970"))?
            .as_millis();
        return u64::try_from(ms)
            .map(UnixMillis)
            .map_err(|_| format!("{text:?} is too far in the future"));
    }
    if let Ok(ago) = humantime::parse_duration(text) {
        let ago = u64::try_from(ago.as_millis()).unwrap_or(u64::MAX);
        return Ok(UnixMillis(now.0.saturating_sub(ago)));
    }
    Err(format!(
        "{text:?} is not a time: give an RFC 3339 time (2026-12-01T00:00:00Z), unix \
         milliseconds, or a duration back from now (7d, 36h)"
    ))
}

/// `at` as an RFC 3339 time (UTC, seconds), for messages.
pub fn format_time(at: UnixMillis) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(at.0)).to_string()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_three_forms_parse_and_anything_else_is_named() {
        let now = UnixMillis(1_764_547_200_000);
        assert_eq!(parse_time("1764547200000", now), Ok(now));
        assert_eq!(parse_time("2025-12-01T00:00:00Z", now), Ok(now));
        assert_eq!(parse_time("2025-12-01 00:00:00", now), Ok(now));
        assert_eq!(
            parse_time("7d", now),
            Ok(UnixMillis(now.0 - 7 * 24 * 3600 * 1000))
        );
        let e = parse_time("yesterday", now).unwrap_err();
        assert!(e.contains("\"yesterday\"") && e.contains("RFC 3339"), "{e}");
        assert_eq!(format_time(now), "2025-12-01T00:00:00Z");
    }
}
