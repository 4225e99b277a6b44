//! dbt Cloud signs the raw body with HMAC-SHA256 and sends the hex digest, with no
//! prefix, in `Authorization`.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

const SHA256_LEN: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureError {
    Missing,
    NotHex,
    WrongLength,
    Mismatch,
}

impl std::fmt::Display for SignatureError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SignatureError::Missing => "Authorization header missing",
            SignatureError::NotHex => "Authorization header is not hex",
            SignatureError::WrongLength => "Authorization header is not a SHA-256 digest",
            SignatureError::Mismatch => "signature does not match the body",
        })
    }
}

/// A syntactically valid `Authorization` value: 32 bytes given as hex, either case.
/// Parsed before any secret is fetched, so junk headers cost nothing.
#[derive(Clone, PartialEq, Eq)]
pub struct Signature([u8; SHA256_LEN]);

impl std::fmt::Debug for Signature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signature([redacted])")
    }
}

impl Signature {
    pub fn parse(authorization: Option<&str>) -> Result<Signature, SignatureError> {
        let header = authorization
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .ok_or(SignatureError::Missing)?;
        let mut digest = [0u8; SHA256_LEN];
        if header.len() != 2 * SHA256_LEN {
            return Err(if header.bytes().all(|b| b.is_ascii_hexdigit()) {
                SignatureError::WrongLength
            } else {
                SignatureError::NotHex
            });
        }
        hex::decode_to_slice(header, &mut digest).map_err(|_| SignatureError::NotHex)?;
        Ok(Signature(digest))
    }

    /// Constant-time check (`verify_slice`) against the HMAC of `body` under `key`.
    pub fn verify(&self, key: &[u8], body: &[u8]) -> Result<(), SignatureError> {
        let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length");
        mac.update(body);
        mac.verify_slice(&self.0)
            .map_err(|_| SignatureError::Mismatch)
    }
}

/// Parses `authorization` and checks it against `body` in one step.
pub fn verify_signature(
    key: &[u8],
    body: &[u8],
    authorization: Option<&str>,
) -> Result<(), SignatureError> {
    Signature::parse(authorization)?.verify(key, body)
}

/// Hex HMAC-SHA256 of `body`, as dbt Cloud computes it. Used by tests and tooling
/// that sign sample events.
pub fn sign(key: &[u8], body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"demo-key";
    const BODY: &[u8] = br#"{"eventType":"job.run.completed"}"#;

    #[test]
    fn accepts_lower_and_upper_case_hex() {
        let sig = sign(KEY, BODY);
        assert_eq!(verify_signature(KEY, BODY, Some(&sig)), Ok(()));
        assert_eq!(
            verify_signature(KEY, BODY, Some(&sig.to_uppercase())),
            Ok(())
        );
    }

    #[test]
    fn known_vector() {
        // RFC 4231 test case 2.
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn rejects_each_kind_of_bad_header() {
        let sig = sign(KEY, BODY);
        assert_eq!(
            verify_signature(KEY, BODY, None),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify_signature(KEY, BODY, Some("  ")),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify_signature(KEY, BODY, Some("zz")),
            Err(SignatureError::NotHex)
        );
        assert_eq!(
            verify_signature(KEY, BODY, Some("abc")),
            Err(SignatureError::WrongLength)
        );
        assert_eq!(
            verify_signature(KEY, BODY, Some(&sig[..62])),
            Err(SignatureError::WrongLength)
        );
        assert_eq!(
            verify_signature(b"other-key", BODY, Some(&sig)),
            Err(SignatureError::Mismatch)
        );
        let mut tampered = BODY.to_vec();
        tampered[3] ^= 1;
        assert_eq!(
            verify_signature(KEY, &tampered, Some(&sig)),
            Err(SignatureError::Mismatch)
        );
    }
}
