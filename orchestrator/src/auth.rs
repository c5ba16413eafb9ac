//! Signed bearer tokens: `v1.USER.SIGNATURE`, the signature being HMAC-SHA256 of `v1.USER` under
//! the server secret, in hex. Stands in for the app's signed session cookie.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

const VERSION: &str = "v1";

/// Signs and checks bearer tokens with one server secret.
#[derive(Clone)]
pub struct TokenSigner {
    secret: Vec<u8>,
}

/// Why a user name cannot be put in a token.
#[derive(Debug, thiserror::Error)]
#[error("user id `{0}` must be 1-64 characters of A-Z, a-z, 0-9, '_' or '-'")]
pub struct BadUserId(pub String);

impl TokenSigner {
    /// A signer for `secret`.
    pub fn new(secret: &str) -> Self {
        Self {
            secret: secret.as_bytes().to_vec(),
        }
    }

    fn mac(&self, payload: &str) -> HmacSha256 {
        let mut mac =
            HmacSha256::new_from_slice(&self.secret).expect("HMAC takes a key of any length");
        mac.update(payload.as_bytes());
        mac
    }

    /// The token of `user`.
    pub fn sign(&self, user: &str) -> Result<String, BadUserId> {
        if !valid_user_id(user) {
            return Err(BadUserId(user.to_string()));
        }
        let payload = format!("{VERSION}.{user}");
        let signature = hex::encode(self.mac(&payload).finalize().into_bytes());
        Ok(format!("{payload}.{signature}"))
    }

    /// The user a token was signed for, or `None` if it is malformed or its signature is wrong.
    pub fn verify(&self, token: &str) -> Option<String> {
        let (payload, signature) = token.rsplit_once('.')?;
        let user = payload.strip_prefix(VERSION)?.strip_prefix('.')?;
        if !valid_user_id(user) {
            return None;
        }
        let signature = hex::decode(signature).ok()?;
        self.mac(payload).verify_slice(&signature).ok()?;
        Some(user.to_string())
    }
}

fn valid_user_id(user: &str) -> bool {
    (1..=64).contains(&user.len())
        && user
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_verifies_to_its_user_and_only_under_its_secret() {
        let signer = TokenSigner::new("s1");
        let token = signer.sign("alice").unwrap();
        assert_eq!(signer.verify(&token).as_deref(), Some("alice"));
        assert_eq!(TokenSigner::new("s2").verify(&token), None);
    }

    #[test]
    fn a_tampered_token_is_refused() {
        let signer = TokenSigner::new("s1");
        let token = signer.sign("alice").unwrap().replace("alice", "bob");
        assert_eq!(signer.verify(&token), None);
        assert_eq!(signer.verify("garbage"), None);
        assert!(signer.sign("a b").is_err());
    }
}
