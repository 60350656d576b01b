//! `docs/crypto-vectors.json`: fixed identities, names, ids and IVs, and every key and
//! ciphertext the protocol makes of them. The browser client's `client/tests/vectors.test.js`
//! checks the same file with WebCrypto, so the two implementations agree byte for byte.
//!
//! The file is made from the fixed inputs below. Without `NEXCHAT_WRITE_VECTORS=1` the test only
//! compares; with it, it writes the file first:
//!
//! ```text
//! NEXCHAT_WRITE_VECTORS=1 cargo test -p nexchat-client --no-default-features --lib vectors
//! ```

use std::path::PathBuf;

use nexchat_core::protocol::MessageStatus;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::aead::AeadKey;
use super::attachment::seal_file;
use super::backup::seal_backup_v1;
use super::message::message_aad;
use super::*;

const ALICE: &str = "Alice";
const BOB: &str = "bob_42";

const ALICE_TO_BOB_ID: &str = "3f0c6a52-9b1e-4d7a-8e25-6c1f0b9a4d17";
const BOB_TO_ALICE_ID: &str = "a84e1d09-2c7b-4f63-b5a0-d91e7c3f2b68";
const ATTACHMENT_ID: &str = "e1b7c4a0-5d2f-4c89-9a36-0f8e2d1b7c54";
const GROUP_ID: &str = "7c9d2e15-8a3b-4f06-b1c4-e52a9d0f6b83";
const SENDER_KEY_ID: &str = "2b6f8d31-0e4c-4a97-8d15-c3e9a7b1f046";
const KEY_TO_BOB_ID: &str = "91d3b7e2-6f0a-4c58-a2e4-8b7c1d9f3e05";
const KEY_TO_SELF_ID: &str = "c05a2f8e-3d71-4b9c-96e0-4f1b8a2d7c39";
const GROUP_MESSAGE_ID: &str = "5e8b1c4d-7a2f-4d03-8c69-b0e3f5a1d272";

/// Quotes, a backslash, control characters, a line separator, non-ASCII and a character
/// outside the BMP: every way a JSON writer could differ from `JSON.stringify`.
const ALICE_TO_BOB_TEXT: &str = "Hi bob_42! \"Quotes\", a backslash \\, a tab\t, a newline\n, \
     \u{1}\u{1f}\u{7f}, a line separator \u{2028}, \u{fc}n\u{ef}c\u{f6}d\u{e9}, \u{65e5}\u{672c}\u{8a9e} and \u{1f511} / </script>";
const BOB_TO_ALICE_TEXT: &str = "The ridge at dawn \u{26f0}\u{fe0f}";
const GROUP_TEXT: &str = "Saturday, 7:00 at the usual place \u{1f9d7}";
const TITLE: &str = "Climbing crew \u{26f0}\u{fe0f} \u{2014} \u{dc}ber alles";
const AVATAR: &str = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
const BACKUP_PASSWORD: &str = "P\u{e4}ssw\u{f6}rd of bob_42 \u{1f511}";
const V1_PASSWORD: &str = "an old password";
const V1_ITERATIONS: u32 = 100_000;
/// Plaintext sizes of the attachment vectors, in chunks of 1024 (the smallest chunk the
/// browser client reads): three chunks with a short last one, two full ones, an empty file.
const FILE_SIZES: [usize; 3] = [2600, 2048, 0];
const FILE_CHUNK: u32 = 1024;

/// Bytes that look random and are the same on every run: the start of
/// SHA-256(`nexchat-crypto-vectors|{label}`).
fn fixed<const N: usize>(label: &str) -> [u8; N] {
    let hash = Sha256::digest(format!("nexchat-crypto-vectors|{label}").as_bytes());
    hash[..N].try_into().expect("N is at most 32")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn b64(bytes: &[u8]) -> String {
    super::encoding::to_base64(bytes)
}

fn unb64(text: &str) -> Vec<u8> {
    super::encoding::from_base64(text).expect("base64 in the vector file")
}

fn file_plaintext(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i * 7 % 251) as u8).collect()
}

