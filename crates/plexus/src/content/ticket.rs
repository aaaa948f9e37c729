//! Tickets: one copy-pasteable string with everything needed to fetch content.
//!
//! Layout (base32 after `plexus1`): version, format, hash, provider, addresses,
//! then the name. Version 1 is a ticket without a key: its name field is
//! optional (absent when the bytes end). Version 2 carries the key of
//! encrypted content ([`crate::seal::Key`]): the name field is always there
//! (length 0 for none), then 32 key bytes. Tickets without a key are still
//! written as version 1, so older Plexus versions read them as before; an
//! older version refuses a version 2 ticket as from an unknown version
//! rather than fetching content it could not open.

use std::{fmt, str::FromStr};

use data_encoding::BASE32_NOPAD;
use libp2p::{Multiaddr, PeerId};

use super::{BlobFormat, Hash};
use crate::seal::Key;

const PREFIX: &str = "plexus1";
/// A ticket without a key.
const VERSION: u8 = 1;
/// A ticket with the key of encrypted content.
const VERSION_KEYED: u8 = 2;

/// Hash, format and one provider (peer id and addresses): what
/// [`Node::share`](crate::Node::share) returns (in [`crate::Shared`]) and
/// [`Node::get`](crate::Node::get) needs (as
/// [`GetOptions::providers`](crate::transfer::GetOptions::providers)).
/// Printed with `Display` (`plexus1...`), read back with `FromStr`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    /// The content's root hash.
    pub hash: Hash,
    /// Blob or collection.
    pub format: BlobFormat,
    /// The peer that shared it.
    pub provider: PeerId,
    /// Where that peer listens.
    pub addrs: Vec<Multiaddr>,
    /// Suggested file or folder name.
    pub name: Option<String>,
    /// The key of encrypted content: whoever holds the ticket can read it.
    pub key: Option<Key>,
}

impl fmt::Display for Ticket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let version = if self.key.is_some() {
            VERSION_KEYED
        } else {
            VERSION
        };
        let mut buf = vec![version, self.format as u8];
        buf.extend_from_slice(&self.hash.0);
        let peer = self.provider.to_bytes();
        buf.push(peer.len() as u8);
        buf.extend_from_slice(&peer);
        let addrs: Vec<Vec<u8>> = self.addrs.iter().take(16).map(|a| a.to_vec()).collect();
        buf.push(addrs.len() as u8);
        for a in addrs {
            buf.extend_from_slice(&(a.len() as u16).to_be_bytes());
            buf.extend_from_slice(&a);
        }
        if let Some(name) = &self.name {
            let name = truncate(name, 255).as_bytes();
            buf.push(name.len() as u8);
            buf.extend_from_slice(name);
        } else if self.key.is_some() {
            buf.push(0);
        }
        if let Some(key) = &self.key {
            buf.extend_from_slice(key.as_bytes());
        }
        write!(f, "{PREFIX}{}", BASE32_NOPAD.encode(&buf).to_lowercase())
    }
}

impl FromStr for Ticket {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let body = s
            .trim()
            .strip_prefix(PREFIX)
            .ok_or_else(|| format!("a ticket starts with {PREFIX}"))?;
        let buf = BASE32_NOPAD
            .decode(body.to_uppercase().as_bytes())
            .map_err(|e| format!("ticket is not valid base32: {e}"))?;
        let mut r = Reader(&buf);
        let truncated = || "ticket is truncated".to_string();
        let keyed = match r.u8().ok_or_else(truncated)? {
            VERSION => false,
            VERSION_KEYED => true,
            _ => return Err("ticket from an unknown Plexus version (upgrade Plexus)".into()),
        };
        let format = match r.u8().ok_or_else(truncated)? {
            0 => BlobFormat::Raw,
            1 => BlobFormat::Collection,
            n => return Err(format!("unknown content format {n} in ticket")),
        };
        let hash = Hash(
            r.take(32)
                .ok_or_else(truncated)?
                .try_into()
                .expect("32 bytes"),
        );
        let n = r.u8().ok_or_else(truncated)? as usize;
        let provider = PeerId::from_bytes(r.take(n).ok_or_else(truncated)?)
            .map_err(|e| format!("bad peer id in ticket: {e}"))?;
        let count = r.u8().ok_or_else(truncated)?;
        let mut addrs = Vec::new();
        for _ in 0..count {
            let len = u16::from_be_bytes(r.take(2).ok_or_else(truncated)?.try_into().unwrap());
            let bytes = r.take(len as usize).ok_or_else(truncated)?;
            addrs.push(
                Multiaddr::try_from(bytes.to_vec())
                    .map_err(|e| format!("bad address in ticket: {e}"))?,
            );
        }
        let name = match r.u8() {
            None if keyed => return Err(truncated()),
            None => None,
            Some(0) if keyed => None,
            Some(n) => {
                let bytes = r.take(n as usize).ok_or_else(truncated)?;
                Some(String::from_utf8_lossy(bytes).into_owned())
            }
        };
        let key = match keyed {
            true => {
                let bytes = r.take(32).ok_or_else(truncated)?;
                Some(Key::from_bytes(bytes.try_into().expect("32 bytes")))
            }
            false => None,
        };
        if !r.0.is_empty() {
            return Err("ticket has trailing bytes".into());
        }
        Ok(Ticket {
            hash,
            format,
            provider,
            addrs,
            name,
            key,
        })
    }
}

