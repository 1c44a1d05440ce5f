//! ETL through its real interfaces: pipeline definitions on disk, landing files, the runner,
//! the lake's commit log, the CLI binary (including a SIGKILL mid-run) and an outside reader.

use crate::common::assert_success;
use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use arrow_array::cast::AsArray;
use recast::app::App;
use recast::etl::pipelines::find_pipeline;
use recast::etl::report::RunReport;
use recast::etl::runner::run_pipeline;
use recast::lake::{Area, Scan};

use crate::common::{TestEnv, backend, fresh_database_url, in_ci, lines, numbers, strings};

const HEADER: &str =
    "event_id,user_id,item_id,event_type,value,timestamp,session_id,recommendation_id\n";

fn interactions_pipeline(landing: &Path) -> String {
    format!(
        r#"
name = "clicks"
dataset = "interactions"
[source]
type = "files"
url = "file://{}"
pattern = "*.csv*"
[columns]
ts = {{ from = "timestamp", not_in_future = true }}
event_type = {{ from = "event_type", map = {{ "buy" = "purchase" }} }}
value = {{ min = 0, max = 1000 }}
"#,
        landing.display()
    )
}

const ITEMS_PIPELINE: &str = r#"
name = "catalog"
dataset = "items"
[source]
type = "files"
url = "file://LANDING"
format = "ndjson"
[columns]
updated_at = { format = "rfc3339", not_in_future = true }
price = { min = 0 }
active = { default = "true" }
"#;

struct World {
    env: TestEnv,
    app: App,
    landing: PathBuf,
}

impl World {
    async fn new() -> World {
        let mut env = TestEnv::new().await;
        let landing = env.path().join("landing");
        let pipelines = env.path().join("pipelines");
        std::fs::create_dir_all(landing.join("clicks")).unwrap();
        std::fs::create_dir_all(landing.join("catalog")).unwrap();
        std::fs::create_dir_all(&pipelines).unwrap();
        std::fs::write(
            pipelines.join("clicks.toml"),
            interactions_pipeline(&landing.join("clicks")),
        )
        .unwrap();
        std::fs::write(
            pipelines.join("catalog.toml"),
            ITEMS_PIPELINE.replace("LANDING", &landing.join("catalog").display().to_string()),
        )
        .unwrap();
        env.settings.pipelines_dir = pipelines.display().to_string();
        let app = recast::service::open(env.settings.clone()).await.unwrap();
        World { env, app, landing }
    }

    fn drop_file(&self, pipeline: &str, name: &str, content: &str) {
        std::fs::write(self.landing.join(pipeline).join(name), content).unwrap();
    }

    async fn run(&self, pipeline: &str) -> RunReport {
        let spec = find_pipeline(&self.app, pipeline).unwrap();
        run_pipeline(&self.app, &spec, &recast::progress::none())
            .await
            .unwrap()
    }

    async fn rows(&self, dataset: &str, area: Area) -> Vec<RecordBatch> {
        self.app
            .lake
            .read_scan(&Scan::dataset(dataset).in_area(area))
            .await
            .unwrap()
    }

    async fn count(&self, dataset: &str) -> usize {
        self.rows(dataset, Area::Datasets)
            .await
            .iter()
            .map(|b| b.num_rows())
            .sum()
    }
}

