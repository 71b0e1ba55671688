//! Passwords (argon2id) and device tokens (32 random bytes, stored as their SHA-256).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine as _;
use rand::RngCore as _;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Prefix that makes a token recognisable in logs and secret scanners.
const TOKEN_PREFIX: &str = "gw1_";

pub fn hash_password(password: &str) -> Result<String> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| Error::PasswordHash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::PasswordHash(e.to_string()))
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Most argon2 memory a stored hash may ask a verification for (64 MiB; ours use 19 MiB).
const MAX_VERIFY_BLOCKS: usize = 64 * 1024;

thread_local! {
    /// Argon2 working memory reused by [`verify_password_reusing_memory`] on this thread.
    static ARGON2_MEMORY: std::cell::RefCell<Vec<argon2::Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// [`verify_password`] with this thread's argon2 working memory (~19 MiB, allocated once per
/// thread and kept): for the few dedicated password-check threads, so a flood of sign-ins
/// neither allocates 19 MiB per attempt nor leaves freed blocks in every allocator arena.
pub fn verify_password_reusing_memory(password: &str, hash: &str) -> bool {
    use argon2::password_hash::Output;
    use argon2::{Algorithm, Params, Version};
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from).transpose() {
        Ok(v) => v.unwrap_or_default(),
        Err(_) => return false,
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let blocks = params.block_count();
    if blocks > MAX_VERIFY_BLOCKS {
        return false;
    }
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let mut out = [0u8; 64];
    let Some(out) = out.get_mut(..expected.len()) else {
        return false;
    };
    let ctx = Argon2::new(algorithm, version, params);
    let ok = ARGON2_MEMORY.with(|m| {
        let mut m = m.borrow_mut();
        if m.len() < blocks {
            m.resize(blocks, argon2::Block::default());
        }
        ctx.hash_password_into_with_memory(password.as_bytes(), salt, out, &mut m[..blocks])
            .is_ok()
    });
    // `Output`'s equality is constant-time.
    ok && Output::new(out).is_ok_and(|o| o == expected)
}

/// A hash to verify against when the username does not exist, so that a wrong username and a
/// wrong password take the same time.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("gridwork-dummy-password").unwrap_or_default())
}

/// A new device token and its hash.
pub fn new_token() -> (String, [u8; 32]) {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    let token = format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    );
    let hash = token_hash(&token);
    (token, hash)
}

pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// A random password people can type: 16 characters without look-alikes.
pub fn random_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzACDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..16)
        .map(|_| ALPHABET[(rng.next_u32() as usize) % ALPHABET.len()] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify() {
        let h = hash_password("s3cret").unwrap();
        assert!(verify_password("s3cret", &h));
        assert!(!verify_password("s3creT", &h));
        assert!(!verify_password("s3cret", "not a hash"));
        // The same answers with reused working memory (twice: the second run reuses it).
        for _ in 0..2 {
            assert!(verify_password_reusing_memory("s3cret", &h));
            assert!(!verify_password_reusing_memory("s3creT", &h));
        }
        assert!(!verify_password_reusing_memory("s3cret", "not a hash"));
        assert!(verify_password_reusing_memory(
            "gridwork-dummy-password",
            dummy_hash()
        ));
    }

    #[test]
    fn tokens_are_random_and_hashed() {
        let (a, ha) = new_token();
        let (b, hb) = new_token();
        assert_ne!(a, b);
        assert_ne!(ha, hb);
        assert_eq!(token_hash(&a), ha);
        assert!(a.starts_with(TOKEN_PREFIX) && a.len() > 40);
    }
}
