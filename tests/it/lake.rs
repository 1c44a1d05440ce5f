//! The lake through its public interface: writer → commit log → reader, the sweep, and the
//! three kinds of store. Runs on whichever DB backend the suite was started with.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use arrow_array::{Array, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use bytes::Bytes;
use chrono::NaiveDate;
use futures::TryStreamExt;
use object_store::ObjectStore;
use parquet::arrow::arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use parquet::basic::Compression;
use recast::config::{S3Settings, Settings};
use recast::db::Db;
use recast::lake::layout::{self, PartPath};
use recast::lake::{Area, CommitOutcome, Lake, LakeError, Scan, WriterOptions};

use crate::common::{self, TestEnv};

const CHILD_DB_VAR: &str = "RECAST_LAKE_CHILD_DATABASE_URL";
const CHILD_LAKE_VAR: &str = "RECAST_LAKE_CHILD_LAKE_URL";
const CHILD_READY: &str = "LAKE_CHILD_READY";

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 3, d).unwrap()
}

fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("item_id", DataType::Utf8, false),
        Field::new("quantity", DataType::Int64, false),
        Field::new("revenue", DataType::Float64, true),
    ]))
}

/// Rows `start..end`: item `i<n>`, quantity n, revenue n/2 (null for every 7th row).
fn batch(start: i64, end: i64) -> RecordBatch {
    let ids: Vec<String> = (start..end).map(|n| format!("i{n}")).collect();
    let quantities: Vec<i64> = (start..end).collect();
    let revenue: Vec<Option<f64>> = (start..end)
        .map(|n| (n % 7 != 0).then_some(n as f64 / 2.0))
        .collect();
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(StringArray::from(ids)),
            Arc::new(Int64Array::from(quantities)),
            Arc::new(Float64Array::from(revenue)),
        ],
    )
    .unwrap()
}

fn small_files() -> WriterOptions {
    WriterOptions {
        rows_per_file: 50,
        max_buffered_rows: 200,
        row_group_rows: 20,
        zstd_level: 3,
        ..WriterOptions::default()
    }
}

async fn open(env: &TestEnv) -> Lake {
    Lake::open(&env.settings, env.db.clone()).await.unwrap()
}

fn rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::num_rows).sum()
}

/// Every quantity read, sorted: identifies exactly which rows came back.
fn quantities(batches: &[RecordBatch]) -> Vec<i64> {
    let mut all: Vec<i64> = batches
        .iter()
        .flat_map(|b| {
            let col = b.column(1).as_any().downcast_ref::<Int64Array>().unwrap();
            col.values().to_vec()
        })
        .collect();
    all.sort_unstable();
    all
}

fn range(start: i64, end: i64) -> Vec<i64> {
    (start..end).collect()
}

/// Writes `parts` (day, rows start..end) in one run and commits it.
async fn write_run(
    lake: &Lake,
    dataset: &str,
    parts: &[(u32, i64, i64)],
    key: Option<&str>,
) -> CommitOutcome {
    let mut writer = lake
        .writer_with(dataset, Area::Datasets, small_files())
        .await
        .unwrap();
    for &(d, start, end) in parts {
        writer.write(day(d), &batch(start, end)).await.unwrap();
    }
    writer.commit(key).await.unwrap()
}

fn commit_id(outcome: &CommitOutcome) -> i64 {
    match outcome {
        CommitOutcome::Committed {
            commit_id: Some(commit_id),
            ..
        } => *commit_id,
        other => panic!("expected a commit, got {other:?}"),
    }
}

