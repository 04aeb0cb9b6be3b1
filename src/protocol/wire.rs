//! Wire types of the `docker.authz/1.0` protocol.
//!
//! Field names are exactly what dockerd's Go structs emit (`RequestUri`, not
//! `RequestURI`); bodies are standard base64. The daemon reads only `Allow`
//! from our reply, so a deny is `Allow:false` with a human `Msg`.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// What the daemon sends to `AuthZPlugin.AuthZReq` and `AuthZPlugin.AuthZRes`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct AuthzRequest {
    #[serde(rename = "User", default, skip_serializing_if = "String::is_empty")]
    pub user: String,
    #[serde(
        rename = "UserAuthNMethod",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub user_authn_method: String,
    #[serde(rename = "RequestMethod", default)]
    pub request_method: String,
    #[serde(rename = "RequestUri", default)]
    pub request_uri: String,
    #[serde(
        rename = "RequestBody",
        default,
        with = "b64",
        skip_serializing_if = "Option::is_none"
    )]
    pub request_body: Option<Vec<u8>>,
    #[serde(
        rename = "RequestHeaders",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub request_headers: Option<BTreeMap<String, String>>,
    #[serde(
        rename = "RequestPeerCertificates",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub request_peer_certificates: Option<Vec<String>>,
    #[serde(
        rename = "ResponseStatusCode",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub response_status_code: Option<i64>,
    #[serde(
        rename = "ResponseHeaders",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub response_headers: Option<BTreeMap<String, String>>,
    #[serde(
        rename = "ResponseBody",
        default,
        with = "b64",
        skip_serializing_if = "Option::is_none"
    )]
    pub response_body: Option<Vec<u8>>,
}

impl AuthzRequest {
    /// A request header as the daemon forwarded it (keys are Go-canonical).
    pub fn header(&self, name: &str) -> Option<&str> {
        let h = self.request_headers.as_ref()?;
        h.get(name)
            .or_else(|| {
                h.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v)
            })
            .map(String::as_str)
    }
}

/// Our answer. Always sent with HTTP 200: the daemon looks only at `Allow`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuthzResponse {
    #[serde(rename = "Allow")]
    pub allow: bool,
    #[serde(rename = "Msg")]
    pub msg: String,
    #[serde(rename = "Err")]
    pub err: String,
}

impl AuthzResponse {
    pub fn allow() -> Self {
        AuthzResponse {
            allow: true,
            ..Default::default()
        }
    }

    pub fn deny(msg: impl Into<String>) -> Self {
        AuthzResponse {
            allow: false,
            msg: msg.into(),
            err: String::new(),
        }
    }
}

/// Reply to `Plugin.Activate`.
pub const ACTIVATE_REPLY: &str = r#"{"Implements":["authz"]}"#;

/// Content type go-plugins-helpers answers with; dockerd ignores it.
pub const PLUGIN_CONTENT_TYPE: &str = "application/vnd.docker.plugins.v1.1+json";

mod b64 {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(b) => s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(b)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        // Go encodes a nil []byte as null and an empty one as "".
        let s: Option<String> = Option::deserialize(d)?;
        match s {
            None => Ok(None),
            Some(s) => base64::engine::general_purpose::STANDARD
                .decode(s.as_bytes())
                .map(Some)
                .map_err(serde::de::Error::custom),
        }
    }
}
