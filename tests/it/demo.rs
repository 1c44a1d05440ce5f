//! `recast demo` as a newcomer runs it: an empty directory, embedded defaults, one command.
//! The world must land in all four datasets with its bad rows in quarantine, and a second
//! run in the same directory must land nothing new.

use std::collections::HashMap;
use std::path::Path;
use std::process::Output;

use recast::config::{Settings, Sources};
use recast::db::Db;
use recast::lake::{Area, Lake, Scan};

use crate::common::fresh_database_url;

const PIPELINES: [&str; 4] = ["interactions", "sales", "items", "users"];

fn demo(dir: &Path, db_url: &str) -> Output {
    crate::common::recast_command(dir)
        .env("RECAST_DATABASE_URL", db_url)
        .args([
            "demo", "--users", "200", "--items", "50", "--days", "60", "--seed", "7",
        ])
        .output()
        .unwrap()
}

fn number(cell: &str) -> u64 {
    cell.replace(',', "")
        .parse()
        .unwrap_or_else(|_| panic!("not a count: {cell:?}"))
}

/// Rows of the table that follows the line `title`, by first cell.
fn table_after(stdout: &str, title: &str) -> HashMap<String, Vec<String>> {
    let mut lines = stdout.lines().skip_while(|l| !l.starts_with(title)).skip(1);
    let mut rows = HashMap::new();
    for line in lines.by_ref() {
        if line.trim().is_empty() {
            break;
        }
        if !line.starts_with('│') {
            continue;
        }
        let cells: Vec<String> = line
            .split(['│', '┆'])
            .map(|c| c.trim().to_string())
            .filter(|c| !c.is_empty())
            .collect();
        if let Some(first) = cells.first() {
            rows.insert(first.clone(), cells);
        }
    }
    rows
}