/// Data files below `dir` (recursively, not the Delta log), as paths relative to `root`.
fn files_under(root: &Path, dir: &str) -> Vec<String> {
    fn walk(path: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(path) else {
            return;
        };
        for entry in entries.flatten() {
            let p = entry.path();
            if p.ends_with("_delta_log") {
                continue;
            }
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    let mut found = Vec::new();
    walk(&root.join(dir), &mut found);
    let mut rel: Vec<String> = found
        .iter()
        .map(|p| p.strip_prefix(root).unwrap().to_string_lossy().into_owned())
        .collect();
    rel.sort();
    rel
}

#[tokio::test]
async fn write_commit_read_round_trip() {
    let env = TestEnv::new().await;
    let lake = open(&env).await;
    let mut writer = lake
        .writer_with("sales", Area::Datasets, small_files())
        .await
        .unwrap();
    let run_id = writer.run_id().to_string();
    writer.write(day(1), &batch(0, 70)).await.unwrap();
    writer.write(day(2), &batch(70, 100)).await.unwrap();
    writer.write(day(1), &batch(100, 150)).await.unwrap();
    writer.write(day(3), &batch(150, 160)).await.unwrap();
    let outcome = writer.commit(None).await.unwrap();
    let CommitOutcome::Committed {
        rows: committed_rows,
        files,
        bytes,
        ..
    } = outcome
    else {
        panic!("{outcome:?}")
    };
    assert_eq!(committed_rows, 160);
    assert_eq!(
        files, 5,
        "day 1 is 120 rows in files of 50: 50+50+20; days 2, 3 one each"
    );
    assert!(bytes > 0);

    let batches = lake.read("sales", None, None).await.unwrap();
    assert_eq!(rows(&batches), 160);
    assert!(batches.iter().all(|b| b.schema() == schema()));
    assert_eq!(quantities(&batches), range(0, 160));
    let first = &batches[0];
    let ids = first
        .column(0)
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    let revenue = first
        .column(2)
        .as_any()
        .downcast_ref::<Float64Array>()
        .unwrap();
    assert_eq!(ids.value(1), "i1");
    assert_eq!(revenue.value(1), 0.5);
    assert!(revenue.is_null(0), "row 0 has a null revenue");

    let committed = lake.committed_files("sales", None, None).await.unwrap();
    assert_eq!(committed.len(), 5);
    let per_day: Vec<(NaiveDate, u64)> = committed.iter().map(|f| (f.dt, f.rows)).collect();
    assert_eq!(
        per_day,
        vec![
            (day(1), 50),
            (day(1), 50),
            (day(1), 20),
            (day(2), 30),
            (day(3), 10)
        ]
    );
    for file in &committed {
        let PartPath {
            area,
            dataset,
            dt,
            run_id: file_run,
            ..
        } = layout::parse_part_path(&file.path).unwrap();
        assert_eq!(
            (area, dataset.as_str(), dt),
            (Area::Datasets, "sales", file.dt)
        );
        assert_eq!(file_run, run_id);
        assert!(
            file.path
                .starts_with(&format!("datasets/sales/dt={}/part-{run_id}-", file.dt))
        );
        assert_parquet_layout(
            &env.path().join("lake").join(&file.path),
            &run_id,
            file.rows,
        );
    }
}

/// ZSTD everywhere, column statistics and page indexes present, run id in the metadata.
fn assert_parquet_layout(path: &Path, run_id: &str, expected_rows: u64) {
    let bytes = Bytes::from(std::fs::read(path).unwrap());
    let options = ArrowReaderOptions::new().with_page_index(true);
    let builder = ParquetRecordBatchReaderBuilder::try_new_with_options(bytes, options).unwrap();
    let meta = builder.metadata();
    assert_eq!(meta.file_metadata().num_rows() as u64, expected_rows);
    assert!(meta.num_row_groups() >= 1);
    for row_group in meta.row_groups() {
        assert!(
            row_group.num_rows() <= 20,
            "row groups follow row_group_rows"
        );
        for column in row_group.columns() {
            assert!(
                matches!(column.compression(), Compression::ZSTD(_)),
                "{:?}",
                column.compression()
            );
            let stats = column.statistics().expect("column statistics");
            assert!(stats.min_bytes_opt().is_some() && stats.max_bytes_opt().is_some());
            assert!(
                column.column_index_offset().is_some(),
                "page-level statistics"
            );
        }
    }
    assert!(meta.column_index().is_some());
    let kv = meta.file_metadata().key_value_metadata().unwrap();
    assert!(
        kv.iter()
            .any(|e| e.key == "recast.run_id" && e.value.as_deref() == Some(run_id))
    );
}

#[tokio::test]
async fn date_ranges_and_snapshots() {
    let env = TestEnv::new().await;
    let lake = open(&env).await;
    let a = commit_id(
        &write_run(
            &lake,
            "sales",
            &[(1, 0, 10), (2, 10, 30), (3, 30, 40)],
            None,
        )
        .await,
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    let between = chrono::Utc::now();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let b = commit_id(&write_run(&lake, "sales", &[(2, 100, 105), (4, 200, 210)], None).await);
    assert_eq!((a, b), (0, 1), "commit ids are the table's Delta versions");
    assert_eq!(
        lake.latest_commit("sales", Area::Datasets).await.unwrap(),
        Some(b)
    );

    let ranged = lake
        .read("sales", Some(day(2)), Some(day(3)))
        .await
        .unwrap();
    let mut expected = range(10, 40);
    expected.extend(100..105);
    assert_eq!(quantities(&ranged), expected);
    let from_only = lake.read("sales", Some(day(3)), None).await.unwrap();
    assert_eq!(
        quantities(&from_only),
        [range(30, 40), range(200, 210)].concat()
    );
    let to_only = lake.read("sales", None, Some(day(1))).await.unwrap();
    assert_eq!(quantities(&to_only), range(0, 10));

    let at_a = lake
        .read_scan(&Scan::dataset("sales").as_of(a))
        .await
        .unwrap();
    assert_eq!(quantities(&at_a), range(0, 40));
    let at_time = lake
        .read_scan(&Scan::dataset("sales").at_time(between))
        .await
        .unwrap();
    assert_eq!(quantities(&at_time), range(0, 40), "a read at a time");
    let before = between - chrono::Duration::days(1);
    assert!(
        lake.files(&Scan::dataset("sales").at_time(before))
            .await
            .unwrap()
            .is_empty(),
        "nothing before the first commit"
    );
    let err = lake
        .files(&Scan::dataset("sales").as_of(9))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, LakeError::InvalidInput { field, .. } if field == "as_of"),
        "{err:?}"
    );

    // Compaction: rewrite day 2 as one file, replacing both of its files in one commit.
    let day2 = lake
        .committed_files("sales", Some(day(2)), Some(day(2)))
        .await
        .unwrap();
    assert_eq!(day2.len(), 2);
    let replaced: Vec<String> = day2.iter().map(|f| f.path.clone()).collect();
    let day2_rows = lake
        .read("sales", Some(day(2)), Some(day(2)))
        .await
        .unwrap();
    let mut compactor = lake.writer("sales", Area::Datasets).await.unwrap();
    for batch in &day2_rows {
        compactor.write(day(2), batch).await.unwrap();
    }
    let c = commit_id(&compactor.commit_replacing(None, &replaced).await.unwrap());

    let after = lake
        .committed_files("sales", Some(day(2)), Some(day(2)))
        .await
        .unwrap();
    assert_eq!(after.len(), 1);
    assert_eq!(c, 2);
    assert_eq!(
        quantities(&lake.read("sales", None, None).await.unwrap()).len(),
        55
    );
    let at_b = lake.files(&Scan::dataset("sales").as_of(b)).await.unwrap();
    assert!(replaced.iter().all(|p| at_b.iter().any(|f| &f.path == p)));
    let old_snapshot = lake
        .read_scan(&Scan::dataset("sales").as_of(b))
        .await
        .unwrap();
    assert_eq!(
        rows(&old_snapshot),
        55,
        "replaced files stay readable until swept"
    );

    // Replacing a path that is no longer live is a conflict and publishes nothing.
    let mut late = lake.writer("sales", Area::Datasets).await.unwrap();
    late.write(day(2), &batch(500, 501)).await.unwrap();
    let err = late
        .commit_replacing(None, &replaced[..1])
        .await
        .unwrap_err();
    assert!(matches!(err, LakeError::Conflict { .. }), "{err:?}");
    assert_eq!(
        lake.latest_commit("sales", Area::Datasets).await.unwrap(),
        Some(c)
    );

    let report = lake.sweep(Duration::ZERO).await.unwrap();
    assert_eq!(report.files_deleted, 2, "{report:?}");
    let on_disk = files_under(&env.path().join("lake"), "datasets/sales");
    let live: Vec<String> = lake
        .committed_files("sales", None, None)
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.path)
        .collect();
    assert_eq!(on_disk, sorted(live));
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[tokio::test]
async fn invalid_input_is_typed() {
    let env = TestEnv::new().await;
    let lake = open(&env).await;
    let err = lake.writer("Bad-Name", Area::Datasets).await.err().unwrap();
    assert!(
        matches!(&err, LakeError::InvalidInput { field, .. } if field == "dataset"),
        "{err:?}"
    );
    let err = lake
        .read("sales", Some(day(5)), Some(day(4)))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, LakeError::InvalidInput { field, .. } if field == "from"),
        "{err:?}"
    );

    let mut writer = lake.writer("sales", Area::Datasets).await.unwrap();
    writer.write(day(1), &batch(0, 3)).await.unwrap();
    let other = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new(
            "item_id",
            DataType::Int64,
            false,
        )])),
        vec![Arc::new(Int64Array::from(vec![1]))],
    )
    .unwrap();
    let err = writer.write(day(1), &other).await.unwrap_err();
    assert!(matches!(err, LakeError::SchemaMismatch { .. }), "{err:?}");
    let err = writer.commit(Some("")).await.unwrap_err();
    assert!(matches!(&err, LakeError::InvalidInput { field, .. } if field == "commit_key"));
    assert!(lake.read("sales", None, None).await.unwrap().is_empty());

    for (options, field) in [
        (
            WriterOptions {
                zstd_level: 99,
                ..WriterOptions::default()
            },
            "zstd_level",
        ),
        (
            WriterOptions {
                rows_per_file: 0,
                ..WriterOptions::default()
            },
            "rows_per_file",
        ),
    ] {
        let err = lake
            .writer_with("sales", Area::Datasets, options)
            .await
            .err()
            .unwrap();
        assert!(
            matches!(&err, LakeError::InvalidInput { field: f, .. } if f == field),
            "{err:?}"
        );
    }
}

