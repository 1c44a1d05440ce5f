//! Recommendation accuracy on public data recast was not tuned to: MovieLens latest-small
//! (`../shared/data/movielens-latest-small`, read only), every rating one implicit
//! interaction. Per-user temporal split: each user's last 10 interactions are the test set
//! (every user there has at least 20), full ranking, training items excluded; NDCG@10 and
//! Recall@10.
//!
//! recast's side goes through its own training code (`recommend::tune::search` on a
//! validation split cut from the training part, then `recommend::fit::train_with`, the
//! functions `recast train recommender --test-per-user 10 --tune N` runs after reading the
//! lake). The peers (numpy EASE, implicit ALS and item-kNN, each tuned on the same
//! validation protocol) run in the same invocation through
//! `references/recommend/movielens_peers.py`, with `OPENBLAS_CORETYPE` and
//! `OPENBLAS_L2_SIZE` unset for that process only.
//!
//!     RECAST_BENCH_PYTHON=/root/.venvs/recast-ease/bin/python cargo bench --bench movielens
//!
//! Knobs: `RECAST_BENCH_TRIALS` (search budget per model, default 8), `RECAST_BENCH_PYTHON`
//! (a Python with numpy, scipy and implicit; the peers are skipped with a note otherwise).
//! Goal (issue): recast's best model at least 1.05x the best peer's NDCG@10.

#[path = "common/knobs.rs"]
mod knobs;
use knobs::env_or;

use std::path::PathBuf;
use std::time::Instant;

use recast::recommend::artifact::ModelKind;
use recast::recommend::data::{Interaction, ItemRecord};
use recast::recommend::fit::train_with;
use recast::recommend::params::TrainParams;
use recast::recommend::signals::FeatureTimeline;

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/movielens-latest-small")
}

fn interactions(text: &str) -> Vec<Interaction> {
    text.lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            Interaction {
                user_id: format!("u{}", f[0]),
                item_id: format!("m{}", f[1]),
                event_type: "view".into(),
                weight: 1.0,
                ts: f[3].parse::<i64>().unwrap() * 1_000_000,
            }
        })
        .collect()
}

/// Movies with their genres as category (the first) and tags, for the content model.
fn catalogue(text: &str) -> Vec<ItemRecord> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let id = line.split(',').next()?;
            let genres = line.rsplit(',').next()?;
            let title = line[id.len() + 1..line.len() - genres.len() - 1].trim_matches('"');
            let tags: Vec<String> = genres.split('|').map(str::to_string).collect();
            Some(ItemRecord {
                item_id: format!("m{id}"),
                title: title.to_string(),
                description: None,
                category: tags.first().cloned(),
                brand: None,
                tags,
                price: None,
                active: true,
                updated_at: 0,
            })
        })
        .collect()
}

struct Row {
    name: String,
    ndcg: f64,
    recall: f64,
    note: String,
}

fn ours(events: &[Interaction], items: &[ItemRecord], trials: usize) -> Vec<Row> {
    let progress = recast::progress::none();
    let mut rows = Vec::new();
    for model in [
        ModelKind::Popularity,
        ModelKind::Trending,
        ModelKind::ItemKnn,
        ModelKind::Als,
        ModelKind::Ease,
        ModelKind::Content,
        ModelKind::Hybrid,
    ] {
        let p = TrainParams {
            model,
            k: 10,
            test_per_user: Some(10),
            item_features: Vec::new(),
            user_feature: None,
            ..TrainParams::default()
        };
        let started = Instant::now();
        let features = FeatureTimeline::default();
        let (best, search) =
            recast::recommend::tune::search(events, items, &features, &p, trials, &progress)
                .expect("search");
        let tuned_s = started.elapsed().as_secs_f64();
        let fit_started = Instant::now();
        let trained = train_with(events, items, &features, &best, &progress).expect("train");
        let fit_s = fit_started.elapsed().as_secs_f64();
        if model == ModelKind::Ease {
            ease_fit_time(events, items, &best);
        }
        let setting = &search.trials[search.best].params;
        eprintln!(
            "recast {}: {setting} ({tuned_s:.1} s search, {fit_s:.1} s fit+eval)",
            model.as_str()
        );
        rows.push(Row {
            name: format!("recast {}", model.as_str()),
            ndcg: trained.metrics.ndcg,
            recall: trained.metrics.recall,
            note: format!(
                "{setting}; {} users; fit+eval {fit_s:.1} s",
                trained.metrics.users
            ),
        });
    }
    rows
}

