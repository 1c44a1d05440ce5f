//! Streaming readers for landing files: CSV, NDJSON and Parquet, gzip-compressed or not.
//!
//! They run on a blocking thread, convert rows in chunks through the [`Converter`] and hand
//! each chunk (a canonical batch plus the rows it refused) to the async side through a bounded
//! channel, so memory stays at a few chunks however large the file is, and parsing overlaps
//! with Parquet encoding on the other core.

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::DataType;
use flate2::read::MultiGzDecoder;
use tokio::sync::mpsc;

use crate::etl::EtlError;
use crate::etl::convert::{Converter, RawRow, Rejection};
use crate::etl::landing::QuarantinedRow;
use crate::etl::spec::{FileFormat, PipelineSpec};

/// Rows per converted batch.
pub const CHUNK_ROWS: usize = 65_536;

/// One step of a file's conversion.
pub struct Chunk {
    pub batch: Option<RecordBatch>,
    /// The source line (or record number) of each of `batch`'s rows, in order.
    pub lines: Vec<Option<i64>>,
    pub rejected: Vec<QuarantinedRow>,
    pub rows_read: u64,
    /// Compressed bytes of the file consumed so far (for progress).
    pub bytes_read: u64,
}

/// Counts bytes as they are read, before decompression.
struct CountingReader<R> {
    inner: R,
    count: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

/// The format of a landing file: the spec's, else by extension (ignoring `.gz`).
pub fn detect_format(path: &str, declared: Option<FileFormat>) -> Option<FileFormat> {
    if let Some(f) = declared {
        return Some(f);
    }
    let name = path
        .strip_suffix(".gz")
        .unwrap_or(path)
        .to_ascii_lowercase();
    if name.ends_with(".csv") || name.ends_with(".tsv") {
        Some(FileFormat::Csv)
    } else if name.ends_with(".ndjson") || name.ends_with(".jsonl") || name.ends_with(".json") {
        Some(FileFormat::Ndjson)
    } else if name.ends_with(".parquet") {
        Some(FileFormat::Parquet)
    } else {
        None
    }
}

struct Emitter<'a> {
    tx: &'a mpsc::Sender<Result<Chunk, EtlError>>,
    converter: Converter,
    /// The line of each row pending in the converter.
    lines: Vec<Option<i64>>,
    rejected: Vec<QuarantinedRow>,
    rows_read: u64,
    source: String,
    bytes: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Emitter<'_> {
    fn row<R: RawRow + ?Sized>(
        &mut self,
        row: &R,
        line: Option<i64>,
        raw: impl FnOnce() -> String,
    ) -> bool {
        self.rows_read += 1;
        match self.converter.push(row) {
            Ok(()) => self.lines.push(line),
            Err(r) => self.reject(r, line, raw()),
        }
        if self.converter.pending_rows() >= CHUNK_ROWS || self.rejected.len() >= CHUNK_ROWS {
            return self.flush();
        }
        true
    }

    fn reject(&mut self, r: Rejection, line: Option<i64>, raw: String) {
        self.rejected.push(QuarantinedRow {
            source: self.source.clone(),
            line,
            reason: r.reason.to_string(),
            field: r.field,
            detail: r.detail,
            raw,
        });
    }

    /// Sends what is pending; false when the receiver is gone (run cancelled).
    fn flush(&mut self) -> bool {
        let chunk = Chunk {
            batch: self.converter.finish_batch(),
            lines: std::mem::take(&mut self.lines),
            rejected: std::mem::take(&mut self.rejected),
            rows_read: std::mem::take(&mut self.rows_read),
            bytes_read: self.bytes.load(std::sync::atomic::Ordering::Relaxed),
        };
        self.tx.blocking_send(Ok(chunk)).is_ok()
    }
}

/// Reads one local file to the end, sending chunks. Errors that make the whole file
/// unreadable are sent as `Err`; bad rows are chunks' `rejected`.
pub fn read_file(
    path: &Path,
    source_label: &str,
    format: FileFormat,
    delimiter: u8,
    spec: &PipelineSpec,
    tx: &mpsc::Sender<Result<Chunk, EtlError>>,
) {
    let result = read_file_inner(path, source_label, format, delimiter, spec, tx);
    if let Err(e) = result {
        let _ = tx.blocking_send(Err(e));
    }
}

fn open(
    path: &Path,
    count: std::sync::Arc<std::sync::atomic::AtomicU64>,
) -> Result<Box<dyn Read + Send>, EtlError> {
    let label = path.display().to_string();
    let mut file = File::open(path).map_err(|e| EtlError::source(&label, e))?;
    let mut magic = [0u8; 2];
    let gz = {
        let n = file
            .read(&mut magic)
            .map_err(|e| EtlError::source(&label, e))?;
        n == 2 && magic == [0x1f, 0x8b]
    };
    use std::io::Seek;
    file.seek(std::io::SeekFrom::Start(0))
        .map_err(|e| EtlError::source(&label, e))?;
    let counted = CountingReader { inner: file, count };
    Ok(if gz {
        Box::new(MultiGzDecoder::new(BufReader::with_capacity(
            1 << 16,
            counted,
        )))
    } else {
        Box::new(counted)
    })
}