#[tokio::test]
async fn a_run_the_sweep_aborted_cannot_commit() {
    let env = TestEnv::new().await;
    let lake = open(&env).await;
    let mut writer = lake
        .writer_with("sales", Area::Datasets, small_files())
        .await
        .unwrap();
    writer.write(day(1), &batch(0, 60)).await.unwrap();
    writer.wait_stored().await.unwrap();
    let report = lake.sweep(Duration::ZERO).await.unwrap();
    assert_eq!((report.files_deleted, report.runs_aborted), (1, 1));
    let err = writer.commit(None).await.unwrap_err();
    assert!(
        matches!(&err, LakeError::RunNotOpen { state, .. } if state == "aborted"),
        "{err:?}"
    );
    assert!(lake.read("sales", None, None).await.unwrap().is_empty());
    assert!(files_under(&env.path().join("lake"), "datasets").is_empty());
}

#[tokio::test]
async fn commit_key_makes_reruns_idempotent() {
    let env = TestEnv::new().await;
    let lake = open(&env).await;
    let parts = [(1, 0, 60), (2, 60, 80)];
    let first = commit_id(&write_run(&lake, "sales", &parts, Some("upload-42")).await);
    let files_after_first = files_under(&env.path().join("lake"), "datasets");
    assert_eq!(files_after_first.len(), 3);

    let again = write_run(&lake, "sales", &parts, Some("upload-42")).await;
    assert_eq!(again, CommitOutcome::AlreadyCommitted { commit_id: first });
    assert_eq!(
        quantities(&lake.read("sales", None, None).await.unwrap()),
        range(0, 80)
    );
    assert_eq!(
        files_under(&env.path().join("lake"), "datasets"),
        files_after_first,
        "the re-run's files are gone"
    );
    assert_eq!(
        lake.commit_for_key("sales", Area::Datasets, "upload-42")
            .await
            .unwrap(),
        Some(first)
    );
    assert_eq!(
        lake.latest_commit("sales", Area::Datasets).await.unwrap(),
        Some(first)
    );

    // Keys are per dataset and per area: the same input may land in quarantine once too.
    let mut quarantine = lake.writer("sales", Area::Quarantine).await.unwrap();
    quarantine.write(day(1), &batch(0, 2)).await.unwrap();
    let q = quarantine.commit(Some("upload-42")).await.unwrap();
    assert!(
        matches!(q, CommitOutcome::Committed { rows: 2, .. }),
        "{q:?}"
    );
    let q_rows = lake
        .read_scan(&Scan::dataset("sales").in_area(Area::Quarantine))
        .await
        .unwrap();
    assert_eq!(rows(&q_rows), 2);
    assert_eq!(rows(&lake.read("sales", None, None).await.unwrap()), 80);

    assert_eq!(lake.sweep(Duration::ZERO).await.unwrap().files_deleted, 0);
}

#[tokio::test]
async fn streaming_read_yields_every_batch() {
    let env = TestEnv::new().await;
    let lake = open(&env).await;
    write_run(&lake, "sales", &[(1, 0, 120), (2, 120, 130)], None).await;
    let stream = lake.read_stream("sales", None, None).await.unwrap();
    let batches: Vec<RecordBatch> = stream.try_collect().await.unwrap();
    assert_eq!(quantities(&batches), range(0, 130));
    let empty: Vec<RecordBatch> = lake
        .read_stream("nothing_here", None, None)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert!(empty.is_empty());
}

#[tokio::test]
async fn sweep_respects_grace_and_open_runs() {
    let env = TestEnv::new().await;
    let lake = open(&env).await;
    let root = env.path().join("lake");
    write_run(&lake, "sales", &[(1, 0, 10)], None).await;

    // A run still writing: its flushed files survive a sweep with a long grace period.
    let mut open_run = lake
        .writer_with("clicks", Area::Datasets, small_files())
        .await
        .unwrap();
    open_run.write(day(1), &batch(0, 120)).await.unwrap();
    open_run.wait_stored().await.unwrap();
    assert_eq!(open_run.written_files().len(), 2);
    let stray = object_store::path::Path::from("datasets/clicks/dt=2024-03-01/stray.txt");
    lake.store()
        .put(&stray, Bytes::from("x").into())
        .await
        .unwrap();
    let model = object_store::path::Path::from("models/als/v1/metadata.json");
    lake.store()
        .put(&model, Bytes::from("{}").into())
        .await
        .unwrap();

    let report = lake.sweep(Duration::from_secs(3600)).await.unwrap();
    assert_eq!(report.files_deleted, 0, "{report:?}");
    assert_eq!(report.runs_aborted, 0);
    assert_eq!(files_under(&root, "datasets/clicks").len(), 3);

    let outcome = open_run.commit(None).await.unwrap();
    assert!(matches!(
        outcome,
        CommitOutcome::Committed {
            rows: 120,
            files: 3,
            ..
        }
    ));
    assert_eq!(rows(&lake.read("clicks", None, None).await.unwrap()), 120);

    // Aborted runs lose their files at once; a dropped writer's files wait for the sweep.
    let mut aborted = lake
        .writer_with("clicks", Area::Datasets, small_files())
        .await
        .unwrap();
    aborted.write(day(2), &batch(0, 60)).await.unwrap();
    aborted.abort().await.unwrap();
    let mut dropped = lake
        .writer_with("clicks", Area::Features, small_files())
        .await
        .unwrap();
    dropped.write(day(2), &batch(0, 60)).await.unwrap();
    dropped.wait_stored().await.unwrap();
    drop(dropped);
    assert_eq!(files_under(&root, "features").len(), 1);

    let report = lake.sweep(Duration::ZERO).await.unwrap();
    assert_eq!(
        report.files_deleted, 2,
        "the stray object and the dropped run's file: {report:?}"
    );
    assert_eq!(report.runs_aborted, 1, "the dropped writer's run");
    assert_eq!(files_under(&root, "datasets/clicks").len(), 3);
    assert!(files_under(&root, "features").is_empty());
    assert_eq!(
        files_under(&root, "models"),
        vec!["models/als/v1/metadata.json".to_string()]
    );
    assert_eq!(rows(&lake.read("sales", None, None).await.unwrap()), 10);
}

