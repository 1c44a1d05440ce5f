//! Turns `lake_url` (and the `[s3]` settings) into an `ObjectStore` rooted at the lake.
//!
//! Everything above this file speaks keys relative to the lake root (`datasets/...`), so the
//! same code runs on a local directory (embedded default), any S3-compatible store, or memory
//! (tests, throwaway runs). For S3 the `prefix` of `s3://bucket/prefix` is applied here by a
//! `PrefixStore`, which keeps every key the lake writes, lists or deletes under the prefix:
//! the sweep can never touch objects outside it. Errors name the URL, never the credentials.

use std::path::PathBuf;
use std::sync::Arc;

use object_store::ObjectStore;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::prefix::PrefixStore;

use super::LakeError;
use crate::config::{S3Settings, Settings};

/// Region used when neither the settings nor `AWS_REGION`/`AWS_DEFAULT_REGION` name one.
pub const DEFAULT_REGION: &str = "us-east-1";

/// Where a lake URL points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// An absolute directory.
    Local(PathBuf),
    /// A bucket and a key prefix without leading or trailing `/` (may be empty).
    S3 {
        bucket: String,
        prefix: String,
    },
    Memory,
}

/// Parses `file://DIR` (relative to `cwd` unless absolute), `s3://BUCKET[/PREFIX]`, `memory://`.
pub fn parse_location(url: &str, cwd: &std::path::Path) -> Result<Location, LakeError> {
    let (scheme, rest) = url.split_once("://").ok_or_else(|| {
        url_error(
            url,
            "expected file://DIR, s3://BUCKET[/PREFIX] or memory://",
        )
    })?;
    match scheme {
        "file" if rest.is_empty() => Err(url_error(url, "the directory is missing")),
        "file" => Ok(Location::Local(Settings::resolve_path(cwd, rest))),
        "s3" => parse_s3(url, rest),
        "memory" => Ok(Location::Memory),
        other => Err(url_error(url, &format!("unsupported scheme `{other}`"))),
    }
}

fn parse_s3(url: &str, rest: &str) -> Result<Location, LakeError> {
    if rest.contains('@') {
        return Err(url_error(
            url,
            "credentials do not belong in the URL; use the [s3] settings or AWS_* variables",
        ));
    }
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(url_error(url, "the bucket is missing"));
    }
    Ok(Location::S3 {
        bucket: bucket.to_string(),
        prefix: prefix.trim_matches('/').to_string(),
    })
}

/// Opens the store for `settings.lake_url`, creating a local directory if needed.
pub fn open_store(settings: &Settings) -> Result<Arc<dyn ObjectStore>, LakeError> {
    open_url(&settings.lake_url, &settings.s3)
}

/// Opens any `file://`, `s3://` or `memory://` location (the lake, or a landing zone) with
/// the configured S3 connection settings.
pub fn open_url(raw_url: &str, s3: &S3Settings) -> Result<Arc<dyn ObjectStore>, LakeError> {
    let url = redact(raw_url);
    let cwd = std::env::current_dir()
        .map_err(|e| url_error(&url, &format!("cannot read the working directory: {e}")))?;
    match parse_location(raw_url, &cwd)? {
        Location::Local(dir) => open_local(&url, &dir),
        Location::S3 { bucket, prefix } => open_s3(&url, &bucket, &prefix, s3),
        Location::Memory => Ok(Arc::new(InMemory::new())),
    }
}

fn open_local(url: &str, dir: &std::path::Path) -> Result<Arc<dyn ObjectStore>, LakeError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| url_error(url, &format!("cannot create {}: {e}", dir.display())))?;
    let store = LocalFileSystem::new_with_prefix(dir)
        .map_err(|e| url_error(url, &e.to_string()))?
        // Deleting the last file of a partition removes its now-empty `dt=` directory.
        .with_automatic_cleanup(true);
    Ok(Arc::new(store))
}

fn open_s3(
    url: &str,
    bucket: &str,
    prefix: &str,
    s3: &S3Settings,
) -> Result<Arc<dyn ObjectStore>, LakeError> {
    let builder = s3_builder(bucket, s3);
    if plain_http_refused(&builder) {
        return Err(url_error(
            url,
            "the S3 endpoint is plain http://, which is refused unless allowed: set \
             RECAST_S3_ALLOW_HTTP=true (s3.allow_http in recast.toml) for a store on a private \
             network, or use https://",
        ));
    }
    let store = builder
        .build()
        .map_err(|e| url_error(url, &e.to_string()))?;
    if prefix.is_empty() {
        Ok(Arc::new(store))
    } else {
        Ok(Arc::new(PrefixStore::new(store, prefix)))
    }
}

