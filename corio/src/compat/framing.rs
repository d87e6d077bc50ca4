//! Where a connection's request stream is — in a head, or in a body — as
//! far as the bytes read so far tell (RFC 9112 §6: `Content-Length` and
//! chunked bodies). [`Deadlined`](super::io::Deadlined) follows it so that
//! the body deadline cuts a body that has stopped arriving, and never a
//! slow handler whose request is complete.
//!
//! hyper does the real parsing; this only follows. Whatever it does not
//! follow (a malformed head, conflicting lengths, a protocol upgrade) puts
//! it in [`Framing::Lost`] for the rest of the connection, where no stalled
//! body is cut (a body still *arriving* after its deadline is cut
//! regardless).

/// The longest head line kept to look at (longer lines are only counted).
const LINE: usize = 256;

/// The request stream's state after the bytes fed so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Framing {
    /// In a request head.
    Head(Head),
    /// In a `Content-Length` body: bytes left.
    Body(u64),
    /// In a chunk-size line (the chunk's extensions included).
    ChunkSize(Line),
    /// In a chunk's data: bytes left.
    ChunkData(u64),
    /// In the line end after a chunk's data.
    ChunkEnd,
    /// In the trailer section after the last chunk.
    Trailers(Line),
    /// Not followed any more.
    Lost,
}

/// A line being read: its first [`LINE`] bytes, and whether it was longer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Line {
    bytes: Vec<u8>,
    long: bool,
}

impl Line {
    fn extend(&mut self, part: &[u8]) {
        let room = LINE - self.bytes.len();
        if part.len() > room {
            self.long = true;
        }
        self.bytes.extend_from_slice(&part[..part.len().min(room)]);
    }
}

/// A head being read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Head {
    line: Line,
    /// Whether the request line has been read.
    started: bool,
    length: Option<u64>,
    chunked: bool,
    /// A method or header after which the bytes may stop being HTTP.
    upgrade: bool,
}

impl Default for Framing {
    fn default() -> Framing {
        Framing::Head(Head::default())
    }
}

impl Framing {
    /// Whether the stream is inside a request body.
    pub(super) fn in_body(&self) -> bool {
        !matches!(self, Framing::Head(_) | Framing::Lost)
    }

    /// Follows `bytes`, the next ones read.
    pub(super) fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            match self {
                Framing::Lost => return,
                Framing::Body(left) | Framing::ChunkData(left) => {
                    let n = (*left).min(bytes.len() as u64);
                    *left -= n;
                    // `n` is at most `bytes.len()`.
                    bytes = &bytes[n as usize..];
                    if *left == 0 {
                        *self = match self {
                            Framing::Body(_) => Framing::default(),
                            _ => Framing::ChunkEnd,
                        };
                    }
                }
                _ => {
                    // Up to the end of the line, if it is here.
                    let (part, end) = match find_newline(bytes) {
                        Some(i) => (&bytes[..i], Some(i + 1)),
                        None => (bytes, None),
                    };
                    bytes = &bytes[end.unwrap_or(bytes.len())..];
                    self.line(part, end.is_some());
                }
            }
        }
    }

    /// Follows part of a line of a line-based state: `part`, then the
    /// line's end if `ends`.
    fn line(&mut self, part: &[u8], ends: bool) {
        let line = match self {
            Framing::Head(h) => &mut h.line,
            Framing::ChunkSize(l) | Framing::Trailers(l) => l,
            Framing::ChunkEnd => {
                if ends {
                    *self = Framing::ChunkSize(Line::default());
                }
                return;
            }
            Framing::Body(_) | Framing::ChunkData(_) | Framing::Lost => return,
        };
        if !ends {
            line.extend(part);
            return;
        }
        // A line read whole (the common case: a request's head arrives in
        // one read) is looked at where it is; one that came in parts was
        // kept, and its buffer is kept for the next (no allocation a line).
        let kept = if line.bytes.is_empty() {
            None
        } else {
            line.extend(part);
            Some((
                std::mem::take(&mut line.bytes),
                std::mem::take(&mut line.long),
            ))
        };
        let (text, long) = match &kept {
            Some((buf, long)) => (&buf[..], *long),
            None => (&part[..part.len().min(LINE)], part.len() > LINE),
        };
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        // Heads change in place (no move of the state a line).
        let next = match self {
            Framing::Head(h) => head_line(h, text, long),
            Framing::ChunkSize(_) => Some(chunk_size(text, long)),
            Framing::Trailers(_) if text.is_empty() => Some(Framing::default()),
            _ => None,
        };
        if let Some(next) = next {
            *self = next;
        }
        if let Some((mut buf, _)) = kept
            && let Framing::Head(Head { line, .. })
            | Framing::ChunkSize(line)
            | Framing::Trailers(line) = self
        {
            buf.clear();
            line.bytes = buf;
        }
    }
}

