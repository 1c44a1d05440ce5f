//! Landing-zone files, taken incrementally.
//!
//! A ledger in the DB remembers every file a pipeline landed by path, size and version (etag,
//! else modification time), so a re-run reads only what is new, and a file rewritten in place
//! counts as new. The run's commit key is a hash of exactly the files it read: if a run dies
//! after its lake commit but before its ledger write, the re-run reads the same files, finds
//! the key committed and publishes nothing twice.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::StreamExt;
use object_store::ObjectStore;
use object_store::path::Path as ObjectPath;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use super::read::{self, Chunk};
use crate::app::App;
use crate::db::etl::{self as repo, LedgerEntry};
use crate::etl::EtlError;
use crate::etl::landing::{Landing, LandingOutcome, QuarantinedRow};
use crate::etl::spec::{PipelineSpec, SourceSpec};
use crate::lake::store::{Location, open_url, parse_location, redact};
use crate::progress::Progress;

const DEFAULT_MAX_FILES: usize = 500;

/// What a files run read, for the report.
#[derive(Debug, Default)]
pub struct FilesRead {
    pub files: u64,
    pub rows_read: u64,
    pub bytes_read: u64,
    pub landing: LandingOutcome,
}

struct Candidate {
    entry: LedgerEntry,
    location: ObjectPath,
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Lists the landing prefix and keeps the files the ledger has not seen.
async fn new_files(
    app: &App,
    spec: &PipelineSpec,
    store: &Arc<dyn ObjectStore>,
    pattern: Option<&str>,
    max_files: usize,
) -> Result<Vec<Candidate>, EtlError> {
    let matcher = match pattern {
        Some(p) => Some(
            globset::Glob::new(p)
                .map_err(|e| EtlError::source(&spec.name, e))?
                .compile_matcher(),
        ),
        None => None,
    };
    let ledger = repo::ledger(&app.db, &spec.name).await?;
    let mut listing = store.list(None);
    let mut found = Vec::new();
    while let Some(meta) = listing.next().await {
        let meta = meta.map_err(|e| EtlError::source(&spec.name, e))?;
        let path = meta.location.to_string();
        let name = file_name(&path);
        if name.starts_with('.') || name.starts_with('_') {
            continue; // hidden and in-progress uploads (`_tmp`, `.part`) are not data yet
        }
        if matcher.as_ref().is_some_and(|m| !m.is_match(name)) {
            continue;
        }
        let entry = LedgerEntry {
            path,
            size: meta.size as i64,
            version: meta
                .e_tag
                .clone()
                .unwrap_or_else(|| meta.last_modified.timestamp_millis().to_string()),
        };
        if !ledger.contains(&entry) {
            found.push(Candidate {
                entry,
                location: meta.location,
            });
        }
    }
    found.sort_by(|a, b| a.entry.path.cmp(&b.entry.path));
    found.truncate(max_files);
    Ok(found)
}

/// The input's identity: the files, sizes and versions read.
fn commit_key(files: &[Candidate]) -> String {
    let mut text = String::new();
    for f in files {
        text.push_str(&f.entry.path);
        text.push('\0');
        text.push_str(&f.entry.size.to_string());
        text.push('\0');
        text.push_str(&f.entry.version);
        text.push('\n');
    }
    format!(
        "files:{:032x}",
        twox_hash::XxHash3_128::oneshot(text.as_bytes())
    )
}

/// A local path for the object: the file itself on `file://`, a downloaded temp copy on S3.
async fn local_copy(
    store: &Arc<dyn ObjectStore>,
    location: &Location,
    object: &ObjectPath,
    scratch: &Path,
) -> Result<(PathBuf, bool), EtlError> {
    if let Location::Local(dir) = location {
        return Ok((dir.join(object.as_ref()), false));
    }
    let label = object.to_string();
    let target = scratch.join(uuid::Uuid::new_v4().simple().to_string());
    let mut out = tokio::fs::File::create(&target)
        .await
        .map_err(|e| EtlError::source(&label, e))?;
    let mut stream = store
        .get(object)
        .await
        .map_err(|e| EtlError::source(&label, e))?
        .into_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| EtlError::source(&label, e))?;
        out.write_all(&chunk)
            .await
            .map_err(|e| EtlError::source(&label, e))?;
    }
    out.flush().await.map_err(|e| EtlError::source(&label, e))?;
    Ok((target, true))
}

