//! The `docker.authz/1.0` plugin protocol: wire types and the unix-socket server.

mod server;
mod wire;

pub use server::{bind, serve, Authorize, Phase, ServerOptions, DEFAULT_DEADLINE, STATUS_PATH};
pub use wire::{AuthzRequest, AuthzResponse};
