//! Experiments: what assignment, exposure logging and a readout cost.
//!
//!     cargo bench --bench experiments
//!     RECAST_BENCH_USERS=2000000 cargo bench --bench experiments
//!     RECAST_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo bench --bench experiments
//!
//! 1. Assignment: `Experiment::assign`-equivalent (hash + range lookup) per user id.
//! 2. Exposure writes: sequential durable inserts into `experiment_exposures` (one per
//!    recommendation response, on the request path), on a fresh SQLite file (WAL,
//!    synchronous=FULL) or the database in `RECAST_BENCH_DATABASE_URL`.
//! 3. Readout: joining exposures (2 per user) with events (3 per user) into per-user outcomes,
//!    then the full analysis (4 metrics, CUPED, sequential, Holm, SRM) for 2 arms.

#[path = "common/knobs.rs"]
mod knobs;
use knobs::env_or;

use std::time::Instant;

use rand::{Rng, SeedableRng};
use recast::db::experiments::{ExposureRow, insert_exposure};
use recast::experiments::model::{Experiment, ExperimentSpec, Status};
use recast::experiments::results::{Event, analyze, outcomes};

fn experiment() -> Experiment {
    let spec: ExperimentSpec = serde_json::from_value(serde_json::json!({
        "name": "bench",
        "variants": [{"name": "a", "weight": 0.5}, {"name": "b", "weight": 0.5}],
        "pre_period_days": 14
    }))
    .unwrap();
    Experiment {
        id: "bench".into(),
        status: Status::Running,
        salt: "bench".into(),
        spec,
        created_at: 0,
        updated_at: 0,
        started_at: Some(0),
        stopped_at: None,
    }
}

async fn exposure_writes(url: &str, n: usize) -> f64 {
    let db = recast::db::Db::open(url).await.unwrap();
    let run = uuid::Uuid::now_v7().to_string();
    let started = Instant::now();
    for i in 0..n {
        insert_exposure(
            &db,
            &ExposureRow {
                recommendation_id: format!("{run}-{i}"),
                experiment_id: format!("bench-{run}"),
                variant: "a".into(),
                user_id: format!("u{i}"),
                ts: recast::db::now_ms(),
            },
        )
        .await
        .unwrap();
    }
    let secs = started.elapsed().as_secs_f64();
    db.close().await;
    secs
}

#[tokio::main]
async fn main() {
    let users = env_or("RECAST_BENCH_USERS", 1_000_000);
    let writes = env_or("RECAST_BENCH_EXPOSURES", 2_000);
    let exp = experiment();

    // 1. Assignment.
    let ids: Vec<String> = (0..users).map(|i| format!("user-{i}")).collect();
    let started = Instant::now();
    let mut arms = [0usize; 2];
    for id in &ids {
        if let Some(v) = exp.assign(id) {
            arms[v] += 1;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "assignment: {users} users in {:.3} s = {:.0} ns/user (split {} / {})",
        secs,
        secs * 1e9 / users as f64,
        arms[0],
        arms[1]
    );

    // 2. Exposure writes.
    let dir = tempfile::tempdir().unwrap();
    let url = std::env::var("RECAST_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}", dir.path().join("bench.db").display()));
    let secs = exposure_writes(&url, writes).await;
    println!(
        "exposure writes ({}): {writes} sequential durable inserts in {secs:.3} s = {:.3} ms each",
        url.split(':').next().unwrap_or("?"),
        secs * 1e3 / writes as f64
    );

    // 3. Readout.
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let start = 30 * 86_400_000i64;
    let mut exposures = Vec::with_capacity(2 * users);
    let mut events = Vec::with_capacity(3 * users);
    for (i, id) in ids.iter().enumerate() {
        let Some(v) = exp.assign(id) else { continue };
        for k in 0..2 {
            exposures.push(ExposureRow {
                recommendation_id: format!("r{i}-{k}"),
                experiment_id: "bench".into(),
                variant: ["a", "b"][v].into(),
                user_id: id.clone(),
                ts: start + 1000 * k as i64,
            });
        }
        events.push(Event {
            user_id: id.clone(),
            event_type: "click".into(),
            value: None,
            ts: start + 5000,
            recommendation_id: Some(format!("r{i}-0")),
        });
        let buys = rng.random_bool(0.1);
        events.push(Event {
            user_id: id.clone(),
            event_type: if buys { "purchase" } else { "view" }.into(),
            value: Some(rng.random_range(10.0..60.0)),
            ts: start + 6000,
            recommendation_id: None,
        });
        events.push(Event {
            user_id: id.clone(),
            event_type: "purchase".into(),
            value: Some(rng.random_range(0.0..40.0)),
            ts: start - 86_400_000,
            recommendation_id: None,
        });
    }
    let (n_exp, n_ev) = (exposures.len(), events.len());
    let started = Instant::now();
    let per_arm = outcomes(&["a", "b"], &exposures, events, start, 24.0, 14.0);
    let join = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let readout = analyze(&exp, &per_arm, start);
    let stats = started.elapsed().as_secs_f64();
    println!(
        "readout: {users} users, {n_exp} exposures, {n_ev} events: join {join:.3} s, statistics {stats:.3} s ({} comparisons, SRM p = {:.3})",
        readout.comparisons.len(),
        readout.srm.p_value.unwrap_or(f64::NAN)
    );
}
