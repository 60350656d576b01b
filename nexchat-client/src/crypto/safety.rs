//! Safety numbers: the digits two friends compare to know that each holds the other's real
//! key, not one the server swapped in (crypto.js `safetyNumber`).

use std::fmt;

use nexchat_core::protocol::PublicKey;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::message::VERSION;

/// Six groups of five digits, the same for both users whichever of them computes it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SafetyNumber([String; 6]);

impl SafetyNumber {
    /// The six groups, each five digits (`"00042"`), in reading order.
    pub fn groups(&self) -> &[String; 6] {
        &self.0
    }
}

/// The six groups joined by single spaces: `"12345 67890 …"`.
impl fmt::Display for SafetyNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}

/// A public key as RFC 7638 writes it to be hashed: members sorted, no whitespace
/// (crypto.js `canonicalJwk`).
#[derive(Serialize)]
struct CanonicalJwk<'a> {
    crv: &'a str,
    kty: &'a str,
    x: &'a str,
    y: &'a str,
}

fn canonical(key: &PublicKey) -> String {
    let jwk = Value::from(key.clone());
    let member = |name: &str| jwk[name].as_str().unwrap_or_default().to_owned();
    let (x, y) = (member("x"), member("y"));
    serde_json::to_string(&CanonicalJwk {
        crv: "P-256",
        kty: "EC",
        x: &x,
        y: &y,
    })
    .expect("four strings are JSON")
}

/// The safety number of users `a` and `b` with the public keys `a_key` and `b_key`.
///
/// The input to SHA-256 is `nexchat-v1|safety-number|{n1}|{k1}|{n2}|{k2}`, where each `n` is a
/// lowercased name, each `k` that user's key as canonical JWK text
/// (`{"crv":"P-256","kty":"EC","x":…,"y":…}`), and the pair with the smaller name comes first.
/// Group `i` is hash bytes `5i..5i+5` read as a big-endian number, modulo 100000, written with
/// five digits.
pub fn safety_number(a: &str, a_key: &PublicKey, b: &str, b_key: &PublicKey) -> SafetyNumber {
    let mut parts = [
        (a.to_lowercase(), canonical(a_key)),
        (b.to_lowercase(), canonical(b_key)),
    ];
    // Stable, by name only, as the JavaScript sort is: equal names keep the order given.
    parts.sort_by(|p, q| p.0.cmp(&q.0));
    let [(n1, k1), (n2, k2)] = &parts;
    let hash = Sha256::digest(format!("{VERSION}|safety-number|{n1}|{k1}|{n2}|{k2}").as_bytes());
    SafetyNumber(std::array::from_fn(|i| {
        let n = hash[5 * i..5 * i + 5]
            .iter()
            .fold(0u64, |n, &byte| n << 8 | u64::from(byte));
        format!("{:05}", n % 100_000)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Identity;

    #[test]
    fn both_users_see_six_groups_of_five_digits_and_another_key_changes_them() {
        let (a, b) = (Identity::generate(), Identity::generate());
        let number = safety_number("Alice", &a.public_key(), "bob", &b.public_key());
        assert_eq!(
            number,
            safety_number("bob", &b.public_key(), "ALICE", &a.public_key())
        );
        let shown = number.to_string();
        assert_eq!(shown.len(), 6 * 5 + 5);
        assert!(
            shown
                .split(' ')
                .all(|g| g.len() == 5 && g.bytes().all(|c| c.is_ascii_digit()))
        );
        let swapped = Identity::generate();
        assert_ne!(
            safety_number("Alice", &a.public_key(), "bob", &swapped.public_key()),
            number
        );
    }
}
