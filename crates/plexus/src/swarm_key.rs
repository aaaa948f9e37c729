//! Private networks: a pre-shared swarm key (libp2p pnet) that every node of
//! the network holds.
//!
//! With [`crate::NodeConfig::swarm_key`] set, every TCP connection is
//! encrypted with the key (XSalsa20) before Noise even starts, so a node
//! without the same key cannot connect, and therefore cannot find or fetch
//! anything. QUIC cannot be protected this way, so a node with a swarm key
//! runs over TCP only: QUIC listen addresses are dropped with a warning
//! ([`tcp_only`]).
//!
//! The key file is the IPFS `swarm.key` format, three lines:
//!
//! ```text
//! /key/swarm/psk/1.0.0/
//! /base16/
//! 64 hex digits (32 random bytes)
//! ```

use std::path::Path;

use libp2p::{multiaddr::Protocol, pnet::PreSharedKey, Multiaddr};

use crate::Error;

/// What a swarm key file must look like, for error messages.
pub const FORMAT: &str = "three lines: `/key/swarm/psk/1.0.0/`, `/base16/`, then 64 hex digits (make one with `plexus swarm-key new FILE`)";

/// Reads and parses a swarm key file.
pub(crate) fn load(path: &Path) -> Result<PreSharedKey, Error> {
    let bad = |reason: String| Error::SwarmKey {
        path: path.to_path_buf(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    parse(&text).map_err(bad)
}

/// Parses the text of a swarm key file, with a reason a person can act on.
fn parse(text: &str) -> Result<PreSharedKey, String> {
    use libp2p::pnet::KeyParseError as E;
    text.parse().map_err(|e| {
        match e {
            E::InvalidKeyFile => "not a swarm key file (expected 3 lines)",
            E::InvalidKeyType => "the first line is not `/key/swarm/psk/1.0.0/`",
            E::InvalidKeyEncoding => "the second line is not `/base16/`",
            E::InvalidKeyLength => "the key is not 64 hex digits",
            E::InvalidKeyChar(_) => "the key has a character that is not a hex digit",
        }
        .to_string()
    })
}

/// A fresh random key in the swarm key file format (with a final newline).
pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    format!("{}\n", PreSharedKey::new(bytes).to_key_file())
}

/// Writes a fresh random key to `path`, readable by the owner only (0600);
/// refuses to replace an existing file. Returns the key's fingerprint, which
/// is safe to show (it does not reveal the key).
pub fn write_new(path: &Path) -> Result<String, Error> {
    if path.exists() {
        return Err(Error::BadInput(format!(
            "{} already exists; not replacing a swarm key (nodes using it would be cut off): pick another file, or remove it first",
            path.display()
        )));
    }
    let text = generate();
    crate::identity::write_private(path, text.as_bytes()).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    fingerprint(path)
}

/// The fingerprint of the key in `path` (a hash of the key, safe to show).
pub fn fingerprint(path: &Path) -> Result<String, Error> {
    Ok(load(path)?.fingerprint().to_string())
}

/// The listen addresses a node with a swarm key can use: TCP only, since
/// pnet cannot protect QUIC. QUIC (and other non-TCP) addresses are
/// dropped with a warning; none left is an error.
pub fn tcp_only(listen: &[Multiaddr]) -> Result<Vec<Multiaddr>, Error> {
    let is_tcp = |a: &Multiaddr| {
        a.iter().any(|p| matches!(p, Protocol::Tcp(_)))
            && !a.iter().any(|p| matches!(p, Protocol::Udp(_)))
    };
    let (tcp, other): (Vec<_>, Vec<_>) = listen.iter().cloned().partition(is_tcp);
    for addr in &other {
        tracing::warn!("not listening on {addr}: a private network (swarm key) runs over TCP only, pnet cannot protect QUIC");
    }
    if tcp.is_empty() {
        return Err(Error::BadInput(format!(
            "a private network (swarm key) runs over TCP only, since pnet cannot protect QUIC, and no TCP listen address is set (got: {}); add one, e.g. --listen /ip4/0.0.0.0/tcp/4001",
            other
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" ")
        )));
    }
    Ok(tcp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_and_differ() {
        let (a, b) = (generate(), generate());
        assert_ne!(a, b);
        assert!(a.starts_with("/key/swarm/psk/1.0.0/\n/base16/\n"), "{a}");
        parse(&a).unwrap();
    }

    #[test]
    fn written_key_is_private_and_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("swarm.key");
        let print = write_new(&path).unwrap();
        assert_eq!(print, fingerprint(&path).unwrap());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let err = write_new(&path).unwrap_err().to_string();
        assert!(err.contains("already exists"), "{err}");
    }

    #[test]
    fn bad_key_files_name_the_file_and_the_format() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("swarm.key");
        for (text, why) in [
            ("hello", "3 lines"),
            ("/key/swarm/psk/1.0.0/\n/base64/\nabc\n", "/base16/"),
            ("/key/swarm/psk/1.0.0/\n/base16/\nabcd\n", "64 hex digits"),
        ] {
            std::fs::write(&path, text).unwrap();
            let err = load(&path).unwrap_err().to_string();
            assert!(err.contains("swarm.key") && err.contains(why), "{err}");
            assert!(err.contains("/key/swarm/psk/1.0.0/"), "{err}");
        }
        let err = load(&dir.path().join("missing.key"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing.key"), "{err}");
    }

    #[test]
    fn quic_is_dropped_and_tcp_kept() {
        let addrs: Vec<Multiaddr> = vec![
            "/ip4/0.0.0.0/tcp/4001".parse().unwrap(),
            "/ip4/0.0.0.0/udp/4001/quic-v1".parse().unwrap(),
        ];
        assert_eq!(tcp_only(&addrs).unwrap(), addrs[..1]);
        let err = tcp_only(&addrs[1..]).unwrap_err().to_string();
        assert!(err.contains("TCP only"), "{err}");
    }
}
