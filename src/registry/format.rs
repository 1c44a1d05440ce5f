//! The artifact envelope: `RCSTMODL` magic, a format version, the payload length, the payload
//! and its SHA-256. A truncated, foreign or bit-flipped file is refused before any decoder
//! sees it, and a file written by a newer format is refused by name rather than misread.
//!
//! Layout (little-endian): magic[8] | format u32 | payload_len u64 | payload | sha256[32].

use sha2::{Digest, Sha256};

use super::RegistryError;

pub const MAGIC: &[u8; 8] = b"RCSTMODL";
pub const FORMAT_VERSION: u32 = 1;
const HEADER: usize = 8 + 4 + 8;

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Wraps a payload.
pub fn seal(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + payload.len() + 32);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(&Sha256::digest(payload));
    out
}

/// Checks the envelope and returns the payload.
pub fn open<'a>(bytes: &'a [u8], what: &str) -> Result<&'a [u8], RegistryError> {
    let corrupt = |detail: &str| RegistryError::Corrupt {
        version: what.to_string(),
        detail: detail.to_string(),
    };
    if bytes.len() < HEADER + 32 || &bytes[..8] != MAGIC {
        return Err(corrupt(
            "not a recast model artifact (bad magic or too short)",
        ));
    }
    let format = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    if format != FORMAT_VERSION {
        return Err(RegistryError::UnsupportedFormat {
            version: what.to_string(),
            format,
        });
    }
    let len = u64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes")) as usize;
    if bytes.len() != HEADER + len + 32 {
        return Err(corrupt("length does not match the header (truncated?)"));
    }
    let payload = &bytes[HEADER..HEADER + len];
    if Sha256::digest(payload).as_slice() != &bytes[HEADER + len..] {
        return Err(corrupt("checksum mismatch"));
    }
    Ok(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let sealed = seal(b"hello");
        assert_eq!(open(&sealed, "v").unwrap(), b"hello");
        let mut flipped = sealed.clone();
        flipped[HEADER + 1] ^= 1;
        assert!(matches!(
            open(&flipped, "v"),
            Err(RegistryError::Corrupt { .. })
        ));
        assert!(matches!(
            open(&sealed[..sealed.len() - 1], "v"),
            Err(RegistryError::Corrupt { .. })
        ));
        let mut newer = sealed.clone();
        newer[8] = 9;
        assert!(matches!(
            open(&newer, "v"),
            Err(RegistryError::UnsupportedFormat { format: 9, .. })
        ));
    }
}