/// Lands every new file of a files pipeline in one commit.
pub async fn run(
    app: &App,
    spec: &PipelineSpec,
    run_id: &str,
    progress: &dyn Progress,
) -> Result<FilesRead, EtlError> {
    let SourceSpec::Files {
        url,
        pattern,
        format,
        delimiter,
        max_files_per_run,
    } = &spec.source
    else {
        return Err(EtlError::source(&spec.name, "not a files pipeline"));
    };
    let cwd = std::env::current_dir().map_err(|e| EtlError::source(redact(url), e))?;
    let location = parse_location(url, &cwd)?;
    let store = open_url(url, &app.settings.s3)?;
    let files = new_files(
        app,
        spec,
        &store,
        pattern.as_deref(),
        max_files_per_run.unwrap_or(DEFAULT_MAX_FILES),
    )
    .await?;
    let mut read = FilesRead::default();
    if files.is_empty() {
        progress.report(100.0, "no new files");
        return Ok(read);
    }
    let total_bytes: u64 = files
        .iter()
        .map(|f| f.entry.size as u64)
        .sum::<u64>()
        .max(1);
    let key = commit_key(&files);
    let delimiter = delimiter
        .as_deref()
        .and_then(|d| d.bytes().next())
        .unwrap_or(b',');
    let scratch = tempfile::tempdir().map_err(|e| EtlError::source("temp dir", e))?;
    // A file that cannot be decoded (truncated gzip, binary garbage) is quarantined as a
    // whole and the attempt starts over without its rows, so the other files land and the
    // ledger records it: the next run does not read it again.
    let mut unreadable: Vec<(usize, QuarantinedRow)> = Vec::new();
    let (landing, done_bytes) = loop {
        let ctx = FilesCtx {
            store: &store,
            location: &location,
            spec,
            format: *format,
            delimiter,
            scratch: scratch.path(),
            total_bytes,
            progress,
        };
        read = FilesRead::default();
        match land_files(app, &ctx, &files, &unreadable, &mut read).await? {
            Attempt::Landed(landing, done) => break (landing, done),
            Attempt::Unreadable(index, row) => unreadable.push((index, row)),
        }
    };
    read.bytes_read = done_bytes;
    let landing = *landing;
    progress.report(99.0, "committing");
    read.landing = landing.commit(&key).await?;
    let entries: Vec<LedgerEntry> = files.into_iter().map(|f| f.entry).collect();
    repo::record_landed(&app.db, &spec.name, run_id, &entries).await?;
    progress.report(100.0, "done");
    Ok(read)
}

/// What every file of one attempt shares.
struct FilesCtx<'a> {
    store: &'a Arc<dyn ObjectStore>,
    location: &'a Location,
    spec: &'a PipelineSpec,
    format: Option<crate::etl::spec::FileFormat>,
    delimiter: u8,
    scratch: &'a Path,
    total_bytes: u64,
    progress: &'a dyn Progress,
}

/// How one attempt at landing the files ended.
enum Attempt {
    /// Every readable file pushed; the landing is ready to commit (bytes read).
    Landed(Box<Landing>, u64),
    /// File `index` cannot be decoded: the attempt was aborted.
    Unreadable(usize, QuarantinedRow),
}