fn event(id: &str, day: &str) -> String {
    format!("{id},u1,i1,view,1,{day}T10:00:00+02:00,s1,\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valid_rows_land_and_each_bad_kind_is_quarantined_with_its_reason() {
    let w = World::new().await;
    let mut csv = String::from(HEADER);
    csv.push_str(&event("e1", "2024-03-01"));
    csv.push_str(&event("e2", "2024-03-01"));
    csv.push_str("e3,u1,i2,buy,19.5,2024-03-02T08:00:00Z,s2,rec-9\n");
    csv.push_str(&event("e1", "2024-03-01")); // duplicate within the run
    csv.push_str("e4,,i1,view,1,2024-03-01T10:00:00Z,s1,\n"); // missing_required
    csv.push_str("e5,u1,i1,view,lots,2024-03-01T10:00:00Z,s1,\n"); // invalid_number
    csv.push_str("e6,u1,i1,view,-3,2024-03-01T10:00:00Z,s1,\n"); // out_of_range
    csv.push_str("e7,u1,i1,teleport,1,2024-03-01T10:00:00Z,s1,\n"); // not_allowed
    csv.push_str("e8,u1,i1,view,1,last tuesday,s1,\n"); // invalid_timestamp
    csv.push_str("e9,u1,i1,view,1,2999-01-01T00:00:00Z,s1,\n"); // in_future
    csv.push_str("e10,u1,i1,view\n"); // malformed_record
    w.drop_file("clicks", "a.csv", &csv);
    // A gzip file and late data for an old day.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(format!("{HEADER}{}", event("e11", "2023-12-24")).as_bytes())
        .unwrap();
    std::fs::write(w.landing.join("clicks/b.csv.gz"), gz.finish().unwrap()).unwrap();

    let r = w.run("clicks").await;
    assert_eq!(r.status, "succeeded");
    assert_eq!(r.files_read, 2);
    assert_eq!(r.rows_read, 12);
    assert_eq!(r.rows_landed, 4);
    assert_eq!(r.duplicates_in_run, 1);
    assert_eq!(r.rows_quarantined, 7);
    for reason in [
        "missing_required",
        "invalid_number",
        "out_of_range",
        "not_allowed",
        "invalid_timestamp",
        "in_future",
        "malformed_record",
    ] {
        assert_eq!(
            r.quarantined_by_reason.get(reason),
            Some(&1),
            "{reason}: {r:?}"
        );
    }

    // Partitions follow each row's own date (UTC): late data in its own dt.
    let files = w
        .app
        .lake
        .committed_files("interactions", None, None)
        .await
        .unwrap();
    let days: HashSet<String> = files.iter().map(|f| f.dt.to_string()).collect();
    assert_eq!(
        days,
        HashSet::from([
            "2024-03-01".into(),
            "2024-03-02".into(),
            "2023-12-24".into()
        ])
    );
    let data = w.rows("interactions", Area::Datasets).await;
    let mut ids = strings(&data, "event_id");
    ids.sort();
    assert_eq!(ids, vec!["e1", "e11", "e2", "e3"]);
    assert!(
        strings(&data, "event_type").contains(&"purchase".to_string()),
        "mapped"
    );

    let quarantine = w.rows("interactions", Area::Quarantine).await;
    let reasons = strings(&quarantine, "reason");
    let fields = strings(&quarantine, "detail");
    assert_eq!(reasons.len(), 7);
    assert!(fields.iter().all(|d| !d.is_empty()));
    let sources = strings(&quarantine, "source");
    assert!(sources.iter().all(|s| s.ends_with("a.csv")), "{sources:?}");
    let lines: Vec<i64> = lines(&quarantine).into_iter().flatten().collect();
    let mut lines_sorted = lines.clone();
    lines_sorted.sort();
    assert_eq!(
        lines_sorted,
        vec![6, 7, 8, 9, 10, 11, 12],
        "1-based file lines incl. header"
    );
    let raw = strings(&quarantine, "raw");
    assert!(raw.iter().any(|r| r.contains("teleport")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reruns_are_incremental_and_dedup_against_the_lake() {
    let w = World::new().await;
    let first = format!(
        "{HEADER}{}{}",
        event("e1", "2024-05-01"),
        event("e2", "2024-05-01")
    );
    w.drop_file("clicks", "1.csv", &first);
    assert_eq!(w.run("clicks").await.rows_landed, 2);

    let again = w.run("clicks").await;
    assert_eq!((again.files_read, again.rows_landed), (0, 0), "nothing new");

    // A new file repeating landed rows: only the new ones land.
    let second = format!(
        "{HEADER}{}{}{}",
        event("e2", "2024-05-01"),
        event("e3", "2024-05-01"),
        event("e1", "2024-05-01")
    );
    w.drop_file("clicks", "2.csv", &second);
    let r = w.run("clicks").await;
    assert_eq!(
        (r.files_read, r.rows_landed, r.duplicates_landed),
        (1, 1, 2)
    );

    // A file rewritten in place is read again; its old rows are duplicates.
    w.drop_file(
        "clicks",
        "1.csv",
        &format!("{first}{}", event("e4", "2024-05-02")),
    );
    let r = w.run("clicks").await;
    assert_eq!(
        (r.files_read, r.rows_landed, r.duplicates_landed),
        (1, 1, 2)
    );
    assert_eq!(w.count("interactions").await, 4);

    // NDJSON catalogue with a broken line and a list column.
    w.drop_file(
        "catalog",
        "items.ndjson",
        concat!(
            r#"{"item_id":"i1","title":"Mug","price":9.5,"tags":["kitchen","gift"],"updated_at":"2024-05-01T00:00:00Z"}"#,
            "\n{not json\n",
            r#"{"item_id":"i2","title":"Pan","price":"-1","updated_at":"2024-05-01T00:00:00Z"}"#,
            "\n"
        ),
    );
    let r = w.run("catalog").await;
    assert_eq!(r.rows_landed, 1);
    assert_eq!(r.quarantined_by_reason.get("malformed_record"), Some(&1));
    assert_eq!(r.quarantined_by_reason.get("out_of_range"), Some(&1));
    let items = w.rows("items", Area::Datasets).await;
    let tags = items[0]
        .column_by_name("tags")
        .unwrap()
        .as_list::<i32>()
        .value(0);
    assert_eq!(tags.as_string::<i32>().value(1), "gift");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_commit_and_ledger_never_lands_twice() {
    let w = World::new().await;
    w.drop_file(
        "clicks",
        "1.csv",
        &format!("{HEADER}{}", event("e1", "2024-05-01")),
    );
    let first = w.run("clicks").await;
    assert_eq!(first.rows_landed, 1);
    // Forget the ledger, as if the process died right after the lake commit.
    sqlx::query("DELETE FROM etl_file_ledger")
        .execute(w.app.db.pool())
        .await
        .unwrap();
    let again = w.run("clicks").await;
    assert_eq!(again.files_read, 1, "the file is read again");
    assert!(again.already_landed, "{again:?}");
    assert_eq!(again.rows_landed, 0);
    assert_eq!(w.count("interactions").await, 1);
    // And the ledger is whole again.
    assert_eq!(w.run("clicks").await.files_read, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_source_takes_new_rows_by_watermark() {
    let mut w = World::new().await;
    let source_url = fresh_database_url(&w.env.path().join("source")).await;
    let source = recast::db::Db::connect(&source_url).await.unwrap();
    let ts_type = if backend() == "postgres" {
        "TIMESTAMPTZ"
    } else {
        "TEXT"
    };
    sqlx::query(&format!(
        "CREATE TABLE crm_users (id BIGINT, user_id TEXT, signup {ts_type}, segment TEXT, region TEXT)"
    ))
    .execute(source.pool())
    .await
    .unwrap();
    let insert = |id: i64, user: &'static str, when: &'static str| {
        let pool = source.pool().clone();
        async move {
            sqlx::query(&format!(
                "INSERT INTO crm_users VALUES ({id}, '{user}', '{when}', 'vip', 'north')"
            ))
            .execute(&pool)
            .await
            .unwrap();
        }
    };
    insert(1, "u1", "2024-01-01 10:00:00+00").await;
    insert(2, "u2", "2024-01-02 10:00:00+00").await;
    insert(3, "", "2024-01-02 11:00:00+00").await; // missing user_id → quarantine
    let pipelines = PathBuf::from(&w.env.settings.pipelines_dir);
    let format = if backend() == "postgres" {
        "%Y-%m-%dT%H:%M:%S%:z"
    } else {
        "%Y-%m-%d %H:%M:%S%#z"
    };
    std::fs::write(
        pipelines.join("crm.toml"),
        format!(
            r#"
name = "crm"
dataset = "users"
[source]
type = "sql"
url = "{source_url}"
table = "crm_users"
watermark = "id"
[columns]
created_at = {{ from = "signup", format = "{format}" }}
"#
        ),
    )
    .unwrap();
    w.app = recast::service::open(w.env.settings.clone()).await.unwrap();
    let r = w.run("crm").await;
    assert_eq!(
        (r.rows_read, r.rows_landed, r.rows_quarantined),
        (3, 2, 1),
        "{r:?}"
    );
    assert_eq!(r.watermark_to.as_deref(), Some("3"));

    insert(4, "u4", "2024-01-03 10:00:00+00").await;
    let r = w.run("crm").await;
    assert_eq!((r.rows_read, r.rows_landed), (1, 1), "{r:?}");
    let r = w.run("crm").await;
    assert_eq!(r.rows_read, 0);
    assert_eq!(w.count("users").await, 3);
    source.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_merges_small_files_without_changing_rows() {
    let w = World::new().await;
    for i in 0..7 {
        // Five files on one day, two on the next: both partitions have small files to pack.
        let day = if i < 5 { "2024-06-01" } else { "2024-06-02" };
        w.drop_file(
            "clicks",
            &format!("{i}.csv"),
            &format!("{HEADER}{}", event(&format!("e{i}"), day)),
        );
        w.run("clicks").await;
    }
    let before = w
        .app
        .lake
        .committed_files("interactions", None, None)
        .await
        .unwrap();
    assert_eq!(before.len(), 7);
    let report = recast::etl::compact::compact(&w.app, recast::etl::Dataset::Interactions, None, 4)
        .await
        .unwrap();
    assert_eq!(
        (
            report.partitions_compacted,
            report.files_before,
            report.files_after
        ),
        (1, 5, 1),
        "only the day with four or more small files"
    );
    let report = recast::etl::compact::compact_all(&w.app, recast::etl::compact::DEFAULT_MIN_FILES)
        .await
        .unwrap();
    let interactions = &report[0];
    assert_eq!(
        (
            interactions.partitions_compacted,
            interactions.files_before,
            interactions.files_after
        ),
        (1, 2, 1),
        "by default two small files are enough: {report:?}"
    );
    let after = w
        .app
        .lake
        .committed_files("interactions", None, None)
        .await
        .unwrap();
    assert_eq!(after.len(), 2, "one file per day");
    assert_eq!(w.count("interactions").await, 7);
}

/// The lake is plain Hive-partitioned Parquet: DuckDB reads it with the same rows and types.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outside_reader_sees_the_same_rows_and_schema() {
    let probe = Command::new("python3")
        .args(["-c", "import duckdb"])
        .status();
    if !probe.map(|s| s.success()).unwrap_or(false) {
        assert!(
            !in_ci(),
            "duckdb (PyPI) is required in CI: .ci/test installs it"
        );
        eprintln!("skipping: python3 -c 'import duckdb' failed");
        return;
    }
    let w = World::new().await;
    let mut csv = String::from(HEADER);
    for i in 0..250 {
        csv.push_str(&event(
            &format!("e{i}"),
            if i % 2 == 0 {
                "2024-07-01"
            } else {
                "2024-07-02"
            },
        ));
    }
    w.drop_file("clicks", "big.csv", &csv);
    assert_eq!(w.run("clicks").await.rows_landed, 250);
    let lake = w.env.path().join("lake");
    let script = format!(
        r#"
import duckdb, json
con = duckdb.connect()
src = "read_parquet('{}/datasets/interactions/*/*.parquet', hive_partitioning=true)"
rows = con.execute("select count(*) from " + src).fetchall()[0][0]
columns = [[r[0], r[1]] for r in con.execute("describe select * from " + src).fetchall()]
print(json.dumps({{"rows": rows, "columns": columns}}))
"#,
        lake.display()
    );
    let out = Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert_success(&out);
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(seen["rows"], 250);
    let columns: Vec<(String, String)> = seen["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c[0].as_str().unwrap().to_string(),
                c[1].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected = [
        ("event_id", "VARCHAR"),
        ("user_id", "VARCHAR"),
        ("item_id", "VARCHAR"),
        ("event_type", "VARCHAR"),
        ("value", "DOUBLE"),
        ("ts", "TIMESTAMP WITH TIME ZONE"),
        ("session_id", "VARCHAR"),
        ("recommendation_id", "VARCHAR"),
        ("dt", "DATE"),
    ];
    for (name, ty) in expected {
        assert!(
            columns.iter().any(|(c, t)| c == name && t == ty),
            "{name} {ty} in {columns:?}"
        );
    }
}

fn recast_bin(dir: &Path, db_url: &str) -> Command {
    let mut cmd = crate::common::recast_command(dir);
    cmd.env("RECAST_DATABASE_URL", db_url)
        .env("RECAST_LAKE_ROWS_PER_FILE", "20000");
    cmd
}

fn parquet_files(dir: &Path) -> usize {
    fn walk(dir: &Path, n: &mut usize) {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, n);
                } else if p.extension().is_some_and(|x| x == "parquet") {
                    *n += 1;
                }
            }
        }
    }
    let mut n = 0;
    walk(dir, &mut n);
    n
}

/// A run killed with SIGKILL after it wrote part files publishes nothing; its re-run lands
/// every valid row exactly once. Also exercises `pipeline list/run/runs` of the CLI.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_run_then_rerun_lands_every_row_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let db_url = fresh_database_url(dir.path()).await;
    let landing = dir.path().join("data/landing/clicks");
    std::fs::create_dir_all(&landing).unwrap();
    std::fs::create_dir_all(dir.path().join("pipelines")).unwrap();
    std::fs::write(
        dir.path().join("pipelines/clicks.toml"),
        interactions_pipeline(Path::new("data/landing/clicks")).replace("file:///", "file://"),
    )
    .unwrap();
    let rows_per_file = 100_000;
    for f in 0..3 {
        let mut csv = String::with_capacity(rows_per_file * 70);
        csv.push_str(HEADER);
        for i in 0..rows_per_file {
            csv.push_str(&format!(
                "f{f}-{i},u{},i{},view,1,2024-08-01T{:02}:00:00Z,,\n",
                i % 977,
                i % 313,
                i % 24
            ));
        }
        std::fs::write(landing.join(format!("{f}.csv")), csv).unwrap();
    }

    let out = recast_bin(dir.path(), &db_url)
        .args(["pipeline", "list", "--json"])
        .output()
        .unwrap();
    assert_success(&out);
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed[0]["name"], "clicks");

    let mut child = recast_bin(dir.path(), &db_url)
        .args(["pipeline", "run", "clicks"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lake_dir = dir.path().join("data/lake/datasets/interactions");
    let deadline = Instant::now() + Duration::from_secs(120);
    while parquet_files(&lake_dir) == 0 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it could be killed"
        );
        assert!(Instant::now() < deadline, "no part file appeared");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        parquet_files(&lake_dir) > 0,
        "the killed run left part files behind"
    );

    let mut env_settings = recast::config::Settings::load(&recast::config::Sources {
        env: vec![
            ("RECAST_DATABASE_URL".into(), db_url.clone()),
            (
                "RECAST_LAKE_URL".into(),
                format!("file://{}", dir.path().join("data/lake").display()),
            ),
        ],
        ..Default::default()
    })
    .unwrap();
    env_settings.pipelines_dir = dir.path().join("pipelines").display().to_string();
    let app = recast::service::open(env_settings).await.unwrap();
    let visible: usize = app
        .lake
        .read("interactions", None, None)
        .await
        .unwrap()
        .iter()
        .map(|b| b.num_rows())
        .sum();
    assert_eq!(visible, 0, "nothing of the killed run is visible");

    let out = recast_bin(dir.path(), &db_url)
        .args(["pipeline", "run", "clicks", "--json"])
        .output()
        .unwrap();
    assert_success(&out);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["rows_landed"], 3 * rows_per_file as u64, "{report}");

    let batches = app.lake.read("interactions", None, None).await.unwrap();
    let ids = strings(&batches, "event_id");
    assert_eq!(ids.len(), 3 * rows_per_file);
    assert_eq!(
        ids.iter().collect::<HashSet<_>>().len(),
        ids.len(),
        "exactly once"
    );

    let out = recast_bin(dir.path(), &db_url)
        .args(["pipeline", "runs", "clicks", "--json"])
        .output()
        .unwrap();
    let runs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let statuses: Vec<&str> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        vec!["succeeded", "running"],
        "the killed run stays visible as running"
    );

    // The sweep removes what the killed run left.
    let report = app.lake.sweep(Duration::ZERO).await.unwrap();
    assert!(report.files_deleted > 0);
    app.db.close().await;
}

