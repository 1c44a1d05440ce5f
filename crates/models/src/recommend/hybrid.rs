//! Hybrid: a blend of collaborative (ALS) scores, content scores, an item prior learned
//! from the feature store's item features and what users did next after the user's latest
//! items ([`super::sequence::Transitions`]). Each score vector is scaled by its own maximum
//! before blending, so a weight means "share of the final score" whatever the parts' raw
//! scales; the weights are chosen on a validation split (`tune`).
//!
//! Why two blends: how much a user's own history should count depends on how much of it
//! there is. Users above the median activity (a user feature from the feature store, as of
//! training) get the blend tuned on such users; the others, and users the model does not
//! know, get the blend tuned on the less active half.
//!
//! Cold start falls out of the blend: an item nobody touched has zero collaborative signal,
//! so its neighbours and its appearances come from content; a user nobody knows is folded in
//! from the `recent` items of the request (or their last item in the online store).

use serde::{Deserialize, Serialize};

use super::als::AlsModel;
use super::content::ContentModel;
use super::sequence::Transitions;
use super::signals::ItemPrior;

/// Shares of the parts in a blended score (they sum to 1).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Blend {
    pub cf: f32,
    pub content: f32,
    pub prior: f32,
    /// The transition part: what users did next after the user's latest items.
    #[serde(default)]
    pub next: f32,
}

impl Blend {
    /// Collaborative and content only.
    pub fn two_way(cf: f32) -> Blend {
        Blend {
            cf,
            content: 1.0 - cf,
            prior: 0.0,
            next: 0.0,
        }
    }

    /// The collaborative share of the collaborative + content part (for item similarity,
    /// where the prior has no say).
    pub fn cf_share(&self) -> f32 {
        let s = self.cf + self.content;
        if s > 0.0 { self.cf / s } else { 0.5 }
    }
}

/// Candidate blends. Collaborative and content alone: the collaborative share on a fine
/// grid. With a prior or transitions: a grid over the simplex of the parts there are, in
/// quarters, except eighths for collaborative, content and transitions (whose best mix is
/// often far from even).
pub fn candidate_blends(with_prior: bool, with_next: bool) -> Vec<Blend> {
    if !with_prior && !with_next {
        return [0.0, 0.25, 0.5, 0.75, 0.9, 1.0]
            .into_iter()
            .map(Blend::two_way)
            .collect();
    }
    let steps: u32 = if with_next && !with_prior { 8 } else { 4 };
    let s = steps as f32;
    let mut out = Vec::new();
    for cf in 0..=steps {
        for content in 0..=(steps - cf) {
            let rest = steps - cf - content;
            for prior in 0..=rest {
                let next = rest - prior;
                // A part the model does not have gets no share.
                if (prior > 0 && !with_prior) || (next > 0 && !with_next) {
                    continue;
                }
                out.push(Blend {
                    cf: cf as f32 / s,
                    content: content as f32 / s,
                    prior: prior as f32 / s,
                    next: next as f32 / s,
                });
            }
        }
    }
    out
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HybridModel {
    pub als: AlsModel,
    pub content: ContentModel,
    /// Tuned on every validation user: used for item similarity.
    pub overall: Blend,
    /// For users at or below the activity threshold, without an activity value, or unknown.
    pub light: Blend,
    /// For users above the activity threshold.
    pub active: Blend,
    /// Per known user index: above the activity threshold at training time (empty: no
    /// activity feature, everyone gets `light`).
    pub active_users: Vec<bool>,
    /// Predicted near-future demand per item as of training, scaled to 0..=1 (empty: no
    /// item features).
    pub item_prior: Vec<f32>,
    /// The regression behind `item_prior`, so serving can re-apply it to fresher online
    /// feature values between trainings.
    pub prior_model: Option<ItemPrior>,
    /// What users did next after each item (None: no sequence signal).
    pub transitions: Option<Transitions>,
}

/// Divides by the largest absolute value (no-op for an all-zero vector).
pub fn scale_by_max(v: &mut [f32]) {
    let m = v.iter().fold(0f32, |m, x| m.max(x.abs()));
    if m > 0.0 {
        v.iter_mut().for_each(|x| *x /= m);
    }
}

/// `w·cf + (1 − w)·content`, each scaled by its maximum first.
pub fn blend(cf: Vec<f32>, content: Vec<f32>, w: f32) -> Vec<f32> {
    blend_parts(
        Parts {
            cf,
            content,
            prior: &[],
            next: Vec::new(),
        },
        Blend::two_way(w),
    )
}

/// One user's part scores before blending (`prior` and `next` may be empty: no such part).
pub struct Parts<'a> {
    pub cf: Vec<f32>,
    pub content: Vec<f32>,
    pub prior: &'a [f32],
    pub next: Vec<f32>,
}

