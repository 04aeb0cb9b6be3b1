//! Byte encodings the trust formats share: lowercase hex (digests, key IDs)
//! and standard base64 (keys, signatures, payloads). One copy of each, so
//! that Notary, cosign and the state files agree on them.

use base64::Engine as _;

/// Standard base64 with padding (RFC 4648 §4), as TUF, cosign and Rekor
/// write it.
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Lowercase hex, two digits per byte.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        // Writing to a String cannot fail.
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// Standard base64 of `bytes`.
pub fn b64_encode(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

/// Decode standard base64 exactly as given (no whitespace allowed).
pub fn b64_decode(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    B64.decode(text)
}

/// Decode standard base64 after trimming surrounding whitespace (key and
/// certificate fields that files often end with a newline).
pub fn b64_decode_trimmed(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    B64.decode(text.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_lowercase_two_digits_per_byte() {
        assert_eq!(hex(&[0x00, 0x0f, 0xab, 0xff]), "000fabff");
        assert_eq!(hex(&[]), "");
    }

    #[test]
    fn base64_round_trips_and_trims_only_when_asked() {
        assert_eq!(b64_encode(b"hi"), "aGk=");
        assert_eq!(b64_decode("aGk=").unwrap(), b"hi");
        assert!(b64_decode(" aGk=\n").is_err());
        assert_eq!(b64_decode_trimmed(" aGk=\n").unwrap(), b"hi");
    }
}
