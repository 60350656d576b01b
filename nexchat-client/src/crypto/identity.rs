//! The account's identity: one ECDH P-256 key pair (docs/protocol.md, "Key derivation" and the
//! message keys of the WebSocket section). The public half is the account's `publicKey`; the
//! private half leaves the client only sealed in the key backup.

use std::fmt;

use nexchat_core::protocol::PublicKey;
use p256::elliptic_curve::sec1::{FromEncodedPoint, ToEncodedPoint};
use p256::{EncodedPoint, FieldBytes, SecretKey};
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use zeroize::Zeroize;

use super::encoding::{from_base64url, to_base64url};
use super::error::CryptoError;
use super::message::MessageKey;

/// The account's P-256 key pair. The private scalar is wiped when the value is dropped and is
/// never printed by `Debug`.
#[derive(Clone)]
pub struct Identity {
    secret: SecretKey,
}

/// A private key as a JWK, members in the order the browser client writes them
/// (`JSON.stringify` of crypto.js `privateJwkOf`: kty, crv, x, y, d), so that a backup sealed
/// here holds the same plaintext bytes as one sealed in a browser.
#[derive(Serialize, Deserialize)]
pub(crate) struct PrivateJwk {
    kty: String,
    crv: String,
    x: String,
    y: String,
    d: String,
}

impl Drop for PrivateJwk {
    fn drop(&mut self) {
        self.d.zeroize();
    }
}

impl Identity {
    /// A new key pair from the operating system's random source.
    pub fn generate() -> Self {
        Self {
            secret: SecretKey::random(&mut OsRng),
        }
    }

    /// The identity whose private scalar is `d` (fixed keys of the test vectors).
    #[cfg(test)]
    pub(crate) fn from_scalar(d: &[u8; 32]) -> Self {
        Self {
            secret: SecretKey::from_bytes(FieldBytes::from_slice(d)).expect("a valid scalar"),
        }
    }

    /// The identity in a private JWK `{kty: "EC", crv: "P-256", x, y, d}` (other members are
    /// ignored, as the browser client's `privateJwkOf` drops them).
    ///
    /// # Errors
    /// [`CryptoError::InvalidKey`] when the JWK is not an object of that shape, a member is not
    /// 32 bytes of base64url without padding, `d` is not a valid scalar, or `x` and `y` are
    /// not the public point of `d` (a backup or file that pairs one account's public key with
    /// another's private key is refused here, not discovered later as undecryptable messages).
    pub fn from_jwk(jwk: &Value) -> Result<Self, CryptoError> {
        let jwk: PrivateJwk = PrivateJwk::deserialize(jwk).map_err(|e| {
            CryptoError::InvalidKey(format!("not a private JWK {{kty, crv, x, y, d}}: {e}"))
        })?;
        Self::from_private_jwk(&jwk)
    }

    pub(crate) fn from_private_jwk(jwk: &PrivateJwk) -> Result<Self, CryptoError> {
        if jwk.kty != "EC" || jwk.crv != "P-256" {
            return Err(CryptoError::InvalidKey(
                "not an EC P-256 key (kty \"EC\", crv \"P-256\")".into(),
            ));
        }
        let mut d = from_base64url::<32>(&jwk.d).ok_or_else(|| {
            CryptoError::InvalidKey("d is not 32 bytes of base64url without padding".into())
        })?;
        let secret = SecretKey::from_bytes(FieldBytes::from_slice(&d));
        d.zeroize();
        let secret = secret
            .map_err(|_| CryptoError::InvalidKey("d is not a P-256 private scalar".into()))?;
        let (x, y) = coordinates(&jwk.x, &jwk.y)?;
        let point = secret.public_key().to_encoded_point(false);
        if point.x() != Some(FieldBytes::from_slice(&x))
            || point.y() != Some(FieldBytes::from_slice(&y))
        {
            return Err(CryptoError::InvalidKey(
                "x and y are not the public key of d".into(),
            ));
        }
        Ok(Self { secret })
    }

    /// The private JWK: exactly `{kty: "EC", crv: "P-256", x, y, d}`, base64url without
    /// padding. It holds the private key: keep it only sealed (see [`VaultKey::seal`]).
    ///
    /// [`VaultKey::seal`]: super::VaultKey::seal
    pub fn to_jwk(&self) -> Value {
        serde_json::to_value(self.private_jwk()).expect("a JWK of five strings is JSON")
    }

    pub(crate) fn private_jwk(&self) -> PrivateJwk {
        let (x, y) = self.public_coordinates();
        PrivateJwk {
            kty: "EC".into(),
            crv: "P-256".into(),
            x,
            y,
            d: to_base64url(&self.secret.to_bytes()),
        }
    }

