//! Decode an authorization call exactly as dockerd will act on it, into a
//! typed [`Action`].
//!
//! Every step mirrors the daemon: the raw request target is parsed like Go's
//! `url.ParseRequestURI`, routed like gorilla/mux on the decoded path, query
//! parameters are read with `Form.Get` semantics and JSON bodies with
//! `encoding/json` semantics. Whenever we cannot be sure we see what the
//! daemon will use (a body that was not forwarded, a form body that would
//! override the query, an ambiguous JSON key), decoding fails and the caller
//! denies.

pub mod action;
pub mod json;
pub mod query;
pub mod reference;
pub mod routes;
pub mod uri;

mod body;
mod decode;

pub use action::Action;
pub use body::BodyError;
pub use decode::{decode, network_container, pull_reference, tag_target, DecodeError, Decoded};
pub use routes::route_name;