fn read_file_inner(
    path: &Path,
    source_label: &str,
    format: FileFormat,
    delimiter: u8,
    spec: &PipelineSpec,
    tx: &mpsc::Sender<Result<Chunk, EtlError>>,
) -> Result<(), EtlError> {
    let bytes = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut emit = Emitter {
        tx,
        converter: Converter::new(spec),
        lines: Vec::new(),
        rejected: Vec::new(),
        rows_read: 0,
        source: source_label.to_string(),
        bytes: bytes.clone(),
    };
    match format {
        FileFormat::Csv => read_csv(open(path, bytes)?, delimiter, &mut emit, source_label)?,
        FileFormat::Ndjson => read_ndjson(open(path, bytes)?, &mut emit, source_label)?,
        FileFormat::Parquet => read_parquet(path, &mut emit, bytes)?,
    }
    emit.flush();
    Ok(())
}

struct CsvRow<'a> {
    record: &'a csv::StringRecord,
    positions: &'a [Option<usize>],
}

impl RawRow for CsvRow<'_> {
    fn get(&self, i: usize) -> Option<Cow<'_, str>> {
        self.positions[i]
            .and_then(|p| self.record.get(p))
            .map(Cow::Borrowed)
    }
}

fn read_csv(
    input: Box<dyn Read + Send>,
    delimiter: u8,
    emit: &mut Emitter<'_>,
    label: &str,
) -> Result<(), EtlError> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .buffer_capacity(1 << 16)
        .from_reader(input);
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| EtlError::source(label, format!("cannot read the header: {e}")))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let positions: Vec<Option<usize>> = emit
        .converter
        .source_columns()
        .iter()
        .map(|c| header.iter().position(|h| h == c))
        .collect();
    let mut record = csv::StringRecord::new();
    let sep = (delimiter as char).to_string();
    loop {
        let line = reader.position().line() as i64 + 1;
        // Read as bytes so a record that is not UTF-8 keeps what arrived (hex) in quarantine;
        // the buffer moves between the two record types without a copy.
        let mut bytes = std::mem::take(&mut record).into_byte_record();
        match reader.read_byte_record(&mut bytes) {
            Ok(false) => break,
            Ok(true) => {
                let line = bytes.position().map_or(line, |p| p.line() as i64);
                record = match csv::StringRecord::from_byte_record(bytes) {
                    Ok(text) => text,
                    Err(e) => {
                        emit.rows_read += 1;
                        let detail = format!(
                            "not UTF-8: {} (raw holds the bytes hex-encoded)",
                            e.utf8_error()
                        );
                        let bytes = e.into_byte_record();
                        let fields: Vec<&[u8]> = bytes.iter().collect();
                        let (raw, _) = crate::etl::landing::raw_text(&fields.join(&delimiter));
                        emit.reject(Rejection::malformed(detail), Some(line), raw);
                        continue;
                    }
                };
                if record.len() != header.len() {
                    emit.rows_read += 1;
                    let raw = record.iter().collect::<Vec<_>>().join(&sep);
                    emit.reject(
                        Rejection::malformed(format!(
                            "{} fields where the header has {}",
                            record.len(),
                            header.len()
                        )),
                        Some(line),
                        raw,
                    );
                    continue;
                }
                let row = CsvRow {
                    record: &record,
                    positions: &positions,
                };
                let keep_going = emit.row(&row, Some(line), || {
                    record.iter().collect::<Vec<_>>().join(&sep)
                });
                if !keep_going {
                    return Ok(());
                }
            }
            Err(e) => {
                if e.is_io_error() {
                    return Err(EtlError::source(label, e));
                }
                // Other record-level faults: quarantine, go on.
                emit.rows_read += 1;
                emit.reject(
                    Rejection::malformed(e.to_string()),
                    Some(line),
                    String::new(),
                );
            }
        }
    }
    Ok(())
}

struct JsonRow<'a> {
    object: &'a serde_json::Map<String, serde_json::Value>,
    names: &'a [String],
}

impl RawRow for JsonRow<'_> {
    fn get(&self, i: usize) -> Option<Cow<'_, str>> {
        match self.object.get(&self.names[i])? {
            serde_json::Value::Null => None,
            serde_json::Value::String(s) => Some(Cow::Borrowed(s)),
            serde_json::Value::Array(items) => Some(Cow::Owned(
                items
                    .iter()
                    .map(|v| match v {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join("|"),
            )),
            other => Some(Cow::Owned(other.to_string())),
        }
    }
}