/// Whether the endpoint is plain HTTP and nothing allows it: every request would fail later
/// with the HTTP client's bare "builder error", so the start fails now and says why.
fn plain_http_refused(builder: &AmazonS3Builder) -> bool {
    let endpoint = builder.get_config_value(&AmazonS3ConfigKey::Endpoint);
    let allowed = builder
        .get_config_value(&AmazonS3ConfigKey::Client(
            object_store::ClientConfigKey::AllowHttp,
        ))
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    endpoint.is_some_and(|e| e.to_ascii_lowercase().starts_with("http://")) && !allowed
}

/// `AWS_*` environment first, then whatever the settings set explicitly.
fn s3_builder(bucket: &str, s3: &S3Settings) -> AmazonS3Builder {
    let mut builder = AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        // Path-style requests (`endpoint/bucket/key`): what MinIO-style stores expect.
        .with_virtual_hosted_style_request(false);
    if let Some(endpoint) = &s3.endpoint {
        builder = builder.with_endpoint(endpoint);
    }
    builder = match &s3.region {
        Some(region) => builder.with_region(region),
        None if builder
            .get_config_value(&AmazonS3ConfigKey::Region)
            .is_none() =>
        {
            builder.with_region(DEFAULT_REGION)
        }
        None => builder,
    };
    if let Some(key) = &s3.access_key_id {
        builder = builder.with_access_key_id(key);
    }
    if let Some(secret) = &s3.secret_access_key {
        builder = builder.with_secret_access_key(secret);
    }
    if s3.allow_http {
        builder = builder.with_allow_http(true);
    }
    builder
}

/// The URL with any user-info removed, for logs, errors and `/readyz`. Everything up to the
/// last `@` goes, since secrets may themselves contain `/`.
pub fn redact(url: &str) -> String {
    match (url.split_once("://"), url.rfind('@')) {
        (Some((scheme, _)), Some(at)) => format!("{scheme}://{}", &url[at + 1..]),
        _ => url.to_string(),
    }
}

fn url_error(url: &str, reason: &str) -> LakeError {
    LakeError::Url {
        url: redact(url),
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn plain_http_endpoints_need_allow_http_and_the_error_says_so() {
        let s3 = S3Settings {
            endpoint: Some("http://127.0.0.1:9".into()),
            ..S3Settings::default()
        };
        let e = open_s3("s3://bucket/lake", "bucket", "lake", &s3).expect_err("refused");
        assert!(e.to_string().contains("RECAST_S3_ALLOW_HTTP"), "{e}");
        let allowed = S3Settings {
            allow_http: true,
            ..s3.clone()
        };
        assert!(open_s3("s3://bucket/lake", "bucket", "lake", &allowed).is_ok());
    }

    #[test]
    fn locations_parse() {
        let cwd = Path::new("/srv/recast");
        assert_eq!(
            parse_location("file://data/lake", cwd).unwrap(),
            Location::Local(PathBuf::from("/srv/recast/data/lake"))
        );
        assert_eq!(
            parse_location("file:///var/lake", cwd).unwrap(),
            Location::Local(PathBuf::from("/var/lake"))
        );
        assert_eq!(
            parse_location("s3://bucket/a/b/", cwd).unwrap(),
            Location::S3 {
                bucket: "bucket".into(),
                prefix: "a/b".into()
            }
        );
        assert_eq!(
            parse_location("s3://bucket", cwd).unwrap(),
            Location::S3 {
                bucket: "bucket".into(),
                prefix: String::new()
            }
        );
        assert_eq!(parse_location("memory://", cwd).unwrap(), Location::Memory);
        for bad in ["s3://", "s3:///x", "ftp://x", "data/lake", "file://"] {
            assert!(parse_location(bad, cwd).is_err(), "{bad}");
        }
    }

    #[test]
    fn credentials_never_show() {
        assert_eq!(redact("s3://AKIA:secret@bucket/p"), "s3://bucket/p");
        assert_eq!(redact("s3://AKIA:secret@bucket"), "s3://bucket");
        assert_eq!(redact("s3://AKIA:se/cret@bucket/p"), "s3://bucket/p");
        assert_eq!(redact("s3://bucket/p"), "s3://bucket/p");
        assert_eq!(redact("file://data/lake"), "file://data/lake");
        let err = parse_location("s3://AKIA:secret@bucket/p", Path::new("/")).unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
    }
}