/// The weighted sum of the max-scaled parts (the prior is already on 0..=1).
pub fn blend_parts(parts: Parts<'_>, w: Blend) -> Vec<f32> {
    let Parts {
        mut cf,
        mut content,
        prior,
        mut next,
    } = parts;
    scale_by_max(&mut cf);
    scale_by_max(&mut content);
    scale_by_max(&mut next);
    cf.iter_mut()
        .zip(&content)
        .enumerate()
        .for_each(|(i, (a, b))| {
            let p = prior.get(i).copied().unwrap_or(0.0);
            let n = next.get(i).copied().unwrap_or(0.0);
            *a = w.cf * *a + w.content * b + w.prior * p + w.next * n;
        });
    cf
}

impl HybridModel {
    /// A model with one blend for everyone and no feature signals.
    pub fn plain(als: AlsModel, content: ContentModel, cf_weight: f32) -> HybridModel {
        let b = Blend::two_way(cf_weight);
        HybridModel {
            als,
            content,
            overall: b,
            light: b,
            active: b,
            active_users: Vec::new(),
            item_prior: Vec::new(),
            prior_model: None,
            transitions: None,
        }
    }

    /// The blend a user gets.
    pub fn blend_for(&self, user: Option<u32>) -> Blend {
        match user.and_then(|u| self.active_users.get(u as usize)) {
            Some(true) => self.active,
            _ => self.light,
        }
    }

    /// Scores for a user: their factor vector when known, else folded in from `history`
    /// (oldest first: the transition part starts from its newest items).
    pub fn score(&self, user: Option<u32>, history: &[(u32, f32)]) -> Vec<f32> {
        self.score_with(user, history, self.blend_for(user))
    }

    /// Scores with a given blend (training tries candidates with this).
    pub fn score_with(&self, user: Option<u32>, history: &[(u32, f32)], w: Blend) -> Vec<f32> {
        self.score_parts(user, history, w, &self.item_prior)
    }

    /// Scores with the user's blend and another item prior (serving's, refreshed from the
    /// online store; same length as the catalogue).
    pub fn score_with_prior(
        &self,
        user: Option<u32>,
        history: &[(u32, f32)],
        prior: &[f32],
    ) -> Vec<f32> {
        self.score_parts(user, history, self.blend_for(user), prior)
    }

    fn score_parts(
        &self,
        user: Option<u32>,
        history: &[(u32, f32)],
        w: Blend,
        prior: &[f32],
    ) -> Vec<f32> {
        let cf = match user.and_then(|u| self.als.user_vector(u)) {
            Some(x) => self.als.score_vector(x),
            None if !history.is_empty() => self.als.score_vector(&self.als.fold_in(history)),
            None => vec![0.0; self.als.items()],
        };
        let next = match &self.transitions {
            Some(t) if w.next > 0.0 => t.score(history),
            _ => Vec::new(),
        };
        let parts = Parts {
            cf,
            content: self.content.score(history),
            prior,
            next,
        };
        blend_parts(parts, w)
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
        let scores = blend(cf, ct, self.overall.cf_share());
        super::eval::top_k(&scores, k, |j| j == item)
            .into_iter()
            .filter(|e| e.1 > 0.0)
            .collect()
    }
}

/// The candidate with the highest mean of `per_user[c]` over the users `include` keeps;
/// ties go to the earlier candidate. None when no user is included.
pub fn best_for(per_user: &[Vec<f64>], include: impl Fn(usize) -> bool) -> Option<usize> {
    best_among(per_user, |_| true, &include)
}

/// [`best_for`] over the candidates `candidate` keeps.
fn best_among(
    per_user: &[Vec<f64>],
    candidate: impl Fn(usize) -> bool,
    include: &dyn Fn(usize) -> bool,
) -> Option<usize> {
    let mut best: Option<(usize, f64)> = None;
    for (c, values) in per_user.iter().enumerate().filter(|(c, _)| candidate(*c)) {
        let (sum, n) = values
            .iter()
            .enumerate()
            .filter(|(u, _)| include(*u))
            .fold((0.0, 0usize), |(s, n), (_, v)| (s + v, n + 1));
        if n == 0 {
            return None;
        }
        let mean = sum / n as f64;
        if best.is_none_or(|b| mean > b.1) {
            best = Some((c, mean));
        }
    }
    best.map(|b| b.0)
}

