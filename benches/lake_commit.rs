//! What a lake commit costs: `RECAST_BENCH_COMMITS` (default 200) runs of one small file each
//! (1,000 rows, one partition) to a local lake on SQLite, each committed under its own key
//! (claim in the DB, key lookup, one Delta commit), against the same runs aborted instead
//! (the file written and deleted, nothing committed). The difference is the commit's cost;
//! also the time to list a table's live files from its cached Delta state.
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
use recast::lake::{Area, Lake};

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

/// Mean seconds per run of `runs` one-file runs into `dataset`, committed or aborted.
async fn runs(lake: &Lake, dataset: &str, runs: usize, commit: bool) -> f64 {
    let day = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
    let started = Instant::now();
    for run in 0..runs {
        let mut writer = lake.writer(dataset, Area::Datasets).await.unwrap();
        writer.write(day, &batch(run)).await.unwrap();
        if commit {
            writer
                .commit(Some(&format!("{dataset}-{run}")))
                .await
                .unwrap();
        } else {
            writer.abort().await.unwrap();
        }
    }
    started.elapsed().as_secs_f64() / runs as f64
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
        let committed = runs(&app.lake, "committed", commits, true).await;
        let aborted = runs(&app.lake, "aborted", commits, false).await;
        let started = Instant::now();
        let live = app.lake.committed_files("committed", None, None).await.unwrap();
        let listing = started.elapsed().as_secs_f64();
        assert_eq!(live.len(), commits);
        println!("lake_commit: {commits} runs of one 1,000-row file each, local disk, SQLite");
        println!("| run | mean ms per run |");
        println!("|---|---|");
        println!("| committed (claim, key lookup, Delta commit) | {:.2} |", committed * 1e3);
        println!("| aborted (file written and deleted) | {:.2} |", aborted * 1e3);
        println!(
            "a commit costs {:.2} ms; listing the {} live files from the cached Delta state took {:.2} ms",
            (committed - aborted) * 1e3,
            live.len(),
            listing * 1e3
        );
    });
}
