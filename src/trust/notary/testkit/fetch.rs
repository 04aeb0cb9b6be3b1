//! A notary server in memory.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use sha2::{Digest as _, Sha256};

use crate::trust::notary::client::Fetch;
use crate::trust::notary::keys::hex;
use crate::trust::notary::TufError;

use super::*;

/// A notary server in memory: `gun` → file name → bytes. Tests change it
/// between updates to play a server that re-signs, replays or misbehaves.
#[derive(Default)]
pub(crate) struct MemFetch {
    files: Mutex<HashMap<(String, String), Bytes>>,
    log: Mutex<Vec<String>>,
    down: AtomicBool,
}

impl MemFetch {
    pub fn new() -> Arc<MemFetch> {
        Arc::new(MemFetch::default())
    }

    fn files(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Bytes>> {
        self.files.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn put(&self, gun: &str, file: &str, bytes: impl Into<Vec<u8>>) {
        self.files().insert(
            (gun.to_string(), file.to_string()),
            Bytes::from(bytes.into()),
        );
    }

    pub fn get(&self, gun: &str, file: &str) -> Option<Bytes> {
        self.files()
            .get(&(gun.to_string(), file.to_string()))
            .cloned()
    }

    pub fn remove(&self, gun: &str, file: &str) {
        self.files().remove(&(gun.to_string(), file.to_string()));
    }

    /// Forget everything served for `gun`.
    pub fn clear(&self, gun: &str) {
        self.files().retain(|(g, _), _| g != gun);
    }

    /// Serve `role`'s file as `<role>.json`, `<role>.<hex>.json` and
    /// `<version>.<role>.json`.
    pub fn serve_role(&self, gun: &str, role: &str, version: u64, bytes: &[u8]) {
        self.put(gun, &format!("{role}.json"), bytes);
        self.put(
            gun,
            &format!("{role}.{}.json", hex(&Sha256::digest(bytes))),
            bytes,
        );
        self.put(gun, &format!("{version}.{role}.json"), bytes);
    }

    pub fn serve(&self, gun: &str, built: &Built) {
        for (role, bytes) in &built.files {
            self.serve_role(gun, role, built.versions[role], bytes);
        }
    }

    /// Make every fetch fail as an unreachable server would.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// Files requested so far (`<gun>/<file>`).
    pub fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn clear_requests(&self) {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

#[async_trait]
impl Fetch for MemFetch {
    async fn fetch(&self, gun: &str, file: &str, limit: usize) -> Result<Option<Bytes>, TufError> {
        self.log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(format!("{gun}/{file}"));
        if self.down.load(Ordering::SeqCst) {
            return Err(TufError::Unavailable(
                crate::http::HttpError::Unreachable {
                    url: "the test server".into(),
                    why: "it is down".into(),
                }
                .into(),
            ));
        }
        match self.get(gun, file) {
            // As HttpFetch: a body over the limit is refused, not truncated.
            Some(b) if b.len() > limit => Err(TufError::TooLarge(format!(
                "{file} is larger than {limit} bytes"
            ))),
            other => Ok(other),
        }
    }
}
