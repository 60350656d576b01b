//! The private key backup (`encryptedPrivateKey`), which the server stores unread
//! (docs/protocol.md, "Key backup, version 2"; vault.js).
//!
//! Version 2 seals the private JWK under the vault key with the AAD
//! `nexchat-key-backup|v2|{lowercased username}`. Version 1, written by clients before protocol
//! 1.1, sealed it under PBKDF2-SHA-256 of the password; it is only ever opened, once, at the
//! sign-in that moves the account to version 2.

use pbkdf2::pbkdf2_hmac;
use serde_json::Value;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::aead::{AeadKey, IV_BYTES, fresh_iv};
use super::encoding::{from_base64, js_integer};
use super::error::CryptoError;
use super::identity::{Identity, PrivateJwk};
use super::kdf::VaultKey;

const FORMAT: &str = "nexchat-key-backup";
const V1_AAD: &[u8] = b"nexchat-v1|private-key";
/// A version 1 backup claiming fewer PBKDF2 rounds than this is refused: the server must not
/// be able to weaken it. More than the maximum would only stall the client.
const V1_MIN_ITERATIONS: i64 = 100_000;
const V1_MAX_ITERATIONS: i64 = 10_000_000;
const V1_MIN_SALT_BYTES: usize = 16;

fn backup_aad(username: &str) -> String {
    format!("{FORMAT}|v2|{}", username.to_lowercase())
}

impl VaultKey {
    /// A version 2 backup of `identity` for the account `username`:
    /// `{"format":"nexchat-key-backup","v":2,"iv":…,"ciphertext":…}`, under a fresh random IV.
    /// The plaintext is the private JWK as the browser client writes it
    /// (`{"kty":"EC","crv":"P-256","x":…,"y":…,"d":…}`).
    pub fn seal(&self, identity: &Identity, username: &str) -> Value {
        self.seal_with_iv(&fresh_iv(), identity, username)
    }

    pub(crate) fn seal_with_iv(
        &self,
        iv: &[u8; IV_BYTES],
        identity: &Identity,
        username: &str,
    ) -> Value {
        let plain = Zeroizing::new(
            serde_json::to_vec(&identity.private_jwk()).expect("a JWK of five strings is JSON"),
        );
        let sealed = self
            .0
            .seal_sealed(iv, &plain, backup_aad(username).as_bytes());
        serde_json::json!({
            "format": FORMAT,
            "v": 2,
            "iv": sealed.iv,
            "ciphertext": sealed.ciphertext,
        })
    }

    /// The identity inside a version 2 backup of the account `username` (vault.js
    /// `openBackup`).
    ///
    /// # Errors
    /// - [`CryptoError::UnknownBackupFormat`]: not `{format: "nexchat-key-backup", v: 2}` (a
    ///   version 1 backup included: see [`open_backup_v1`]);
    /// - [`CryptoError::DamagedBackup`]: `iv` or `ciphertext` not base64, or the IV not 12 bytes;
    /// - [`CryptoError::WrongPassword`]: the tag does not verify under this key and name (a wrong
    ///   password, or another account's backup);
    /// - [`CryptoError::InvalidKey`]: it opened but does not hold a P-256 private JWK whose
    ///   `x` and `y` belong to its `d`.
    pub fn open(&self, backup: &Value, username: &str) -> Result<Identity, CryptoError> {
        if backup.get("format").and_then(Value::as_str) != Some(FORMAT)
            || backup.get("v").and_then(js_integer) != Some(2)
        {
            return Err(CryptoError::UnknownBackupFormat);
        }
        let bytes = |name: &str| {
            backup
                .get(name)
                .and_then(Value::as_str)
                .and_then(from_base64)
                .ok_or(CryptoError::DamagedBackup)
        };
        let iv: [u8; IV_BYTES] = bytes("iv")?
            .try_into()
            .map_err(|_| CryptoError::DamagedBackup)?;
        let ciphertext = bytes("ciphertext")?;
        let plain = self
            .0
            .open(&iv, &ciphertext, backup_aad(username).as_bytes())
            .map_err(|_| CryptoError::WrongPassword)?;
        identity_in(&plain)
    }
}

