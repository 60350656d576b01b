//! Attachments (protocol 1.3): files encrypted under a key of their own, described inside the
//! encrypted body of the message that carries them (docs/protocol.md, "Attachments").

use rand::RngCore;
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::aead::{AeadKey, IV_BYTES, KEY_BYTES};
use super::encoding::{from_base64, js_integer, js_length, to_base64};
use super::error::CryptoError;
use super::message::VERSION;

/// One file as a message body describes it: where the ciphertext is (`id`), how to open it, and
/// what it is. Every member is written by the sender and checked by nobody but the receiver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    /// The upload's id (`POST /attachments`).
    pub id: String,
    /// The file's AES-GCM-256 key, base64 of 32 bytes.
    pub key: String,
    /// The 8-byte IV prefix, base64.
    pub nonce: String,
    /// Plaintext bytes per chunk (65,536 from the browser client).
    pub chunk: u32,
    /// Plaintext size in bytes.
    pub size: u64,
    /// Base64 SHA-256 of the uploaded ciphertext.
    pub digest: String,
    /// The MIME type.
    #[serde(rename = "type")]
    pub mime: String,
    /// The file name.
    pub name: String,
    /// A `data:image/jpeg;base64,…` URL of at most 8 KiB, for photos.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail: Option<String>,
    /// A photo's width in pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// A photo's height in pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// A voice note's length in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<u64>,
    /// A voice note's loudness, one byte (0–255) per bar, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waveform: Option<String>,
}

/// Plaintext bytes per chunk, as the browser client writes them.
const CHUNK: u32 = 65_536;
/// The AES-GCM tag each chunk's ciphertext carries.
const TAG: u64 = 16;
const NONCE_BYTES: usize = 8;
/// The chunk sizes a descriptor may give (attachmentCrypto.js `MIN_CHUNK`, `MAX_CHUNK`): a
/// hostile one can neither make a reader seal millions of tiny chunks nor allocate huge ones.
const MIN_CHUNK: u32 = 1024;
const MAX_CHUNK: u32 = 1 << 24;
/// At most this many attachments of a message are read (`Limits::max_attachments_per_message`).
const MAX_PER_MESSAGE: usize = 10;
/// The largest thumbnail a body may carry: a data URL of 8 KiB.
const MAX_THUMBNAIL: usize = 8192;
/// `Number.MAX_SAFE_INTEGER`, the largest `size` a browser can count to exactly.
const MAX_SIZE: u64 = (1 << 53) - 1;

/// How many chunks a plaintext of `size` bytes makes: an empty file is one empty final chunk.
fn chunk_count(size: u64, chunk: u32) -> u64 {
    size.div_ceil(u64::from(chunk)).max(1)
}

/// The 12-byte IV of chunk `i`: the file's nonce, then `i` as 4 bytes big-endian.
fn chunk_iv(nonce: &[u8; NONCE_BYTES], i: u32) -> [u8; IV_BYTES] {
    let mut iv = [0; IV_BYTES];
    iv[..NONCE_BYTES].copy_from_slice(nonce);
    iv[NONCE_BYTES..].copy_from_slice(&i.to_be_bytes());
    iv
}

/// `nexchat-v1|attachment|{i}|{last}`, `last` 1 for the final chunk only, so that a blob cut
/// short at a chunk boundary does not open.
fn chunk_aad(i: u32, last: bool) -> String {
    format!("{VERSION}|attachment|{i}|{}", u8::from(last))
}

/// Encrypts a file for upload (docs/protocol.md, "Attachments" → "What a client does"): a
/// fresh random 32-byte key and 8-byte nonce, chunks of 65,536 bytes. Returns the ciphertext
/// to `POST /attachments` and the descriptor for the message body, whose `id` is empty until
/// the upload answers with one; `name` and `mime` are taken as given.
pub fn encrypt_file(data: &[u8], name: &str, mime: &str) -> (Vec<u8>, Attachment) {
    let mut nonce = [0; NONCE_BYTES];
    OsRng.fill_bytes(&mut nonce);
    seal_file(data, &AeadKey::random(), &nonce, CHUNK, name, mime)
}

