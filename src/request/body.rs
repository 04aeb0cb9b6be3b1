//! What the daemon did and did not forward of the request body.
//!
//! dockerd forwards a request body only when its first `Content-Type` is
//! JSON, its `RequestUri` does not look like `/auth`, and (20.10, and every
//! daemon before the CVE-2024-41110 fix) it has a `Content-Length` between 1
//! byte and 1 MiB. Handlers may still read a body that we never saw; for the
//! routes where that matters we insist on seeing it, or on proof that it is
//! empty (`Content-Length: 0`).

use crate::protocol::AuthzRequest;

use super::json::{self, JsonError, Value};

/// The largest body 20.10 forwards; at or above it the body is silently
/// dropped (CVE-2026-34040).
const FORWARD_LIMIT: u64 = 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("its body was not forwarded to the plugin ({0}), so the plugin cannot see what dockerd would do")]
    Hidden(String),
    #[error("it carries a form body (Content-Type {0}), which dockerd reads in preference to the query the plugin checks")]
    Form(String),
    #[error("it has a body (Content-Type {0:?}) on an endpoint that takes none; dockerd may read it as form values that override the query")]
    Unexpected(String),
    #[error("its JSON body is invalid: {0}")]
    Json(#[from] JsonError),
}

/// The body-related facts of one call.
pub struct Body<'a> {
    bytes: &'a [u8],
    /// `Content-Length` header; `None` when absent (e.g. chunked).
    content_length: Option<Result<u64, ()>>,
    /// Raw `Content-Type` header as forwarded (the *last* value when repeated).
    content_type: Option<&'a str>,
    request_uri: &'a str,
}

impl<'a> Body<'a> {
    pub fn of(req: &'a AuthzRequest) -> Body<'a> {
        Body {
            bytes: req.request_body.as_deref().unwrap_or(&[]),
            content_length: req
                .header("Content-Length")
                .map(|v| v.trim().parse::<u64>().map_err(|_| ())),
            content_type: req.header("Content-Type"),
            request_uri: &req.request_uri,
        }
    }

    fn content_type_display(&self) -> String {
        self.content_type.unwrap_or("").to_string()
    }

    /// Provably empty: forwarded nothing and `Content-Length: 0`.
    fn proven_empty(&self) -> bool {
        self.bytes.is_empty() && matches!(self.content_length, Some(Ok(0)))
    }

    /// Why a body the daemon may read is not in front of us.
    fn hidden_reason(&self) -> String {
        match self.content_length {
            None => "no Content-Length: the body may be chunked".into(),
            Some(Err(())) => "its Content-Length is not a number".into(),
            Some(Ok(n)) if n >= FORWARD_LIMIT => {
                format!("{n} bytes: dockerd does not forward bodies of 1 MiB or more")
            }
            Some(Ok(_)) => match media_type(self.content_type.unwrap_or("")) {
                Some(mt) if mt == "application/json" => {
                    if self.request_uri.ends_with("/auth") {
                        "the request URI ends in /auth, for which dockerd withholds bodies".into()
                    } else {
                        "the daemon did not forward it".into()
                    }
                }
                _ => format!(
                    "Content-Type {:?} is not application/json",
                    self.content_type.unwrap_or("")
                ),
            },
        }
    }

    /// The JSON body of a route whose handler decodes JSON. `Ok(None)` only
    /// when the body is provably empty.
    pub fn json(&self) -> Result<Option<Value>, BodyError> {
        if !self.bytes.is_empty() {
            return Ok(Some(json::parse(self.bytes)?));
        }
        if self.proven_empty() {
            return Ok(None);
        }
        Err(BodyError::Hidden(self.hidden_reason()))
    }

    /// For routes that take no body but read query parameters through
    /// `r.Form`: a form-encoded body would silently override them. Any body
    /// that is not provably empty, sent with any Content-Type, is refused;
    /// without a Content-Type header Go never parses a form.
    pub fn forbid_form_override(&self) -> Result<(), BodyError> {
        if let Some(ct) = self.content_type {
            if is_form(ct) {
                return Err(BodyError::Form(ct.to_string()));
            }
            if !self.proven_empty() {
                return Err(BodyError::Unexpected(self.content_type_display()));
            }
        }
        Ok(())
    }

    /// Refuse a form or multipart Content-Type outright (routes that do take
    /// a body of their own, such as import's tar stream).
    pub fn forbid_form_type(&self) -> Result<(), BodyError> {
        match self.content_type {
            Some(ct) if is_form(ct) => Err(BodyError::Form(ct.to_string())),
            _ => Ok(()),
        }
    }
}

fn is_form(ct: &str) -> bool {
    matches!(
        media_type(ct).as_deref(),
        Some("application/x-www-form-urlencoded" | "multipart/form-data")
    )
}

/// The media type as Go's `mime.ParseMediaType` yields it: the part before
/// `;`, trimmed, lower-cased with Go's simple case mapping (so `İ` becomes
/// `i`, unlike Rust's full mapping).
pub fn media_type(ct: &str) -> Option<String> {
    let base = ct.split(';').next()?.trim();
    if base.is_empty() {
        return None;
    }
    Some(
        base.chars()
            .map(|c| match c {
                '\u{0130}' => 'i',
                c => {
                    let mut l = c.to_lowercase();
                    match (l.next(), l.next()) {
                        (Some(x), None) => x,
                        _ => c,
                    }
                }
            })
            .collect(),
    )
}
