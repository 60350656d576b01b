//! The key-derivation parameters (`kdf`) of accounts, as far as the server is concerned.
//!
//! The server never derives anything: it stores each account's `kdf` object unread and hands it
//! back on `GET /auth/params`. For a name without an account it must answer all the same, with
//! an object nobody can tell from a real one: [`KdfDecoy`] holds the members a real account's
//! object has (the client's defaults), and the salt is made from the server's secret and the
//! lowercased name, so the made-up answer is the same at every call and in every letter case.

use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

/// Length of a salt, in bytes, before base64 (a real client draws 16 random bytes).
const SALT_BYTES: usize = 16;

/// Separates the decoy salts from any other use of the server secret.
const SALT_LABEL: &[u8] = b"nexchat/auth-params/decoy-salt/v1\0";

/// What a real account's `kdf` parameters look like: the members `GET /auth/params` answers
/// for a name without an account, beside a made-up `salt`. Keep it equal to what your clients
/// register with (the defaults are the browser client's), or the answer tells real accounts
/// from made-up ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KdfDecoy {
    /// `alg` ("argon2id").
    pub alg: String,
    /// `v`, the algorithm version (19, Argon2 1.3).
    pub version: u32,
    /// `m`, memory in KiB (65536, i.e. 64 MiB).
    pub memory_kib: u32,
    /// `t`, passes over the memory (3).
    pub iterations: u32,
    /// `p`, lanes (1).
    pub parallelism: u32,
}

impl Default for KdfDecoy {
    fn default() -> Self {
        Self {
            alg: "argon2id".to_owned(),
            version: 19,
            memory_kib: 65536,
            iterations: 3,
            parallelism: 1,
        }
    }
}

impl KdfDecoy {
    /// The made-up `kdf` object for `username`: these parameters and a salt of 16 bytes (the
    /// first 16 of HMAC-SHA-256 under `secret` of a fixed label and the ASCII-lowercased name),
    /// in standard base64 with padding, like a real one.
    pub fn for_name(&self, secret: &[u8], username: &str) -> Value {
        json!({
            "alg": self.alg,
            "v": self.version,
            "m": self.memory_kib,
            "t": self.iterations,
            "p": self.parallelism,
            "salt": decoy_salt(secret, username),
        })
    }
}

fn decoy_salt(secret: &[u8], username: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of every length");
    mac.update(SALT_LABEL);
    mac.update(username.to_ascii_lowercase().as_bytes());
    let digest = mac.finalize().into_bytes();
    base64::engine::general_purpose::STANDARD.encode(&digest[..SALT_BYTES])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoy_is_stable_case_blind_and_shaped_like_a_real_one() {
        let decoy = KdfDecoy::default();
        let a = decoy.for_name(b"secret", "Nobody");
        assert_eq!(a, decoy.for_name(b"secret", "nOBODY"));
        assert_ne!(a, decoy.for_name(b"secret", "nobody2"));
        assert_ne!(a, decoy.for_name(b"other secret", "nobody"));
        let real = json!({"alg":"argon2id","v":19,"m":65536,"t":3,"p":1,
            "salt": base64::engine::general_purpose::STANDARD.encode([7u8; 16])});
        let (Some(a), Some(real)) = (a.as_object(), real.as_object()) else {
            panic!("not objects");
        };
        assert_eq!(
            a.keys().collect::<Vec<_>>(),
            real.keys().collect::<Vec<_>>()
        );
        assert_eq!(a["salt"].as_str().map(str::len), Some(24));
        for (key, value) in a.iter().filter(|(key, _)| *key != "salt") {
            assert_eq!(value, &real[key], "{key} must be the default");
        }
    }
}