// ---- the file's shape ----

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Vectors {
    description: String,
    users: Users,
    /// Hex of the AES-GCM key Alice and bob_42 share.
    message_key: String,
    messages: Vec<DirectVector>,
    /// The six groups of the two users' safety number.
    safety_number: Vec<String>,
    backup: BackupVector,
    backup_v1: BackupV1Vector,
    group: GroupVector,
    attachments: Vec<FileVector>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Users {
    alice: UserVector,
    bob: UserVector,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct UserVector {
    username: String,
    private_key: Value,
    public_key: Value,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DirectVector {
    name: String,
    id: String,
    sender: String,
    receiver: String,
    iv: String,
    aad: String,
    /// The plaintext: the UTF-8 JSON body, as text.
    body: String,
    ciphertext: String,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct BackupVector {
    username: String,
    password: String,
    kdf: Value,
    auth_key: String,
    /// Hex.
    vault_key: String,
    private_key: Value,
    encrypted_private_key: Value,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct BackupV1Vector {
    password: String,
    private_key: Value,
    encrypted_private_key: Value,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct GroupVector {
    id: String,
    sender_key: SenderKeyVector,
    /// Hex of Alice's key with herself, which carries her key message to her own devices.
    self_message_key: String,
    key_messages: Vec<KeyMessageVector>,
    message: GroupMessageVector,
    title: FieldVector,
    avatar: FieldVector,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SenderKeyVector {
    owner: String,
    key_id: String,
    key: String,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct KeyMessageVector {
    name: String,
    id: String,
    sender: String,
    to: String,
    iv: String,
    aad: String,
    body: String,
    ciphertext: String,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct GroupMessageVector {
    id: String,
    sender: String,
    key_id: String,
    iv: String,
    aad: String,
    body: String,
    ciphertext: String,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FieldVector {
    by: String,
    key_id: String,
    text: String,
    iv: String,
    aad: String,
    ciphertext: String,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FileVector {
    name: String,
    key: String,
    nonce: String,
    chunk: u32,
    size: u64,
    plaintext: String,
    ciphertext: String,
    digest: String,
}

// ---- making the file from the fixed inputs ----

fn alice() -> Identity {
    Identity::from_scalar(&fixed("alice|d"))
}

fn bob() -> Identity {
    Identity::from_scalar(&fixed("bob|d"))
}

fn sender_key() -> SenderKey {
    SenderKey::from_bytes(SENDER_KEY_ID, &fixed::<32>("sender-key")).expect("32 bytes")
}

/// Each file vector has a key and nonce of its own, as every real file does.
fn file_key(size: usize) -> AeadKey {
    AeadKey::filled(|key| *key = fixed(&format!("attachment|{size}|key")))
}

fn file_nonce(size: usize) -> [u8; 8] {
    fixed(&format!("attachment|{size}|nonce"))
}

fn backup_kdf() -> KdfParams {
    KdfParams::from_server(&json!({
        "alg": "argon2id", "v": 19, "m": 19456, "t": 2, "p": 1,
        "salt": b64(&fixed::<16>("backup|salt")),
    }))
    .expect("the floor is accepted")
}

/// The body of bob_42's message: a photo, described as the browser client describes one.
fn photo_body() -> MessageBody {
    let (_, mut photo) = seal_file(
        &file_plaintext(FILE_SIZES[0]),
        &file_key(FILE_SIZES[0]),
        &file_nonce(FILE_SIZES[0]),
        FILE_CHUNK,
        "ridge.jpg",
        "image/jpeg",
    );
    photo.id = ATTACHMENT_ID.into();
    photo.thumbnail = Some("data:image/jpeg;base64,/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAP==".into());
    photo.width = Some(640);
    photo.height = Some(480);
    MessageBody {
        text: BOB_TO_ALICE_TEXT.into(),
        attachments: vec![photo],
    }
}

fn user(name: &str, identity: &Identity) -> UserVector {
    UserVector {
        username: name.into(),
        private_key: identity.to_jwk(),
        public_key: Value::from(identity.public_key()),
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("UTF-8")
}

fn direct(
    name: &str,
    key: &MessageKey,
    id: &str,
    from: &str,
    to: &str,
    body: &MessageBody,
) -> DirectVector {
    let iv = fixed(&format!("iv|{id}"));
    let sealed = key.encrypt_with_iv(&iv, id, from, to, body);
    assert_eq!(sealed.iv, b64(&iv));
    DirectVector {
        name: name.into(),
        id: id.into(),
        sender: from.into(),
        receiver: to.into(),
        iv: sealed.iv,
        aad: message_aad(id, from, to),
        body: text(&body.to_bytes()),
        ciphertext: sealed.ciphertext,
    }
}

fn key_message(name: &str, pair: &MessageKey, id: &str, to: &str) -> KeyMessageVector {
    let iv = fixed(&format!("iv|{id}"));
    let sealed = pair.encrypt_key_message_with_iv(&iv, &sender_key(), GROUP_ID, id, ALICE, to);
    KeyMessageVector {
        name: name.into(),
        id: id.into(),
        sender: ALICE.into(),
        to: to.into(),
        iv: sealed.iv,
        aad: format!(
            "nexchat-v1|group-key|{GROUP_ID}|{id}|{}|{}",
            ALICE.to_lowercase(),
            to.to_lowercase()
        ),
        body: format!(
            r#"{{"v":1,"keyId":"{SENDER_KEY_ID}","key":"{}"}}"#,
            b64(&fixed::<32>("sender-key"))
        ),
        ciphertext: sealed.ciphertext,
    }
}

fn field(kind: FieldKind, label: &str, text: &str) -> FieldVector {
    let iv = fixed(&format!("iv|{label}"));
    let sealed = sender_key().seal_field_with_iv(&iv, kind, text, GROUP_ID, ALICE);
    FieldVector {
        by: ALICE.into(),
        key_id: sealed.key_id,
        text: text.into(),
        iv: sealed.iv,
        aad: format!("nexchat-v1|group-{label}|{GROUP_ID}|alice|{SENDER_KEY_ID}"),
        ciphertext: sealed.ciphertext,
    }
}

fn build() -> Vectors {
    let (alice, bob) = (alice(), bob());
    let pair = alice
        .message_key(ALICE, BOB, &bob.public_key())
        .expect("bob's key is valid");
    let with_self = alice
        .message_key(ALICE, ALICE, &alice.public_key())
        .expect("alice's key is valid");

    let backup_kdf = backup_kdf();
    let keys = backup_kdf.derive(BACKUP_PASSWORD);

    let group_iv = fixed(&format!("iv|{GROUP_MESSAGE_ID}"));
    let group_body = MessageBody::text(GROUP_TEXT);
    let group_sealed =
        sender_key().encrypt_with_iv(&group_iv, GROUP_ID, ALICE, GROUP_MESSAGE_ID, &group_body);

    Vectors {
        description: "Test vectors of nexchat's client cryptography, written down in \
            docs/protocol.md (the message keys of the WebSocket section, \"Key derivation\", \
            \"Sender keys (what a client does)\", \"Attachments\" -> \"What a client does\"). \
            Every input is fixed, IVs included, so every ciphertext is reproducible byte for \
            byte. Binary values are standard base64 with padding, JWK members base64url without \
            padding, and messageKey, selfMessageKey and vaultKey hex. Checked by \
            nexchat-client/src/crypto/vectors.rs and client/tests/vectors.test.js; rewritten by \
            NEXCHAT_WRITE_VECTORS=1 cargo test -p nexchat-client --no-default-features --lib vectors."
            .into(),
        users: Users {
            alice: user(ALICE, &alice),
            bob: user(BOB, &bob),
        },
        message_key: hex(pair.0.bytes()),
        messages: vec![
            direct(
                "Alice to bob_42: text that tests the JSON writer",
                &pair,
                ALICE_TO_BOB_ID,
                ALICE,
                BOB,
                &MessageBody::text(ALICE_TO_BOB_TEXT),
            ),
            direct(
                "bob_42 to Alice: a photo, the first attachment vector",
                &pair,
                BOB_TO_ALICE_ID,
                BOB,
                ALICE,
                &photo_body(),
            ),
        ],
        safety_number: safety_number(ALICE, &alice.public_key(), BOB, &bob.public_key())
            .groups()
            .to_vec(),
        backup: BackupVector {
            username: BOB.into(),
            password: BACKUP_PASSWORD.into(),
            kdf: backup_kdf.to_json(),
            auth_key: keys.auth_key.clone(),
            vault_key: hex(keys.vault_key.0.bytes()),
            private_key: bob.to_jwk(),
            encrypted_private_key: keys.vault_key.seal_with_iv(&fixed("backup|iv"), &bob, BOB),
        },
        backup_v1: BackupV1Vector {
            password: V1_PASSWORD.into(),
            private_key: alice.to_jwk(),
            encrypted_private_key: seal_backup_v1(
                &alice,
                V1_PASSWORD,
                &fixed::<16>("backup-v1|salt"),
                &fixed("backup-v1|iv"),
                V1_ITERATIONS,
            ),
        },
        group: GroupVector {
            id: GROUP_ID.into(),
            sender_key: SenderKeyVector {
                owner: ALICE.into(),
                key_id: SENDER_KEY_ID.into(),
                key: b64(&fixed::<32>("sender-key")),
            },
            self_message_key: hex(with_self.0.bytes()),
            key_messages: vec![
                key_message("Alice's sender key for bob_42", &pair, KEY_TO_BOB_ID, BOB),
                key_message(
                    "Alice's sender key for her own other devices",
                    &with_self,
                    KEY_TO_SELF_ID,
                    ALICE,
                ),
            ],
            message: GroupMessageVector {
                id: GROUP_MESSAGE_ID.into(),
                sender: ALICE.into(),
                key_id: SENDER_KEY_ID.into(),
                iv: group_sealed.iv,
                aad: format!(
                    "nexchat-v1|group-message|{GROUP_ID}|alice|{SENDER_KEY_ID}|{GROUP_MESSAGE_ID}"
                ),
                body: text(&group_body.to_bytes()),
                ciphertext: group_sealed.ciphertext,
            },
            title: field(FieldKind::Title, "title", TITLE),
            avatar: field(FieldKind::Avatar, "avatar", AVATAR),
        },
        attachments: FILE_SIZES
            .iter()
            .map(|&size| {
                let plaintext = file_plaintext(size);
                let (ciphertext, meta) = seal_file(
                    &plaintext,
                    &file_key(size),
                    &file_nonce(size),
                    FILE_CHUNK,
                    "",
                    "",
                );
                FileVector {
                    name: format!("{size} bytes in chunks of {FILE_CHUNK}"),
                    key: meta.key,
                    nonce: meta.nonce,
                    chunk: meta.chunk,
                    size: meta.size,
                    plaintext: b64(&plaintext),
                    ciphertext: b64(&ciphertext),
                    digest: meta.digest,
                }
            })
            .collect(),
    }
}

fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/crypto-vectors.json")
}

fn writing() -> bool {
    std::env::var_os("NEXCHAT_WRITE_VECTORS").is_some_and(|v| v == "1")
}

/// The file as published; while it is being rewritten, what it will hold.
fn published() -> Vectors {
    if writing() {
        return build();
    }
    let text = std::fs::read_to_string(path()).expect("docs/crypto-vectors.json is readable");
    serde_json::from_str(&text).expect("docs/crypto-vectors.json has the vectors' shape")
}

// ---- the checks ----

fn stored(v: &DirectVector) -> StoredMessage {
    StoredMessage {
        id: v.id.clone(),
        sender: v.sender.clone(),
        receiver: v.receiver.clone(),
        ciphertext: v.ciphertext.clone(),
        iv: v.iv.clone(),
        timestamp: 1_700_000_000_000,
        status: MessageStatus::Sent,
    }
}

fn group_message(
    id: &str,
    sender: &str,
    to: Option<&str>,
    key_id: Option<&str>,
    sealed: (&str, &str),
) -> GroupMessage {
    GroupMessage {
        id: id.into(),
        group: GROUP_ID.into(),
        sender: sender.into(),
        to: to.map(str::to_owned),
        key_id: key_id.map(str::to_owned),
        ciphertext: sealed.0.into(),
        iv: sealed.1.into(),
        timestamp: 1_700_000_000_000,
        status: MessageStatus::Sent,
    }
}

fn key_of(v: &KeyMessageVector) -> GroupMessage {
    group_message(&v.id, &v.sender, Some(&v.to), None, (&v.ciphertext, &v.iv))
}

fn message_of(v: &GroupMessageVector) -> GroupMessage {
    group_message(
        &v.id,
        &v.sender,
        None,
        Some(&v.key_id),
        (&v.ciphertext, &v.iv),
    )
}

fn sealed_field(v: &FieldVector) -> SealedField {
    SealedField {
        ciphertext: v.ciphertext.clone(),
        iv: v.iv.clone(),
        key_id: v.key_id.clone(),
        by: Some(v.by.clone()),
    }
}

fn iv_of(iv: &str) -> [u8; 12] {
    unb64(iv).try_into().expect("a 12-byte IV")
}

/// Each value of the file, through the public API (and the encrypt-with-this-IV functions
/// beneath it, so that every ciphertext is reproduced, not only opened).
fn check(v: &Vectors) {
    let alice = Identity::from_jwk(&v.users.alice.private_key).expect("alice's JWK");
    let bob = Identity::from_jwk(&v.users.bob.private_key).expect("bob's JWK");
    assert_eq!(alice.to_jwk(), v.users.alice.private_key);
    assert_eq!(Value::from(alice.public_key()), v.users.alice.public_key);
    assert_eq!(Value::from(bob.public_key()), v.users.bob.public_key);
    let (alice_name, bob_name) = (&v.users.alice.username, &v.users.bob.username);

    // One key, whichever side computes it, whatever the names' case.
    let alice_side = alice
        .message_key(alice_name, bob_name, &bob.public_key())
        .expect("bob's key");
    let bob_side = bob
        .message_key(&bob_name.to_uppercase(), alice_name, &alice.public_key())
        .expect("alice's key");
    assert_eq!(hex(alice_side.0.bytes()), v.message_key);
    assert_eq!(hex(bob_side.0.bytes()), v.message_key);

    for m in &v.messages {
        assert_eq!(
            message_aad(&m.id, &m.sender, &m.receiver),
            m.aad,
            "{}",
            m.name
        );
        for key in [&alice_side, &bob_side] {
            let body = key.decrypt(&stored(m)).expect(&m.name);
            assert_eq!(text(&body.to_bytes()), m.body, "{}", m.name);
            let again = key.encrypt_with_iv(&iv_of(&m.iv), &m.id, &m.sender, &m.receiver, &body);
            assert_eq!(again.ciphertext, m.ciphertext, "{}", m.name);
        }
    }

    let number = safety_number(alice_name, &alice.public_key(), bob_name, &bob.public_key());
    assert_eq!(number.groups().to_vec(), v.safety_number);
    assert_eq!(number.to_string(), v.safety_number.join(" "));
    assert_eq!(
        safety_number(
            &bob_name.to_uppercase(),
            &bob.public_key(),
            alice_name,
            &alice.public_key()
        ),
        number,
        "both users see the same digits"
    );

    let b = &v.backup;
    let keys = KdfParams::from_server(&b.kdf)
        .expect("the backup's kdf")
        .derive(&b.password);
    assert_eq!(keys.auth_key, b.auth_key);
    assert_eq!(hex(keys.vault_key.0.bytes()), b.vault_key);
    let opened = keys
        .vault_key
        .open(&b.encrypted_private_key, &b.username)
        .expect("the backup opens");
    assert_eq!(opened.to_jwk(), b.private_key);
    let iv = iv_of(b.encrypted_private_key["iv"].as_str().expect("iv"));
    assert_eq!(
        keys.vault_key.seal_with_iv(&iv, &opened, &b.username),
        b.encrypted_private_key
    );

    let b1 = &v.backup_v1;
    let opened = open_backup_v1(&b1.encrypted_private_key, &b1.password).expect("v1 opens");
    assert_eq!(opened.to_jwk(), b1.private_key);

    let g = &v.group;
    let owner = &g.sender_key.owner;
    let sender_key =
        SenderKey::from_bytes(&g.sender_key.key_id, &unb64(&g.sender_key.key)).expect("32 bytes");
    let with_self = alice
        .message_key(owner, owner, &alice.public_key())
        .expect("alice's key");
    assert_eq!(hex(with_self.0.bytes()), g.self_message_key);
    for k in &g.key_messages {
        // The receiver's side: bob with Alice's public key, or Alice with her own.
        let pair = if k.to.eq_ignore_ascii_case(owner) {
            &with_self
        } else {
            &bob_side
        };
        let got = pair.decrypt_key_message(&key_of(k)).expect(&k.name);
        assert_eq!(got.key_id(), g.sender_key.key_id, "{}", k.name);
        assert_eq!(got.secret_bytes(), sender_key.secret_bytes(), "{}", k.name);
        let again =
            pair.encrypt_key_message_with_iv(&iv_of(&k.iv), &got, &g.id, &k.id, &k.sender, &k.to);
        assert_eq!(again.ciphertext, k.ciphertext, "{}", k.name);
    }
    let m = &g.message;
    let body = sender_key
        .decrypt(&message_of(m))
        .expect("the group message");
    assert_eq!(text(&body.to_bytes()), m.body);
    let again = sender_key.encrypt_with_iv(&iv_of(&m.iv), &g.id, &m.sender, &m.id, &body);
    assert_eq!(again.ciphertext, m.ciphertext);
    for (kind, f) in [(FieldKind::Title, &g.title), (FieldKind::Avatar, &g.avatar)] {
        let opened = sender_key
            .open_field(kind, &sealed_field(f), &g.id)
            .expect("the field opens");
        assert_eq!(opened, f.text);
        let again = sender_key.seal_field_with_iv(&iv_of(&f.iv), kind, &f.text, &g.id, &f.by);
        assert_eq!(again, sealed_field(f));
    }

    for f in &v.attachments {
        let descriptor = descriptor(f);
        let plaintext = decrypt_file(&unb64(&f.ciphertext), &descriptor).expect(&f.name);
        assert_eq!(b64(&plaintext), f.plaintext, "{}", f.name);
        let key = AeadKey::filled(|key| key.copy_from_slice(&unb64(&f.key)));
        let nonce = unb64(&f.nonce).try_into().expect("an 8-byte nonce");
        let (again, meta) = seal_file(&plaintext, &key, &nonce, f.chunk, "", "");
        assert_eq!(b64(&again), f.ciphertext, "{}", f.name);
        assert_eq!(meta.digest, f.digest, "{}", f.name);
    }
    // The photo bob_42 sent is the first attachment vector, described in full.
    let photo = &bob_side
        .decrypt(&stored(&v.messages[1]))
        .expect("the photo message")
        .attachments[0];
    assert_eq!(photo.id, ATTACHMENT_ID);
    assert_eq!(
        decrypt_file(&unb64(&v.attachments[0].ciphertext), photo).map(|p| b64(&p)),
        Ok(v.attachments[0].plaintext.clone())
    );
}

fn descriptor(f: &FileVector) -> Attachment {
    Attachment {
        id: ATTACHMENT_ID.into(),
        key: f.key.clone(),
        nonce: f.nonce.clone(),
        chunk: f.chunk,
        size: f.size,
        digest: f.digest.clone(),
        mime: "application/octet-stream".into(),
        name: "file".into(),
        thumbnail: None,
        width: None,
        height: None,
        duration: None,
        waveform: None,
    }
}

#[test]
fn the_published_vectors_are_what_the_fixed_inputs_make_and_hold() {
    let built = build();
    if writing() {
        let text = serde_json::to_string_pretty(&built).expect("the vectors are JSON") + "\n";
        std::fs::write(path(), text).expect("write docs/crypto-vectors.json");
    }
    let text = std::fs::read_to_string(path()).expect("docs/crypto-vectors.json is readable");
    let file: Vectors =
        serde_json::from_str(&text).expect("docs/crypto-vectors.json has the vectors' shape");
    assert!(
        file == built,
        "docs/crypto-vectors.json differs from what the fixed inputs make; if the change is \
         meant, rewrite it with\n  NEXCHAT_WRITE_VECTORS=1 cargo test -p nexchat-client \
         --no-default-features --lib vectors"
    );
    check(&file);
}

/// `base64` of `bytes` with one bit of byte `at` flipped.
fn flipped(text: &str, at: usize) -> String {
    let mut bytes = unb64(text);
    bytes[at] ^= 1;
    b64(&bytes)
}

#[test]
fn a_moved_or_tampered_message_does_not_open() {
    let v = published();
    let alice = Identity::from_jwk(&v.users.alice.private_key).expect("JWK");
    let bob = Identity::from_jwk(&v.users.bob.private_key).expect("JWK");
    let key = alice
        .message_key(ALICE, BOB, &bob.public_key())
        .expect("bob's key");
    let good = stored(&v.messages[0]);
    assert!(key.decrypt(&good).is_ok());

    let mut tampered = good.clone();
    tampered.ciphertext = flipped(&good.ciphertext, 3);
    let mut tag = good.clone();
    let last = unb64(&good.ciphertext).len() - 1;
    tag.ciphertext = flipped(&good.ciphertext, last);
    let mut swapped = good.clone();
    std::mem::swap(&mut swapped.sender, &mut swapped.receiver);
    let mut other_id = good.clone();
    other_id.id = BOB_TO_ALICE_ID.into();
    let mut other_iv = good.clone();
    other_iv.iv = flipped(&good.iv, 0);
    for (what, message) in [
        ("a flipped ciphertext bit", tampered),
        ("a flipped tag bit", tag),
        ("sender and receiver swapped", swapped),
        ("another id", other_id),
        ("another IV", other_iv),
    ] {
        assert_eq!(
            key.decrypt(&message),
            Err(CryptoError::DoesNotOpen),
            "{what}"
        );
    }
    let with_self = alice
        .message_key(ALICE, ALICE, &alice.public_key())
        .expect("alice's key");
    assert_eq!(
        with_self.decrypt(&good),
        Err(CryptoError::DoesNotOpen),
        "another key"
    );
    let mut short_iv = good.clone();
    short_iv.iv = "AAAA".into();
    assert!(matches!(
        key.decrypt(&short_iv),
        Err(CryptoError::Malformed(_))
    ));
}

#[test]
fn a_backup_opens_only_for_its_user_its_password_and_its_format() {
    let v = published();
    let b = &v.backup;
    let kdf = KdfParams::from_server(&b.kdf).expect("kdf");
    let keys = kdf.derive(&b.password);
    let upper = keys
        .vault_key
        .open(&b.encrypted_private_key, &b.username.to_uppercase())
        .expect("the name's case does not matter");
    assert_eq!(upper.to_jwk(), b.private_key);
    let open = |backup: &Value, name: &str| keys.vault_key.open(backup, name).map(|_| ());
    assert_eq!(
        open(&b.encrypted_private_key, ALICE),
        Err(CryptoError::WrongPassword)
    );
    let wrong = kdf.derive("P\u{e4}ssw\u{f6}rd of bob_43 \u{1f511}");
    assert_eq!(
        wrong
            .vault_key
            .open(&b.encrypted_private_key, &b.username)
            .map(|_| ()),
        Err(CryptoError::WrongPassword)
    );
    let mut relabelled = b.encrypted_private_key.clone();
    relabelled["v"] = json!(1);
    assert_eq!(
        open(&relabelled, &b.username),
        Err(CryptoError::UnknownBackupFormat)
    );
    assert_eq!(
        open(&v.backup_v1.encrypted_private_key, &b.username),
        Err(CryptoError::UnknownBackupFormat)
    );
    let mut bad_iv = b.encrypted_private_key.clone();
    bad_iv["iv"] = json!("AAAA");
    assert_eq!(open(&bad_iv, &b.username), Err(CryptoError::DamagedBackup));
    let mut not_base64 = b.encrypted_private_key.clone();
    not_base64["ciphertext"] = json!("not base64!");
    assert_eq!(
        open(&not_base64, &b.username),
        Err(CryptoError::DamagedBackup)
    );
    let mut tampered = b.encrypted_private_key.clone();
    tampered["ciphertext"] = json!(flipped(
        b.encrypted_private_key["ciphertext"]
            .as_str()
            .expect("ciphertext"),
        5
    ));
    assert_eq!(
        open(&tampered, &b.username),
        Err(CryptoError::WrongPassword)
    );

    // Version 1: the password as typed, bounded iterations.
    let v1 = &v.backup_v1;
    let open_v1 = |backup: &Value, password: &str| open_backup_v1(backup, password).map(|_| ());
    assert_eq!(
        open_v1(&v1.encrypted_private_key, "another password"),
        Err(CryptoError::WrongPassword)
    );
    let mut cheap = v1.encrypted_private_key.clone();
    cheap["iterations"] = json!(99_999);
    assert!(matches!(
        open_v1(&cheap, &v1.password),
        Err(CryptoError::UnsafeKdf(_))
    ));
    let mut huge = v1.encrypted_private_key.clone();
    huge["iterations"] = json!(10_000_001);
    assert!(matches!(
        open_v1(&huge, &v1.password),
        Err(CryptoError::UnsafeKdf(_))
    ));
    assert_eq!(
        open_v1(&b.encrypted_private_key, &v1.password),
        Err(CryptoError::UnknownBackupFormat)
    );
}

#[test]
fn a_jwk_whose_public_point_is_not_its_private_keys_is_refused() {
    let v = published();
    let mut mixed = v.users.alice.private_key.clone();
    mixed["x"] = v.users.bob.private_key["x"].clone();
    mixed["y"] = v.users.bob.private_key["y"].clone();
    assert!(matches!(
        Identity::from_jwk(&mixed),
        Err(CryptoError::InvalidKey(_))
    ));
    let mut padded = v.users.alice.private_key.clone();
    padded["d"] = json!(format!("{}=", padded["d"].as_str().expect("d")));
    assert!(matches!(
        Identity::from_jwk(&padded),
        Err(CryptoError::InvalidKey(_))
    ));
    let mut public_only = v.users.alice.private_key.clone();
    public_only.as_object_mut().expect("an object").remove("d");
    assert!(matches!(
        Identity::from_jwk(&public_only),
        Err(CryptoError::InvalidKey(_))
    ));
    let mut other_curve = v.users.alice.private_key.clone();
    other_curve["crv"] = json!("P-384");
    assert!(matches!(
        Identity::from_jwk(&other_curve),
        Err(CryptoError::InvalidKey(_))
    ));
}

#[test]
fn group_ciphertexts_do_not_move_between_groups_members_keys_or_kinds() {
    let v = published();
    let g = &v.group;
    let alice = Identity::from_jwk(&v.users.alice.private_key).expect("JWK");
    let bob = Identity::from_jwk(&v.users.bob.private_key).expect("JWK");
    let pair = bob
        .message_key(BOB, ALICE, &alice.public_key())
        .expect("alice's key");
    let sender_key =
        SenderKey::from_bytes(&g.sender_key.key_id, &unb64(&g.sender_key.key)).expect("32 bytes");

    let to_bob = key_of(&g.key_messages[0]);
    let mut other_member = to_bob.clone();
    other_member.to = Some("carol".into());
    let mut other_group = to_bob.clone();
    other_group.group = "another-group".into();
    for (what, message) in [
        ("to another member", other_member),
        ("in another group", other_group),
    ] {
        assert_eq!(
            pair.decrypt_key_message(&message).map(|_| ()),
            Err(CryptoError::DoesNotOpen),
            "a key message {what}"
        );
    }
    let mut no_to = to_bob.clone();
    no_to.to = None;
    assert!(matches!(
        pair.decrypt_key_message(&no_to),
        Err(CryptoError::Malformed(_))
    ));

    let message = message_of(&g.message);
    let mut other_sender = message.clone();
    other_sender.sender = BOB.into();
    let mut other_key_id = message.clone();
    other_key_id.key_id = Some(SenderKey::generate().key_id().to_owned());
    let mut other_id = message.clone();
    other_id.id = KEY_TO_BOB_ID.into();
    for (what, m) in [
        ("sender", other_sender),
        ("key id", other_key_id),
        ("id", other_id),
    ] {
        assert_eq!(
            sender_key.decrypt(&m).map(|_| ()),
            Err(CryptoError::DoesNotOpen),
            "another {what}"
        );
    }
    assert_eq!(
        SenderKey::generate().decrypt(&message).map(|_| ()),
        Err(CryptoError::DoesNotOpen),
        "another key"
    );

    let title = sealed_field(&g.title);
    assert_eq!(
        sender_key.open_field(FieldKind::Avatar, &title, &g.id),
        Err(CryptoError::DoesNotOpen),
        "a title read as an avatar"
    );
    assert_eq!(
        sender_key.open_field(FieldKind::Title, &title, "another-group"),
        Err(CryptoError::DoesNotOpen)
    );
    let mut by_bob = title.clone();
    by_bob.by = Some(BOB.into());
    assert_eq!(
        sender_key.open_field(FieldKind::Title, &by_bob, &g.id),
        Err(CryptoError::DoesNotOpen)
    );
    // An avatar that opens but is not an image URL is refused like the browser refuses it.
    let not_image = sender_key.seal_field(FieldKind::Avatar, "javascript:alert(1)", &g.id, ALICE);
    assert!(matches!(
        sender_key.open_field(FieldKind::Avatar, &not_image, &g.id),
        Err(CryptoError::Malformed(_))
    ));
}

#[test]
fn a_tampered_truncated_or_misdescribed_file_does_not_open() {
    let v = published();
    let f = &v.attachments[0];
    let d = descriptor(f);
    let ciphertext = unb64(&f.ciphertext);
    assert!(decrypt_file(&ciphertext, &d).is_ok());

    let mut tampered = ciphertext.clone();
    tampered[1500] ^= 1;
    assert!(matches!(
        decrypt_file(&tampered, &d),
        Err(CryptoError::FileMismatch(_))
    ));
    // With a digest that matches the tampered bytes, the chunk's tag still refuses them.
    let mut redescribed = d.clone();
    redescribed.digest = b64(&Sha256::digest(&tampered));
    assert_eq!(
        decrypt_file(&tampered, &redescribed),
        Err(CryptoError::DoesNotOpen)
    );
    // Cut after the second chunk and described as two full chunks: the last-chunk flag of the
    // AAD refuses it.
    let cut = ciphertext[..2 * (1024 + 16)].to_vec();
    let mut as_cut = d.clone();
    as_cut.size = 2048;
    as_cut.digest = b64(&Sha256::digest(&cut));
    assert_eq!(decrypt_file(&cut, &as_cut), Err(CryptoError::DoesNotOpen));
    assert!(matches!(
        decrypt_file(&cut, &d),
        Err(CryptoError::FileMismatch(_))
    ));

    let mut tiny_chunk = d.clone();
    tiny_chunk.chunk = 16;
    assert!(matches!(
        decrypt_file(&ciphertext, &tiny_chunk),
        Err(CryptoError::Malformed(_))
    ));
    let mut short_key = d.clone();
    short_key.key = b64(&[1; 16]);
    assert!(matches!(
        decrypt_file(&ciphertext, &short_key),
        Err(CryptoError::Malformed(_))
    ));
}