#[test]
fn malformed_definitions_are_refused_with_file_key_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("pipelines")).unwrap();
    std::fs::write(
        dir.path().join("pipelines/bad.toml"),
        "name = \"bad\"\ndataset = \"interactions\"\n[source]\ntype = \"files\"\nurl = \"file://x\"\n[columns]\nts = { from = \"t\", formt = \"rfc3339\" }\n",
    )
    .unwrap();
    for args in [
        vec!["pipeline", "list"],
        vec!["serve", "--listen", "127.0.0.1:0"],
    ] {
        let out = crate::common::recast_command(dir.path())
            .args(&args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("bad.toml") && err.contains("columns.ts") && err.contains("formt"),
            "{args:?}: {err}"
        );
    }
}

/// A landing zone on a real S3-compatible server: files are listed under the prefix,
/// downloaded, landed, and remembered by etag so a re-run reads nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_from_an_s3_landing_zone() {
    let Some(server) = crate::common::s3_server() else {
        return;
    };
    let mut env = TestEnv::new().await;
    env.settings.s3 = recast::config::S3Settings {
        endpoint: Some(server.endpoint.clone()),
        region: None,
        access_key_id: Some(server.access_key.clone()),
        secret_access_key: Some(server.secret_key.clone()),
        allow_http: true,
    };
    let prefix = format!("landing-{}", uuid::Uuid::new_v4().simple());
    let url = format!("s3://{}/{prefix}", server.bucket);
    let store = recast::lake::store::open_url(&url, &env.settings.s3).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(
        format!(
            "{HEADER}{}{}",
            event("s1", "2024-09-01"),
            event("s2", "2024-09-02")
        )
        .as_bytes(),
    )
    .unwrap();
    store
        .put(
            &object_store::path::Path::from("day1.csv.gz"),
            gz.finish().unwrap().into(),
        )
        .await
        .unwrap();
    store
        .put(
            &object_store::path::Path::from("notes.txt"),
            b"not data".to_vec().into(),
        )
        .await
        .unwrap();
    let pipelines = env.path().join("pipelines");
    std::fs::create_dir_all(&pipelines).unwrap();
    std::fs::write(
        pipelines.join("clicks.toml"),
        interactions_pipeline(Path::new("PLACEHOLDER")).replace("file://PLACEHOLDER", &url),
    )
    .unwrap();
    env.settings.pipelines_dir = pipelines.display().to_string();
    let app = recast::service::open(env.settings.clone()).await.unwrap();
    let spec = find_pipeline(&app, "clicks").unwrap();
    let r = run_pipeline(&app, &spec, &recast::progress::none())
        .await
        .unwrap();
    assert_eq!((r.files_read, r.rows_landed), (1, 2), "{r:?}");
    let again = run_pipeline(&app, &spec, &recast::progress::none())
        .await
        .unwrap();
    assert_eq!(again.files_read, 0);
    let batches = app.lake.read("interactions", None, None).await.unwrap();
    let mut ids = strings(&batches, "event_id");
    ids.sort();
    assert_eq!(ids, vec!["s1", "s2"]);
}

