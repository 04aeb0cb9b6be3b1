//! Notation's trust store: `<root>/x509/{ca,signingAuthority,tsa}/<name>/`
//! holding PEM or DER certificates (`*.pem`, `*.crt`, `*.cer`). Symlinks are
//! rejected (specification), sub-directories ignored, and every certificate
//! must be a CA or self-signed (notation-go refuses leaf certificates in a
//! store: they would pin a signer, not a root).

use std::path::{Path, PathBuf};

use super::chain::{Cert, CertError};
use super::policy::StoreRef;

/// The certificates of one named store.
#[derive(Debug, Clone)]
pub struct Store {
    pub reference: StoreRef,
    pub certs: Vec<Cert>,
}

/// Why a trust store (or a file of it) cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    #[error("{path}: {why}")]
    Io { path: String, why: String },
    #[error(
        "{0} is a symbolic link; the Notary Project specification forbids links in a trust store"
    )]
    Symlink(String),
    #[error("{0} is not a directory")]
    NotDirectory(String),
    #[error("{0} is not a regular file")]
    NotFile(String),
    #[error("{path}: invalid PEM: {why}")]
    Pem { path: String, why: String },
    #[error("{0}: holds a PEM block that is not a CERTIFICATE")]
    NotCertificate(String),
    #[error("{0}: no certificate in it")]
    EmptyFile(String),
    #[error("{path}: {source}")]
    Cert { path: String, source: CertError },
    #[error("{path} holds {subject:?}, which is neither a CA nor self-signed")]
    Leaf { path: String, subject: String },
    #[error("{0} holds no certificate")]
    Empty(String),
}

/// Why a trust store does not load.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The trust store root itself.
    #[error(transparent)]
    Root(FileError),
    #[error("trust store {store}: {problem}")]
    In { store: StoreRef, problem: FileError },
}

fn io(p: &Path, e: std::io::Error) -> FileError {
    FileError::Io {
        path: p.display().to_string(),
        why: e.to_string(),
    }
}

fn not_symlink(p: &Path) -> Result<std::fs::Metadata, FileError> {
    let m = std::fs::symlink_metadata(p).map_err(|e| io(p, e))?;
    if m.file_type().is_symlink() {
        return Err(FileError::Symlink(p.display().to_string()));
    }
    Ok(m)
}

/// PEM blocks of type CERTIFICATE, or one DER certificate.
fn certificates(bytes: &[u8], file: &Path) -> Result<Vec<Vec<u8>>, FileError> {
    let path = || file.display().to_string();
    if bytes.starts_with(b"-----") || bytes.iter().take(64).all(|b| b.is_ascii()) {
        let mut out = Vec::new();
        for item in rustls_pemfile::read_all(&mut &bytes[..]) {
            match item.map_err(|e| FileError::Pem {
                path: path(),
                why: e.to_string(),
            })? {
                rustls_pemfile::Item::X509Certificate(c) => out.push(c.as_ref().to_vec()),
                _ => return Err(FileError::NotCertificate(path())),
            }
        }
        if out.is_empty() {
            return Err(FileError::EmptyFile(path()));
        }
        return Ok(out);
    }
    Ok(vec![bytes.to_vec()])
}

impl Store {
    /// Load `root/x509/<type>/<name>`.
    pub fn load(root: &Path, reference: &StoreRef) -> Result<Store, StoreError> {
        let mut dir = PathBuf::from(root);
        not_symlink(&dir).map_err(StoreError::Root)?;
        Store::read(&mut dir, reference).map_err(|problem| StoreError::In {
            store: reference.clone(),
            problem,
        })
    }

    /// The store under `root` (extended to the store's directory).
    fn read(dir: &mut PathBuf, reference: &StoreRef) -> Result<Store, FileError> {
        for part in ["x509", reference.kind.dir(), reference.name.as_str()] {
            dir.push(part);
            if !not_symlink(dir)?.is_dir() {
                return Err(FileError::NotDirectory(dir.display().to_string()));
            }
        }
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&*dir)
            .map_err(|e| io(dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        let mut certs = Vec::new();
        for p in entries {
            let m = not_symlink(&p)?;
            if m.is_dir() {
                tracing::warn!(store = %reference, dir = %p.display(), "sub-directory of a Notation trust store ignored");
                continue;
            }
            if !m.is_file() {
                return Err(FileError::NotFile(p.display().to_string()));
            }
            let bytes = std::fs::read(&p).map_err(|e| io(&p, e))?;
            for der in certificates(&bytes, &p)? {
                let c = Cert::parse(&der).map_err(|source| FileError::Cert {
                    path: p.display().to_string(),
                    source,
                })?;
                if !c.is_ca() && !c.self_signed() {
                    return Err(FileError::Leaf {
                        path: p.display().to_string(),
                        subject: c.subject_text(),
                    });
                }
                certs.push(c);
            }
        }
        if certs.is_empty() {
            return Err(FileError::Empty(dir.display().to_string()));
        }
        Ok(Store {
            reference: reference.clone(),
            certs,
        })
    }
}