/// In a child process: the parent's lake, named by [`CHILD_DB_VAR`] and [`CHILD_LAKE_VAR`]
/// (`None` when run on its own).
async fn child_lake() -> Option<Lake> {
    let (Ok(database_url), Ok(lake_url)) =
        (std::env::var(CHILD_DB_VAR), std::env::var(CHILD_LAKE_VAR))
    else {
        return None;
    };
    let settings = Settings {
        database_url: database_url.clone(),
        lake_url,
        ..Settings::default()
    };
    let db = Db::open(&database_url).await.unwrap();
    Some(Lake::open(&settings, db).await.unwrap())
}

/// Not a test by itself: the child process of `killed_writer_is_invisible_and_swept`.
#[tokio::test]
#[ignore = "helper: run as a child process by killed_writer_is_invisible_and_swept"]
async fn child_writes_then_hangs() {
    let Some(lake) = child_lake().await else {
        return;
    };
    let mut writer = lake
        .writer_with("sales", Area::Datasets, small_files())
        .await
        .unwrap();
    writer.write(day(1), &batch(100, 220)).await.unwrap();
    writer.write(day(2), &batch(220, 280)).await.unwrap();
    writer.wait_stored().await.unwrap();
    println!(
        "{CHILD_READY} {} {}",
        writer.run_id(),
        writer.written_files().len()
    );
    tokio::time::sleep(Duration::from_secs(300)).await;
    writer.commit(None).await.unwrap();
}

#[tokio::test]
async fn killed_writer_is_invisible_and_swept() {
    let env = TestEnv::new().await;
    let lake = open(&env).await;
    let root = env.path().join("lake");
    write_run(&lake, "sales", &[(1, 0, 10), (2, 10, 20)], None).await;
    let survivors = files_under(&root, "datasets/sales");
    assert_eq!(survivors.len(), 2);

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "lake::child_writes_then_hangs",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env(CHILD_DB_VAR, &env.settings.database_url)
        .env(CHILD_LAKE_VAR, &env.settings.lake_url)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let ready = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::task::spawn_blocking(move || {
            std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .find(|line| line.starts_with(CHILD_READY))
        }),
    )
    .await;
    child.kill().unwrap();
    child.wait().unwrap();
    let line = ready
        .expect("child did not get ready in time")
        .unwrap()
        .expect("child exited before it was ready");
    let mut fields = line.split_whitespace().skip(1);
    let run_id = fields.next().unwrap().to_string();
    let written: usize = fields.next().unwrap().parse().unwrap();
    assert_eq!(
        written, 3,
        "day 1: 50+50 (20 buffered), day 2: 50 (10 buffered)"
    );

    // Killed mid-write: its files are in the table's folder, but neither recast nor outside
    // engines reading the Delta log see a row of them.
    assert_eq!(
        quantities(&lake.read("sales", None, None).await.unwrap()),
        range(0, 20)
    );
    assert_eq!(
        lake.committed_files("sales", None, None)
            .await
            .unwrap()
            .len(),
        2
    );
    let orphans: Vec<String> = files_under(&root, "datasets/sales")
        .into_iter()
        .filter(|p| !survivors.contains(p))
        .collect();
    assert_eq!(orphans.len(), written);
    assert!(
        orphans
            .iter()
            .all(|p| layout::run_id_of(p) == Some(run_id.as_str()))
    );
    if let Some(seen) = outside_read(&root.join("datasets/sales"), None) {
        assert_eq!(seen["deltalake_rows"], 20, "{seen}");
        assert_eq!(seen["duckdb_rows"], 20, "{seen}");
        assert_eq!(seen["polars_rows"], 20, "{seen}");
    }

    let report = lake.sweep(Duration::ZERO).await.unwrap();
    assert_eq!(report.files_deleted, written as u64, "{report:?}");
    assert_eq!(report.runs_aborted, 1);
    let orphan_bytes: u64 = report.bytes_deleted;
    assert!(orphan_bytes > 0);
    assert_eq!(files_under(&root, "datasets/sales"), survivors);
    assert_eq!(
        quantities(&lake.read("sales", None, None).await.unwrap()),
        range(0, 20)
    );
}

#[tokio::test]
async fn memory_lake_round_trip() {
    let mut env = TestEnv::new().await;
    env.settings.lake_url = "memory://".into();
    let lake = open(&env).await;
    assert_eq!(lake.url(), "memory://");
    lake.check().await.unwrap();
    // The writer's futures are Send: it can run in a spawned task.
    let mut writer = lake
        .writer_with("sales", Area::Datasets, small_files())
        .await
        .unwrap();
    let task = tokio::spawn(async move {
        writer.write(day(1), &batch(0, 60)).await?;
        writer.write(day(2), &batch(60, 70)).await?;
        writer.commit(Some("k")).await
    });
    let outcome = task.await.unwrap().unwrap();
    assert!(
        matches!(outcome, CommitOutcome::Committed { files: 3, .. }),
        "{outcome:?}"
    );
    let mut dropped = lake
        .writer_with("sales", Area::Datasets, small_files())
        .await
        .unwrap();
    dropped.write(day(3), &batch(0, 50)).await.unwrap();
    dropped.wait_stored().await.unwrap();
    drop(dropped);
    assert_eq!(
        quantities(&lake.read("sales", None, None).await.unwrap()),
        range(0, 70)
    );
    let report = lake.sweep(Duration::ZERO).await.unwrap();
    assert_eq!((report.files_deleted, report.runs_aborted), (1, 1));
    assert_eq!(rows(&lake.read("sales", None, None).await.unwrap()), 70);
    assert!(
        !env.path().join("lake").exists(),
        "nothing touched the disk"
    );
}