/// One EASE fit on all the data with the chosen settings, timed alone (`train_with` fits
/// twice: on the holdout split and on everything), next to the numpy peer's one fit.
fn ease_fit_time(events: &[Interaction], items: &[ItemRecord], p: &TrainParams) {
    use recast::recommend::data::{IdMap, MatrixOptions, build_matrix};
    let ids = IdMap::from_ids(items.iter().map(|r| r.item_id.clone()).collect());
    let now = events.iter().map(|e| e.ts).max().unwrap_or(0);
    let m = build_matrix(events, ids, &MatrixOptions::default(), now);
    let started = Instant::now();
    recast::recommend::ease::fit(&m.matrix, &p.ease()).expect("EASE fit");
    println!(
        "recast ease: one fit on all data, {} items: {:.1} s",
        m.items.len(),
        started.elapsed().as_secs_f64()
    );
}

fn peers(python: &str, threads: usize) -> Option<Vec<Row>> {
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("references/recommend/movielens_peers.py");
    let out = knobs::peer_command(python, &script)
        .arg(data_dir().join("ratings.csv"))
        .arg(threads.to_string())
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!("peers skipped: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    Some(
        list.as_array()?
            .iter()
            .map(|p| Row {
                name: p["peer"].as_str().unwrap_or_default().to_string(),
                ndcg: p["ndcg"].as_f64().unwrap_or(f64::NAN),
                recall: p["recall"].as_f64().unwrap_or(f64::NAN),
                note: format!(
                    "{}; {} users; fit {:.1} s",
                    p["setting"],
                    p["users"],
                    p["fit_seconds"].as_f64().unwrap_or(f64::NAN)
                ),
            })
            .collect(),
    )
}

fn main() {
    let dir = data_dir();
    let (Ok(ratings), Ok(movies)) = (
        std::fs::read_to_string(dir.join("ratings.csv")),
        std::fs::read_to_string(dir.join("movies.csv")),
    ) else {
        eprintln!("movielens: {} not found; skipped", dir.display());
        return;
    };
    let trials = env_or("RECAST_BENCH_TRIALS", 8);
    let python = std::env::var("RECAST_BENCH_PYTHON").unwrap_or_else(|_| "python3".into());
    let events = interactions(&ratings);
    let items = catalogue(&movies);
    let threads = rayon::current_num_threads();
    println!(
        "movielens: {} interactions, {} movies, last 10 per user as test, search budget {trials}, {threads} threads",
        events.len(),
        items.len()
    );
    let mine = ours(&events, &items, trials);
    let theirs = peers(&python, threads).unwrap_or_default();
    println!("| model | NDCG@10 | Recall@10 | setting, users, time |");
    println!("|---|---|---|---|");
    for r in mine.iter().chain(&theirs) {
        println!(
            "| {} | {:.4} | {:.4} | {} |",
            r.name, r.ndcg, r.recall, r.note
        );
    }
    let best = |rows: &[Row]| rows.iter().map(|r| r.ndcg).fold(f64::NAN, f64::max);
    if !theirs.is_empty() {
        let ratio = best(&mine) / best(&theirs);
        println!(
            "best recast / best peer NDCG@10: {ratio:.3} (goal at least 1.05: {})",
            if ratio >= 1.05 { "met" } else { "NOT met" }
        );
    }
}
