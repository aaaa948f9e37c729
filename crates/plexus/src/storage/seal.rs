//! The one place a stored object is encrypted before it is split, and
//! opened after it is rebuilt, with [`crate::seal`] (chunked
//! XChaCha20-Poly1305). A fresh random key per object goes into the ticket
//! only; holders, the DHT and repair see ciphertext.

use crate::{
    seal::{self as aead, Key},
    Error,
};

/// The manifest's name for objects sealed by [`crate::seal`] version 1.
pub(crate) const CIPHER: &str = "plexus-seal-1";

/// A sealed object.
pub(crate) struct Sealed {
    /// The bytes to split and place.
    pub(crate) bytes: Vec<u8>,
    /// The key, for the ticket only.
    pub(crate) key: Option<Vec<u8>>,
    /// The cipher's name, for the manifest.
    pub(crate) cipher: Option<String>,
}

/// Encrypts `plain` with a fresh key.
pub(crate) fn seal(plain: Vec<u8>) -> Result<Sealed, Error> {
    let mut bytes = Vec::with_capacity(plain.len() + plain.len() / 64 + 64);
    let key = aead::encrypt(&plain[..], &mut bytes)?;
    drop(plain);
    Ok(Sealed {
        bytes,
        key: Some(key.as_bytes().to_vec()),
        cipher: Some(CIPHER.into()),
    })
}

/// Opens what [`seal`] made, with the ticket's key.
pub(crate) fn open(
    sealed: Vec<u8>,
    cipher: Option<&str>,
    key: Option<&[u8]>,
) -> Result<Vec<u8>, Error> {
    match cipher {
        None => Ok(sealed),
        Some(CIPHER) => {
            let key: [u8; 32] = key.and_then(|k| k.try_into().ok()).ok_or_else(|| {
                Error::BadInput(
                    "this object is encrypted and the ticket carries no key that fits (copy the whole ticket)".into(),
                )
            })?;
            let mut plain = Vec::with_capacity(sealed.len());
            aead::decrypt(&Key::from_bytes(key), &sealed[..], &mut plain)?;
            Ok(plain)
        }
        Some(other) => Err(Error::BadInput(format!(
            "the object is encrypted with {other}, which this build cannot open (upgrade Plexus)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_objects_open_only_with_their_key() {
        let plain = b"marker-PLAINTEXT-1234".repeat(5000);
        let sealed = seal(plain.clone()).unwrap();
        assert!(!sealed.bytes.windows(21).any(|w| w == &plain[..21]));
        let key = sealed.key.clone().unwrap();
        let cipher = sealed.cipher.as_deref();
        assert_eq!(
            open(sealed.bytes.clone(), cipher, Some(&key)).unwrap(),
            plain
        );
        let err = open(sealed.bytes.clone(), cipher, Some(&[9; 32])).unwrap_err();
        assert!(err.to_string().contains("key"), "{err}");
        let err = open(sealed.bytes.clone(), cipher, None).unwrap_err();
        assert!(err.to_string().contains("whole ticket"), "{err}");
    }
}
