//! Notation's trust store: `<root>/x509/{ca,signingAuthority,tsa}/<name>/`
//! holding PEM or DER certificates (`*.pem`, `*.crt`, `*.cer`). Symlinks are
//! rejected (specification), sub-directories ignored, and every certificate
//! must be a CA or self-signed (notation-go refuses leaf certificates in a
//! store: they would pin a signer, not a root).

use std::path::{Path, PathBuf};

use super::chain::Cert;
use super::policy::StoreRef;

/// The certificates of one named store.
#[derive(Debug, Clone)]
pub struct Store {
    pub reference: StoreRef,
    pub certs: Vec<Cert>,
}

fn not_symlink(p: &Path) -> Result<std::fs::Metadata, String> {
    let m = std::fs::symlink_metadata(p).map_err(|e| format!("{}: {e}", p.display()))?;
    if m.file_type().is_symlink() {
        return Err(format!(
            "{} is a symbolic link; the Notary Project specification forbids links in a trust store",
            p.display()
        ));
    }
    Ok(m)
}

/// PEM blocks of type CERTIFICATE, or one DER certificate.
fn certificates(bytes: &[u8], file: &Path) -> Result<Vec<Vec<u8>>, String> {
    if bytes.starts_with(b"-----") || bytes.iter().take(64).all(|b| b.is_ascii()) {
        let mut out = Vec::new();
        for item in rustls_pemfile::read_all(&mut &bytes[..]) {
            match item.map_err(|e| format!("{}: invalid PEM: {e}", file.display()))? {
                rustls_pemfile::Item::X509Certificate(c) => out.push(c.as_ref().to_vec()),
                _ => {
                    return Err(format!(
                        "{}: holds a PEM block that is not a CERTIFICATE",
                        file.display()
                    ))
                }
            }
        }
        if out.is_empty() {
            return Err(format!("{}: no certificate in it", file.display()));
        }
        return Ok(out);
    }
    Ok(vec![bytes.to_vec()])
}

impl Store {
    /// Load `root/x509/<type>/<name>`.
    pub fn load(root: &Path, reference: &StoreRef) -> Result<Store, String> {
        let mut dir = PathBuf::from(root);
        not_symlink(&dir)?;
        for part in ["x509", reference.kind.dir(), reference.name.as_str()] {
            dir.push(part);
            let m = not_symlink(&dir).map_err(|e| format!("trust store {reference}: {e}"))?;
            if !m.is_dir() {
                return Err(format!(
                    "trust store {reference}: {} is not a directory",
                    dir.display()
                ));
            }
        }
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(|e| format!("trust store {reference}: {}: {e}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        let mut certs = Vec::new();
        for p in entries {
            let m = not_symlink(&p).map_err(|e| format!("trust store {reference}: {e}"))?;
            if m.is_dir() {
                tracing::warn!(store = %reference, dir = %p.display(), "sub-directory of a Notation trust store ignored");
                continue;
            }
            if !m.is_file() {
                return Err(format!(
                    "trust store {reference}: {} is not a regular file",
                    p.display()
                ));
            }
            let bytes = std::fs::read(&p)
                .map_err(|e| format!("trust store {reference}: {}: {e}", p.display()))?;
            for der in
                certificates(&bytes, &p).map_err(|e| format!("trust store {reference}: {e}"))?
            {
                let c = Cert::parse(&der)
                    .map_err(|e| format!("trust store {reference}: {}: {e}", p.display()))?;
                if !c.is_ca() && !c.self_signed() {
                    return Err(format!(
                        "trust store {reference}: {} holds {:?}, which is neither a CA nor self-signed",
                        p.display(),
                        c.subject_text()
                    ));
                }
                certs.push(c);
            }
        }
        if certs.is_empty() {
            return Err(format!(
                "trust store {reference}: {} holds no certificate",
                dir.display()
            ));
        }
        Ok(Store {
            reference: reference.clone(),
            certs,
        })
    }
}
