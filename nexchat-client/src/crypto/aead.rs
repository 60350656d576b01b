//! AES-GCM-256 with a 96-bit IV and the tag after the ciphertext, the one cipher of the
//! protocol (messages, key messages, sealed fields, backups, attachment chunks).

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use rand::RngCore;
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::encoding::{from_base64, to_base64};
use super::error::CryptoError;

/// Bytes of an AES-GCM-256 key.
pub(crate) const KEY_BYTES: usize = 32;
/// Bytes of an IV: the 96 bits every sealer of the protocol draws.
pub(crate) const IV_BYTES: usize = 12;

/// A ciphertext as the protocol sends it: `ciphertext` (with its 16-byte tag at the end) and
/// the 12-byte `iv`, both standard base64 with padding.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Sealed {
    /// Base64 of the AES-GCM ciphertext followed by its tag.
    pub ciphertext: String,
    /// Base64 of the 12-byte IV.
    pub iv: String,
}

/// 32 secret bytes used as an AES-GCM-256 key; wiped when dropped, never printed.
#[derive(Clone)]
pub(crate) struct AeadKey(Zeroizing<[u8; KEY_BYTES]>);

impl AeadKey {
    /// A key written in place by `fill`, so that its bytes are never in a second, unwiped place.
    pub(crate) fn filled(fill: impl FnOnce(&mut [u8; KEY_BYTES])) -> Self {
        let mut key = Zeroizing::new([0; KEY_BYTES]);
        fill(&mut key);
        Self(key)
    }

    /// A fresh key from the operating system's random source.
    pub(crate) fn random() -> Self {
        Self::filled(|bytes| OsRng.fill_bytes(bytes))
    }

    pub(crate) fn bytes(&self) -> &[u8; KEY_BYTES] {
        &self.0
    }

    // The cipher is built for each use instead of kept: what stays in memory between uses is
    // only the 32 bytes above, which are wiped on drop.
    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&self.0[..]))
    }

    /// Ciphertext and tag of `plain` under `iv` and `aad`.
    pub(crate) fn seal(&self, iv: &[u8; IV_BYTES], plain: &[u8], aad: &[u8]) -> Vec<u8> {
        self.cipher()
            .encrypt(Nonce::from_slice(iv), Payload { msg: plain, aad })
            .expect("AES-GCM seals anything below 64 GiB; nothing the protocol seals comes near")
    }

    /// [`AeadKey::seal`] as the protocol sends it.
    pub(crate) fn seal_sealed(&self, iv: &[u8; IV_BYTES], plain: &[u8], aad: &[u8]) -> Sealed {
        Sealed {
            ciphertext: to_base64(&self.seal(iv, plain, aad)),
            iv: to_base64(iv),
        }
    }

    /// The plaintext, or [`CryptoError::DoesNotOpen`] when the tag does not verify.
    pub(crate) fn open(
        &self,
        iv: &[u8; IV_BYTES],
        ciphertext: &[u8],
        aad: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        self.cipher()
            .decrypt(
                Nonce::from_slice(iv),
                Payload {
                    msg: ciphertext,
                    aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| CryptoError::DoesNotOpen)
    }

    /// Opens base64 `ciphertext` and `iv` as they arrive in a message.
    ///
    /// # Errors
    /// [`CryptoError::Malformed`] when either is not base64 or the IV is not 12 bytes (WebCrypto
    /// would take another IV length, but no client of the protocol writes one);
    /// [`CryptoError::DoesNotOpen`] when the tag does not verify.
    pub(crate) fn open_base64(
        &self,
        ciphertext: &str,
        iv: &str,
        aad: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let iv = iv_from_base64(iv)?;
        let ciphertext = from_base64(ciphertext)
            .ok_or_else(|| CryptoError::Malformed("the ciphertext is not base64".into()))?;
        self.open(&iv, &ciphertext, aad)
    }
}

/// A fresh random IV; with 96 random bits, IVs under one key repeat only after far more
/// messages than anyone sends.
pub(crate) fn fresh_iv() -> [u8; IV_BYTES] {
    let mut iv = [0; IV_BYTES];
    OsRng.fill_bytes(&mut iv);
    iv
}

/// A 12-byte IV from base64.
pub(crate) fn iv_from_base64(iv: &str) -> Result<[u8; IV_BYTES], CryptoError> {
    from_base64(iv)
        .and_then(|bytes| <[u8; IV_BYTES]>::try_from(bytes).ok())
        .ok_or_else(|| CryptoError::Malformed("the IV is not 12 bytes of base64".into()))
}
