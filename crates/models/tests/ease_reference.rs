//! EASE against numpy on public data: the weights of `references/recommend/ease.json`
//! (made by `references/recommend/make_ease_fixtures.py`) recomputed from MovieLens
//! latest-small in `../shared/data`. Skipped, saying so, when that folder is absent.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use recast_models::recommend::data::matrix_from_triplets;
use recast_models::recommend::ease::{EaseParams, dense_weights};

fn ratings() -> Option<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/movielens-latest-small/ratings.csv");
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(e) => {
            eprintln!("skipped: cannot read {}: {e}", path.display());
            None
        }
    }
}

#[test]
fn ease_weights_equal_numpy_on_movielens() {
    let Some(text) = ratings() else { return };
    let fixture: serde_json::Value =
        serde_json::from_str(include_str!("../../../references/recommend/ease.json")).unwrap();
    let min_ratings = fixture["min_ratings"].as_u64().unwrap() as usize;
    let pairs: BTreeSet<(u32, u32)> = text
        .lines()
        .skip(1)
        .map(|line| {
            let mut f = line.split(',');
            let user = f.next().unwrap().parse().unwrap();
            let movie = f.next().unwrap().parse().unwrap();
            (user, movie)
        })
        .collect();
    let mut counts: BTreeMap<u32, usize> = BTreeMap::new();
    for &(_, m) in &pairs {
        *counts.entry(m).or_default() += 1;
    }
    let movies: Vec<u32> = counts
        .iter()
        .filter(|&(_, &c)| c >= min_ratings)
        .map(|(&m, _)| m)
        .collect();
    let col: HashMap<u32, usize> = movies.iter().enumerate().map(|(j, &m)| (m, j)).collect();
    let users: BTreeSet<u32> = pairs
        .iter()
        .filter(|p| col.contains_key(&p.1))
        .map(|p| p.0)
        .collect();
    let row: HashMap<u32, usize> = users.iter().enumerate().map(|(i, &u)| (u, i)).collect();
    let triplets: Vec<(usize, usize, f64)> = pairs
        .iter()
        .filter_map(|(u, m)| {
            let j = *col.get(m)?;
            Some((row[u], j, 1.0))
        })
        .collect();
    let x = matrix_from_triplets(users.len(), movies.len(), &triplets);
    assert_eq!(movies.len() as u64, fixture["items"].as_u64().unwrap());
    let params = EaseParams {
        lambda: fixture["lambda"].as_f64().unwrap(),
        max_items: usize::MAX,
        keep: 1,
    };
    let dense = dense_weights(&x, &params).unwrap();
    let m = dense.items.len();
    assert_eq!(m, movies.len());
    let mut checked = 0;
    for r in fixture["rows"].as_array().unwrap() {
        let j = col[&(r["movie"].as_u64().unwrap() as u32)];
        let ours = &dense.b[j * m..(j + 1) * m];
        let mut order: Vec<usize> = (0..m).collect();
        order.sort_by(|&a, &b| ours[b].total_cmp(&ours[a]).then(a.cmp(&b)));
        for (rank, entry) in r["top"].as_array().unwrap().iter().enumerate() {
            let (movie, want) = (
                entry[0].as_u64().unwrap() as u32,
                entry[1].as_f64().unwrap(),
            );
            let k = col[&movie];
            let got = ours[k];
            assert!(
                (got - want).abs() <= 1e-9 + 1e-7 * want.abs(),
                "movie {} -> {movie}: {got} vs numpy {want}",
                r["movie"]
            );
            assert_eq!(
                movies[order[rank]], movie,
                "rank {rank} of movie {}",
                r["movie"]
            );
            checked += 1;
        }
    }
    assert!(checked >= 200, "checked {checked} weights");
}