/// Converts one JSON object (an NDJSON line, an SQL row, a buffered event).
pub fn push_json_object(
    converter: &mut Converter,
    names: &[String],
    object: &serde_json::Map<String, serde_json::Value>,
) -> Result<(), Rejection> {
    converter.push(&JsonRow { object, names })
}

fn read_ndjson(
    input: Box<dyn Read + Send>,
    emit: &mut Emitter<'_>,
    label: &str,
) -> Result<(), EtlError> {
    let reader = BufReader::with_capacity(1 << 16, input);
    let names = emit.converter.source_columns().to_vec();
    for (i, line) in reader.split(b'\n').enumerate() {
        let line_no = i as i64 + 1;
        let mut bytes = line.map_err(|e| EtlError::source(label, e))?;
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
        let text = match String::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => {
                // Kept whole (hex-encoded) so the record can be fixed and replayed.
                emit.rows_read += 1;
                let detail = format!(
                    "not UTF-8: {} (raw holds the bytes hex-encoded)",
                    e.utf8_error()
                );
                let (raw, _) = crate::etl::landing::raw_text(e.as_bytes());
                emit.reject(Rejection::malformed(detail), Some(line_no), raw);
                continue;
            }
        };
        if text.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(serde_json::Value::Object(object)) => {
                let row = JsonRow {
                    object: &object,
                    names: &names,
                };
                if !emit.row(&row, Some(line_no), || text.clone()) {
                    return Ok(());
                }
            }
            Ok(_) => {
                emit.rows_read += 1;
                emit.reject(
                    Rejection::malformed("not a JSON object"),
                    Some(line_no),
                    text,
                );
            }
            Err(e) => {
                emit.rows_read += 1;
                emit.reject(
                    Rejection::malformed(format!("invalid JSON: {e}")),
                    Some(line_no),
                    text,
                );
            }
        }
    }
    Ok(())
}

struct ColumnarRow<'a> {
    columns: &'a [Option<ArrayRef>],
    row: usize,
}

impl RawRow for ColumnarRow<'_> {
    fn get(&self, i: usize) -> Option<Cow<'_, str>> {
        let col = self.columns[i].as_ref()?;
        if col.is_null(self.row) {
            return None;
        }
        match col.data_type() {
            DataType::Utf8 => Some(Cow::Borrowed(col.as_string::<i32>().value(self.row))),
            DataType::List(_) => {
                let list = col.as_list::<i32>().value(self.row);
                let strings = arrow_cast::cast(&list, &DataType::Utf8).ok()?;
                let strings = strings.as_string::<i32>();
                Some(Cow::Owned(
                    (0..strings.len())
                        .filter(|&j| !strings.is_null(j))
                        .map(|j| strings.value(j).to_string())
                        .collect::<Vec<_>>()
                        .join("|"),
                ))
            }
            _ => None,
        }
    }
}

fn read_parquet(
    path: &Path,
    emit: &mut Emitter<'_>,
    bytes: std::sync::Arc<std::sync::atomic::AtomicU64>,
) -> Result<(), EtlError> {
    let label = path.display().to_string();
    let file = File::open(path).map_err(|e| EtlError::source(&label, e))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.with_batch_size(8192).build())
        .map_err(|e| EtlError::source(&label, e))?;
    let names = emit.converter.source_columns().to_vec();
    let mut line = 0i64;
    for batch in reader {
        let batch = batch.map_err(|e| EtlError::source(&label, e))?;
        let columns: Vec<Option<ArrayRef>> = names
            .iter()
            .map(|n| {
                let col = batch.column_by_name(n)?;
                if matches!(col.data_type(), DataType::List(_)) {
                    return Some(col.clone());
                }
                as_text(col)
            })
            .collect();
        for row in 0..batch.num_rows() {
            line += 1;
            let raw_row = ColumnarRow {
                columns: &columns,
                row,
            };
            let raw = || {
                names
                    .iter()
                    .enumerate()
                    .map(|(i, n)| format!("{n}={}", raw_row.get(i).unwrap_or_default()))
                    .collect::<Vec<_>>()
                    .join(",")
            };
            if !emit.row(&raw_row, Some(line), raw) {
                return Ok(());
            }
        }
        bytes.store(size, std::sync::atomic::Ordering::Relaxed);
    }
    Ok(())
}

/// A column as text: timestamps in RFC 3339 (so `rfc3339` parsing applies), dates ISO.
fn as_text(col: &ArrayRef) -> Option<ArrayRef> {
    match col.data_type() {
        DataType::Utf8 => Some(col.clone()),
        DataType::Timestamp(_, Some(_)) | DataType::Timestamp(_, None) => {
            let utc = arrow_cast::cast(
                col,
                &DataType::Timestamp(arrow_schema::TimeUnit::Microsecond, Some("+00:00".into())),
            )
            .ok()?;
            arrow_cast::cast(&utc, &DataType::Utf8).ok()
        }
        _ => arrow_cast::cast(col, &DataType::Utf8).ok(),
    }
}