/// The identity a backup's plaintext holds.
fn identity_in(plain: &[u8]) -> Result<Identity, CryptoError> {
    let jwk: PrivateJwk = serde_json::from_slice(plain).map_err(|_| {
        CryptoError::InvalidKey("the key backup does not hold a private JWK".into())
    })?;
    Identity::from_private_jwk(&jwk)
}

/// The identity inside a version 1 backup `{v: 1, salt, iv, iterations, ciphertext}` (vault.js
/// `openBackupV1`): AES-GCM-256 under PBKDF2-HMAC-SHA-256 of the password's UTF-8 bytes (as
/// typed: version 1 did not normalise), AAD `nexchat-v1|private-key`.
///
/// PBKDF2 runs `iterations` rounds on this thread (600,000 from the browser client, about a
/// second): an async caller runs it with `tokio::task::spawn_blocking`.
///
/// # Errors
/// - [`CryptoError::UnknownBackupFormat`]: `v` is not 1;
/// - [`CryptoError::UnsafeKdf`]: `iterations` not an integer from 100,000 to 10,000,000, a salt
///   under 16 bytes or an IV that is not 12 bytes (checked before any work);
/// - [`CryptoError::DamagedBackup`]: `salt`, `iv` or `ciphertext` not base64;
/// - [`CryptoError::WrongPassword`]: the tag does not verify under this password;
/// - [`CryptoError::InvalidKey`]: it opened but does not hold a valid private JWK.
pub fn open_backup_v1(backup: &Value, password: &str) -> Result<Identity, CryptoError> {
    if backup.get("v").and_then(js_integer) != Some(1) {
        return Err(CryptoError::UnknownBackupFormat);
    }
    let iterations = backup
        .get("iterations")
        .and_then(js_integer)
        .filter(|n| (V1_MIN_ITERATIONS..=V1_MAX_ITERATIONS).contains(n))
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| {
            CryptoError::UnsafeKdf("the version 1 backup has unsafe PBKDF2 iterations".into())
        })?;
    let bytes = |name: &str| {
        backup
            .get(name)
            .and_then(Value::as_str)
            .and_then(from_base64)
            .ok_or(CryptoError::DamagedBackup)
    };
    let salt = bytes("salt")?;
    let iv = bytes("iv")?;
    let (Ok(iv), true) = (
        <[u8; IV_BYTES]>::try_from(iv),
        salt.len() >= V1_MIN_SALT_BYTES,
    ) else {
        return Err(CryptoError::UnsafeKdf(
            "the version 1 backup has a short salt or an IV that is not 12 bytes".into(),
        ));
    };
    let ciphertext = bytes("ciphertext")?;
    let key = AeadKey::filled(|key| {
        pbkdf2_hmac::<Sha256>(password.as_bytes(), &salt, iterations, key);
    });
    let plain = key
        .open(&iv, &ciphertext, V1_AAD)
        .map_err(|_| CryptoError::WrongPassword)?;
    identity_in(&plain)
}