/// The index of the first `\n` in `s`, eight bytes at a time.
fn find_newline(s: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    const NL: u64 = u64::from_ne_bytes([b'\n'; 8]);
    let mut chunks = s.chunks_exact(8);
    let mut at = 0;
    for c in &mut chunks {
        let w = u64::from_le_bytes(c.try_into().expect("8 bytes")) ^ NL;
        // A byte of `w` is zero where `c` has a newline. The lowest flagged
        // byte is always a real zero (a borrow only flags bytes above one).
        let zero = w.wrapping_sub(ONES) & !w & HIGHS;
        if zero != 0 {
            return Some(at + (zero.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| b == b'\n')
        .map(|i| at + i)
}

/// Follows a head line: changes `h`, or returns the state after it.
fn head_line(h: &mut Head, text: &[u8], long: bool) -> Option<Framing> {
    if !h.started {
        if text.is_empty() {
            // Empty lines before a request line are ignored.
            return None;
        }
        h.started = true;
        h.upgrade = text.starts_with(b"CONNECT ");
        return None;
    }
    if text.is_empty() {
        return Some(match h {
            Head { upgrade: true, .. } => Framing::Lost,
            Head { chunked: true, .. } => Framing::ChunkSize(Line::default()),
            Head {
                length: Some(n @ 1..),
                ..
            } => Framing::Body(*n),
            _ => Framing::default(),
        });
    }
    let Some(colon) = text.iter().position(|&c| c == b':') else {
        return Some(Framing::Lost);
    };
    let name = &text[..colon];
    let value = text[colon + 1..].trim_ascii();
    if name.eq_ignore_ascii_case(b"content-length") {
        let n = std::str::from_utf8(value)
            .ok()
            .filter(|v| !long && !v.is_empty() && v.bytes().all(|c| c.is_ascii_digit()))
            .and_then(|v| v.parse::<u64>().ok());
        match (n, h.length) {
            (Some(n), None) => h.length = Some(n),
            (Some(n), Some(m)) if n == m => {}
            _ => return Some(Framing::Lost),
        }
    } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
        if long {
            return Some(Framing::Lost);
        }
        let last = value.rsplit(|&c| c == b',').next().unwrap_or(b"");
        if !last.trim_ascii().eq_ignore_ascii_case(b"chunked") {
            return Some(Framing::Lost);
        }
        h.chunked = true;
    } else if name.eq_ignore_ascii_case(b"upgrade") {
        h.upgrade = true;
    }
    if h.chunked && h.length.is_some() {
        return Some(Framing::Lost);
    }
    None
}

/// The state after a chunk-size line.
fn chunk_size(text: &[u8], long: bool) -> Framing {
    let hex = text
        .split(|&c| c == b';')
        .next()
        .unwrap_or(b"")
        .trim_ascii();
    if long || hex.is_empty() || hex.len() > 16 {
        return Framing::Lost;
    }
    match std::str::from_utf8(hex)
        .ok()
        .and_then(|h| u64::from_str_radix(h, 16).ok())
    {
        Some(0) => Framing::Trailers(Line::default()),
        Some(n) => Framing::ChunkData(n),
        None => Framing::Lost,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `parts` one after another; whether in a body after each.
    fn follow(parts: &[&[u8]]) -> Vec<bool> {
        let mut f = Framing::default();
        parts
            .iter()
            .map(|p| {
                f.feed(p);
                f.in_body()
            })
            .collect()
    }

    #[test]
    fn find_newline_finds_the_first() {
        for len in 0..40 {
            for nl in 0..len {
                let mut v = vec![b'a'; len];
                v[nl] = b'\n';
                if nl + 3 < len {
                    v[nl + 3] = b'\n';
                }
                // Bytes a borrow could confuse: 0x0b and 0x8a around it.
                if nl > 0 {
                    v[nl - 1] = 0x0b;
                }
                if nl + 1 < len {
                    v[nl + 1] = 0x8a;
                }
                assert_eq!(find_newline(&v), Some(nl), "{v:?}");
            }
            assert_eq!(find_newline(&vec![0x0b; len]), None);
        }
    }

    /// The same states whichever way the bytes are cut into reads.
    #[test]
    fn any_cut_gives_the_same_states() {
        let mut all = b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc".to_vec();
        all.extend_from_slice(
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n",
        );
        all.extend_from_slice(b"GET / HTTP/1.1\r\nX-Long: ");
        all.extend_from_slice(&[b'x'; 300]);
        all.extend_from_slice(b"\r\nContent-Length: 2\r\n\r\nok");
        let mut whole = Framing::default();
        whole.feed(&all);
        assert_eq!(whole, Framing::default());
        for cut in 1..all.len() {
            let mut f = Framing::default();
            f.feed(&all[..cut]);
            f.feed(&all[cut..]);
            assert_eq!(f, whole, "cut at {cut}");
        }
    }

    #[test]
    fn a_content_length_body_is_followed_to_its_end() {
        let head = b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n";
        assert_eq!(follow(&[head, b"12345", b"67890"]), [true, true, false]);
        // Head and body in one read, then the next request pipelined.
        let mut all = head.to_vec();
        all.extend_from_slice(b"1234567890GET / HTTP/1.1\r\n\r\n");
        assert_eq!(follow(&[&all]), [false]);
        // Byte by byte.
        let bytes: Vec<&[u8]> = all.chunks(1).collect();
        let states = follow(&bytes);
        assert!(states[head.len() - 1] && !states[head.len() + 9]);
    }

    #[test]
    fn requests_without_a_body_stay_in_heads() {
        assert_eq!(
            follow(&[
                b"GET / HTTP/1.1\r\n",
                b"\r\n",
                b"\r\nGET /b HTTP/1.1\r\nContent-Length: 0\r\n\r\n"
            ]),
            [false, false, false]
        );
    }

    #[test]
    fn a_chunked_body_is_followed_through_its_trailers() {
        let parts: [&[u8]; 6] = [
            b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            b"5;ext=1\r\nhel",
            b"lo\r\n",
            b"0\r\n",
            b"X-Trailer: 1\r\n",
            b"\r\n",
        ];
        assert_eq!(follow(&parts), [true, true, true, true, true, false]);
    }

    #[test]
    fn what_is_not_followed_is_lost_for_good() {
        for head in [
            &b"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"[..],
            b"POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
            b"GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n",
            b"CONNECT a:443 HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nno colon\r\n\r\n",
        ] {
            let mut f = Framing::default();
            f.feed(head);
            f.feed(b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n");
            assert_eq!(f, Framing::Lost, "{}", String::from_utf8_lossy(head));
            assert!(!f.in_body());
        }
        let mut f = Framing::default();
        f.feed(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
        assert_eq!(f, Framing::Lost);
    }

    #[test]
    fn huge_lengths_and_long_lines_do_not_overflow() {
        let mut f = Framing::default();
        f.feed(b"POST / HTTP/1.1\r\nContent-Length: 18446744073709551615\r\n\r\nabc");
        assert_eq!(f, Framing::Body(u64::MAX - 3));
        let mut f = Framing::default();
        f.feed(b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n");
        assert_eq!(f, Framing::Lost);
        let mut f = Framing::default();
        f.feed(b"GET / HTTP/1.1\r\nX-Pad: ");
        f.feed(&[b'a'; 100_000]);
        f.feed(b"\r\n\r\n");
        assert_eq!(f, Framing::default());
    }
}
