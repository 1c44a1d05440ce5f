//! Hybrid: a blend of collaborative (ALS) and content scores. Each score vector is scaled by
//! its own maximum before blending, so the weight means "share of the final score" whatever
//! the models' raw scales; the weight is chosen on a validation split (`tune_weight`).
//!
//! Cold start falls out of the blend: an item nobody touched has zero collaborative signal,
//! so its neighbours and its appearances come from content; a user nobody knows is folded in
//! from the `recent` items of the request.

use serde::{Deserialize, Serialize};

use super::als::AlsModel;
use super::content::ContentModel;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HybridModel {
    pub als: AlsModel,
    pub content: ContentModel,
    /// Weight of the collaborative part, in 0..=1; content gets the rest.
    pub cf_weight: f32,
}

/// Divides by the largest absolute value (no-op for an all-zero vector).
pub fn scale_by_max(v: &mut [f32]) {
    let m = v.iter().fold(0f32, |m, x| m.max(x.abs()));
    if m > 0.0 {
        v.iter_mut().for_each(|x| *x /= m);
    }
}

/// `w·cf + (1 − w)·content`, each scaled by its maximum first.
pub fn blend(mut cf: Vec<f32>, mut content: Vec<f32>, w: f32) -> Vec<f32> {
    scale_by_max(&mut cf);
    scale_by_max(&mut content);
    cf.iter()
        .zip(&content)
        .map(|(a, b)| w * a + (1.0 - w) * b)
        .collect()
}

impl HybridModel {
    /// Scores for a user: their factor vector when known, else folded in from `history`.
    pub fn score(&self, user: Option<u32>, history: &[(u32, f32)]) -> Vec<f32> {
        let cf = match user.and_then(|u| self.als.user_vector(u)) {
            Some(x) => self.als.score_vector(x),
            None if !history.is_empty() => self.als.score_vector(&self.als.fold_in(history)),
            None => vec![0.0; self.als.items()],
        };
        blend(cf, self.content.score(history), self.cf_weight)
    }

    /// Similar items: blended factor cosine and content cosine. An item without interactions
    /// has a zero factor vector, so its list is the content neighbours.
    pub fn similar(&self, item: u32, k: usize) -> Vec<(u32, f32)> {
        let n = self.als.items();
        let mut cf = vec![0f32; n];
        for (j, s) in self.als.similar(item, k.saturating_mul(4).max(50)) {
            cf[j as usize] = s.max(0.0);
        }
        let mut ct = vec![0f32; n];
        for (j, s) in self.content.similar(item) {
            if (j as usize) < n {
                ct[j as usize] = s;
            }
        }
        let scores = blend(cf, ct, self.cf_weight);
        super::eval::top_k(&scores, k, |j| j == item)
            .into_iter()
            .filter(|e| e.1 > 0.0)
            .collect()
    }
}

/// Picks the collaborative weight from `candidates` that maximises `objective(weight)`
/// (NDCG on a validation split in training); ties go to the earlier candidate.
pub fn tune_weight(candidates: &[f32], mut objective: impl FnMut(f32) -> f64) -> (f32, f64) {
    let mut best = (
        candidates.first().copied().unwrap_or(0.5),
        f64::NEG_INFINITY,
    );
    for &w in candidates {
        let v = objective(w);
        if v > best.1 {
            best = (w, v);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blend_scales_each_part() {
        let b = blend(vec![10.0, 5.0, 0.0], vec![0.0, 0.1, 0.2], 0.5);
        assert_eq!(b, vec![0.5, 0.5, 0.5]);
        let (w, v) = tune_weight(&[0.0, 0.5, 1.0], |w| -(w as f64 - 0.5).abs());
        assert_eq!((w, v), (0.5, 0.0));
    }
}
