//! The synthetic ALS model the serving benches load: `users` × `items` × `factors` with
//! Zipf-like item popularity, 5–34 history items per user and one item in 100 inactive, so
//! the serving rules (seen items, inactive items) do real work.

use rand::{Rng, SeedableRng};
use recast::recommend::als::AlsModel;
use recast::recommend::artifact::{ItemMeta, Model, RecommenderArtifact};
use recast::recommend::popularity::Popularity;
use recast::recommend::sparse::SparseRows;

pub fn artifact(users: usize, items: usize, factors: usize) -> RecommenderArtifact {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let meta = (0..items)
        .map(|i| ItemMeta {
            item_id: format!("i{i}"),
            title: format!("Item {i}"),
            category: Some(format!("c{}", i % 50)),
            active: i % 100 != 99,
        })
        .collect();
    // Zipf-like popularity: item i drawn with probability ~ 1/(i+1).
    let draw = |rng: &mut rand::rngs::StdRng| -> u32 {
        let u: f64 = rng.random();
        (((items as f64 + 1.0).powf(u) - 1.0) as usize).min(items - 1) as u32
    };
    let mut counts = vec![0f32; items];
    let rows: Vec<Vec<(u32, f32)>> = (0..users)
        .map(|_| {
            let n = rng.random_range(5..35);
            let mut row: Vec<(u32, f32)> = (0..n)
                .map(|_| (draw(&mut rng), [1.0, 2.0, 4.0, 8.0][rng.random_range(0..4)]))
                .collect();
            row.sort_by_key(|e| e.0);
            row.dedup_by_key(|e| e.0);
            for e in &row {
                counts[e.0 as usize] += 1.0;
            }
            row
        })
        .collect();
    let mut gauss = |n: usize| -> Vec<f32> {
        (0..n)
            .map(|_| (0..4).map(|_| rng.random::<f32>() - 0.5).sum::<f32>() * 0.2)
            .collect()
    };
    let model = AlsModel {
        factors,
        regularization: 0.05,
        alpha: 2.0,
        user_factors: gauss(users * factors),
        item_factors: gauss(items * factors),
        gram: Default::default(),
    };
    RecommenderArtifact {
        items: meta,
        users: (0..users).map(|u| format!("u{u}")).collect(),
        history_actions: rows
            .iter()
            .flat_map(|r| r.iter().map(|e| if e.1 >= 8.0 { 4 } else { 0 }))
            .collect(),
        history_last: rows.iter().flat_map(|r| r.iter().map(|_| 0)).collect(),
        history_half_life: None,
        event_weights: Default::default(),
        history: SparseRows::from_rows(items, &rows),
        popularity: Popularity {
            trending: counts.iter().map(|c| c * 0.5).collect(),
            popularity: counts,
        },
        model: Model::Als(model),
    }
}