/// One attempt: every file except the known unreadable ones (whose quarantine records are
/// written instead of their rows).
async fn land_files(
    app: &App,
    ctx: &FilesCtx<'_>,
    files: &[Candidate],
    unreadable: &[(usize, QuarantinedRow)],
    read: &mut FilesRead,
) -> Result<Attempt, EtlError> {
    let mut landing = Landing::open(app, ctx.spec, true).await?;
    // About 60 bytes a row in uncompressed CSV/NDJSON: a guess that only sizes a hash set.
    landing.expect_rows((ctx.total_bytes / 60) as usize);
    let mut done_bytes = 0u64;
    for (index, file) in files.iter().enumerate() {
        if let Some((_, row)) = unreadable.iter().find(|(i, _)| *i == index) {
            read.rows_read += 1;
            landing.quarantine(vec![row.clone()]).await?;
        } else {
            let outcome = land_file(ctx, file, &mut landing, read, done_bytes).await;
            match outcome {
                Ok(()) => {}
                Err(FileError::Unreadable(row)) => {
                    let _ = landing.abort().await;
                    return Ok(Attempt::Unreadable(index, row));
                }
                Err(FileError::Other(e)) => {
                    let _ = landing.abort().await;
                    return Err(e);
                }
            }
        }
        done_bytes += file.entry.size as u64;
        read.files += 1;
    }
    Ok(Attempt::Landed(Box::new(landing), done_bytes))
}

/// Why a file did not land: it cannot be decoded (quarantine it), or anything else (the
/// store, the lake, the DB: fail the run, to be retried).
enum FileError {
    Unreadable(QuarantinedRow),
    Other(EtlError),
}

impl From<EtlError> for FileError {
    fn from(e: EtlError) -> Self {
        FileError::Other(e)
    }
}

/// The quarantine record of an undecodable file: the reason, its size and checksum.
fn unreadable_row(label: &str, path: &Path, error: &EtlError) -> QuarantinedRow {
    use sha2::Digest;
    let bytes = std::fs::read(path).unwrap_or_default();
    let checksum = hex::encode(sha2::Sha256::digest(&bytes));
    QuarantinedRow {
        source: label.to_string(),
        line: None,
        reason: "unreadable_file".into(),
        field: None,
        detail: format!(
            "the file cannot be read and was left out whole ({error}); {} bytes, sha256 {checksum}",
            bytes.len()
        ),
        raw: String::new(),
    }
}

async fn land_file(
    ctx: &FilesCtx<'_>,
    file: &Candidate,
    landing: &mut Landing,
    read: &mut FilesRead,
    done_bytes: u64,
) -> Result<(), FileError> {
    let FilesCtx {
        store,
        location,
        spec,
        format,
        delimiter,
        scratch,
        total_bytes,
        progress,
    } = *ctx;
    let label = file.entry.path.clone();
    let Some(format) = read::detect_format(&label, format) else {
        read.rows_read += 1;
        landing
            .quarantine(vec![QuarantinedRow {
                source: label.clone(),
                line: None,
                reason: "unknown_format".into(),
                field: None,
                detail: "cannot tell the format from the name; set `format` in the pipeline".into(),
                raw: String::new(),
            }])
            .await?;
        return Ok(());
    };
    let (path, temporary) = local_copy(store, location, &file.location, scratch).await?;
    let (tx, mut rx) = mpsc::channel::<Result<Chunk, EtlError>>(4);
    let spec_for_reader = spec.clone();
    let label_for_reader = label.clone();
    let path_for_reader = path.clone();
    let reader = tokio::task::spawn_blocking(move || {
        read::read_file(
            &path_for_reader,
            &label_for_reader,
            format,
            delimiter,
            &spec_for_reader,
            &tx,
        );
    });
    let mut result = Ok(());
    while let Some(chunk) = rx.recv().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                result = Err(FileError::Unreadable(unreadable_row(&label, &path, &e)));
                break;
            }
        };
        read.rows_read += chunk.rows_read;
        if let Some(batch) = chunk.batch {
            landing.push_lines(batch, &label, &chunk.lines).await?;
        }
        landing.quarantine(chunk.rejected).await?;
        let pct = (done_bytes + chunk.bytes_read.min(file.entry.size as u64)) as f64
            / total_bytes as f64
            * 98.0;
        progress.report(pct, &label);
    }
    drop(rx);
    let _ = reader.await;
    if temporary {
        let _ = tokio::fs::remove_file(&path).await;
    }
    result
}