/// [`encrypt_file`] with a given key, nonce and chunk size.
pub(crate) fn seal_file(
    data: &[u8],
    key: &AeadKey,
    nonce: &[u8; NONCE_BYTES],
    chunk: u32,
    name: &str,
    mime: &str,
) -> (Vec<u8>, Attachment) {
    let size = data.len() as u64;
    let n = chunk_count(size, chunk);
    let mut out = Vec::with_capacity(data.len() + 16 * usize::try_from(n).unwrap_or(0));
    let mut chunks = data.chunks(chunk as usize);
    for i in 0..n {
        let i = u32::try_from(i).expect("a file in memory has fewer than 2^32 chunks");
        let last = u64::from(i) + 1 == n;
        let plain = chunks.next().unwrap_or_default();
        out.extend(key.seal(&chunk_iv(nonce, i), plain, chunk_aad(i, last).as_bytes()));
    }
    let attachment = Attachment {
        id: String::new(),
        key: to_base64(key.bytes()),
        nonce: to_base64(nonce),
        chunk,
        size,
        digest: to_base64(&Sha256::digest(&out)),
        mime: mime.to_owned(),
        name: name.to_owned(),
        thumbnail: None,
        width: None,
        height: None,
        duration: None,
        waveform: None,
    };
    (out, attachment)
}

/// The plaintext of a downloaded attachment (attachmentCrypto.js `decryptAttachment`): its
/// length and SHA-256 are checked against the descriptor's `size`, `chunk` and `digest` before
/// anything is decrypted, then it is opened chunk by chunk.
///
/// # Errors
/// - [`CryptoError::Malformed`]: a descriptor the browser client would not read (a key that is
///   not 32 bytes or a nonce not 8 bytes of base64, `chunk` outside 1024 ..= 16 MiB, `size`
///   beyond 2^53 − 1);
/// - [`CryptoError::FileMismatch`]: the bytes are not the ciphertext the descriptor describes;
/// - [`CryptoError::DoesNotOpen`]: a chunk does not open (the right digest of a wrong key).
pub fn decrypt_file(ciphertext: &[u8], attachment: &Attachment) -> Result<Vec<u8>, CryptoError> {
    let malformed = |what: &str| CryptoError::Malformed(format!("attachment descriptor: {what}"));
    let key: [u8; KEY_BYTES] = from_base64(&attachment.key)
        .and_then(|key| key.try_into().ok())
        .ok_or_else(|| malformed("the key is not 32 bytes of base64"))?;
    let key = AeadKey::filled(|bytes| *bytes = key);
    let nonce: [u8; NONCE_BYTES] = from_base64(&attachment.nonce)
        .and_then(|nonce| nonce.try_into().ok())
        .ok_or_else(|| malformed("the nonce is not 8 bytes of base64"))?;
    let (chunk, size) = (attachment.chunk, attachment.size);
    if !(MIN_CHUNK..=MAX_CHUNK).contains(&chunk) {
        return Err(malformed("chunk is outside 1024 ..= 16777216"));
    }
    if size > MAX_SIZE {
        return Err(malformed("size is beyond 2^53 - 1"));
    }
    let n = chunk_count(size, chunk);
    if ciphertext.len() as u64 != size + n * TAG {
        return Err(CryptoError::FileMismatch(
            "the file has the wrong size".into(),
        ));
    }
    if to_base64(&Sha256::digest(ciphertext)) != attachment.digest {
        return Err(CryptoError::FileMismatch(
            "the file does not match its digest".into(),
        ));
    }
    let sealed_chunk = chunk as usize + TAG as usize;
    let mut out = Vec::with_capacity(ciphertext.len());
    for (i, sealed) in ciphertext.chunks(sealed_chunk).enumerate() {
        let i = u32::try_from(i).map_err(|_| malformed("more than 2^32 chunks"))?;
        let last = u64::from(i) + 1 == n;
        out.extend_from_slice(&key.open(
            &chunk_iv(&nonce, i),
            sealed,
            chunk_aad(i, last).as_bytes(),
        )?);
    }
    Ok(out)
}

/// The attachments a decrypted message body lists, read as the browser client reads them
/// (attachmentCrypto.js `parseAttachments`): anything but a list is none; of a list, the first
/// 10 entries are looked at, and an entry is left out, not an error, when its `id` is not a
/// string of 1 to 200 characters, `key` not 32 bytes or `nonce` not 8 bytes of padded base64,
/// `chunk` not an integer from 1024 to 16 MiB, `size` not an integer from 0 to 2^53 − 1, or
/// `digest` not 32 bytes of padded base64. Of a kept entry, a `type` that is not a MIME type
/// becomes `application/octet-stream`; the `name` loses folders, control and bidirectional
/// formatting characters and surrounding spaces, is cut to 200 characters, and is `file` when
/// nothing is left (or it was not a string); `thumbnail` (a `data:image/jpeg;base64,` URL of at
/// most 8 KiB), `width` and `height` (both 1 to 100,000, or neither), `duration` (0 to 24 h in
/// ms) and `waveform` (base64 of at most 1024 characters) are kept only when they are so.
pub(crate) fn parse_attachments(list: &Value) -> Vec<Attachment> {
    let Some(list) = list.as_array() else {
        return Vec::new();
    };
    list.iter()
        .take(MAX_PER_MESSAGE)
        .filter_map(parse_entry)
        .collect()
}