#[tokio::test]
async fn an_unreadable_file_is_quarantined_whole_and_the_rest_lands() {
    use std::io::Write;
    let w = World::new().await;
    let ts = "2026-01-10T10:00:00Z";
    w.drop_file(
        "clicks",
        "good.csv",
        &format!("{HEADER}g1,u1,i1,view,,{ts},,\ng2,u2,i2,click,,{ts},,\n"),
    );
    // A gzip cut short: its first rows decode, then the stream ends mid-block.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut body = String::from(HEADER);
    for n in 0..2000 {
        body.push_str(&format!("b{n},u{n},i{n},view,,{ts},,\n"));
    }
    gz.write_all(body.as_bytes()).unwrap();
    let full = gz.finish().unwrap();
    std::fs::write(
        w.landing.join("clicks").join("cut.csv.gz"),
        &full[..full.len() / 2],
    )
    .unwrap();

    let report = w.run("clicks").await;
    assert_eq!(report.status, "succeeded", "{report:?}");
    assert_eq!(report.files_read, 2);
    assert_eq!(
        report.rows_landed, 2,
        "only the good file's rows: {report:?}"
    );
    assert_eq!(
        report.quarantined_by_reason.get("unreadable_file"),
        Some(&1),
        "{report:?}"
    );
    let quarantined = w.rows("interactions", Area::Quarantine).await;
    let text = format!("{quarantined:?}");
    assert!(
        text.contains("cut.csv.gz") && text.contains("sha256"),
        "{text}"
    );

    // The next run reads neither file again.
    let again = w.run("clicks").await;
    assert_eq!(again.status, "succeeded");
    assert_eq!((again.files_read, again.rows_landed), (0, 0), "{again:?}");
}

