//! The key derivation of protocol v1.1 (docs/protocol.md, "Key derivation"), computed with the
//! RustCrypto crates over the published vectors in docs/kdf-vectors.json. The browser client's own
//! test checks the same file with its WebAssembly Argon2id and WebCrypto HKDF, so two independent
//! implementations of the written specification agree on every vector.

use std::path::Path;

use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hkdf::Hkdf;
use serde_json::Value;
use sha2::Sha256;
use unicode_normalization::UnicodeNormalization;

/// The parameters a client accepts from a server at least (the floor of the specification).
const FLOOR_M: u32 = 19_456;
const FLOOR_T: u32 = 2;
const MIN_SALT_BYTES: usize = 16;

struct Keys {
    master: [u8; 32],
    auth: [u8; 32],
    vault: [u8; 32],
}

fn field_u32(kdf: &Value, name: &str) -> u32 {
    let value = kdf[name]
        .as_u64()
        .unwrap_or_else(|| panic!("kdf.{name} is not an integer"));
    u32::try_from(value).unwrap_or_else(|_| panic!("kdf.{name} is out of range"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Derives the three values exactly as the specification says, from its own reading of `kdf`.
fn derive(password: &str, kdf: &Value) -> Keys {
    assert_eq!(kdf["alg"], "argon2id");
    assert_eq!(kdf["v"], 19);
    let salt = STANDARD
        .decode(kdf["salt"].as_str().expect("kdf.salt is a string"))
        .expect("kdf.salt is standard base64");
    let params = Params::new(
        field_u32(kdf, "m"),
        field_u32(kdf, "t"),
        field_u32(kdf, "p"),
        Some(32),
    )
    .expect("valid Argon2 parameters");
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let normalized: String = password.nfc().collect();
    let mut master = [0u8; 32];
    argon2
        .hash_password_into(normalized.as_bytes(), &salt, &mut master)
        .expect("Argon2id runs");

    let hkdf = Hkdf::<Sha256>::new(Some(b"nexchat-v1.1|hkdf"), &master);
    let mut auth = [0u8; 32];
    let mut vault = [0u8; 32];
    hkdf.expand(b"nexchat-v1.1|auth-key", &mut auth)
        .expect("32 bytes is a valid HKDF length");
    hkdf.expand(b"nexchat-v1.1|vault-key", &mut vault)
        .expect("32 bytes is a valid HKDF length");
    Keys {
        master,
        auth,
        vault,
    }
}

fn vectors() -> Value {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/kdf-vectors.json");
    let text = std::fs::read_to_string(&file).expect("docs/kdf-vectors.json is readable");
    serde_json::from_str(&text).expect("docs/kdf-vectors.json is JSON")
}

#[test]
fn every_vector_derives_the_published_master_auth_key_and_vault_key() {
    let all = vectors();
    let list = all["vectors"].as_array().expect("a list of vectors");
    assert!(list.len() >= 4, "the file keeps its vectors");
    for v in list {
        let name = v["name"].as_str().expect("a name");
        let password = v["password"].as_str().expect("a password");
        let keys = derive(password, &v["kdf"]);
        assert_eq!(hex(&keys.master), v["master"], "master of {name}");
        assert_eq!(
            STANDARD.encode(keys.auth),
            v["authKey"],
            "auth key of {name}"
        );
        assert_eq!(hex(&keys.vault), v["vaultKey"], "vault key of {name}");
        assert_ne!(
            keys.auth, keys.vault,
            "{name}: the two keys are independent"
        );
    }
}

#[test]
fn the_vectors_cover_the_defaults_a_non_ascii_password_and_both_normal_forms() {
    let all = vectors();
    let list = all["vectors"].as_array().expect("a list of vectors");
    let default = &list[0]["kdf"];
    assert_eq!(
        (
            field_u32(default, "m"),
            field_u32(default, "t"),
            field_u32(default, "p")
        ),
        (65_536, 3, 1),
        "the first vector uses the default parameters"
    );
    let nfc = list[1]["password"].as_str().expect("a password");
    let nfd = list[2]["password"].as_str().expect("a password");
    assert!(!nfc.is_ascii());
    assert_ne!(
        nfc.as_bytes(),
        nfd.as_bytes(),
        "two spellings of one password"
    );
    assert_eq!(nfd.nfc().collect::<String>(), nfc);
    assert_eq!(list[1]["authKey"], list[2]["authKey"]);
    for v in list {
        let kdf = &v["kdf"];
        let salt = STANDARD
            .decode(kdf["salt"].as_str().expect("kdf.salt is a string"))
            .expect("base64 salt");
        assert!(field_u32(kdf, "m") >= FLOOR_M && field_u32(kdf, "t") >= FLOOR_T);
        assert!(salt.len() >= MIN_SALT_BYTES);
    }
}

#[test]
fn a_different_password_or_salt_gives_different_keys() {
    let all = vectors();
    let v = &all["vectors"][1];
    let published = v["authKey"].as_str().expect("an auth key");
    let other_password = derive("P\u{e4}sswort", &v["kdf"]);
    assert_ne!(STANDARD.encode(other_password.auth), published);
    let mut kdf = v["kdf"].clone();
    kdf["salt"] = Value::from(STANDARD.encode([9u8; 16]));
    let other_salt = derive(v["password"].as_str().expect("a password"), &kdf);
    assert_ne!(STANDARD.encode(other_salt.auth), published);
}
