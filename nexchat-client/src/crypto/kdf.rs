//! Key separation (protocol 1.1): from the password and the account's `kdf` parameters, the
//! auth key the server receives instead of the password and the vault key that seals the key
//! backup (docs/protocol.md, "Key derivation"; kdf.js).

use std::fmt;

use argon2::{Algorithm, Argon2, Params, Version};
use hkdf::Hkdf;
use rand::RngCore;
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Sha256;
use unicode_normalization::UnicodeNormalization;
use zeroize::{Zeroize, Zeroizing};

use super::aead::AeadKey;
use super::encoding::{from_base64, js_integer, to_base64};
use super::error::CryptoError;

/// What new accounts and password changes use: 64 MiB, 3 passes, 1 lane, 16 salt bytes.
const DEFAULT_M: u32 = 65_536;
const DEFAULT_T: u32 = 3;
const DEFAULT_P: u32 = 1;
const NEW_SALT_BYTES: usize = 16;

/// The floor (OWASP's Argon2id minimum) and the caps a client holds any server to: below, the
/// server could weaken the derivation; above, stall the client for minutes or gigabytes.
const FLOOR_M: i64 = 19_456;
const FLOOR_T: i64 = 2;
const FLOOR_P: i64 = 1;
const FLOOR_SALT_BYTES: usize = 16;
const CAP_M: i64 = 1_048_576;
const CAP_T: i64 = 20;
const CAP_P: i64 = 8;
const CAP_SALT_BYTES: usize = 64;

const HKDF_SALT: &[u8] = b"nexchat-v1.1|hkdf";
const AUTH_INFO: &[u8] = b"nexchat-v1.1|auth-key";
const VAULT_INFO: &[u8] = b"nexchat-v1.1|vault-key";

/// An account's key derivation parameters, the `kdf` object
/// `{"alg":"argon2id","v":19,"m":…,"t":…,"p":…,"salt":…}` (docs/protocol.md, "The `kdf`
/// object"): `m` memory in KiB, `t` passes, `p` lanes, `salt` standard base64 with padding.
///
/// A value of this type is always one the client may use: [`KdfParams::from_server`] (and
/// deserialisation, which goes through it) refuses parameters outside the floor and caps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "Value", try_from = "Value")]
pub struct KdfParams {
    m: u32,
    t: u32,
    p: u32,
    salt: Vec<u8>,
}

impl KdfParams {
    /// Fresh parameters for a new account or a password change: m 65536 (64 MiB), t 3, p 1,
    /// and 16 new random salt bytes (kdf.js `newKdf`).
    pub fn generate() -> Self {
        let mut salt = vec![0; NEW_SALT_BYTES];
        OsRng.fill_bytes(&mut salt);
        Self {
            m: DEFAULT_M,
            t: DEFAULT_T,
            p: DEFAULT_P,
            salt,
        }
    }

    /// Parameters a server sent (`GET /auth/params`), checked exactly as kdf.js `checkKdf`
    /// checks them: `alg` `"argon2id"`, `v` 19, and as JSON integers
    /// 1 ≤ p ≤ 8, max(19456, 8·p) ≤ m ≤ 1048576, 2 ≤ t ≤ 20, and a base64 salt of 16 to 64
    /// bytes.
    ///
    /// # Errors
    /// [`CryptoError::UnsafeKdf`] for another algorithm or version, or any value outside those
    /// bounds; nothing has been derived then.
    pub fn from_server(kdf: &Value) -> Result<Self, CryptoError> {
        if kdf.get("alg").and_then(Value::as_str) != Some("argon2id")
            || kdf.get("v").and_then(js_integer) != Some(19)
        {
            return Err(CryptoError::UnsafeKdf(
                "the server offered a key derivation this client does not know".into(),
            ));
        }
        let int = |name: &str, min: i64, max: i64| {
            kdf.get(name)
                .and_then(js_integer)
                .filter(|n| (min..=max).contains(n))
                .and_then(|n| u32::try_from(n).ok())
        };
        let p = int("p", FLOOR_P, CAP_P);
        let m = p.and_then(|p| int("m", FLOOR_M.max(8 * i64::from(p)), CAP_M));
        let t = int("t", FLOOR_T, CAP_T);
        let salt = kdf
            .get("salt")
            .and_then(Value::as_str)
            .and_then(from_base64)
            .filter(|salt| (FLOOR_SALT_BYTES..=CAP_SALT_BYTES).contains(&salt.len()));
        match (m, t, p, salt) {
            (Some(m), Some(t), Some(p), Some(salt)) => Ok(Self { m, t, p, salt }),
            _ => Err(CryptoError::UnsafeKdf(
                "the server offered parameters outside the floor and caps of the protocol".into(),
            )),
        }
    }