/// One text rule for files and the API: a NUL in any text, or a control character in an id,
/// is quarantined as `invalid_text` (the events API refuses the same values).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nul_and_control_characters_in_ids_are_quarantined() {
    let w = World::new().await;
    let mut csv = String::from(HEADER);
    csv.push_str(&event("e1", "2024-03-01"));
    csv.push_str("e2,u\u{0}1,i1,view,1,2024-03-01T10:00:00Z,s1,\n");
    csv.push_str("e3,u1,i\u{7}1,view,1,2024-03-01T10:00:00Z,s1,\n");
    w.drop_file("clicks", "a.csv", &csv);
    let r = w.run("clicks").await;
    assert_eq!((r.rows_landed, r.rows_quarantined), (1, 2), "{r:?}");
    assert_eq!(r.quarantined_by_reason.get("invalid_text"), Some(&2));
    let quarantine = w.rows("interactions", Area::Quarantine).await;
    let mut fields = strings(&quarantine, "field");
    fields.sort();
    assert_eq!(fields, ["item_id", "user_id"]);
}

/// Times before `plausible_since` (1990-01-01 by default) are `out_of_range`, not a
/// `dt=0000-01-01` partition; a line that is not UTF-8 keeps its bytes (hex) in quarantine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn implausible_times_and_non_utf8_lines_are_quarantined_with_what_arrived() {
    let w = World::new().await;
    let mut ndjson = Vec::new();
    ndjson.extend_from_slice(
        br#"{"item_id":"i1","title":"Mug","updated_at":"2024-05-01T00:00:00Z"}"#,
    );
    ndjson.extend_from_slice(b"\n");
    ndjson.extend_from_slice(
        br#"{"item_id":"i2","title":"Old","updated_at":"0000-01-01T00:00:00Z"}"#,
    );
    ndjson.extend_from_slice(b"\n{\"item_id\":\"i3\",\"title\":\"\xff\xfe\"}\r\n");
    std::fs::write(w.landing.join("catalog/items.ndjson"), &ndjson).unwrap();
    let r = w.run("catalog").await;
    assert_eq!(r.rows_landed, 1, "{r:?}");
    assert_eq!(r.quarantined_by_reason.get("out_of_range"), Some(&1));
    assert_eq!(r.quarantined_by_reason.get("malformed_record"), Some(&1));
    let quarantine = w.rows("items", Area::Quarantine).await;
    let details = strings(&quarantine, "detail");
    assert!(
        details.iter().any(|d| d.contains("before 1990-01-01")),
        "{details:?}"
    );
    let raw = strings(&quarantine, "raw");
    let bad = hex::encode(b"{\"item_id\":\"i3\",\"title\":\"\xff\xfe\"}");
    assert!(raw.contains(&bad), "{raw:?}");

    // The same for a CSV record: its fields, joined by the delimiter, hex-encoded; the
    // record beside it lands.
    let mut csv = HEADER.as_bytes().to_vec();
    csv.extend_from_slice(event("e1", "2024-03-01").as_bytes());
    csv.extend_from_slice(b"e2,u\xff1,i1,view,1,2024-03-01T10:00:00Z,s1,\n");
    std::fs::write(w.landing.join("clicks/bytes.csv"), &csv).unwrap();
    let r = w.run("clicks").await;
    assert_eq!(r.rows_landed, 1, "{r:?}");
    assert_eq!(r.quarantined_by_reason.get("malformed_record"), Some(&1));
    let quarantine = w.rows("interactions", Area::Quarantine).await;
    let (raw, details) = (strings(&quarantine, "raw"), strings(&quarantine, "detail"));
    let bad = hex::encode(b"e2,u\xff1,i1,view,1,2024-03-01T10:00:00Z,s1,");
    assert_eq!(raw, [bad], "{details:?}");
    assert!(details[0].contains("not UTF-8"), "{details:?}");
}