/// The longest start of `s` of at most `max` bytes that ends on a
/// character boundary, so a long name is cut, not garbled.
fn truncate(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticket_round_trips_and_rejects_garbage() {
        let t = Ticket {
            hash: Hash::of(b"x"),
            format: BlobFormat::Collection,
            provider: PeerId::random(),
            addrs: vec!["/ip4/127.0.0.1/tcp/4001".parse().unwrap()],
            name: Some("photos".into()),
            key: None,
        };
        let s = t.to_string();
        assert!(s.starts_with("plexus1"));
        assert_eq!(s.parse::<Ticket>().unwrap(), t);
        assert!("plexus1abc".parse::<Ticket>().is_err());
        assert!(s[..s.len() - 8].parse::<Ticket>().is_err());
        assert!("hello".parse::<Ticket>().is_err());
    }

    #[test]
    fn a_long_name_is_cut_between_characters() {
        // Cut at byte 255, a name of two-byte characters used to end in half
        // a character, read back as U+FFFD.
        let t = Ticket {
            hash: Hash::of(b"x"),
            format: BlobFormat::Raw,
            provider: PeerId::random(),
            addrs: Vec::new(),
            name: Some("é".repeat(200)),
            key: None,
        };
        let back: Ticket = t.to_string().parse().unwrap();
        assert_eq!(back.name, Some("é".repeat(127)));
        assert_eq!(back.to_string().parse::<Ticket>().unwrap(), back);
    }

    #[test]
    fn a_key_travels_in_the_ticket_and_keyless_tickets_keep_their_old_bytes() {
        let provider = PeerId::random();
        let plain = |name: Option<&str>| Ticket {
            hash: Hash::of(b"x"),
            format: BlobFormat::Raw,
            provider,
            addrs: vec!["/ip4/127.0.0.1/tcp/4001".parse().unwrap()],
            name: name.map(Into::into),
            key: None,
        };
        // A ticket as written before keys existed (version 1, name last).
        let old = {
            let t = plain(Some("a.txt"));
            let mut buf = vec![1u8, 0];
            buf.extend_from_slice(&t.hash.0);
            let peer = provider.to_bytes();
            buf.push(peer.len() as u8);
            buf.extend_from_slice(&peer);
            let addr = t.addrs[0].to_vec();
            buf.push(1);
            buf.extend_from_slice(&(addr.len() as u16).to_be_bytes());
            buf.extend_from_slice(&addr);
            buf.extend_from_slice(&[5, b'a', b'.', b't', b'x', b't']);
            format!("plexus1{}", BASE32_NOPAD.encode(&buf).to_lowercase())
        };
        assert_eq!(plain(Some("a.txt")).to_string(), old);
        assert_eq!(old.parse::<Ticket>().unwrap(), plain(Some("a.txt")));

        for name in [Some("secret plans.pdf"), None] {
            let keyed = Ticket {
                key: Some(Key::generate()),
                ..plain(name)
            };
            let text = keyed.to_string();
            assert_ne!(text, plain(name).to_string());
            assert_eq!(text.parse::<Ticket>().unwrap(), keyed);
            // Cut anywhere inside the key: refused, never a shorter key.
            for cut in 1..8 {
                assert!(text[..text.len() - cut].parse::<Ticket>().is_err());
            }
        }
    }
}