    /// The `kdf` object to send at registration or a password change.
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "alg": "argon2id",
            "v": 19,
            "m": self.m,
            "t": self.t,
            "p": self.p,
            "salt": to_base64(&self.salt),
        })
    }

    /// Memory in KiB.
    pub fn m(&self) -> u32 {
        self.m
    }

    /// Passes.
    pub fn t(&self) -> u32 {
        self.t
    }

    /// Lanes.
    pub fn p(&self) -> u32 {
        self.p
    }

    /// The salt bytes.
    pub fn salt(&self) -> &[u8] {
        &self.salt
    }

    /// The account's two keys from `password` (docs/protocol.md, "Derivation"): Argon2id
    /// version 0x13 of the NFC-normalised UTF-8 password to a 32-byte master, then
    /// HKDF-SHA-256 with salt `nexchat-v1.1|hkdf` and info `nexchat-v1.1|auth-key` or
    /// `nexchat-v1.1|vault-key`.
    ///
    /// Slow on purpose (64 MiB and three passes by default, on this thread): an async caller
    /// runs it with `tokio::task::spawn_blocking`.
    pub fn derive(&self, password: &str) -> AccountKeys {
        let params = Params::new(self.m, self.t, self.p, Some(32))
            .expect("parameters within the protocol's floor and caps are valid for Argon2");
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let mut normalized: String = password.nfc().collect();
        let mut master = Zeroizing::new([0u8; 32]);
        let hashed = argon2.hash_password_into(normalized.as_bytes(), &self.salt, &mut master[..]);
        normalized.zeroize();
        hashed.expect("Argon2id takes any password and a salt of 16 to 64 bytes");
        let hkdf = Hkdf::<Sha256>::new(Some(HKDF_SALT), &master[..]);
        let mut auth = Zeroizing::new([0u8; 32]);
        hkdf.expand(AUTH_INFO, &mut auth[..])
            .expect("32 bytes is a valid HKDF-SHA-256 output length");
        let vault = AeadKey::filled(|key| {
            hkdf.expand(VAULT_INFO, key)
                .expect("32 bytes is a valid HKDF-SHA-256 output length");
        });
        AccountKeys {
            auth_key: to_base64(&auth[..]),
            vault_key: VaultKey(vault),
        }
    }
}

impl From<KdfParams> for Value {
    fn from(kdf: KdfParams) -> Self {
        kdf.to_json()
    }
}

impl TryFrom<Value> for KdfParams {
    type Error = CryptoError;

    fn try_from(kdf: Value) -> Result<Self, CryptoError> {
        Self::from_server(&kdf)
    }
}

/// The two keys of an account, from [`KdfParams::derive`].
pub struct AccountKeys {
    /// What the server receives wherever a version 1 client sends the password: standard
    /// base64 with padding of 32 bytes (44 characters). The server can log in with it, so it
    /// is kept like a password and never printed by `Debug`.
    pub auth_key: String,
    /// The key of the key backup; it never leaves the client.
    pub vault_key: VaultKey,
}

impl fmt::Debug for AccountKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccountKeys")
            .field("auth_key", &"<redacted>")
            .field("vault_key", &self.vault_key)
            .finish()
    }
}

/// The AES-GCM-256 key that seals the account's key backup (see [`VaultKey::seal`] and
/// [`VaultKey::open`]). Wiped when dropped, never printed.
#[derive(Clone)]
pub struct VaultKey(pub(crate) AeadKey);

impl fmt::Debug for VaultKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("VaultKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn floor() -> Value {
        json!({"alg": "argon2id", "v": 19, "m": 19456, "t": 2, "p": 1, "salt": to_base64(&[7; 16])})
    }

    #[test]
    fn new_parameters_are_the_defaults_with_a_fresh_salt() {
        let (a, b) = (KdfParams::generate(), KdfParams::generate());
        assert_eq!((a.m(), a.t(), a.p(), a.salt().len()), (65_536, 3, 1, 16));
        assert_ne!(a.salt(), b.salt());
        let json = a.to_json();
        assert_eq!(json["alg"], "argon2id");
        assert_eq!(json["v"], 19);
        assert_eq!(KdfParams::from_server(&json), Ok(a.clone()));
        let text = serde_json::to_string(&a).expect("JSON");
        assert_eq!(serde_json::from_str::<KdfParams>(&text).expect("itself"), a);
    }

    #[test]
    fn parameters_below_the_floor_or_above_the_caps_are_refused() {
        assert!(KdfParams::from_server(&floor()).is_ok());
        let at_caps = json!({"m": 1_048_576, "t": 20, "p": 8, "salt": to_base64(&[1; 64])});
        let mut caps = floor();
        for (k, v) in at_caps.as_object().expect("an object") {
            caps[k] = v.clone();
        }
        assert!(KdfParams::from_server(&caps).is_ok());
        let bad = [
            ("m", json!(19_455)),
            ("t", json!(1)),
            ("p", json!(0)),
            ("m", json!(1_048_577)),
            ("t", json!(21)),
            ("p", json!(9)),
            ("salt", json!(to_base64(&[1; 15]))),
            ("salt", json!(to_base64(&[1; 65]))),
            ("salt", json!("!!not base64!!")),
            ("salt", Value::Null),
            ("m", json!("65536")),
            ("t", json!(2.5)),
            ("alg", json!("argon2i")),
            ("v", json!(16)),
        ];
        for (name, value) in bad {
            let mut kdf = floor();
            kdf[name] = value.clone();
            assert!(
                matches!(KdfParams::from_server(&kdf), Err(CryptoError::UnsafeKdf(_))),
                "{name}: {value}"
            );
            assert!(serde_json::from_value::<KdfParams>(kdf).is_err());
        }
        for not_an_object in [Value::Null, json!("argon2id"), json!(42)] {
            assert!(KdfParams::from_server(&not_an_object).is_err());
        }
    }

    #[test]
    fn the_keys_are_not_printed() {
        let keys = KdfParams::from_server(&floor())
            .expect("floor")
            .derive("pw");
        assert_eq!(keys.auth_key.len(), 44);
        let shown = format!("{keys:?}");
        assert!(!shown.contains(&keys.auth_key), "{shown}");
        assert!(shown.contains("VaultKey(<redacted>)"), "{shown}");
    }
}
