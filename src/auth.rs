//! API keys and roles.
//!
//! Keys are 256-bit random tokens, so a single SHA-256 is enough to store them safely (a slow
//! password hash only matters for guessable secrets) and lets the lookup be an index probe.
//! Roles are ordered: `admin` can do everything `planner` can, which can do everything
//! `ingest` can, which can do everything `reader` can, so one key serves a frontend that both
//! reads recommendations and posts events. `planner` adds forecast overrides, and nothing
//! that is admin-only.
//! Every request looks its key up by hash (one unique-index probe), so a revocation is refused
//! at once on every replica; the last-use stamp is written at most once a minute per key.

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::db::keys::{self as repo, KeyRow};
use crate::db::{Db, now_ms};
use crate::error::{Error, Result};

const KEY_PREFIX: &str = "rk_";
const TOUCH_EVERY_MS: i64 = 60_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Reader,
    Ingest,
    Planner,
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Reader, Role::Ingest, Role::Planner, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Ingest => "ingest",
            Role::Planner => "planner",
            Role::Admin => "admin",
        }
    }

    /// Whether a key of this role may call a route that requires `required`.
    pub fn allows(self, required: Role) -> bool {
        self >= required
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s {
            "reader" => Ok(Role::Reader),
            "ingest" => Ok(Role::Ingest),
            "planner" => Ok(Role::Planner),
            "admin" => Ok(Role::Admin),
            other => Err(format!(
                "unknown role `{other}` (expected reader, ingest, planner or admin)"
            )),
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What is known about a key, never the key itself.
#[derive(Debug, Clone, Serialize)]
pub struct KeyInfo {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

/// A freshly created key: the only moment the secret exists outside the caller's hands.
#[derive(Debug, Clone)]
pub struct CreatedKey {
    pub info: KeyInfo,
    pub secret: String,
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Principal {
    pub key_id: String,
    pub role: Role,
}

#[derive(Clone)]
pub struct KeyStore {
    db: Db,
}

fn hash_key(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn info_from_row(row: KeyRow) -> Result<KeyInfo> {
    let role = row.role.parse().map_err(|e: String| {
        Error::Db(crate::db::DbError::Corrupt(format!(
            "api key {}: {e}",
            row.id
        )))
    })?;
    Ok(KeyInfo {
        id: row.id,
        name: row.name,
        role,
        created_at: row.created_at,
        revoked_at: row.revoked_at,
        last_used_at: row.last_used_at,
    })
}

impl KeyStore {
    pub fn new(db: Db) -> Self {
        KeyStore { db }
    }

    pub async fn create(&self, name: &str, role: Role) -> Result<CreatedKey> {
        let name = name.trim();
        if name.is_empty() || name.len() > 200 {
            return Err(Error::invalid("name", "must be 1 to 200 characters"));
        }
        let secret = format!("{KEY_PREFIX}{}", hex::encode(rand::random::<[u8; 32]>()));
        let row = KeyRow {
            id: uuid::Uuid::now_v7().to_string(),
            name: name.to_string(),
            role: role.as_str().to_string(),
            created_at: now_ms(),
            revoked_at: None,
            last_used_at: None,
        };
        repo::insert(&self.db, &row, &hash_key(&secret)).await?;
        Ok(CreatedKey {
            info: info_from_row(row)?,
            secret,
        })
    }

    pub async fn list(&self) -> Result<Vec<KeyInfo>> {
        repo::list(&self.db)
            .await?
            .into_iter()
            .map(info_from_row)
            .collect()
    }

    pub async fn revoke(&self, id: &str) -> Result<KeyInfo> {
        let row = repo::revoke(&self.db, id, now_ms())
            .await?
            .ok_or_else(|| Error::not_found("api key", id))?;
        info_from_row(row)
    }

    /// Resolves a bearer token to its principal; None for unknown, malformed or revoked keys.
    pub async fn authenticate(&self, token: &str) -> Result<Option<Principal>> {
        if !token.starts_with(KEY_PREFIX) || token.len() > 128 {
            return Ok(None);
        }
        let hash = hash_key(token);
        let Some(row) = repo::find_active_by_hash(&self.db, &hash).await? else {
            return Ok(None);
        };
        let now = now_ms();
        if row.last_used_at.is_none_or(|t| now - t > TOUCH_EVERY_MS) {
            repo::touch(&self.db, &row.id, now).await?;
        }
        let info = info_from_row(row)?;
        Ok(Some(Principal {
            key_id: info.id,
            role: info.role,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered() {
        assert!(Role::Admin.allows(Role::Reader));
        assert!(Role::Admin.allows(Role::Ingest));
        assert!(Role::Ingest.allows(Role::Reader));
        assert!(!Role::Reader.allows(Role::Ingest));
        assert!(!Role::Ingest.allows(Role::Admin));
        assert_eq!("admin".parse::<Role>().unwrap(), Role::Admin);
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn hash_is_stable_and_not_the_key() {
        let h = hash_key("rk_abc");
        assert_eq!(h, hash_key("rk_abc"));
        assert_eq!(h.len(), 64);
        assert!(!h.contains("abc"));
    }
}