fn parse_entry(entry: &Value) -> Option<Attachment> {
    let string = |name: &str| entry.get(name).and_then(Value::as_str);
    let integer = |name: &str, min: i64, max: i64| {
        entry
            .get(name)
            .and_then(js_integer)
            .filter(|n| (min..=max).contains(n))
    };
    let base64_of = |name: &str, bytes: usize| {
        string(name).filter(|s| is_base64(s) && from_base64(s).is_some_and(|b| b.len() == bytes))
    };
    let id = string("id").filter(|id| !id.is_empty() && js_length(id) <= 200)?;
    let key = base64_of("key", KEY_BYTES)?;
    let nonce = base64_of("nonce", NONCE_BYTES)?;
    let chunk = integer("chunk", MIN_CHUNK.into(), MAX_CHUNK.into())?;
    let size = integer("size", 0, MAX_SIZE as i64)?;
    let digest = base64_of("digest", 32)?;
    let (width, height) = match (integer("width", 1, 100_000), integer("height", 1, 100_000)) {
        (Some(w), Some(h)) => (Some(w), Some(h)),
        _ => (None, None),
    };
    let to_u32 = |n: i64| u32::try_from(n).expect("bounded above by the check");
    let to_u64 = |n: i64| u64::try_from(n).expect("bounded below by the check");
    Some(Attachment {
        id: id.to_owned(),
        key: key.to_owned(),
        nonce: nonce.to_owned(),
        chunk: to_u32(chunk),
        size: to_u64(size),
        digest: digest.to_owned(),
        mime: clean_type(string("type")),
        name: clean_name(string("name")),
        thumbnail: string("thumbnail")
            .filter(|t| is_thumbnail(t))
            .map(str::to_owned),
        width: width.map(to_u32),
        height: height.map(to_u32),
        duration: integer("duration", 0, 24 * 3600 * 1000).map(to_u64),
        waveform: string("waveform")
            .filter(|w| is_base64(w) && w.len() <= 1024)
            .map(str::to_owned),
    })
}

/// Padded standard base64 as the browser client's `isBase64` accepts it.
fn is_base64(text: &str) -> bool {
    let data = text.trim_end_matches('=');
    text.len() % 4 == 0
        && text.len() - data.len() <= 2
        && data
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

/// `data:image/jpeg;base64,` followed by base64 (at least one character), at most 8 KiB.
fn is_thumbnail(text: &str) -> bool {
    let Some(data) = text.strip_prefix("data:image/jpeg;base64,") else {
        return false;
    };
    let digits = data.trim_end_matches('=');
    text.len() <= MAX_THUMBNAIL
        && !digits.is_empty()
        && data.len() - digits.len() <= 2
        && digits
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

/// `type/subtype`, each of letters, digits and `_.+-`, optionally followed by `;` and at most
/// 100 characters on one line; anything else is `application/octet-stream`.
fn clean_type(mime: Option<&str>) -> String {
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'+' | b'-'))
    };
    let valid = mime.is_some_and(|mime| {
        let (main, parameters) = match mime.split_once(';') {
            Some((main, parameters)) => (main, Some(parameters)),
            None => (mime, None),
        };
        main.split_once('/')
            .is_some_and(|(a, b)| token(a) && token(b))
            && parameters.is_none_or(|p| {
                js_length(p) <= 100 && !p.contains(['\n', '\r', '\u{2028}', '\u{2029}'])
            })
    });
    match mime {
        Some(mime) if valid => js_prefix(mime, 200),
        _ => "application/octet-stream".to_owned(),
    }
}

