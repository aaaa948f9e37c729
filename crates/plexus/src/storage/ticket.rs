//! The ticket of a stored object: the manifest's hash (which names the
//! object), the key that opens it, a name, and the holders known when it
//! was stored (hints: holders found later through the DHT count as well).

use std::{fmt, str::FromStr};

use data_encoding::BASE32_NOPAD;
use libp2p::{Multiaddr, PeerId};

use crate::content::Hash;

const PREFIX: &str = "plexusstore1";
const VERSION: u8 = 1;
/// Holders written into a ticket, and addresses per holder.
const MAX_HOLDERS: usize = 64;
const MAX_ADDRS: usize = 2;

/// Everything needed to get a stored object back.
#[derive(Clone, PartialEq, Eq)]
pub struct StoreTicket {
    /// Hash of the object's [`super::Manifest`].
    pub manifest: Hash,
    /// The decryption key (a capability: whoever has the ticket can read).
    pub key: Option<Vec<u8>>,
    /// Suggested file name.
    pub name: Option<String>,
    /// Holders at the time of storing, with up to two addresses each.
    pub holders: Vec<(PeerId, Vec<Multiaddr>)>,
}

impl fmt::Debug for StoreTicket {
    /// Never prints the key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreTicket")
            .field("manifest", &self.manifest)
            .field("key", &self.key.as_ref().map(|_| "<secret>"))
            .field("name", &self.name)
            .field("holders", &self.holders.len())
            .finish()
    }
}

impl StoreTicket {
    /// Whether `s` looks like a storage ticket (not a share ticket).
    pub fn is_store_ticket(s: &str) -> bool {
        s.trim().starts_with(PREFIX)
    }
}

fn put_bytes(buf: &mut Vec<u8>, bytes: &[u8]) {
    buf.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
    buf.extend_from_slice(bytes);
}

impl fmt::Display for StoreTicket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = vec![VERSION];
        buf.extend_from_slice(&self.manifest.0);
        put_bytes(&mut buf, self.key.as_deref().unwrap_or_default());
        let name = self.name.as_deref().unwrap_or_default();
        let mut end = name.len().min(255);
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        put_bytes(&mut buf, &name.as_bytes()[..end]);
        let holders: Vec<_> = self.holders.iter().take(MAX_HOLDERS).collect();
        buf.push(holders.len() as u8);
        for (peer, addrs) in holders {
            put_bytes(&mut buf, &peer.to_bytes());
            let addrs: Vec<_> = addrs.iter().take(MAX_ADDRS).collect();
            buf.push(addrs.len() as u8);
            for a in addrs {
                put_bytes(&mut buf, &a.to_vec());
            }
        }
        write!(f, "{PREFIX}{}", BASE32_NOPAD.encode(&buf).to_lowercase())
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err("storage ticket is truncated (copy all of it)".into());
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let n = u16::from_be_bytes(self.take(2)?.try_into().expect("2 bytes"));
        self.take(usize::from(n))
    }
}

impl FromStr for StoreTicket {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let body = s
            .trim()
            .strip_prefix(PREFIX)
            .ok_or_else(|| format!("a storage ticket starts with {PREFIX}"))?;
        let buf = BASE32_NOPAD
            .decode(body.to_uppercase().as_bytes())
            .map_err(|e| format!("storage ticket is not valid base32: {e}"))?;
        let mut r = Reader(&buf);
        if r.u8()? != VERSION {
            return Err("storage ticket from an unknown Plexus version".into());
        }
        let manifest = Hash(r.take(32)?.try_into().expect("32 bytes"));
        let key = Some(r.bytes()?.to_vec()).filter(|k| !k.is_empty());
        let name = Some(String::from_utf8_lossy(r.bytes()?).into_owned()).filter(|n| !n.is_empty());
        let count = r.u8()?;
        let mut holders = Vec::new();
        for _ in 0..count {
            let peer = PeerId::from_bytes(r.bytes()?)
                .map_err(|e| format!("bad peer id in storage ticket: {e}"))?;
            let mut addrs = Vec::new();
            for _ in 0..r.u8()? {
                addrs.push(
                    Multiaddr::try_from(r.bytes()?.to_vec())
                        .map_err(|e| format!("bad address in storage ticket: {e}"))?,
                );
            }
            holders.push((peer, addrs));
        }
        if !r.0.is_empty() {
            return Err("storage ticket has trailing bytes".into());
        }
        Ok(StoreTicket {
            manifest,
            key,
            name,
            holders,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_ticket_round_trips_and_hides_its_key() {
        let t = StoreTicket {
            manifest: Hash::of(b"m"),
            key: Some(vec![7; 32]),
            name: Some("photo.jpg".into()),
            holders: (0..8)
                .map(|i| {
                    let addr = format!("/ip4/127.0.0.1/tcp/{}", 4000 + i).parse().unwrap();
                    (PeerId::random(), vec![addr])
                })
                .collect(),
        };
        let s = t.to_string();
        assert!(StoreTicket::is_store_ticket(&s));
        assert_eq!(s.parse::<StoreTicket>().unwrap(), t);
        assert!(!format!("{t:?}").contains("7, 7"));
        assert!(s[..s.len() - 10].parse::<StoreTicket>().is_err());
        assert!("plexus1abc".parse::<StoreTicket>().is_err());
        let bare = StoreTicket {
            key: None,
            name: None,
            holders: vec![],
            ..t
        };
        assert_eq!(bare.to_string().parse::<StoreTicket>().unwrap(), bare);
    }
}