async fn committed(lake: &Lake, dataset: &str, area: Area) -> (usize, u64) {
    let files = lake
        .files(&Scan::dataset(dataset).in_area(area))
        .await
        .unwrap();
    (files.len(), files.iter().map(|f| f.rows).sum())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_lands_every_dataset_quarantines_bad_rows_and_reruns_idempotently() {
    let dir = tempfile::tempdir().unwrap();
    let db_url = fresh_database_url(dir.path()).await;

    let out = demo(dir.path(), &db_url);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let landing = table_after(&stdout, "Landing zone");
    let pipelines = table_after(&stdout, "Pipelines");
    for name in PIPELINES {
        let p = pipelines
            .get(name)
            .unwrap_or_else(|| panic!("pipeline {name} missing from the summary:\n{stdout}"));
        let (landed, quarantined, duplicates) = (number(&p[4]), number(&p[5]), number(&p[6]));
        assert!(landed > 0 && quarantined > 0, "{name}: {p:?}");
        // Every injected bad row is quarantined, every injected duplicate dropped, every
        // clean row landed.
        let l = &landing[name];
        assert_eq!(
            (landed, quarantined, duplicates),
            (number(&l[4]), number(&l[5]), number(&l[6])),
            "{name}: pipeline {p:?} vs generated {l:?}"
        );
    }
    let key = stdout
        .lines()
        .find_map(|l| l.strip_prefix("Admin key (shown once, store it now): "))
        .expect("admin key printed");
    assert!(key.starts_with("rk_"), "{key}");
    assert!(stdout.contains("curl"), "{stdout}");
    assert!(dir.path().join("pipelines/interactions.toml").exists());

    // The lake has what the summary says.
    let sources = Sources {
        file: None,
        env: vec![
            ("RECAST_DATABASE_URL".into(), db_url.clone()),
            (
                "RECAST_LAKE_URL".into(),
                format!("file://{}", dir.path().join("data/lake").display()),
            ),
        ],
        overrides: Vec::new(),
    };
    let settings = Settings::load(&sources).unwrap();
    let db = Db::open(&db_url).await.unwrap();
    let lake = Lake::open(&settings, db.clone()).await.unwrap();
    let mut before = HashMap::new();
    for name in PIPELINES {
        let (files, rows) = committed(&lake, name, Area::Datasets).await;
        assert!(files > 0, "{name}: no committed files");
        assert_eq!(
            rows,
            number(&pipelines[name][4]),
            "{name}: rows in the lake"
        );
        let (qfiles, qrows) = committed(&lake, name, Area::Quarantine).await;
        assert!(qfiles > 0 && qrows == number(&pipelines[name][5]), "{name}");
        before.insert(name, (files, rows));
    }

    // The demo trained and compared the recommenders and promoted the best by NDCG.
    let mut recommenders = table_after(&stdout, "Recommenders");
    recommenders.remove("model"); // the header row
    let mut promoted = Vec::new();
    for (name, row) in &recommenders {
        let ndcg: f64 = row[1].parse().unwrap();
        assert!((0.0..=1.0).contains(&ndcg), "{row:?}");
        // Evaluated users, flagged when too few for the figures to mean anything.
        let users: usize = row[7].split_whitespace().next().unwrap().parse().unwrap();
        assert_eq!(row[7].contains("not meaningful"), users < 50, "{row:?}");
        if name.ends_with("(promoted)") {
            promoted.push((name.clone(), ndcg, row[8].clone()));
        }
    }
    let kinds: Vec<&str> = recommenders
        .keys()
        .map(|n| n.trim_end_matches(" (promoted)"))
        .collect();
    for kind in ["popularity", "item-knn", "als", "ease", "hybrid"] {
        assert!(kinds.contains(&kind), "{kind} missing:\n{stdout}");
    }
    assert_eq!(promoted.len(), 1, "{stdout}");
    let (_, best_ndcg, version) = promoted.pop().unwrap();
    for row in recommenders.values() {
        assert!(row[1].parse::<f64>().unwrap() <= best_ndcg, "{row:?}");
    }
    assert!(stdout.contains("Forecasts: "), "{stdout}");

    // `recast serve` in the same directory answers recommendations and forecasts at once.
    let port = crate::common::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = crate::common::recast_command(dir.path())
        .env("RECAST_DATABASE_URL", &db_url)
        .env("RECAST_LISTEN", format!("127.0.0.1:{port}"))
        .arg("serve")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    crate::common::wait_healthy(&base, &mut server).await;
    let client = reqwest::Client::new();
    let get = |path: String| client.get(format!("{base}{path}")).bearer_auth(key).send();
    let res = get("/v1/users/u00001/recommendations?k=5".into())
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let recs: serde_json::Value = res.json().await.unwrap();
    assert_eq!(recs["model_version"], version.as_str(), "{recs}");
    assert_eq!(recs["items"].as_array().unwrap().len(), 5, "{recs}");
    let res = get("/v1/forecasts?limit=1".into()).await.unwrap();
    assert_eq!(res.status(), 200);
    let page: serde_json::Value = res.json().await.unwrap();
    let series = page["series"][0]["series_id"]
        .as_str()
        .expect("a forecast series")
        .to_string();
    let encoded = url::form_urlencoded::byte_serialize(series.as_bytes()).collect::<String>();
    let res = get(format!("/v1/forecasts/{encoded}")).await.unwrap();
    assert_eq!(res.status(), 200);
    let forecast: serde_json::Value = res.json().await.unwrap();
    assert!(
        !forecast["points"].as_array().unwrap().is_empty(),
        "{forecast}"
    );
    // Features were materialized: some demo user has present online values.
    assert!(stdout.contains("Feature store"), "{stdout}");
    let res = client
        .post(format!("{base}/v1/features/online"))
        .bearer_auth(key)
        .json(&serde_json::json!({
            "features": ["user_activity:events_30d", "item_popularity:views_30d"],
            "entities": (1..=50).map(|u| serde_json::json!({
                "user_id": format!("u{u:05}"), "item_id": format!("i{u:05}")
            })).collect::<Vec<_>>(),
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let online: serde_json::Value = res.json().await.unwrap();
    let present = |view: &str, label: &str| {
        online["results"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["views"][view]["status"] == "present" && r["features"][label].is_number())
            .count()
    };
    assert!(
        present("user_activity", "user_activity:events_30d") > 0,
        "{online}"
    );
    assert!(
        present("item_popularity", "item_popularity:views_30d") > 0,
        "{online}"
    );
    let status = crate::common::terminate(&mut server, std::time::Duration::from_secs(30)).await;
    assert!(status.success(), "{status:?}");

    // Again in the same directory: files kept, nothing new landed.
    let out = demo(dir.path(), &db_url);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("already there and was kept"), "{stdout}");
    assert!(stdout.contains("keeping the promoted versions"), "{stdout}");
    let pipelines = table_after(&stdout, "Pipelines");
    for name in PIPELINES {
        assert_eq!(number(&pipelines[name][4]), 0, "{name} landed again");
        assert_eq!(committed(&lake, name, Area::Datasets).await, before[name]);
    }
    db.close().await;
}
