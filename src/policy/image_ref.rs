//! Image fields as requests spell them: a full ID, a short ID or a name,
//! and the refusal of registry spellings that would be a second identity.

use super::decision::{Check, Decision};
use crate::request::reference::{is_identifier, validate_digest, Reference, Spelling};

/// The deny of a registry spelled other than canonically, if `r`'s is.
pub(super) fn alias_deny(r: &Reference, what: &str) -> Option<Decision> {
    let (reason, hint) = match r.spelling() {
        Spelling::Canonical => return None,
        Spelling::Alias { canonical } => (
            format!(
                "{what} {r} spells registry {canonical} as {}; a repository has one identity (rules, signatures, \
                 trust state), so other spellings of its registry are refused",
                r.domain
            ),
            format!("write it as {canonical}/{}", r.path),
        ),
        Spelling::Ambiguous { why } => (
            format!(
                "{what} {r} names registry {}, {why}; a repository has one identity, so such spellings are refused",
                r.domain
            ),
            "name the registry by its host name or a plain IP address".to_string(),
        ),
    };
    Some(Decision::deny(Check::RegistryAllowlist, reason, hint).with_image(r))
}

pub(super) fn unreachable_id() -> Decision {
    Decision::deny(Check::Internal, "an image ID has no rule", "")
}

pub(super) fn parse_opt(name: &str) -> Option<Reference> {
    if name.is_empty() {
        return None;
    }
    Reference::parse_normalized(name).ok()
}

/// `abc123` or `sha256:abc123`: what `docker run` users type for an ID.
pub(super) fn looks_like_short_id(image: &str) -> bool {
    let hex = id_hex(image);
    (1..64).contains(&hex.len()) && is_lower_hex(hex)
}

/// An ID without its `sha256:` prefix.
pub(super) fn id_hex(id: &str) -> &str {
    id.strip_prefix("sha256:").unwrap_or(id)
}

/// Only `0-9a-f`: how dockerd spells image IDs and their prefixes.
pub(super) fn is_lower_hex(s: &str) -> bool {
    s.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
}

/// The 12-character ID `docker images` shows.
pub(super) fn short_id(id: &str) -> &str {
    let h = id_hex(id);
    h.get(..12).unwrap_or(h)
}

/// An image field: a full image ID, or a name.
pub enum ImageRef {
    /// `sha256:<64 hex>`.
    Id(String),
    Named(Reference),
}

impl ImageRef {
    #[expect(
        clippy::result_large_err,
        reason = "a refusal is a whole Decision, built once per request"
    )]
    pub fn parse(image: &str, what: &str) -> Result<ImageRef, Decision> {
        if image.is_empty() {
            return Err(Decision::deny(
                Check::RegistryAllowlist,
                format!("{what} is not named"),
                "name an image",
            ));
        }
        let bare = image.strip_prefix("sha256:").unwrap_or(image);
        if is_identifier(bare) {
            return Ok(ImageRef::Id(format!("sha256:{bare}")));
        }
        if validate_digest(image).is_ok() {
            // sha384/sha512 image IDs: not used by dockerd's image store.
            return Err(Decision::deny(
                Check::RequestDecoding,
                format!("{what} {image:?} is not a sha256 image ID"),
                "use the image's name or its sha256 ID",
            ));
        }
        Reference::parse_normalized(image)
            .map(ImageRef::Named)
            .map_err(|e| {
                Decision::deny(
                    Check::RequestDecoding,
                    format!("{what} {image:?} is not a valid image reference ({e})"),
                    "use a valid image reference",
                )
            })
    }
}
