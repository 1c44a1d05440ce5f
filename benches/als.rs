//! ALS: seconds per iteration and held-out NDCG@10, ours next to the `implicit` library on the
//! same synthetic data, split and hyper-parameters, at 64 and 128 factors.
//!
//!     cargo bench --bench als
//!     RECAST_BENCH_USERS=50000 RECAST_BENCH_ITEMS=10000 cargo bench --bench als
//!
//! Each side is fitted `RECAST_BENCH_REPEATS` times (default 3), interleaved, and the fastest
//! fit of each is reported, with the ratio.
//!
//! The data: users belong to one of 50 taste groups and interact with ~30 items drawn mostly
//! from their group (Zipf-popular within the group) plus random noise; each user's last 2
//! group items are held out. Both sides get confidence 1 + alpha·r (implicit is handed that
//! value with its own alpha at 1), the same regularization, iterations and 3 CG steps
//! (implicit's CPU solver fixes 3; ours is `AlsParams::cg_steps`).
//! Both run on the same thread count (rayon's, handed to implicit as `num_threads`, with
//! OpenBLAS single-threaded as implicit asks). Needs a Python with `implicit` for the comparison
//! (skipped with a note otherwise): `RECAST_BENCH_PYTHON` (default `python3`), e.g.
//!
//!     python3 -m venv /root/.venvs/recast-rec && /root/.venvs/recast-rec/bin/pip install implicit numpy scipy
//!     RECAST_BENCH_PYTHON=/root/.venvs/recast-rec/bin/python cargo bench --bench als
//!
//! The Python side is `references/recommend/compare_implicit.py`.

#[path = "common/knobs.rs"]
mod knobs;
use knobs::env_or;

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use rand::{Rng, SeedableRng};
use recast::recommend::als::{AlsModel, AlsParams};
use recast::recommend::data::matrix_from_triplets;
use recast::recommend::eval;

const GROUPS: usize = 50;

type Triplets = Vec<(usize, usize, f64)>;

fn generate(users: usize, items: usize) -> (Triplets, Vec<(u32, HashSet<u32>)>) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(2024);
    let per_group = items / GROUPS;
    assert!(
        per_group >= 8,
        "need at least {} items ({GROUPS} groups of 8)",
        GROUPS * 8
    );
    // Up to 28 of the group's items per user (fewer when groups are small): the last 2 held out.
    let wanted = 28.min(per_group * 3 / 4);
    let mut train = Vec::new();
    let mut test = Vec::new();
    for u in 0..users {
        let g = u % GROUPS;
        let mut mine: Vec<usize> = Vec::new();
        while mine.len() < wanted {
            // Zipf-like within the group: low ranks are much more popular.
            let r = ((rng.random::<f64>().powi(3)) * per_group as f64) as usize;
            let i = g * per_group + r.min(per_group - 1);
            if !mine.contains(&i) {
                mine.push(i);
            }
        }
        let mut seen: HashSet<usize> = HashSet::new();
        for &i in &mine[..wanted - 2] {
            let v = [1.0, 2.0, 4.0, 8.0][rng.random_range(0..4)];
            train.push((u, i, v));
            seen.insert(i);
        }
        for _ in 0..4 {
            let i = rng.random_range(0..items);
            if seen.insert(i) {
                train.push((u, i, 1.0));
            }
        }
        let held: HashSet<u32> = mine[wanted - 2..]
            .iter()
            .filter(|i| !seen.contains(i))
            .map(|&i| i as u32)
            .collect();
        if !held.is_empty() {
            test.push((u as u32, held));
        }
    }
    (train, test)
}

fn write_csv(path: &Path, rows: impl Iterator<Item = (usize, usize, f64)>) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(f, "user,item,value").unwrap();
    for (u, i, v) in rows {
        writeln!(f, "{u},{i},{v}").unwrap();
    }
}

fn implicit_side(
    dir: &Path,
    p: &AlsParams,
    users: usize,
    items: usize,
) -> Option<serde_json::Value> {
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("references/recommend/compare_implicit.py");
    let python = std::env::var("RECAST_BENCH_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(python)
        .env("OPENBLAS_NUM_THREADS", "1")
        .arg(script)
        .arg(dir)
        .args(["--users", &users.to_string(), "--items", &items.to_string()])
        .args([
            "--factors",
            &p.factors.to_string(),
            "--iterations",
            &p.iterations.to_string(),
        ])
        .args([
            "--regularization",
            &p.regularization.to_string(),
            "--alpha",
            &p.alpha.to_string(),
            "--threads",
            &rayon::current_num_threads().to_string(),
        ])
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!(
            "implicit comparison skipped: {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        );
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

fn main() {
    let users = env_or("RECAST_BENCH_USERS", 20_000);
    let items = env_or("RECAST_BENCH_ITEMS", 5_000);
    let iterations = env_or("RECAST_BENCH_ITERATIONS", 10);
    let repeats = env_or("RECAST_BENCH_REPEATS", 3).max(1);
    let dir = tempfile::tempdir().unwrap();
    let (train, test) = generate(users, items);
    write_csv(&dir.path().join("train.csv"), train.iter().copied());
    write_csv(
        &dir.path().join("test.csv"),
        test.iter()
            .flat_map(|(u, s)| s.iter().map(move |&i| (*u as usize, i as usize, 1.0))),
    );
    let x = matrix_from_triplets(users, items, &train);
    println!(
        "ALS bench: {users} users, {items} items, {} train nnz, {} test users, {iterations} iterations, {} threads, best of {repeats} fits per side",
        x.nnz(),
        test.len(),
        rayon::current_num_threads()
    );
    println!(
        "| factors | ours s/iter | implicit s/iter | ours / implicit | ours NDCG@10 | implicit NDCG@10 | NDCG diff |"
    );
    println!("|---|---|---|---|---|---|---|");
    for factors in [64, 128] {
        let params = AlsParams {
            factors,
            iterations,
            regularization: 0.05,
            alpha: 2.0,
            ..Default::default()
        };
        // Both sides fit `repeats` times, interleaved, and the fastest run of each counts: a
        // shared two-core VM is noisy, and the minimum is the figure least disturbed by it.
        let mut ours_spi = f64::INFINITY;
        let mut model = None;
        let mut theirs: Option<serde_json::Value> = None;
        let mut t_spi = f64::NAN;
        for _ in 0..repeats {
            let start = Instant::now();
            let fitted = AlsModel::fit(&x, &params, |_| true).unwrap();
            ours_spi = ours_spi.min(start.elapsed().as_secs_f64() / iterations as f64);
            model = Some(fitted);
            if let Some(v) = implicit_side(dir.path(), &params, users, items) {
                let spi = v["seconds_per_iteration"].as_f64().unwrap_or(f64::NAN);
                t_spi = if t_spi.is_nan() { spi } else { t_spi.min(spi) };
                theirs = Some(v);
            }
        }
        let model = model.expect("at least one repeat");
        let m = eval::evaluate(
            |u| model.score_vector(model.user_vector(u).unwrap()),
            &x,
            &test,
            10,
        );
        let t_ndcg = theirs
            .as_ref()
            .map(|v| v["ndcg"].as_f64().unwrap_or(f64::NAN))
            .unwrap_or(f64::NAN);
        println!(
            "| {factors} | {ours_spi:.3} | {t_spi:.3} | {:.2}x | {:.4} | {t_ndcg:.4} | {:+.2} % |",
            ours_spi / t_spi,
            m.ndcg,
            (m.ndcg / t_ndcg - 1.0) * 100.0
        );
    }
}