/// A version 1 backup as clients before protocol 1.1 wrote it, to test the reader against.
#[cfg(test)]
pub(crate) fn seal_backup_v1(
    identity: &Identity,
    password: &str,
    salt: &[u8],
    iv: &[u8; IV_BYTES],
    iterations: u32,
) -> Value {
    let key = AeadKey::filled(|key| {
        pbkdf2_hmac::<Sha256>(password.as_bytes(), salt, iterations, key);
    });
    let plain = serde_json::to_vec(&identity.private_jwk()).expect("a JWK is JSON");
    let sealed = key.seal_sealed(iv, &plain, V1_AAD);
    serde_json::json!({
        "v": 1,
        "salt": super::encoding::to_base64(salt),
        "iv": sealed.iv,
        "iterations": iterations,
        "ciphertext": sealed.ciphertext,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::crypto::KdfParams;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// docs/kdf-vectors.json, which examples/tests/kdf_vectors.rs checks with its own
    /// derivation and client/tests/kdf.test.js with the browser's, through this API.
    #[test]
    fn the_published_kdf_vectors_derive_and_open_their_backup() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/kdf-vectors.json");
        let text = std::fs::read_to_string(path).expect("docs/kdf-vectors.json is readable");
        let all: Value = serde_json::from_str(&text).expect("JSON");
        let list = all["vectors"].as_array().expect("a list of vectors");
        assert!(list.len() >= 4);
        let derive = |v: &Value| {
            KdfParams::from_server(&v["kdf"])
                .expect("the vector's kdf is accepted")
                .derive(v["password"].as_str().expect("a password"))
        };
        for v in list {
            let keys = derive(v);
            assert_eq!(keys.auth_key, v["authKey"], "{}", v["name"]);
            assert_eq!(
                hex(keys.vault_key.0.bytes()),
                v["vaultKey"],
                "{}",
                v["name"]
            );
        }
        let backup = &all["backup"];
        let index = backup["vector"].as_u64().expect("an index");
        let keys = derive(&list[usize::try_from(index).expect("a small index")]);
        let username = backup["username"].as_str().expect("a name");
        let identity = keys
            .vault_key
            .open(&backup["encryptedPrivateKey"], username)
            .expect("the published backup opens");
        assert_eq!(identity.to_jwk(), backup["privateKey"]);
        assert_eq!(
            keys.vault_key
                .open(&backup["encryptedPrivateKey"], "mallory")
                .map(|_| ()),
            Err(CryptoError::WrongPassword)
        );
    }

    #[test]
    fn a_sealed_backup_opens_for_its_user_and_is_fresh_each_time() {
        let kdf = KdfParams::from_server(&json!({
            "alg": "argon2id", "v": 19, "m": 19456, "t": 2, "p": 1, "salt": "AAAAAAAAAAAAAAAAAAAAAA==",
        }))
        .expect("the floor");
        let keys = kdf.derive("a password");
        let identity = Identity::generate();
        let backup = keys.vault_key.seal(&identity, "Bob_42");
        let members: Vec<_> = backup
            .as_object()
            .expect("an object")
            .keys()
            .cloned()
            .collect();
        assert_eq!(members.len(), 4);
        assert_eq!(
            (&backup["format"], &backup["v"]),
            (&json!(FORMAT), &json!(2))
        );
        let opened = keys.vault_key.open(&backup, "bob_42").expect("it opens");
        assert_eq!(opened.to_jwk(), identity.to_jwk());
        assert_ne!(
            keys.vault_key.seal(&identity, "Bob_42"),
            backup,
            "a fresh IV"
        );
        assert!(matches!(
            keys.vault_key.open(&json!(null), "bob_42"),
            Err(CryptoError::UnknownBackupFormat)
        ));
    }

    #[test]
    fn a_version_1_backup_opens_with_its_password_as_typed() {
        let identity = Identity::generate();
        // Version 1 did not normalise: the same password in NFD is another password.
        let nfc = "P\u{e4}sswort";
        let backup = seal_backup_v1(&identity, nfc, &[3; 16], &[4; 12], 100_000);
        let opened = open_backup_v1(&backup, nfc).expect("it opens");
        assert_eq!(opened.to_jwk(), identity.to_jwk());
        assert_eq!(
            open_backup_v1(&backup, "Pa\u{308}sswort").map(|_| ()),
            Err(CryptoError::WrongPassword)
        );
        let mut short_salt = backup.clone();
        short_salt["salt"] = json!("AAAA");
        assert!(matches!(
            open_backup_v1(&short_salt, nfc),
            Err(CryptoError::UnsafeKdf(_))
        ));
    }
}