/// A file name as shown and saved (attachmentCrypto.js `cleanName`): no folders, no control or
/// bidirectional formatting characters, no surrounding spaces, at most 200 characters.
fn clean_name(name: Option<&str>) -> String {
    let base = name
        .unwrap_or_default()
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or_default();
    let kept: String = base
        .chars()
        .filter(|c| {
            !matches!(c, '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        })
        .collect();
    // JavaScript's `trim` also takes the byte order mark, which is not Unicode white space.
    let trimmed = kept.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
    js_prefix(if trimmed.is_empty() { "file" } else { trimmed }, 200)
}

/// The longest prefix of `text` of at most `units` UTF-16 code units (`slice(0, units)`, except
/// that a character is never cut in half).
fn js_prefix(text: &str, units: usize) -> String {
    let mut used = 0;
    text.chars()
        .take_while(|c| {
            used += c.len_utf16();
            used <= units
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn entry() -> Value {
        json!({
            "id": "f1", "key": to_base64(&[7; 32]), "nonce": to_base64(&[1; 8]),
            "chunk": 65536, "size": 10, "digest": to_base64(&[9; 32]),
            "type": "image/png", "name": "cat.png",
        })
    }

    fn with(change: Value) -> Value {
        let mut e = entry();
        for (k, v) in change.as_object().expect("an object") {
            e[k] = v.clone();
        }
        e
    }

    #[test]
    fn a_file_round_trips_in_chunks_of_64_kib_and_an_empty_one_is_one_chunk() {
        for size in [0_usize, 1, 65_536, 150_000] {
            let data: Vec<u8> = (0..size).map(|i| (i % 256) as u8).collect();
            let (ciphertext, mut meta) = encrypt_file(&data, "f.bin", "application/octet-stream");
            let chunks = size.div_ceil(65_536).max(1);
            assert_eq!(ciphertext.len(), size + 16 * chunks, "{size}");
            assert_eq!(
                (meta.chunk, meta.size, meta.id.as_str()),
                (65_536, size as u64, "")
            );
            assert_eq!(decrypt_file(&ciphertext, &meta), Ok(data), "{size}");
            meta.id = "uploaded".into();
            assert_eq!(parse_attachments(&json!([meta])), vec![meta.clone()]);
        }
    }

    #[test]
    fn descriptors_are_checked_as_the_browser_checks_them() {
        let good = parse_attachments(&json!([entry()]));
        assert_eq!(good.len(), 1);
        let bad = [
            json!({"id": ""}),
            json!({"id": "x".repeat(201)}),
            json!({"key": to_base64(&[7; 31])}),
            json!({"key": "AAAA"}),
            json!({"nonce": to_base64(&[1; 12])}),
            json!({"nonce": "AQEBAQEBAQE"}),
            json!({"chunk": 1023}),
            json!({"chunk": 16_777_217}),
            json!({"chunk": 1024.5}),
            json!({"size": -1}),
            json!({"size": "10"}),
            json!({"digest": to_base64(&[9; 31])}),
        ];
        for change in bad {
            assert!(
                parse_attachments(&json!([with(change.clone())])).is_empty(),
                "{change}"
            );
        }
        assert_eq!(
            parse_attachments(&Value::Array(vec![entry(); 12])).len(),
            10
        );
        assert!(parse_attachments(&json!({"0": entry()})).is_empty());
    }

    #[test]
    fn names_types_and_extras_are_cleaned_as_the_browser_cleans_them() {
        let one = |change: Value| {
            parse_attachments(&json!([with(change)]))
                .pop()
                .expect("a kept entry")
        };
        assert_eq!(one(json!({"name": "../../etc/passwd"})).name, "passwd");
        assert_eq!(
            one(json!({"name": "C:\\x\\evil\u{202e}gpj.exe "})).name,
            "evilgpj.exe"
        );
        assert_eq!(one(json!({"name": "\u{feff} \u{1}"})).name, "file");
        assert_eq!(one(json!({"name": 5})).name, "file");
        assert_eq!(
            one(json!({"name": "\u{1f511}".repeat(150)}))
                .name
                .chars()
                .count(),
            100
        );
        assert_eq!(one(json!({"type": "text/html"})).mime, "text/html");
        assert_eq!(
            one(json!({"type": "text/plain; charset=utf-8"})).mime,
            "text/plain; charset=utf-8"
        );
        for odd in [
            json!("text"),
            json!("text/html\n"),
            json!("a b/c"),
            json!(3),
        ] {
            assert_eq!(one(json!({"type": odd})).mime, "application/octet-stream");
        }
        let photo = one(json!({
            "thumbnail": "data:image/jpeg;base64,/9j/4AA=", "width": 640, "height": 480,
            "duration": 1500, "waveform": "AAEC",
        }));
        assert_eq!(
            photo.thumbnail.as_deref(),
            Some("data:image/jpeg;base64,/9j/4AA=")
        );
        assert_eq!((photo.width, photo.height), (Some(640), Some(480)));
        assert_eq!(
            (photo.duration, photo.waveform.as_deref()),
            (Some(1500), Some("AAEC"))
        );
        let odd = one(json!({
            "thumbnail": "data:image/png;base64,AAAA", "width": 640, "height": 0,
            "duration": -1, "waveform": "AAE",
        }));
        assert_eq!(
            (
                odd.thumbnail,
                odd.width,
                odd.height,
                odd.duration,
                odd.waveform
            ),
            (None, None, None, None, None)
        );
    }
}
