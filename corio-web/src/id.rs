//! Unguessable identifiers: 128 bits from the operating system's CSPRNG.

use std::fmt;
use std::io;

/// A session id or a continuation (page) id: 128 random bits, written as
/// 32 lower-case hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Id([u8; 16]);

impl Id {
    /// A fresh id from the OS random number generator.
    pub(crate) fn random() -> io::Result<Id> {
        let mut b = [0; 16];
        getrandom::fill(&mut b).map_err(|e| io::Error::other(format!("getrandom: {e}")))?;
        Ok(Id(b))
    }

    /// The first 64 bits: enough to tell this session's own ids apart
    /// (random ids of one session collide with chance 2^-64).
    pub(crate) fn fingerprint(&self) -> u64 {
        let mut b = [0; 8];
        b.copy_from_slice(&self.0[..8]);
        u64::from_le_bytes(b)
    }

    /// Parses the 32-hex-digit form; anything else is `None`.
    pub(crate) fn parse(s: &str) -> Option<Id> {
        let s = s.as_bytes();
        if s.len() != 32 {
            return None;
        }
        let mut b = [0; 16];
        for (i, pair) in s.chunks_exact(2).enumerate() {
            b[i] = (nibble(pair[0])? << 4) | nibble(pair[1])?;
        }
        Some(Id(b))
    }

    /// The first 8 hex digits: enough to tell sessions apart in a log or
    /// the coro listing, useless to an attacker.
    pub(crate) fn short(&self) -> String {
        self.to_string()[..8].to_owned()
    }
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Id {
    /// Only the short form: ids are secrets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({}…)", self.short())
    }
}

#[cfg(test)]
mod tests {
    use super::Id;

    #[test]
    fn round_trips_and_rejects_other_shapes() {
        let a = Id::random().unwrap();
        let b = Id::random().unwrap();
        assert_ne!(a, b);
        let s = a.to_string();
        assert_eq!(s.len(), 32);
        assert_eq!(Id::parse(&s), Some(a));
        assert_eq!(Id::parse(&s.to_uppercase()), None);
        assert_eq!(Id::parse(&s[..31]), None);
        assert_eq!(Id::parse(&format!("{s}0")), None);
        assert_eq!(Id::parse("zz000000000000000000000000000000"), None);
        assert!(!format!("{a:?}").contains(&s));
    }
}
