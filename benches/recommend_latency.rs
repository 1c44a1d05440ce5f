//! Per-request cost of a recommendation in-process, without HTTP: the same synthetic ALS
//! model as `serve_load` (100,000 users × 100,000 items × 64 factors), random users, one
//! thread. Splits the time into scoring every item (the factor product) and the rest
//! (top-k under the serving rules, reasons), so a slow `serve_load` run can be traced to
//! its part. The load test needs the whole request well under 1 ms of CPU to hold 2,000
//! req/s on two cores next to the load generator.
//!
//!     cargo bench --bench recommend_latency
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
use recast::recommend::serving::{RecommendRequest, ServingModel};

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
}
