//! Server-Sent Events: a reader with bounded lines.

use std::io::{self, BufRead};

#[cfg(test)]
use std::io::BufReader;

/// Largest line of an event stream; a longer one means the stream is not ours.
pub const MAX_SSE_LINE: usize = 1024 * 1024;

/// One Server-Sent Event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// `id:`, if the event set one.
    pub id: Option<String>,
    /// `event:` (`message` when absent).
    pub event: String,
    /// `data:` lines joined with newlines.
    pub data: String,
}

/// Reads Server-Sent Events from a stream, line by line, each line capped at
/// [`MAX_SSE_LINE`] so a misbehaving server cannot exhaust memory.
pub struct SseReader<R> {
    reader: R,
    /// The previous line ended in CR: an LF right after it belongs to it.
    after_cr: bool,
}

impl<R: BufRead> SseReader<R> {
    /// Wraps a reader.
    pub fn new(reader: R) -> Self {
        Self {
            reader,
            after_cr: false,
        }
    }

    /// The next line without its terminator (CR, LF or CRLF), or `None` at the end.
    fn line(&mut self) -> io::Result<Option<String>> {
        let mut line = Vec::new();
        loop {
            let buf = self.reader.fill_buf()?;
            if buf.is_empty() {
                // A partial last line is not an event: the stream was cut.
                return Ok(if line.is_empty() {
                    None
                } else {
                    Some(String::from_utf8_lossy(&line).into_owned())
                });
            }
            let mut used = 0;
            let mut done = false;
            for &b in buf {
                used += 1;
                if self.after_cr {
                    self.after_cr = false;
                    if b == b'\n' {
                        continue;
                    }
                }
                match b {
                    b'\n' => {
                        done = true;
                        break;
                    }
                    b'\r' => {
                        self.after_cr = true;
                        done = true;
                        break;
                    }
                    _ => line.push(b),
                }
            }
            self.reader.consume(used);
            if line.len() > MAX_SSE_LINE {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("event stream line longer than {MAX_SSE_LINE} bytes"),
                ));
            }
            if done {
                return Ok(Some(String::from_utf8_lossy(&line).into_owned()));
            }
        }
    }

    /// The next event, or `None` when the stream ends.
    pub fn next_event(&mut self) -> io::Result<Option<SseEvent>> {
        let mut event = SseEvent::default();
        let mut data: Option<String> = None;
        let mut any = false;
        loop {
            let Some(line) = self.line()? else {
                return Ok(None);
            };
            if line.is_empty() {
                if any {
                    event.data = data.unwrap_or_default();
                    if event.event.is_empty() {
                        event.event = "message".into();
                    }
                    return Ok(Some(event));
                }
                continue;
            }
            if line.starts_with(':') {
                // A comment (the server's keep-alive).
                continue;
            }
            let (field, value) = match line.split_once(':') {
                Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
                None => (line.as_str(), ""),
            };
            match field {
                "data" => {
                    // Several data lines make one value, joined by newlines.
                    match &mut data {
                        Some(d) => {
                            d.push('\n');
                            d.push_str(value);
                        }
                        None => data = Some(value.to_owned()),
                    }
                    any = true;
                }
                "event" => {
                    event.event = value.to_owned();
                    any = true;
                }
                "id" => {
                    event.id = Some(value.to_owned());
                    any = true;
                }
                // `retry` and unknown fields are ignored.
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn events(text: &str) -> Vec<SseEvent> {
        let mut r = SseReader::new(io::Cursor::new(text.as_bytes().to_vec()));
        let mut out = Vec::new();
        while let Some(e) = r.next_event().unwrap() {
            out.push(e);
        }
        out
    }

    #[test]
    fn sse_fields_comments_and_line_endings() {
        let got = events(
            ": keep-alive\n\nid: 7\nevent: decided\ndata: {\"a\":1}\n\nid:8\r\nevent:x\r\ndata: one\r\ndata: two\r\n\r\ndata: lone-cr\r\rretry: 5\nevent: cut\n",
        );
        assert_eq!(
            got,
            vec![
                SseEvent {
                    id: Some("7".into()),
                    event: "decided".into(),
                    data: "{\"a\":1}".into()
                },
                SseEvent {
                    id: Some("8".into()),
                    event: "x".into(),
                    data: "one\ntwo".into()
                },
                SseEvent {
                    id: None,
                    event: "message".into(),
                    data: "lone-cr".into()
                },
            ]
        );
    }

    #[test]
    fn sse_refuses_endless_lines() {
        let long = format!("data: {}\n\n", "x".repeat(MAX_SSE_LINE + 10));
        let mut r = SseReader::new(BufReader::with_capacity(
            4096,
            io::Cursor::new(long.into_bytes()),
        ));
        let err = r.next_event().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }
}
