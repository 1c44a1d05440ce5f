//! What the Delta log costs per lake commit: `RECAST_BENCH_COMMITS` (default 200) commits of
//! one small file each (1,000 rows, one partition) to a local lake on SQLite, first with the
//! table's Delta log published after every commit (the default), then into a second table
//! with publishing off and the log published once at the end. Prints the mean commit time of
//! both, the difference (the log's cost per commit) and the catch-up publish.
//!
//!     cargo bench --bench lake_commit
//!     RECAST_BENCH_COMMITS=500 cargo bench --bench lake_commit

#[path = "common/knobs.rs"]
mod knobs;
use knobs::env_or;

use std::sync::Arc;
use std::time::Instant;

use arrow_array::{Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use recast::config::{Settings, Sources};
use recast::lake::{Area, Lake, WriterOptions};

fn batch(run: usize) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("item_id", DataType::Utf8, false),
        Field::new("quantity", DataType::Int64, false),
    ]));
    let ids: Vec<String> = (0..1_000).map(|i| format!("i{run}-{i}")).collect();
    let quantities: Vec<i64> = (0..1_000).map(|i| (run * 1_000 + i) as i64).collect();
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(ids)),
            Arc::new(Int64Array::from(quantities)),
        ],
    )
    .unwrap()
}

/// Mean seconds per commit of `commits` one-file runs into `dataset`.
async fn commit_many(lake: &Lake, dataset: &str, commits: usize, publish: bool) -> f64 {
    let options = WriterOptions {
        publish_delta: publish,
        ..WriterOptions::default()
    };
    let day = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
    let started = Instant::now();
    for run in 0..commits {
        let mut writer = lake
            .writer_with(dataset, Area::Datasets, options.clone())
            .await
            .unwrap();
        writer.write(day, &batch(run)).await.unwrap();
        writer
            .commit(Some(&format!("{dataset}-{run}")))
            .await
            .unwrap();
    }
    started.elapsed().as_secs_f64() / commits as f64
}

fn main() {
    let commits = env_or("RECAST_BENCH_COMMITS", 200);
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let settings = Settings::load(&Sources {
            file: None,
            env: vec![
                (
                    "RECAST_DATABASE_URL".into(),
                    format!("sqlite://{}", dir.path().join("recast.db").display()),
                ),
                (
                    "RECAST_LAKE_URL".into(),
                    format!("file://{}", dir.path().join("lake").display()),
                ),
            ],
            overrides: Vec::new(),
        })
        .unwrap();
        let app = recast::service::open(settings).await.unwrap();
        let with_log = commit_many(&app.lake, "published", commits, true).await;
        let without = commit_many(&app.lake, "unpublished", commits, false).await;
        let started = Instant::now();
        let caught_up = app
            .lake
            .publish_delta(Area::Datasets, "unpublished")
            .await
            .unwrap();
        let catch_up = started.elapsed().as_secs_f64();
        println!("lake_commit: {commits} commits of one 1,000-row file each, local disk, SQLite");
        println!("| commit | mean ms per commit |");
        println!("|---|---|");
        println!(
            "| with the Delta log published (default) | {:.2} |",
            with_log * 1e3
        );
        println!("| without (DB commit log only) | {:.2} |", without * 1e3);
        println!(
            "the Delta log costs {:.2} ms per commit; publishing {} commits at once afterwards \
             took {:.0} ms (one Delta commit: the live files)",
            (with_log - without) * 1e3,
            commits,
            catch_up * 1e3
        );
        assert_eq!(caught_up.commits, 1);
    });
}
