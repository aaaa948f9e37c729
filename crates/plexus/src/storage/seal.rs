//! The one place a stored object is encrypted before it is split, and
//! opened after it is rebuilt. Until the client-side encryption module
//! lands this passes the bytes through and says so in the manifest
//! (`sealed: None`); a manifest naming a cipher this build does not know is
//! refused rather than handed out as ciphertext.

use crate::Error;

/// A sealed object.
pub(crate) struct Sealed {
    /// The bytes to split and place.
    pub(crate) bytes: Vec<u8>,
    /// The key, for the ticket only.
    pub(crate) key: Option<Vec<u8>>,
    /// The cipher's name, for the manifest.
    pub(crate) cipher: Option<String>,
}

/// Encrypts `plain`.
pub(crate) fn seal(plain: Vec<u8>) -> Result<Sealed, Error> {
    Ok(Sealed {
        bytes: plain,
        key: None,
        cipher: None,
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
        Some(cipher) => {
            let _ = key;
            Err(Error::BadInput(format!(
                "the object is encrypted with {cipher}, which this build cannot open (upgrade Plexus)"
            )))
        }
    }
}