    fn public_coordinates(&self) -> (String, String) {
        let point = self.secret.public_key().to_encoded_point(false);
        let coordinate = |c: Option<&FieldBytes>| {
            to_base64url(c.expect("an uncompressed point of a public key has both coordinates"))
        };
        (coordinate(point.x()), coordinate(point.y()))
    }

    /// The public key, as the account publishes it (`publicKey`).
    pub fn public_key(&self) -> PublicKey {
        let (x, y) = self.public_coordinates();
        PublicKey::from_jwk(&serde_json::json!({"kty": "EC", "crv": "P-256", "x": x, "y": y}))
            .expect("a JWK made from a valid point has the shape PublicKey checks")
    }

    /// The AES-GCM-256 key this user (`me`) shares with `peer`, whose public key is
    /// `peer_key`: ECDH, then HKDF-SHA-256 over both names (crypto.js `deriveMessageKey`).
    /// Both users compute the same key; `me == peer` gives the key of a user with themselves,
    /// which carries group key messages to the user's own devices.
    ///
    /// # Errors
    /// [`CryptoError::InvalidKey`] when `peer_key`'s coordinates are not 32 bytes of base64url
    /// each or not a point of the curve.
    pub fn message_key(
        &self,
        me: &str,
        peer: &str,
        peer_key: &PublicKey,
    ) -> Result<MessageKey, CryptoError> {
        let peer_point = public_point(peer_key)?;
        // WebCrypto's `deriveBits(ECDH, 256)` is the x-coordinate of the shared point.
        let shared =
            p256::ecdh::diffie_hellman(self.secret.to_nonzero_scalar(), peer_point.as_affine());
        Ok(MessageKey::derive(shared.raw_secret_bytes(), me, peer))
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (x, _) = self.public_coordinates();
        f.debug_struct("Identity")
            .field("x", &x)
            .field("d", &"<redacted>")
            .finish()
    }
}

/// The two coordinates of a JWK, 32 bytes each.
fn coordinates(x: &str, y: &str) -> Result<([u8; 32], [u8; 32]), CryptoError> {
    let decode = |name: &str, value: &str| {
        from_base64url::<32>(value).ok_or_else(|| {
            CryptoError::InvalidKey(format!(
                "{name} is not 32 bytes of base64url without padding"
            ))
        })
    };
    Ok((decode("x", x)?, decode("y", y)?))
}

/// The curve point of a published public key.
pub(crate) fn public_point(key: &PublicKey) -> Result<p256::PublicKey, CryptoError> {
    let jwk = Value::from(key.clone());
    let member = |name: &str| jwk[name].as_str().unwrap_or_default().to_owned();
    let (x, y) = coordinates(&member("x"), &member("y"))?;
    let point = EncodedPoint::from_affine_coordinates(
        FieldBytes::from_slice(&x),
        FieldBytes::from_slice(&y),
        false,
    );
    Option::from(p256::PublicKey::from_encoded_point(&point))
        .ok_or_else(|| CryptoError::InvalidKey("the public key is not a point of P-256".into()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_generated_identity_round_trips_through_its_jwk() {
        let identity = Identity::generate();
        let jwk = identity.to_jwk();
        let members: Vec<_> = jwk
            .as_object()
            .expect("an object")
            .keys()
            .cloned()
            .collect();
        assert_eq!(members.len(), 5);
        for name in ["kty", "crv", "x", "y", "d"] {
            assert!(members.iter().any(|m| m == name), "{name}");
        }
        let again = Identity::from_jwk(&jwk).expect("its own JWK");
        assert_eq!(again.public_key(), identity.public_key());
        // What a browser's key export adds is ignored.
        let mut exported = jwk.clone();
        exported["ext"] = json!(true);
        exported["key_ops"] = json!(["deriveBits"]);
        assert!(Identity::from_jwk(&exported).is_ok());
        let shown = format!("{identity:?}");
        assert!(!shown.contains(jwk["d"].as_str().expect("d")), "{shown}");
    }

    #[test]
    fn a_peer_key_off_the_curve_or_of_the_wrong_length_is_refused() {
        let me = Identity::generate();
        let valid = Value::from(Identity::generate().public_key());
        let mut off_curve = valid.clone();
        off_curve["y"] = valid["x"].clone();
        let mut short = valid.clone();
        short["x"] = json!("AAAA");
        for (what, jwk) in [("off the curve", off_curve), ("short", short)] {
            let key = PublicKey::from_jwk(&jwk).expect("the shape PublicKey checks");
            assert!(
                matches!(
                    me.message_key("a", "b", &key),
                    Err(CryptoError::InvalidKey(_))
                ),
                "{what}"
            );
        }
    }
}
