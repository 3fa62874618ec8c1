//! Where the key-encryption key comes from: `keys.encryption_key` (config or environment),
//! `keys.encryption_key_file` (a mounted secret), or, for development only, a key generated
//! once into `data/portcullis.kek`. Never from the database it protects.

use std::path::Path;

use super::KeyError;
use crate::config::KeySettings;
use crate::crypto::envelope::Kek;

/// The development default, next to the default SQLite database.
pub const DEV_KEK_FILE: &str = "data/portcullis.kek";

fn read_file(path: &Path) -> Result<Kek, KeyError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| KeyError::Material(format!("cannot read {}: {e}", path.display())))?;
    Ok(Kek::from_base64(&text)?)
}

pub fn load(settings: &KeySettings) -> Result<Kek, KeyError> {
    if !settings.encryption_key.expose().trim().is_empty() {
        return Ok(Kek::from_base64(settings.encryption_key.expose())?);
    }
    if !settings.encryption_key_file.trim().is_empty() {
        return read_file(Path::new(settings.encryption_key_file.trim()));
    }
    let path = Path::new(DEV_KEK_FILE);
    if path.exists() {
        tracing::warn!(
            path = DEV_KEK_FILE,
            "using the development key-encryption key; set keys.encryption_key or \
             keys.encryption_key_file in production"
        );
        return read_file(path);
    }
    let kek = Kek::generate();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| KeyError::Material(format!("cannot create {}: {e}", dir.display())))?;
    }
    write_private(path, &kek.to_base64())?;
    tracing::warn!(
        path = DEV_KEK_FILE,
        "GENERATED A DEVELOPMENT KEY-ENCRYPTION KEY. Signing keys are encrypted with a key \
         stored beside the database: fine for development, unsafe in production. Set \
         keys.encryption_key (PORTCULLIS__KEYS__ENCRYPTION_KEY) or keys.encryption_key_file."
    );
    Ok(kek)
}

#[cfg(unix)]
fn write_private(path: &Path, content: &str) -> Result<(), KeyError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| KeyError::Material(format!("cannot create {}: {e}", path.display())))?;
    file.write_all(content.as_bytes())
        .map_err(|e| KeyError::Material(format!("cannot write {}: {e}", path.display())))
}

#[cfg(not(unix))]
fn write_private(path: &Path, content: &str) -> Result<(), KeyError> {
    std::fs::write(path, content)
        .map_err(|e| KeyError::Material(format!("cannot write {}: {e}", path.display())))
}