#[tokio::test]
async fn bad_lake_urls_are_refused_without_secrets() {
    let mut env = TestEnv::new().await;
    for url in ["s3://", "s3://KEY:hunter2@bucket/x", "gopher://x"] {
        env.settings.lake_url = url.into();
        let err = Lake::open(&env.settings, env.db.clone())
            .await
            .err()
            .unwrap();
        assert!(matches!(err, LakeError::Url { .. }), "{url}: {err:?}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }
}

#[tokio::test]
async fn s3_round_trip() {
    let Some(server) = common::s3_server() else {
        return;
    };
    let mut env = TestEnv::new().await;
    let prefix = format!("lake-test-{}", uuid::Uuid::new_v4().simple());
    env.settings.lake_url = format!("s3://{}/{prefix}", server.bucket);
    env.settings.s3 = S3Settings {
        endpoint: Some(server.endpoint.clone()),
        region: None,
        access_key_id: Some(server.access_key.clone()),
        secret_access_key: Some(server.secret_key.clone()),
        allow_http: true,
    };
    let lake = open(&env).await;
    assert_eq!(lake.url(), format!("s3://{}/{prefix}", server.bucket));
    lake.check().await.unwrap();

    write_run(
        &lake,
        "sales",
        &[(1, 0, 120), (2, 120, 130)],
        Some("s3-key"),
    )
    .await;
    let again = write_run(&lake, "sales", &[(1, 0, 120)], Some("s3-key")).await;
    assert!(matches!(again, CommitOutcome::AlreadyCommitted { .. }));
    let mut dropped = lake
        .writer_with("sales", Area::Datasets, small_files())
        .await
        .unwrap();
    dropped.write(day(3), &batch(0, 100)).await.unwrap();
    drop(dropped);

    let committed = lake.committed_files("sales", None, None).await.unwrap();
    assert_eq!(committed.len(), 4);
    assert_eq!(
        quantities(&lake.read("sales", None, None).await.unwrap()),
        range(0, 130)
    );

    let raw = raw_bucket(&server);
    let keys = list_keys(&raw, &prefix).await;
    assert_eq!(
        keys.len(),
        6,
        "4 committed + 2 of the dropped run: {keys:?}"
    );
    let report = lake.sweep(Duration::ZERO).await.unwrap();
    assert_eq!(
        (report.files_deleted, report.runs_aborted),
        (2, 1),
        "{report:?}"
    );
    let expected: Vec<String> = committed
        .iter()
        .map(|f| format!("{prefix}/{}", f.path))
        .collect();
    assert_eq!(list_keys(&raw, &prefix).await, sorted(expected));
    assert_eq!(rows(&lake.read("sales", None, None).await.unwrap()), 130);

    // A forecast run's actuals file is read back one series at a time by ranged requests.
    use recast::forecast::actuals;
    use recast::forecast::series::{Frequency, Series, SeriesKey};
    let series: Vec<Series> = (0..200)
        .map(|i| Series {
            key: SeriesKey {
                item_id: Some(format!("I{i:03}")),
                store_id: None,
                category: None,
            },
            frequency: Frequency::Day,
            start: day(1).into(),
            values: (0..700).map(|t| f64::from(i * 10_000 + t)).collect(),
            filled: 2,
        })
        .collect();
    let refs: Vec<&Series> = series.iter().collect();
    actuals::write(&lake, "s3run", &refs).await.unwrap();
    let one = actuals::read(&lake, "s3run", "item=I150")
        .await
        .unwrap()
        .expect("file written");
    assert_eq!(one.points.len(), 700);
    assert_eq!(one.points[0], (day(1).into(), 1_500_000.0));
    assert_eq!(one.filled, 2);

    // The Delta log on S3: outside readers count exactly the committed rows.
    let logs = list_all_keys(&raw, &prefix).await;
    assert!(
        logs.iter()
            .any(|k| k.ends_with("datasets/sales/_delta_log/00000000000000000000.json")),
        "{logs:?}"
    );
    let table = format!("s3://{}/{prefix}/datasets/sales", server.bucket);
    if let Some(seen) = outside_read_at(&table, None, Some(&server)) {
        assert_eq!(seen["deltalake_rows"], 130, "{seen}");
        assert_eq!(seen["duckdb_rows"], 130, "{seen}");
    }
    // Delta commits rely on put-if-absent: the store refuses a second create of one key.
    let probe = object_store::path::Path::from(format!("{prefix}/_probe"));
    let create = || object_store::PutOptions::from(object_store::PutMode::Create);
    raw.put_opts(&probe, "a".into(), create()).await.unwrap();
    let second = raw.put_opts(&probe, "b".into(), create()).await;
    assert!(
        matches!(second, Err(object_store::Error::AlreadyExists { .. })),
        "{second:?}"
    );

    for key in list_all_keys(&raw, &prefix).await {
        raw.delete(&object_store::path::Path::from(key))
            .await
            .unwrap();
    }
}

/// A client on the bare bucket (no lake prefix), to see where the lake really wrote.
fn raw_bucket(server: &common::S3Server) -> object_store::aws::AmazonS3 {
    object_store::aws::AmazonS3Builder::new()
        .with_bucket_name(&server.bucket)
        .with_endpoint(&server.endpoint)
        .with_region("us-east-1")
        .with_access_key_id(&server.access_key)
        .with_secret_access_key(&server.secret_key)
        .with_allow_http(true)
        .build()
        .unwrap()
}

/// Data objects under `prefix` (not the Delta logs).
async fn list_keys(store: &object_store::aws::AmazonS3, prefix: &str) -> Vec<String> {
    sorted(
        list_all_keys(store, prefix)
            .await
            .into_iter()
            .filter(|k| !recast::lake::delta::is_log_path(k))
            .collect(),
    )
}

async fn list_all_keys(store: &object_store::aws::AmazonS3, prefix: &str) -> Vec<String> {
    let prefix = object_store::path::Path::from(prefix);
    let metas: Vec<object_store::ObjectMeta> =
        store.list(Some(&prefix)).try_collect().await.unwrap();
    sorted(metas.into_iter().map(|m| m.location.to_string()).collect())
}

/// What `tests/tools/delta_read.py` saw (DuckDB's `delta_scan` and Python `deltalake`), or
/// `None` when those readers are not installed outside CI.
fn outside_read(table_dir: &Path, version: Option<i64>) -> Option<serde_json::Value> {
    outside_read_at(&table_dir.to_string_lossy(), version, None)
}

/// [`outside_read`] of any table location; `s3` gives the readers the endpoint and keys.
fn outside_read_at(
    table: &str,
    version: Option<i64>,
    s3: Option<&common::S3Server>,
) -> Option<serde_json::Value> {
    let probe = Command::new("python3")
        .args([
            "-c",
            "import duckdb, deltalake, pyarrow, polars, duckdb_extension_delta, duckdb_extension_httpfs",
        ])
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        assert!(
            !common::in_ci(),
            "duckdb, deltalake, pyarrow, polars, duckdb-extension-delta/-httpfs (PyPI) are required in CI"
        );
        eprintln!("skipping the outside read: python3 lacks duckdb/deltalake");
        return None;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tools/delta_read.py");
    let mut cmd = Command::new("python3");
    cmd.arg(script)
        .arg(table)
        .env("RECAST_TXN_APPS", "recast:k1,recast:k2");
    if let Some(s3) = s3 {
        cmd.env("AWS_ENDPOINT_URL", &s3.endpoint)
            .env("AWS_ACCESS_KEY_ID", &s3.access_key)
            .env("AWS_SECRET_ACCESS_KEY", &s3.secret_key);
    }
    if let Some(v) = version {
        cmd.arg(v.to_string());
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "delta_read.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

/// The table's Delta log entries (`.json`), oldest first, through the lake's own store.
async fn delta_log_entries(lake: &Lake, table: &str) -> Vec<object_store::path::Path> {
    let prefix = object_store::path::Path::from(format!("{table}/_delta_log"));
    let mut entries: Vec<object_store::path::Path> = lake
        .store()
        .list(Some(&prefix))
        .map_ok(|m| m.location)
        .try_collect()
        .await
        .unwrap();
    entries.retain(|p| p.as_ref().ends_with(".json"));
    entries.sort();
    entries
}

/// Where a scenario's lake lives, and how outside readers and the CLI reach it.
struct LakeSite {
    env: TestEnv,
    s3: Option<common::S3Server>,
}

impl LakeSite {
    fn local(env: TestEnv) -> LakeSite {
        LakeSite { env, s3: None }
    }

    fn on_s3(mut env: TestEnv, server: common::S3Server) -> LakeSite {
        let prefix = format!("lake-test-{}", uuid::Uuid::new_v4().simple());
        env.settings.lake_url = format!("s3://{}/{prefix}", server.bucket);
        env.settings.s3 = S3Settings {
            endpoint: Some(server.endpoint.clone()),
            region: None,
            access_key_id: Some(server.access_key.clone()),
            secret_access_key: Some(server.secret_key.clone()),
            allow_http: true,
        };
        LakeSite {
            env,
            s3: Some(server),
        }
    }

    /// The table as outside readers address it.
    fn table(&self, name: &str) -> String {
        match &self.s3 {
            Some(_) => format!("{}/datasets/{name}", self.env.settings.lake_url),
            None => format!("{}/datasets/{name}", self.env.path().join("lake").display()),
        }
    }

    fn read(&self, name: &str, version: Option<i64>) -> Option<serde_json::Value> {
        outside_read_at(&self.table(name), version, self.s3.as_ref())
    }

    /// `recast worker`, which must exit with an error within a minute (not start); its stderr.
    fn worker_refusal(&self) -> String {
        let mut worker = self
            .recast(&["worker"])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while worker.try_wait().unwrap().is_none() {
            if std::time::Instant::now() > deadline {
                worker.kill().unwrap();
                panic!("a worker started on an unmigrated lake");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let out = worker.wait_with_output().unwrap();
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// `recast lake migrate --json`, which must succeed; its answer.
    fn migrate_json(&self) -> serde_json::Value {
        let out = self
            .recast(&["lake", "migrate", "--json"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// `recast <args>` against this site's DB and lake.
    fn recast(&self, args: &[&str]) -> Command {
        let mut cmd = common::recast_command(&self.env.path());
        cmd.env("RECAST_DATABASE_URL", &self.env.settings.database_url)
            .env("RECAST_LAKE_URL", &self.env.settings.lake_url)
            .args(args);
        if let Some(s3) = &self.s3 {
            cmd.env("RECAST_S3_ENDPOINT", &s3.endpoint)
                .env("RECAST_S3_ACCESS_KEY_ID", &s3.access_key)
                .env("RECAST_S3_SECRET_ACCESS_KEY", &s3.secret_key)
                .env("RECAST_S3_ALLOW_HTTP", "true");
        }
        cmd
    }
}

/// Outside engines read each table's Delta log and see exactly what recast committed: not a
/// dead run's files, not a compaction's inputs twice, the earlier state at an earlier version;
/// a re-run after a crash between the DB commit and the Delta commit lands nothing twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delta_readers_see_exactly_what_was_committed() {
    delta_scenario(LakeSite::local(TestEnv::new().await)).await;
}

/// The same on the S3-compatible test server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delta_readers_see_exactly_what_was_committed_on_s3() {
    let Some(server) = common::s3_server() else {
        return;
    };
    delta_scenario(LakeSite::on_s3(TestEnv::new().await, server)).await;
}

async fn delta_scenario(site: LakeSite) {
    let lake = open(&site.env).await;
    write_run(&lake, "sales", &[(1, 0, 120), (2, 120, 130)], Some("k1")).await;
    let second = write_run(&lake, "sales", &[(3, 130, 200)], Some("k2")).await;
    let mut dead = lake
        .writer_with("sales", Area::Datasets, small_files())
        .await
        .unwrap();
    dead.write(day(4), &batch(1_000, 1_100)).await.unwrap();
    drop(dead); // a run killed mid-write: two files in the store, never committed
    assert_eq!(delta_log_entries(&lake, "datasets/sales").await.len(), 2);

    // A re-run after a crash between the commit and the caller's bookkeeping (the ETL ledger):
    // the key is in the log, so nothing lands twice.
    let again = write_run(&lake, "sales", &[(3, 130, 200)], Some("k2")).await;
    assert_eq!(
        again,
        CommitOutcome::AlreadyCommitted {
            commit_id: commit_id(&second)
        }
    );
    assert_eq!(delta_log_entries(&lake, "datasets/sales").await.len(), 2);

    if let Some(seen) = site.read("sales", None) {
        assert_eq!(seen["deltalake_rows"], 200, "{seen}");
        assert_eq!(seen["duckdb_rows"], 200, "{seen}");
        assert_eq!(seen["polars_rows"], 200, "{seen}");
        assert_eq!(seen["stats_rows"], 200, "{seen}");
        assert_eq!(
            seen["key_versions"]["recast:k2"],
            commit_id(&second),
            "{seen}"
        );
        assert_eq!(seen["protocol"], serde_json::json!([1, 2]), "{seen}");
        assert_eq!(
            seen["duckdb_days"],
            serde_json::json!(["2024-03-01", "2024-03-02", "2024-03-03"])
        );
        let earlier = site.read("sales", Some(0)).unwrap();
        assert_eq!(
            earlier["deltalake_rows"], 130,
            "version 0 is the first commit"
        );
        assert_eq!(earlier["polars_rows"], 130, "{earlier}");
    }

    // Compaction: day 1's three files become one; readers still count each row once.
    let day1: Vec<String> = lake
        .committed_files("sales", Some(day(1)), Some(day(1)))
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.path)
        .collect();
    assert_eq!(day1.len(), 3);
    let mut writer = lake.writer("sales", Area::Datasets).await.unwrap();
    writer.write(day(1), &batch(0, 120)).await.unwrap();
    writer.commit_compaction(None, &day1).await.unwrap();
    let delta = lake
        .delta_table(Area::Datasets, "sales", None)
        .await
        .unwrap()
        .unwrap();
    let newest = delta.history(Some(1)).await.unwrap().next().unwrap();
    assert_eq!(newest.operation.as_deref(), Some("OPTIMIZE"));
    let report = lake.sweep(Duration::ZERO).await.unwrap();
    assert_eq!(
        report.files_deleted,
        3 + 2,
        "removed and dead files: {report:?}"
    );
    assert_eq!(
        data_objects(&lake, "datasets/sales").await.len(),
        1 + 1 + 2,
        "vacuum left only the live files"
    );
    assert!(
        !delta_log_entries(&lake, "datasets/sales").await.is_empty(),
        "the sweep leaves the log alone"
    );
    if let Some(seen) = site.read("sales", None) {
        assert_eq!(seen["version"], 2, "{seen}");
        assert_eq!(seen["deltalake_rows"], 200, "{seen}");
        assert_eq!(seen["duckdb_rows"], 200, "{seen}");
        assert_eq!(seen["files"], 1 + 1 + 2, "{seen}");
    }

    // A lake from before the Delta logs: commits refuse it, servers refuse it,
    // `recast lake migrate` registers it, idempotently.
    make_legacy(&lake, Area::Datasets, "sales").await;
    let fresh = open(&site.env).await;
    let mut writer = fresh
        .writer_with("sales", Area::Datasets, small_files())
        .await
        .unwrap();
    writer.write(day(5), &batch(300, 310)).await.unwrap();
    let err = writer.commit(None).await.unwrap_err();
    assert!(matches!(err, LakeError::Unmigrated { .. }), "{err:?}");
    let err = fresh.sweep(Duration::ZERO).await.unwrap_err();
    assert!(matches!(err, LakeError::Unmigrated { .. }), "{err:?}");
    let refusal = site.worker_refusal();
    assert!(
        refusal.contains("datasets/sales") && refusal.contains("recast lake migrate"),
        "{refusal}"
    );
    let migrate = || site.migrate_json();
    let first = migrate();
    assert_eq!(first[0]["table"], "datasets/sales");
    assert_eq!(
        first[0]["commits"], 1,
        "the live files in one commit: {first}"
    );
    assert_eq!(
        migrate()[0]["commits"],
        0,
        "a second migrate changes nothing"
    );
    if let Some(seen) = site.read("sales", None) {
        assert_eq!(seen["deltalake_rows"], 200, "{seen}");
        assert_eq!(seen["duckdb_rows"], 200, "{seen}");
    }
    let fresh = open(&site.env).await;
    assert_eq!(
        quantities(&fresh.read("sales", None, None).await.unwrap()),
        range(0, 200),
        "recast reads every committed row, nothing else"
    );
    assert!(fresh.unmigrated_tables().await.unwrap().is_empty());
    write_run(&fresh, "sales", &[(5, 300, 310)], None).await;
    assert_eq!(rows(&fresh.read("sales", None, None).await.unwrap()), 210);
}

/// Data files of a table (not its log), through the lake's own store.
async fn data_objects(lake: &Lake, table: &str) -> Vec<String> {
    let prefix = object_store::path::Path::from(table);
    let mut paths: Vec<String> = lake
        .store()
        .list(Some(&prefix))
        .map_ok(|m| m.location.to_string())
        .try_collect()
        .await
        .unwrap();
    paths.retain(|p| !p.contains("/_delta_log/"));
    paths
}

/// Turns a table into what recast wrote before its lake became Delta tables: its live files
/// recorded in the old commit log (one commit), and no `_delta_log/`.
async fn make_legacy(lake: &Lake, area: Area, dataset: &str) {
    let files = lake
        .files(&Scan::dataset(dataset).in_area(area))
        .await
        .unwrap();
    let pool = lake.db().pool();
    let run_id = format!("legacy-{}", uuid::Uuid::new_v4());
    sqlx::query(
        "INSERT INTO lake_runs (run_id, area, dataset, state, started_at, finished_at) \
         VALUES ($1, $2, $3, 'committed', 0, 0)",
    )
    .bind(&run_id)
    .bind(area.as_str())
    .bind(dataset)
    .execute(pool)
    .await
    .unwrap();
    let rows: i64 = files.iter().map(|f| f.rows as i64).sum();
    let bytes: i64 = files.iter().map(|f| f.bytes as i64).sum();
    let commit: i64 = sqlx::query_scalar(
        "INSERT INTO lake_commits \
         (area, dataset, run_id, commit_key, row_count, byte_count, committed_at, operation) \
         VALUES ($1, $2, $3, NULL, $4, $5, 0, 'write') RETURNING id",
    )
    .bind(area.as_str())
    .bind(dataset)
    .bind(&run_id)
    .bind(rows)
    .bind(bytes)
    .fetch_one(pool)
    .await
    .unwrap();
    for f in &files {
        sqlx::query(
            "INSERT INTO lake_files (path, commit_id, area, dataset, dt, row_count, byte_count) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&f.path)
        .bind(commit)
        .bind(area.as_str())
        .bind(dataset)
        .bind(layout::format_dt(f.dt))
        .bind(f.rows as i64)
        .bind(f.bytes as i64)
        .execute(pool)
        .await
        .unwrap();
    }
    let log = object_store::path::Path::from(format!(
        "{}/_delta_log",
        layout::dataset_prefix(area, dataset)
    ));
    let entries: Vec<object_store::path::Path> = lake
        .store()
        .list(Some(&log))
        .map_ok(|m| m.location)
        .try_collect()
        .await
        .unwrap();
    for entry in entries {
        lake.store().delete(&entry).await.unwrap();
    }
}

const CHILD_TAG_VAR: &str = "RECAST_LAKE_CHILD_TAG";

#[tokio::test]
#[ignore = "helper: run as a child process by two_processes_commit_to_one_table_at_once"]
async fn child_commits_ten_runs() {
    let (Some(lake), Ok(tag)) = (child_lake().await, std::env::var(CHILD_TAG_VAR)) else {
        return;
    };
    let base: i64 = tag.parse().unwrap();
    for run in 0..10 {
        let start = base + run * 10;
        let key = format!("child-{tag}-{run}");
        write_run(
            &lake,
            "shared",
            &[(1 + run as u32 % 3, start, start + 10)],
            Some(&key),
        )
        .await;
    }
}

/// Two processes commit to one table at once: every commit lands once in the Delta log (the
/// loser of a race for a log version reloads and commits after the winner).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_commit_to_one_table_at_once() {
    let env = TestEnv::new().await;
    let lake = open(&env).await;
    let children: Vec<_> = [0, 1_000]
        .iter()
        .map(|tag| {
            Command::new(std::env::current_exe().unwrap())
                .args(["lake::child_commits_ten_runs", "--exact", "--ignored"])
                .env(CHILD_DB_VAR, &env.settings.database_url)
                .env(CHILD_LAKE_VAR, &env.settings.lake_url)
                .env(CHILD_TAG_VAR, tag.to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "a child failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut expected = range(0, 100);
    expected.extend(range(1_000, 1_100));
    assert_eq!(
        quantities(&lake.read("shared", None, None).await.unwrap()),
        expected
    );
    let delta = lake
        .delta_table(Area::Datasets, "shared", None)
        .await
        .unwrap()
        .unwrap();
    let logged: i64 = delta
        .snapshot()
        .unwrap()
        .log_data()
        .iter()
        .map(|f| f.num_records().unwrap_or(0) as i64)
        .sum();
    assert_eq!(logged, 200, "the log lists every committed row once");
    if let Some(seen) = outside_read(&env.path().join("lake/datasets/shared"), None) {
        assert_eq!(seen["deltalake_rows"], 200, "{seen}");
        assert_eq!(seen["duckdb_rows"], 200, "{seen}");
    }
}

/// A commit with no file (a run with nothing to land) gives a new table nothing to create
/// its log from: no table, no version, not "unmigrated"; the first file creates the log.
#[tokio::test]
async fn a_table_with_only_empty_commits_needs_no_log_yet() {
    let env = TestEnv::new().await;
    let lake = open(&env).await;
    let empty = lake
        .writer_with("quiet", Area::Quarantine, small_files())
        .await
        .unwrap();
    let outcome = empty.commit(Some("nothing")).await.unwrap();
    assert!(
        matches!(
            outcome,
            CommitOutcome::Committed {
                commit_id: None,
                rows: 0,
                ..
            }
        ),
        "{outcome:?}"
    );
    assert!(lake.unmigrated_tables().await.unwrap().is_empty());
    assert!(
        lake.delta_table(Area::Quarantine, "quiet", None)
            .await
            .unwrap()
            .is_none()
    );

    let mut writer = lake
        .writer_with("quiet", Area::Quarantine, small_files())
        .await
        .unwrap();
    writer.write(day(1), &batch(0, 10)).await.unwrap();
    let outcome = writer.commit(Some("some")).await.unwrap();
    assert!(
        matches!(
            outcome,
            CommitOutcome::Committed {
                commit_id: Some(0),
                rows: 10,
                ..
            }
        ),
        "{outcome:?}"
    );
    let delta = lake
        .delta_table(Area::Quarantine, "quiet", None)
        .await
        .unwrap()
        .expect("the first file created the log");
    assert_eq!(delta.version(), Some(0));
    assert!(lake.unmigrated_tables().await.unwrap().is_empty());
}

/// Forecast exports kept as one file per run (before `exports/` held Delta tables) stop
/// servers from starting; `recast lake migrate` moves them into the tables, where a run's
/// actuals are found again by its id.
#[tokio::test]
async fn old_per_run_forecast_exports_move_into_delta_tables() {
    let site = LakeSite::local(TestEnv::new().await);
    let lake = open(&site.env).await;
    let schema = Arc::new(Schema::new(vec![
        Field::new("series_id", DataType::Utf8, false),
        Field::new("date", DataType::Date32, false),
        Field::new("quantity", DataType::Float64, false),
        Field::new("filled_periods", DataType::UInt32, false),
    ]));
    let days: Vec<i32> = (0..30).map(|d| 19_800 + d).collect();
    let old = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(vec!["item=A"; 30])),
            Arc::new(arrow_array::Date32Array::from(days)),
            Arc::new(Float64Array::from(
                (0..30).map(f64::from).collect::<Vec<_>>(),
            )),
            Arc::new(arrow_array::UInt32Array::from(vec![3u32; 30])),
        ],
    )
    .unwrap();
    let mut buf = Vec::new();
    let mut writer = parquet::arrow::ArrowWriter::try_new(&mut buf, schema, None).unwrap();
    writer.write(&old).unwrap();
    writer.close().unwrap();
    let old_path = object_store::path::Path::from("exports/forecasts/run=r-old/actuals.parquet");
    lake.store().put(&old_path, buf.into()).await.unwrap();

    let refusal = site.worker_refusal();
    assert!(
        refusal.contains("exports/forecasts/run=") && refusal.contains("recast lake migrate"),
        "{refusal}"
    );
    let migrate = || site.migrate_json();
    let first = migrate();
    assert_eq!(first[0]["table"], "exports/actuals", "{first}");
    assert_eq!(first[0]["commits"], 1, "{first}");
    assert_eq!(
        migrate(),
        serde_json::json!([]),
        "a second migrate changes nothing"
    );
    assert!(
        lake.store().head(&old_path).await.is_err(),
        "the old file is gone"
    );

    let fresh = open(&site.env).await;
    let actuals = recast::forecast::actuals::read(&fresh, "r-old", "item=A")
        .await
        .unwrap()
        .expect("the run's actuals, found in the table by its run id");
    assert_eq!(actuals.points.len(), 30);
    assert_eq!(actuals.filled, 3);
    let table = site.env.path().join("lake/exports/actuals");
    if let Some(seen) = outside_read(&table, None) {
        assert_eq!(seen["deltalake_rows"], 30, "{seen}");
        assert_eq!(seen["duckdb_rows"], 30, "{seen}");
        assert!(
            seen["columns"]
                .as_array()
                .unwrap()
                .contains(&"run_id".into()),
            "{seen}"
        );
    }
    let out = site.recast(&["lake", "migrate"]).output().unwrap();
    assert!(out.status.success());
}