/// The blend for the users `include` keeps: the best candidate, except that one using the
/// transition part must beat the best without it by more than one standard error of their
/// paired per-user difference. Why: on data with no sequential structure the transition
/// part still wins some validation splits by noise, and a part chosen by noise drowns the
/// others in serving (a cold item the content part would find, say).
pub fn choose_blend(
    candidates: &[Blend],
    per_user: &[Vec<f64>],
    include: impl Fn(usize) -> bool,
) -> Option<usize> {
    let best = best_among(per_user, |_| true, &include)?;
    if candidates[best].next == 0.0 {
        return Some(best);
    }
    let Some(plain) = best_among(per_user, |c| candidates[c].next == 0.0, &include) else {
        return Some(best);
    };
    let diffs: Vec<f64> = per_user[best]
        .iter()
        .zip(&per_user[plain])
        .enumerate()
        .filter(|(u, _)| include(*u))
        .map(|(_, (a, b))| a - b)
        .collect();
    let n = diffs.len() as f64;
    let mean = diffs.iter().sum::<f64>() / n;
    let var = diffs.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    Some(if mean > (var / n).sqrt() { best } else { plain })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blend_scales_each_part() {
        let b = blend(vec![10.0, 5.0, 0.0], vec![0.0, 0.1, 0.2], 0.5);
        assert_eq!(b, vec![0.5, 0.5, 0.5]);
        let w = Blend {
            cf: 0.5,
            content: 0.25,
            prior: 0.25,
            next: 0.0,
        };
        let parts = Parts {
            cf: vec![2.0, 0.0],
            content: vec![0.0, 4.0],
            prior: &[0.0, 1.0],
            next: Vec::new(),
        };
        assert_eq!(blend_parts(parts, w), vec![0.5, 0.5]);
        let with_next = Blend {
            cf: 0.5,
            content: 0.0,
            prior: 0.0,
            next: 0.5,
        };
        let parts = Parts {
            cf: vec![1.0, 0.0],
            content: vec![0.0, 0.0],
            prior: &[],
            next: vec![0.0, 3.0],
        };
        assert_eq!(blend_parts(parts, with_next), vec![0.5, 0.5]);
        assert_eq!(w.cf_share(), 2.0 / 3.0);
    }

    #[test]
    fn candidates_cover_the_simplex_and_groups_pick_their_own() {
        for (prior, next, n) in [(true, false, 15), (false, true, 45), (true, true, 35)] {
            let c = candidate_blends(prior, next);
            assert_eq!(c.len(), n);
            assert!(
                c.iter()
                    .all(|b| (b.cf + b.content + b.prior + b.next - 1.0).abs() < 1e-6)
            );
            // Every part alone is a candidate: the blend is never below its best part on
            // the validation split it is chosen on.
            assert!(c.iter().any(|b| b.cf == 1.0) && c.iter().any(|b| b.content == 1.0));
            assert_eq!(c.iter().any(|b| b.prior == 1.0), prior);
            assert_eq!(c.iter().any(|b| b.next == 1.0), next);
        }
        assert_eq!(candidate_blends(false, false).len(), 6);
        // Candidate 0 suits users 0 and 1, candidate 1 suits user 2.
        let per_user = vec![vec![0.9, 0.8, 0.1], vec![0.2, 0.3, 0.7]];
        assert_eq!(best_for(&per_user, |_| true), Some(0));
        assert_eq!(best_for(&per_user, |u| u == 2), Some(1));
        assert_eq!(best_for(&per_user, |_| false), None);
    }

    #[test]
    fn transitions_must_beat_the_best_blend_without_them_by_a_standard_error() {
        let plain = Blend::two_way(1.0);
        let next = Blend {
            next: 0.5,
            ..Blend::two_way(0.5)
        };
        let candidates = [plain, next];
        // A clear, consistent gain: the transition blend.
        let clear = vec![vec![0.1, 0.2, 0.3, 0.2], vec![0.3, 0.4, 0.5, 0.4]];
        assert_eq!(choose_blend(&candidates, &clear, |_| true), Some(1));
        // A higher mean from one lucky user: within a standard error, the plain blend.
        let noisy = vec![vec![0.3, 0.3, 0.3, 0.3], vec![0.2, 0.2, 0.2, 0.9]];
        assert_eq!(best_for(&noisy, |_| true), Some(1));
        assert_eq!(choose_blend(&candidates, &noisy, |_| true), Some(0));
        assert_eq!(choose_blend(&candidates, &noisy, |_| false), None);
    }
}
