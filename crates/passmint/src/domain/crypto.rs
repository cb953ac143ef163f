//! The master key and what is derived from it: sealing signing keys at rest (AES-256-GCM) and
//! signing pagination cursors (HMAC-SHA256). Each use gets its own subkey, so a cursor MAC can
//! never be confused with a ciphertext key.
use std::io::Write;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;
use openssl::symm::{Cipher, decrypt_aead, encrypt_aead};

/// The file inside the data dir that holds a generated master key (base64, mode 0600).
pub const MASTER_KEY_FILE: &str = "master.key";

const SEAL_VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("master key is not 32 bytes of base64: {0}")]
    BadMasterKey(String),
    #[error("cannot read or create the master key file {path}: {source}")]
    KeyFile {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("sealed data is damaged or was sealed under another master key")]
    Unseal,
    #[error("crypto failure: {0}")]
    OpenSsl(#[from] openssl::error::ErrorStack),
}

/// The 32-byte master key; `Debug` never shows it.
#[derive(Clone)]
pub struct MasterKey {
    seal_key: [u8; 32],
    cursor_key: [u8; 32],
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

impl MasterKey {
    /// Parses a base64 master key (standard or URL-safe alphabet) of exactly 32 bytes.
    pub fn from_base64(text: &str) -> Result<Self, CryptoError> {
        let text = text.trim();
        let bytes = STANDARD
            .decode(text)
            .or_else(|_| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')))
            .map_err(|e| CryptoError::BadMasterKey(e.to_string()))?;
        let raw: [u8; 32] = bytes
            .try_into()
            .map_err(|b: Vec<u8>| CryptoError::BadMasterKey(format!("{} bytes", b.len())))?;
        Self::from_bytes(&raw)
    }

    /// Derives the subkeys from raw key bytes.
    pub fn from_bytes(raw: &[u8; 32]) -> Result<Self, CryptoError> {
        Ok(Self {
            seal_key: hmac_sha256(raw, b"passmint signing-key sealing v1")?,
            cursor_key: hmac_sha256(raw, b"passmint cursor integrity v1")?,
        })
    }

    /// Uses `configured` (PASSMINT_MASTER_KEY) if given, else reads `data_dir/master.key`,
    /// creating it with a fresh random key (mode 0600) when absent.
    pub fn load_or_create(configured: Option<&str>, data_dir: &Path) -> Result<Self, CryptoError> {
        if let Some(text) = configured {
            return Self::from_base64(text);
        }
        let path = data_dir.join(MASTER_KEY_FILE);
        let key_file_error = |source| CryptoError::KeyFile {
            path: path.clone(),
            source,
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => return Self::from_base64(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(key_file_error(e)),
        }
        std::fs::create_dir_all(data_dir).map_err(key_file_error)?;
        let mut raw = [0u8; 32];
        openssl::rand::rand_bytes(&mut raw)?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(&path) {
            Ok(mut file) => {
                file.write_all(format!("{}\n", STANDARD.encode(raw)).as_bytes())
                    .and_then(|()| file.sync_all())
                    .map_err(key_file_error)?;
                Self::from_bytes(&raw)
            }
            // Another process created it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let text = std::fs::read_to_string(&path).map_err(key_file_error)?;
                Self::from_base64(&text)
            }
            Err(e) => Err(key_file_error(e)),
        }
    }

    /// Encrypts `plaintext` bound to `associated` (e.g. the template id): version byte, random
    /// 96-bit nonce, ciphertext, 128-bit tag.
    pub fn seal(&self, plaintext: &[u8], associated: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        openssl::rand::rand_bytes(&mut nonce)?;
        let mut tag = [0u8; TAG_LEN];
        let ciphertext = encrypt_aead(
            Cipher::aes_256_gcm(),
            &self.seal_key,
            Some(&nonce),
            associated,
            plaintext,
            &mut tag,
        )?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len() + TAG_LEN);
        out.push(SEAL_VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        out.extend_from_slice(&tag);
        Ok(out)
    }

    /// Reverses [`Self::seal`]; fails if anything was changed or `associated` differs.
    pub fn open(&self, sealed: &[u8], associated: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if sealed.len() < 1 + NONCE_LEN + TAG_LEN || sealed[0] != SEAL_VERSION {
            return Err(CryptoError::Unseal);
        }
        let nonce = &sealed[1..=NONCE_LEN];
        let (ciphertext, tag) = sealed[1 + NONCE_LEN..].split_at(sealed.len() - 1 - NONCE_LEN - TAG_LEN);
        decrypt_aead(
            Cipher::aes_256_gcm(),
            &self.seal_key,
            Some(nonce),
            associated,
            ciphertext,
            tag,
        )
        .map_err(|_| CryptoError::Unseal)
    }

    /// An opaque cursor for position `seq` in the list named `scope`: base64url of the
    /// position plus a truncated HMAC, so a forged or edited cursor is detected.
    pub fn encode_cursor(&self, scope: &str, seq: i64) -> String {
        let mut raw = seq.to_be_bytes().to_vec();
        raw.extend_from_slice(&self.cursor_mac(scope, seq));
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// The position in a cursor made by [`Self::encode_cursor`] for the same `scope`.
    pub fn decode_cursor(&self, scope: &str, cursor: &str) -> Option<i64> {
        let raw = URL_SAFE_NO_PAD.decode(cursor).ok()?;
        if raw.len() != 8 + 16 {
            return None;
        }
        let seq = i64::from_be_bytes(raw[..8].try_into().ok()?);
        let expected = self.cursor_mac(scope, seq);
        openssl::memcmp::eq(&expected, &raw[8..]).then_some(seq)
    }

    fn cursor_mac(&self, scope: &str, seq: i64) -> [u8; 16] {
        let mut message = scope.as_bytes().to_vec();
        message.push(0);
        message.extend_from_slice(&seq.to_be_bytes());
        let full = hmac_sha256(&self.cursor_key, &message).unwrap_or([0u8; 32]);
        let mut out = [0u8; 16];
        out.copy_from_slice(&full[..16]);
        out
    }
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> Result<[u8; 32], openssl::error::ErrorStack> {
    let pkey = PKey::hmac(key)?;
    let mut signer = Signer::new(MessageDigest::sha256(), &pkey)?;
    signer.update(message)?;
    let mut out = [0u8; 32];
    signer.sign(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> MasterKey {
        MasterKey::from_bytes(&[7u8; 32]).unwrap()
    }

    #[test]
    fn opens_what_it_sealed_only_with_the_same_associated_data() {
        let k = key();
        let sealed = k.seal(b"private key", b"template-1").unwrap();
        assert_eq!(k.open(&sealed, b"template-1").unwrap(), b"private key");
        assert!(k.open(&sealed, b"template-2").is_err());
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(k.open(&tampered, b"template-1").is_err());
        let other = MasterKey::from_bytes(&[8u8; 32]).unwrap();
        assert!(other.open(&sealed, b"template-1").is_err());
    }

    #[test]
    fn rejects_forged_and_cross_scope_cursors() {
        let k = key();
        let c = k.encode_cursor("templates", 42);
        assert_eq!(k.decode_cursor("templates", &c), Some(42));
        assert_eq!(k.decode_cursor("events", &c), None);
        assert_eq!(k.decode_cursor("templates", "bm90LWEtY3Vyc29y"), None);
        assert_eq!(k.decode_cursor("templates", "%%%"), None);
    }

    #[test]
    fn creates_the_key_file_once_with_owner_only_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let a = MasterKey::load_or_create(None, dir.path()).unwrap();
        let sealed = a.seal(b"x", b"").unwrap();
        let b = MasterKey::load_or_create(None, dir.path()).unwrap();
        assert_eq!(b.open(&sealed, b"").unwrap(), b"x");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(MASTER_KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn refuses_a_master_key_of_the_wrong_length() {
        assert!(MasterKey::from_base64("c2hvcnQ=").is_err());
    }
}
