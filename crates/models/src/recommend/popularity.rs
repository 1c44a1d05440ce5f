//! Popularity and trending: the baseline every other model must beat, and the cold-start
//! answer for a user we know nothing about. Popularity counts distinct users per item over the
//! whole window (a heavy buyer cannot make an item "popular" alone); trending is the same count
//! weighted by a short exponential decay, so this week's risers come first.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use sprs::CsMat;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Popularity {
    /// Distinct users per item.
    pub popularity: Vec<f32>,
    /// Decayed distinct-user counts per item.
    pub trending: Vec<f32>,
}

impl Popularity {
    /// `counts` is the user×item matrix (any positive value counts once); `decayed` the same
    /// events with a trending half-life applied (same shape); its values are summed.
    pub fn fit(counts: &CsMat<f64>, decayed: &CsMat<f64>) -> Popularity {
        let n = counts.cols();
        let mut popularity = vec![0f32; n];
        let mut trending = vec![0f32; n];
        for row in counts.outer_iterator() {
            for (j, &v) in row.iter() {
                if v > 0.0 {
                    popularity[j] += 1.0;
                }
            }
        }
        for row in decayed.outer_iterator() {
            for (j, &v) in row.iter() {
                if v > 0.0 {
                    // One user counts at most 1 per item, scaled by how recent they were.
                    trending[j] += v.min(1.0) as f32;
                }
            }
        }
        Popularity {
            popularity,
            trending,
        }
    }

    /// Item indices by descending trending score (ties by popularity, then index).
    pub fn ranked_trending(&self) -> Vec<u32> {
        ranked_by(&self.trending, &self.popularity)
    }

    /// Item indices by descending distinct-user count (ties by trending, then index).
    pub fn ranked_popular(&self) -> Vec<u32> {
        ranked_by(&self.popularity, &self.trending)
    }

    /// Trending ranking within each category (items without one are left out).
    pub fn trending_by_category(&self, categories: &[Option<String>]) -> HashMap<String, Vec<u32>> {
        Self::by_category(&self.ranked_trending(), categories)
    }

    /// A ranking split by category, order kept (items without one are left out).
    pub fn by_category(ranked: &[u32], categories: &[Option<String>]) -> HashMap<String, Vec<u32>> {
        let mut out: HashMap<String, Vec<u32>> = HashMap::new();
        for &i in ranked {
            if let Some(Some(c)) = categories.get(i as usize) {
                out.entry(c.clone()).or_default().push(i);
            }
        }
        out
    }

    /// Scores for the plain popularity ranking: distinct users plus a small trending
    /// tie-breaker.
    pub fn count_scores(&self) -> Vec<f32> {
        let max = self.trending.iter().cloned().fold(1.0f32, f32::max);
        self.popularity
            .iter()
            .zip(&self.trending)
            .map(|(p, t)| p + 1e-3 * t / max)
            .collect()
    }

    /// Scores for the trending ranking: trending plus a small popularity tie-breaker.
    pub fn scores(&self) -> Vec<f32> {
        let max = self.popularity.iter().cloned().fold(1.0f32, f32::max);
        self.trending
            .iter()
            .zip(&self.popularity)
            .map(|(t, p)| t + 1e-3 * p / max)
            .collect()
    }
}

/// Item indices by descending `first`, ties by descending `then`, then ascending index.
fn ranked_by(first: &[f32], then: &[f32]) -> Vec<u32> {
    let mut idx: Vec<u32> = (0..first.len() as u32).collect();
    idx.sort_by(|&a, &b| {
        let (a, b) = (a as usize, b as usize);
        first[b]
            .total_cmp(&first[a])
            .then(then[b].total_cmp(&then[a]))
            .then(a.cmp(&b))
    });
    idx
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recommend::data::matrix_from_triplets;

    #[test]
    fn counts_users_not_volume_and_ranks_by_recency() {
        let counts = matrix_from_triplets(
            3,
            3,
            &[
                (0, 0, 50.0),
                (1, 1, 1.0),
                (2, 1, 1.0),
                (0, 2, 1.0),
                (1, 2, 1.0),
            ],
        );
        let decayed = matrix_from_triplets(
            3,
            3,
            &[
                (0, 0, 0.9),
                (1, 1, 0.1),
                (2, 1, 0.1),
                (0, 2, 1.0),
                (1, 2, 1.0),
            ],
        );
        let p = Popularity::fit(&counts, &decayed);
        assert_eq!(p.popularity, vec![1.0, 2.0, 2.0]);
        assert_eq!(p.ranked_trending(), vec![2, 0, 1]);
        let cats = vec![Some("a".to_string()), Some("b".into()), Some("a".into())];
        assert_eq!(p.trending_by_category(&cats)["a"], vec![2, 0]);
        // Plain popularity: items 1 and 2 have two users each (2 is more recent), 0 one.
        assert_eq!(p.ranked_popular(), vec![2, 1, 0]);
        let plain = p.count_scores();
        assert!(plain[1] > plain[0] && plain[2] > plain[1], "{plain:?}");
        let trend = p.scores();
        assert!(
            trend[0] > trend[1],
            "trending puts the recent item 0 first: {trend:?}"
        );
    }
}