/// A sales pipeline `name` over its own landing folder, with `extra` TOML lines.
fn sales_pipeline(w: &World, name: &str, extra: &str) {
    let landing = w.landing.join(name);
    std::fs::create_dir_all(&landing).unwrap();
    let toml = format!(
        "name = \"{name}\"\ndataset = \"sales\"\n{extra}\n[source]\ntype = \"files\"\n\
         url = \"file://{}\"\npattern = \"*.csv\"\n",
        landing.display()
    );
    let dir = PathBuf::from(&w.env.settings.pipelines_dir);
    std::fs::write(dir.join(format!("{name}.toml")), toml).unwrap();
}

const SALES_HEADER: &str = "date,item_id,store_id,quantity\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_key_with_other_values_is_quarantined_not_dropped() {
    let w = World::new().await;
    sales_pipeline(&w, "tills", "");
    // A till export keyed by day: the same row twice is a duplicate, a second sale of the
    // same item and store that day is not.
    let rows = "2024-05-01,A,S1,3\n2024-05-01,A,S1,3\n2024-05-01,A,S1,5\n2024-05-01,B,S1,2\n";
    w.drop_file("tills", "1.csv", &format!("{SALES_HEADER}{rows}"));
    let r = w.run("tills").await;
    assert_eq!(
        (r.rows_landed, r.duplicates_in_run, r.rows_quarantined),
        (2, 1, 1),
        "{r:?}"
    );
    assert_eq!(
        r.quarantined_by_reason.get("conflicting_duplicate"),
        Some(&1)
    );
    let quarantine = w.rows("sales", Area::Quarantine).await;
    assert_eq!(strings(&quarantine, "field"), ["date,item_id,store_id"]);
    let detail = &strings(&quarantine, "detail")[0];
    assert!(
        detail.contains("date=2024-05-01, item_id=A, store_id=S1")
            && detail.contains("landed earlier in this run")
            && detail.contains("dedup_key"),
        "{detail}"
    );
    let raw: serde_json::Value = serde_json::from_str(&strings(&quarantine, "raw")[0]).unwrap();
    assert_eq!(raw["quantity"], 5.0, "{raw}");
    assert_eq!(raw["item_id"], "A", "{raw}");
    assert!(strings(&quarantine, "source")[0].ends_with("1.csv"));
    assert_eq!(lines(&quarantine), [Some(4)], "the conflicting row's line");

    // A later export restating a landed day: the repeat is a duplicate of the lake's row,
    // the restated figure is quarantined, and the lake keeps the first figure.
    w.drop_file(
        "tills",
        "2.csv",
        &format!("{SALES_HEADER}2024-05-01,B,S1,4\n2024-05-01,B,S1,2\n"),
    );
    let r = w.run("tills").await;
    assert_eq!(
        (r.rows_landed, r.duplicates, r.rows_quarantined),
        (0, 1, 1),
        "{r:?}"
    );
    let quarantine = w.rows("sales", Area::Quarantine).await;
    let details = strings(&quarantine, "detail");
    assert!(
        details.iter().any(|d| d.contains("is already in the lake")),
        "{details:?}"
    );
    let mut landed_lines = lines(&quarantine);
    landed_lines.sort();
    assert_eq!(landed_lines, [Some(2), Some(4)]);
    let mut quantities = numbers(&w.rows("sales", Area::Datasets).await, "quantity");
    quantities.sort_by(f64::total_cmp);
    assert_eq!(quantities, [2.0, 3.0]);

    // `conflicts = "drop"`: the key alone decides, as a pipeline may ask.
    sales_pipeline(&w, "daily", "conflicts = \"drop\"");
    w.drop_file(
        "daily",
        "1.csv",
        &format!("{SALES_HEADER}2024-05-02,A,S1,3\n2024-05-02,A,S1,5\n"),
    );
    let r = w.run("daily").await;
    assert_eq!(
        (r.rows_landed, r.duplicates_in_run, r.rows_quarantined),
        (1, 1, 0),
        "{r:?}"
    );
}

