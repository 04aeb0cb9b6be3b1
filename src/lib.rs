//! img-authz: a Docker Engine authorization plugin that lets a host run only
//! images from authorized registries whose signatures verify.
//!
//! Data flows one way: [`protocol`] (wire types, unix-socket server) →
//! [`request`] (decode like dockerd into a typed action) → [`policy`]
//! (decide) → [`plugin`] (ties them together and logs the decision).

pub mod bundle;
pub mod config;
pub mod credentials;
pub mod daemon;
pub mod http;
pub mod log;
pub mod metrics;
pub mod op;
pub mod ownership_store;
pub mod plugin;
pub mod policy;
pub mod protocol;
pub mod registry;
pub mod request;
pub mod service;
pub mod tls;
pub mod trust;
pub mod unix_http;
