//! The browser's ways of reading bytes, numbers and text, where a Rust default would read
//! differently: what the browser client accepts, this client must accept the same way.

use base64::Engine;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{
    GeneralPurpose, GeneralPurposeConfig, STANDARD, URL_SAFE_NO_PAD,
};
use serde_json::Value;
use zeroize::Zeroizing;

/// `atob` after its own preparation (below): no padding, and left-over bits of the last
/// character are dropped instead of refused.
const FORGIVING: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(true),
);

/// Standard base64 with padding, as `btoa` writes it (every base64 the protocol sends).
pub(crate) fn to_base64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Standard base64 as the browser client reads it (`atob`, the HTML "forgiving-base64 decode"):
/// ASCII whitespace is ignored, padding may be left out, and non-zero bits after the last
/// byte are dropped. `None` where `atob` throws.
pub(crate) fn from_base64(text: &str) -> Option<Vec<u8>> {
    let mut clean: String = text
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\x0c' | '\r' | ' '))
        .collect();
    if clean.len() % 4 == 0 {
        for _ in 0..2 {
            if clean.ends_with('=') {
                clean.pop();
            }
        }
    }
    if clean.len() % 4 == 1 {
        return None;
    }
    FORGIVING.decode(clean).ok()
}

/// Base64url without padding (RFC 7518), the coordinates of a JWK.
pub(crate) fn to_base64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A JWK member as WebCrypto imports it: base64url without padding, exactly `N` bytes.
/// The decoded bytes are wiped from the heap: this is how `d` is read.
pub(crate) fn from_base64url<const N: usize>(text: &str) -> Option<[u8; N]> {
    let bytes = Zeroizing::new(URL_SAFE_NO_PAD.decode(text).ok()?);
    bytes.as_slice().try_into().ok()
}

/// A JSON number the way `Number.isSafeInteger` sees it after `JSON.parse`: `1`, `1.0` and
/// `1e0` are all the integer 1; fractions and anything beyond 2^53 − 1 are not integers.
pub(crate) fn js_integer(value: &Value) -> Option<i64> {
    const MAX_SAFE: i64 = (1 << 53) - 1;
    if let Some(n) = value.as_i64() {
        return (-MAX_SAFE..=MAX_SAFE).contains(&n).then_some(n);
    }
    let f = value.as_f64()?;
    // Within ±2^53 every integral f64 is exact, so the cast below loses nothing.
    #[allow(clippy::cast_possible_truncation)]
    (f.fract() == 0.0 && f.abs() <= MAX_SAFE as f64).then_some(f as i64)
}

/// Text as `new TextDecoder().decode(bytes)` gives it: invalid UTF-8 becomes U+FFFD instead of
/// an error, and one leading byte order mark is dropped.
pub(crate) fn decode_text(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    text.strip_prefix('\u{feff}').unwrap_or(&text).to_owned()
}

/// A string's `length` in JavaScript: UTF-16 code units.
pub(crate) fn js_length(text: &str) -> usize {
    text.encode_utf16().count()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn base64_is_read_as_atob_reads_it() {
        assert_eq!(from_base64("AQID").as_deref(), Some(&[1u8, 2, 3][..]));
        assert_eq!(from_base64("AQI=").as_deref(), Some(&[1u8, 2][..]));
        assert_eq!(from_base64("AQI").as_deref(), Some(&[1u8, 2][..]));
        assert_eq!(from_base64(" AQ\nI= ").as_deref(), Some(&[1u8, 2][..]));
        // The last character's spare bits are not checked.
        assert_eq!(from_base64("AQJ=").as_deref(), Some(&[1u8, 2][..]));
        assert_eq!(from_base64(""), Some(Vec::new()));
        for bad in ["A", "AQI==", "AQ=I", "A===", "AQ-_", "AQ*D"] {
            assert_eq!(from_base64(bad), None, "{bad}");
        }
    }

    #[test]
    fn numbers_are_integers_as_javascript_counts_them() {
        assert_eq!(js_integer(&json!(19)), Some(19));
        assert_eq!(
            js_integer(&serde_json::from_str("19.0").expect("json")),
            Some(19)
        );
        assert_eq!(
            js_integer(&serde_json::from_str("1.9e1").expect("json")),
            Some(19)
        );
        assert_eq!(js_integer(&json!(19.5)), None);
        assert_eq!(js_integer(&json!("19")), None);
        assert_eq!(js_integer(&json!(9_007_199_254_740_992_u64)), None);
    }

    #[test]
    fn text_is_decoded_as_text_decoder_decodes_it() {
        assert_eq!(decode_text(b"\xef\xbb\xbfhi"), "hi");
        assert_eq!(decode_text(b"a\xffb"), "a\u{fffd}b");
        assert_eq!(js_length("a\u{1f511}"), 3);
    }
}
