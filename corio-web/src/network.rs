//! Client networks: what the per-network caps count by.
//!
//! An attacker with many addresses usually has them in one network (a
//! host's IPv6 /64, a rented IPv4 block), so besides each address, each
//! network gets a share: IPv4 addresses are grouped by their first 24 bits
//! and IPv6 ones by their first 64 by default (an IPv4-mapped IPv6 address
//! counts as the IPv4 address it maps).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// How addresses are grouped into networks: the prefix lengths.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Prefixes {
    pub(crate) v4: u8,
    pub(crate) v6: u8,
}

impl Default for Prefixes {
    fn default() -> Prefixes {
        Prefixes { v4: 24, v6: 64 }
    }
}

impl Prefixes {
    /// The network `ip` is in: its first `v4` (or `v6`) bits.
    pub(crate) fn network(self, ip: IpAddr) -> IpAddr {
        match ip.to_canonical() {
            IpAddr::V4(a) => {
                let bits = u32::from(a) & mask32(self.v4);
                IpAddr::V4(Ipv4Addr::from(bits))
            }
            IpAddr::V6(a) => {
                let bits = u128::from(a) & mask128(self.v6);
                IpAddr::V6(Ipv6Addr::from(bits))
            }
        }
    }
}

fn mask32(len: u8) -> u32 {
    u32::MAX
        .checked_shl(32 - u32::from(len.min(32)))
        .unwrap_or(0)
}

fn mask128(len: u8) -> u128 {
    u128::MAX
        .checked_shl(128 - u32::from(len.min(128)))
        .unwrap_or(0)
}

/// Counts per key (an address or a network); keys with none are not kept.
#[derive(Debug, Default)]
pub(crate) struct Counts(HashMap<IpAddr, usize>);

impl Counts {
    /// Counts one more for `key` unless it has `max` already.
    pub(crate) fn take(&mut self, key: IpAddr, max: usize) -> bool {
        let n = self.0.entry(key).or_insert(0);
        if *n >= max {
            if *n == 0 {
                self.0.remove(&key);
            }
            return false;
        }
        *n += 1;
        true
    }

    /// Gives one back for `key`.
    pub(crate) fn give(&mut self, key: IpAddr) {
        if let Some(n) = self.0.get_mut(&key) {
            *n -= 1;
            if *n == 0 {
                self.0.remove(&key);
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn get(&self, key: IpAddr) -> usize {
        self.0.get(&key).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_are_the_leading_bits() {
        let p = Prefixes::default();
        let a: IpAddr = "203.0.113.77".parse().unwrap();
        assert_eq!(p.network(a), "203.0.113.0".parse::<IpAddr>().unwrap());
        let mapped: IpAddr = "::ffff:203.0.113.9".parse().unwrap();
        assert_eq!(p.network(mapped), p.network(a));
        let b: IpAddr = "2001:db8:1:2:aaaa:bbbb:cccc:dddd".parse().unwrap();
        assert_eq!(p.network(b), "2001:db8:1:2::".parse::<IpAddr>().unwrap());
        let whole = Prefixes { v4: 32, v6: 128 };
        assert_eq!(whole.network(a), a);
        assert_eq!(whole.network(b), b);
        let none = Prefixes { v4: 0, v6: 0 };
        assert_eq!(none.network(a), "0.0.0.0".parse::<IpAddr>().unwrap());
        assert_eq!(none.network(b), "::".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn counts_refuse_past_the_cap_and_forget_empty_keys() {
        let mut c = Counts::default();
        let k: IpAddr = "10.0.0.0".parse().unwrap();
        assert!(c.take(k, 2) && c.take(k, 2));
        assert!(!c.take(k, 2));
        c.give(k);
        assert!(c.take(k, 2));
        c.give(k);
        c.give(k);
        assert_eq!(c.get(k), 0);
        assert!(c.0.is_empty());
        assert!(!c.take(k, 0));
        assert!(c.0.is_empty());
    }
}