/// The shipped `users` pipeline reads a CRM export of every account with its modification
/// time: a changed account lands as a new version beside the old one (the signup time kept),
/// an unchanged one is a duplicate, two different rows of one account at one time are
/// quarantined with their line, and an export without the modification time still lands.
#[tokio::test]
async fn a_changed_user_lands_as_a_new_version_of_the_account() {
    let w = World::new().await;
    let landing = w.landing.join("users");
    std::fs::create_dir_all(&landing).unwrap();
    let shipped =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/users.toml"))
            .unwrap();
    let spec = shipped.replace(
        "file://data/landing/users",
        &format!("file://{}", landing.display()),
    );
    assert_ne!(spec, shipped, "the shipped landing url moved");
    std::fs::write(w.env.path().join("pipelines/users.toml"), spec).unwrap();
    const HEADER: &str = "user_id,signup_time,segment,region,updated_at\n";
    w.drop_file(
        "users",
        "1.csv",
        &format!(
            "{HEADER}u1,2024-01-05 10:00:00,casual,north,2024-01-05 10:00:00\n\
             u2,2024-02-01 09:00:00,loyal,south,2024-02-01 09:00:00\n"
        ),
    );
    let r = w.run("users").await;
    assert_eq!((r.rows_landed, r.rows_quarantined), (2, 0), "{r:?}");
    w.drop_file(
        "users",
        "2.csv",
        &format!(
            "{HEADER}u1,2024-01-05 10:00:00,premium,north,2024-06-01 12:00:00\n\
             u2,2024-02-01 09:00:00,loyal,south,2024-02-01 09:00:00\n\
             u3,2024-06-01 08:00:00,casual,west,2024-06-01 08:00:00\n\
             u3,2024-06-01 08:00:00,casual,east,2024-06-01 08:00:00\n"
        ),
    );
    let r = w.run("users").await;
    assert_eq!(
        (r.rows_landed, r.duplicates, r.rows_quarantined),
        (2, 1, 1),
        "{r:?}"
    );
    let quarantine = w.rows("users", Area::Quarantine).await;
    assert_eq!(strings(&quarantine, "reason"), ["conflicting_duplicate"]);
    assert_eq!(strings(&quarantine, "field"), ["user_id,updated_at"]);
    assert_eq!(lines(&quarantine), [Some(5)]);

    // An export from a CRM that keeps no modification time: its rows land with a null one.
    std::fs::write(
        landing.join("3.csv"),
        "user_id,signup_time,segment,region\nu4,2024-07-01 10:00:00,loyal,north\n",
    )
    .unwrap();
    let r = w.run("users").await;
    assert_eq!(r.rows_landed, 1, "{r:?}");

    let users = crate::common::user_rows(&w.rows("users", Area::Datasets).await);
    let u1: Vec<_> = users.iter().filter(|u| u.user_id == "u1").collect();
    assert_eq!(u1.len(), 2, "both versions of u1 are kept: {users:?}");
    assert!(
        u1.iter().all(|u| u.created_at == u1[0].created_at),
        "the signup time is kept"
    );
    let newest = u1.iter().max_by_key(|u| u.updated_at).unwrap();
    assert_eq!(newest.segment, "premium");
    let u4 = users.iter().find(|u| u.user_id == "u4").unwrap();
    assert_eq!(u4.updated_at, None);
    assert_eq!(users.len(), 5, "{users:?}");
}
