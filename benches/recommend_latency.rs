//! Per-request cost of a recommendation in-process, without HTTP: the same synthetic ALS
//! model as `serve_load` (100,000 users × 100,000 items × 64 factors), random users, one
//! thread. Splits the time into scoring every item (the factor product) and the rest
//! (top-k under the serving rules, reasons), so a slow `serve_load` run can be traced to
//! its part. The load test needs the whole request well under 1 ms of CPU to hold 2,000
//! req/s on two cores next to the load generator.
//!
//!     cargo bench --bench recommend_latency
//!
//! Then an EASE model at the largest catalog its memory guard allows
//! (`recommend::params::MAX_EASE_ITEMS`, 30,000 items) with the default 200 weights kept per
//! item row: serving cost does not depend on the dense fit, only on the kept weights and the
//! user's history, so the weights are synthetic.
//!
//! Knobs: `RECAST_BENCH_USERS`, `RECAST_BENCH_ITEMS`, `RECAST_BENCH_FACTORS`,
//! `RECAST_BENCH_REQUESTS` (default 3,000).

#[path = "common/knobs.rs"]
mod knobs;
use knobs::{env_or, percentile};

#[path = "common/synthetic_als.rs"]
mod synthetic_als;

use std::time::Instant;

use rand::{Rng, SeedableRng};
use recast::recommend::artifact::Model;
use recast::recommend::ease::{Ease, EaseParams};
use recast::recommend::item_knn::ItemKnn;
use recast::recommend::params::MAX_EASE_ITEMS;
use recast::recommend::serving::{RecommendRequest, ServingModel};
use recast::recommend::sparse::SparseRows;

fn report(name: &str, mut micros: Vec<f64>) {
    micros.sort_by(f64::total_cmp);
    let mean = micros.iter().sum::<f64>() / micros.len() as f64;
    println!(
        "| {name} | {:.0} | {:.0} | {:.0} | {:.0} |",
        mean,
        percentile(&micros, 50.0),
        percentile(&micros, 99.0),
        micros.last().copied().unwrap_or(f64::NAN)
    );
}

/// Times `requests` whole requests for random users of `model`; every answer must fill `k`.
fn whole_requests(model: &ServingModel, users: usize, requests: usize) -> Vec<f64> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(13);
    (0..requests)
        .map(|_| {
            let req = RecommendRequest {
                user_id: format!("u{}", rng.random_range(0..users)),
                k: 10,
                exclude_seen: true,
                ..Default::default()
            };
            let t = Instant::now();
            let out = model.recommend(&req).expect("recommend");
            let micros = t.elapsed().as_secs_f64() * 1e6;
            assert_eq!(out.items.len(), 10);
            micros
        })
        .collect()
}

/// A served EASE model over `items` items: the synthetic catalogue and histories, and
/// `keep` random weights per item row (what a fit keeps for serving).
fn ease_model(users: usize, items: usize, keep: usize) -> ServingModel {
    let mut artifact = synthetic_als::artifact(users, items, 1);
    let mut rng = rand::rngs::StdRng::seed_from_u64(17);
    let rows: Vec<Vec<(u32, f32)>> = (0..items as u32)
        .map(|i| {
            let mut row: Vec<(u32, f32)> = (0..keep)
                .map(|_| (rng.random_range(0..items as u32), rng.random::<f32>() - 0.3))
                .filter(|e| e.0 != i)
                .collect();
            row.sort_by_key(|e| e.0);
            row.dedup_by_key(|e| e.0);
            row
        })
        .collect();
    artifact.model = Model::Ease(Ease {
        weights: ItemKnn {
            neighbours: SparseRows::from_rows(items, &rows),
        },
        items_fitted: items,
    });
    ServingModel::new("bench-ease".into(), artifact)
}

fn main() {
    let users = env_or("RECAST_BENCH_USERS", 100_000);
    let items = env_or("RECAST_BENCH_ITEMS", 100_000);
    let factors = env_or("RECAST_BENCH_FACTORS", 64);
    let requests = env_or("RECAST_BENCH_REQUESTS", 3_000);
    let model = ServingModel::new(
        "bench".into(),
        synthetic_als::artifact(users, items, factors),
    );
    let Model::Als(als) = model.model() else {
        unreachable!("the synthetic model is ALS")
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let picks: Vec<u32> = (0..requests)
        .map(|_| rng.random_range(0..users as u32))
        .collect();
    // Warm-up: page the factors in.
    for u in picks.iter().take(100) {
        std::hint::black_box(als.score_vector(als.user_vector(*u).unwrap()));
    }
    let mut score = Vec::with_capacity(requests);
    for u in &picks {
        let t = Instant::now();
        std::hint::black_box(als.score_vector(als.user_vector(*u).unwrap()));
        score.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let mut whole = Vec::with_capacity(requests);
    for u in &picks {
        let req = RecommendRequest {
            user_id: format!("u{u}"),
            k: 10,
            exclude_seen: true,
            ..Default::default()
        };
        let t = Instant::now();
        let out = model.recommend(&req).expect("recommend");
        whole.push(t.elapsed().as_secs_f64() * 1e6);
        assert_eq!(out.items.len(), 10);
    }
    println!(
        "recommend_latency: {users} users × {items} items × {factors} factors, {requests} requests, one thread"
    );
    println!("| part | mean µs | p50 µs | p99 µs | max µs |");
    println!("|---|---|---|---|---|");
    report("full f32 scan of every item (for comparison)", score);
    report("whole request (k=10, exclude seen)", whole);

    let keep = EaseParams::default().keep;
    let ease = ease_model(users, MAX_EASE_ITEMS, keep);
    whole_requests(&ease, users, 100); // warm-up
    report(
        &format!(
            "EASE, {MAX_EASE_ITEMS} items (the guard's maximum), {keep} weights per row: whole request"
        ),
        whole_requests(&ease, users, requests),
    );
}
