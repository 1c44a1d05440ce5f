//! Offline evaluation on a time-based holdout: train on the past, rank the full catalogue for
//! each test user (items they already interacted with in training excluded, as serving does),
//! and score the top k against what they did next. Always reported next to the popularity
//! baseline, because a model that cannot beat "most popular" is not worth serving.

use std::collections::{HashMap, HashSet};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sprs::CsMat;

use super::data::Interaction;

/// How to cut the holdout.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Holdout {
    /// Events in the last `days` days (relative to the newest event) are the test set.
    LastDays { days: f64 },
    /// Each user's last `k` events are the test set (users with more than `k` events).
    LastPerUser { k: usize },
}

/// Train events and test events; the same `Interaction` rows, split.
#[derive(Debug, Clone, Default)]
pub struct Split {
    pub train: Vec<Interaction>,
    pub test: Vec<Interaction>,
}

/// Splits events (any order) by time.
pub fn split(events: &[Interaction], holdout: Holdout) -> Split {
    let mut s = Split::default();
    match holdout {
        Holdout::LastDays { days } => {
            let newest = events.iter().map(|e| e.ts).max().unwrap_or(0);
            let cutoff = newest - (days * 86_400e6) as i64;
            for e in events {
                if e.ts > cutoff {
                    s.test.push(e.clone());
                } else {
                    s.train.push(e.clone());
                }
            }
        }
        Holdout::LastPerUser { k } => {
            let mut by_user: HashMap<&str, Vec<&Interaction>> = HashMap::new();
            for e in events {
                by_user.entry(&e.user_id).or_default().push(e);
            }
            for (_, mut evs) in by_user {
                evs.sort_by_key(|e| e.ts);
                let cut = if evs.len() > k {
                    evs.len() - k
                } else {
                    evs.len()
                };
                for (n, e) in evs.into_iter().enumerate() {
                    if n < cut {
                        s.train.push(e.clone());
                    } else {
                        s.test.push(e.clone());
                    }
                }
            }
            s.train.sort_by_key(|e| e.ts);
            s.test.sort_by_key(|e| e.ts);
        }
    }
    s
}

/// Ranking metrics at `k`, averaged over evaluated users.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct Metrics {
    pub k: usize,
    pub users: usize,
    pub precision: f64,
    pub recall: f64,
    pub ndcg: f64,
    pub map: f64,
    pub hit_rate: f64,
    /// Share of the catalogue that appears in at least one user's top k.
    pub coverage: f64,
    /// Share of evaluated users whose answer held no item at all.
    #[serde(default)]
    pub empty_share: f64,
    /// Share of evaluated users the model could not score, answered by popularity instead
    /// (set by the caller that knows its fallback).
    #[serde(default)]
    pub fallback_share: f64,
    /// Mean and 99th percentile time to score one user, ms (set by the caller that timed it).
    #[serde(default)]
    pub score_ms_mean: f64,
    #[serde(default)]
    pub score_ms_p99: f64,
    /// 95 % intervals of the accuracy means (normal approximation over users).
    #[serde(default)]
    pub ci95: Intervals,
    /// Mean self-information of shown items, `−log2((users who had it + 1) / (users + 1))`
    /// in training: higher is less obvious.
    #[serde(default)]
    pub novelty: f64,
    /// Intra-list diversity: mean over users of 1 − the mean cosine (co-interaction
    /// vectors in training) between the items of their top k.
    #[serde(default)]
    pub diversity: f64,
    /// Share of shown items outside the most popular fifth of the catalogue.
    #[serde(default)]
    pub long_tail_share: f64,
    /// Mean training popularity of shown items over the catalogue's mean item popularity
    /// (1: as popular as the average item; popularity bias above it).
    #[serde(default)]
    pub popularity_bias: f64,
}

/// Fewer evaluated users than this and a table says the figures are not meaningful.
pub const MIN_MEANINGFUL_USERS: usize = 50;

impl Metrics {
    /// Whether enough users were evaluated for the figures to mean something.
    pub fn meaningful(&self) -> bool {
        self.users >= MIN_MEANINGFUL_USERS
    }
}

/// 95 % confidence intervals `[low, high]` of the per-user means.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct Intervals {
    pub precision: [f64; 2],
    pub recall: [f64; 2],
    pub ndcg: [f64; 2],
    pub map: [f64; 2],
    pub hit_rate: [f64; 2],
}

/// Mean ± 1.96 standard errors of `values` (a point for fewer than two values).
fn interval(values: &[f64]) -> [f64; 2] {
    let n = values.len() as f64;
    if values.is_empty() {
        return [0.0, 0.0];
    }
    let mean = values.iter().sum::<f64>() / n;
    if values.len() < 2 {
        return [mean, mean];
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let half = 1.96 * (var / n).sqrt();
    [mean - half, mean + half]
}

/// The best `k` items by score (ties by index), skipping `excluded` ones and non-finite scores.
/// `excluded` is asked only about items that would enter the current top k, so an expensive
/// rule (hash lookups) costs little over a large catalogue.
pub fn top_k(scores: &[f32], k: usize, excluded: impl Fn(u32) -> bool) -> Vec<(u32, f32)> {
    let mut best = TopK::new(k);
    for (i, &s) in scores.iter().enumerate() {
        if s.is_finite() && best.admits(i as u32, s) && !excluded(i as u32) {
            best.push(i as u32, s);
        }
    }
    best.into_sorted()
}

/// A bounded collection of the `k` best `(item, score)` pairs: higher score first, then lower
/// item index. The weakest kept pair sits on top of a heap, so a candidate that cannot enter
/// is turned away with one comparison.
pub struct TopK {
    k: usize,
    heap: std::collections::BinaryHeap<Ranked>,
}

/// Ordered so that the heap's maximum is the weakest pair (lowest score, then highest index).
#[derive(Debug, Clone, Copy)]
struct Ranked(u32, f32);

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}
impl Eq for Ranked {}
impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other.1.total_cmp(&self.1).then(self.0.cmp(&other.0))
    }
}

impl TopK {
    pub fn new(k: usize) -> TopK {
        TopK {
            k,
            heap: std::collections::BinaryHeap::with_capacity(k + 1),
        }
    }

    /// Whether `(item, score)` would be kept if pushed now.
    pub fn admits(&self, item: u32, score: f32) -> bool {
        if self.k == 0 {
            return false;
        }
        self.heap.len() < self.k
            || self
                .heap
                .peek()
                .is_some_and(|weakest| Ranked(item, score) < *weakest)
    }

    pub fn push(&mut self, item: u32, score: f32) {
        if self.admits(item, score) {
            self.heap.push(Ranked(item, score));
            if self.heap.len() > self.k {
                self.heap.pop();
            }
        }
    }

    /// The weakest kept score once `k` pairs are kept.
    pub fn threshold(&self) -> Option<f32> {
        (self.heap.len() == self.k && self.k > 0).then(|| self.heap.peek().map(|r| r.1))?
    }

    pub fn into_sorted(self) -> Vec<(u32, f32)> {
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|r| (r.0, r.1))
            .collect()
    }
}

/// Test relevance per user index: test items the user had not interacted with in training.
/// Users or items unknown to the training matrix are dropped (a CF model cannot rank them).
pub fn relevance(
    test: &[Interaction],
    users: &super::data::IdMap,
    items: &super::data::IdMap,
    train: &CsMat<f64>,
) -> Vec<(u32, HashSet<u32>)> {
    let mut rel: HashMap<u32, HashSet<u32>> = HashMap::new();
    for e in test {
        if e.weight <= 0.0 {
            continue;
        }
        let (Some(u), Some(i)) = (users.get(&e.user_id), items.get(&e.item_id)) else {
            continue;
        };
        if train.get(u as usize, i as usize).is_some() {
            continue;
        }
        rel.entry(u).or_default().insert(i);
    }
    let mut out: Vec<(u32, HashSet<u32>)> = rel.into_iter().collect();
    out.sort_by_key(|e| e.0);
    out
}

/// One user's ranking metrics at `k`, and the items shown.
struct UserOutcome {
    precision: f64,
    recall: f64,
    ndcg: f64,
    average_precision: f64,
    hit: f64,
    shown: Vec<u32>,
}

/// Ranks the catalogue for every relevance user (their training items excluded) and scores
/// the top `k`.
fn outcomes(
    score: impl Fn(u32) -> Vec<f32> + Sync,
    train: &CsMat<f64>,
    relevant: &[(u32, HashSet<u32>)],
    k: usize,
) -> Vec<UserOutcome> {
    relevant
        .par_iter()
        .map(|(u, rel)| {
            let seen: HashSet<usize> = train
                .outer_view(*u as usize)
                .map(|r| r.indices().iter().copied().collect())
                .unwrap_or_default();
            let ranked = top_k(&score(*u), k, |i| seen.contains(&(i as usize)));
            let mut hits = 0usize;
            let mut dcg = 0.0;
            let mut ap = 0.0;
            for (rank, (i, _)) in ranked.iter().enumerate() {
                if rel.contains(i) {
                    hits += 1;
                    dcg += 1.0 / ((rank + 2) as f64).log2();
                    ap += hits as f64 / (rank + 1) as f64;
                }
            }
            let ideal: f64 = (0..rel.len().min(k))
                .map(|r| 1.0 / ((r + 2) as f64).log2())
                .sum();
            let denom = rel.len().min(k).max(1) as f64;
            UserOutcome {
                precision: hits as f64 / k as f64,
                recall: hits as f64 / rel.len() as f64,
                ndcg: if ideal > 0.0 { dcg / ideal } else { 0.0 },
                average_precision: ap / denom,
                hit: if hits > 0 { 1.0 } else { 0.0 },
                shown: ranked.into_iter().map(|(i, _)| i).collect(),
            }
        })
        .collect()
}

/// Evaluates `score(user) -> scores over all items` on the relevance sets.
pub fn evaluate(
    score: impl Fn(u32) -> Vec<f32> + Sync,
    train: &CsMat<f64>,
    relevant: &[(u32, HashSet<u32>)],
    k: usize,
) -> Metrics {
    let n_items = train.cols();
    let per_user = outcomes(score, train, relevant, k);
    let n = per_user.len().max(1) as f64;
    let mut m = Metrics {
        k,
        users: per_user.len(),
        ..Default::default()
    };
    let mut shown: HashSet<u32> = HashSet::new();
    for o in &per_user {
        m.precision += o.precision / n;
        m.recall += o.recall / n;
        m.ndcg += o.ndcg / n;
        m.map += o.average_precision / n;
        m.hit_rate += o.hit / n;
        m.empty_share += f64::from(u8::from(o.shown.is_empty())) / n;
        shown.extend(o.shown.iter().copied());
    }
    m.coverage = shown.len() as f64 / n_items.max(1) as f64;
    let column = |f: fn(&UserOutcome) -> f64| -> Vec<f64> { per_user.iter().map(f).collect() };
    m.ci95 = Intervals {
        precision: interval(&column(|o| o.precision)),
        recall: interval(&column(|o| o.recall)),
        ndcg: interval(&column(|o| o.ndcg)),
        map: interval(&column(|o| o.average_precision)),
        hit_rate: interval(&column(|o| o.hit)),
    };
    let lists: Vec<&[u32]> = per_user.iter().map(|o| o.shown.as_slice()).collect();
    beyond_accuracy(&mut m, train, &lists);
    m
}

/// Novelty, diversity, long-tail share and popularity bias of the shown lists, from the
/// training matrix's item popularity and co-interaction vectors.
fn beyond_accuracy(m: &mut Metrics, train: &CsMat<f64>, lists: &[&[u32]]) {
    let items = train.cols();
    let users = train.rows() as f64;
    let csc = train.to_csc();
    let count: Vec<f64> = (0..items)
        .map(|i| csc.outer_view(i).map_or(0, |c| c.nnz()) as f64)
        .collect();
    let norm: Vec<f64> = (0..items)
        .map(|i| {
            csc.outer_view(i)
                .map_or(0.0, |c| c.data().iter().map(|v| v * v).sum::<f64>().sqrt())
        })
        .collect();
    let mut order: Vec<usize> = (0..items).collect();
    order.sort_by(|&a, &b| count[b].total_cmp(&count[a]).then(a.cmp(&b)));
    let mut head = vec![false; items];
    for &i in order.iter().take(items.div_ceil(5)) {
        head[i] = true;
    }
    let mean_pop = count.iter().sum::<f64>() / items.max(1) as f64;
    let cosine = |a: usize, b: usize| -> f64 {
        let (Some(x), Some(y)) = (csc.outer_view(a), csc.outer_view(b)) else {
            return 0.0;
        };
        let d = norm[a] * norm[b];
        if d > 0.0 { x.dot(&y) / d } else { 0.0 }
    };
    let (mut shown, mut novelty, mut tail, mut pop) = (0.0, 0.0, 0.0, 0.0);
    let (mut diverse_users, mut diversity) = (0.0, 0.0);
    for list in lists {
        for &i in *list {
            let i = i as usize;
            shown += 1.0;
            novelty += -((count[i] + 1.0) / (users + 1.0)).log2();
            tail += f64::from(u8::from(!head[i]));
            pop += count[i];
        }
        if list.len() >= 2 {
            let mut sum = 0.0;
            let mut pairs = 0.0;
            for (p, &a) in list.iter().enumerate() {
                for &b in &list[p + 1..] {
                    sum += cosine(a as usize, b as usize);
                    pairs += 1.0;
                }
            }
            diversity += 1.0 - sum / pairs;
            diverse_users += 1.0;
        }
    }
    if shown > 0.0 {
        m.novelty = novelty / shown;
        m.long_tail_share = tail / shown;
        m.popularity_bias = if mean_pop > 0.0 {
            pop / shown / mean_pop
        } else {
            0.0
        };
    }
    if diverse_users > 0.0 {
        m.diversity = diversity / diverse_users;
    }
}

/// NDCG at `k` of each relevance user, in the order of `relevant` (for tuning choices that
/// differ between groups of users).
pub fn ndcg_per_user(
    score: impl Fn(u32) -> Vec<f32> + Sync,
    train: &CsMat<f64>,
    relevant: &[(u32, HashSet<u32>)],
    k: usize,
) -> Vec<f64> {
    outcomes(score, train, relevant, k)
        .into_iter()
        .map(|o| o.ndcg)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recommend::data::{IdMap, matrix_from_triplets};

    #[test]
    fn beyond_accuracy_and_intervals_equal_hand_computation() {
        let train = matrix_from_triplets(
            4,
            5,
            &[
                (0, 0, 1.0),
                (0, 1, 1.0),
                (1, 0, 1.0),
                (1, 1, 1.0),
                (2, 0, 1.0),
                (2, 2, 1.0),
                (3, 3, 1.0),
            ],
        );
        let mut m = Metrics::default();
        beyond_accuracy(&mut m, &train, &[&[0, 1], &[2, 4]]);
        let novelty = [4.0 / 5.0, 3.0 / 5.0, 2.0 / 5.0, 1.0 / 5.0]
            .iter()
            .map(|p: &f64| -p.log2())
            .sum::<f64>()
            / 4.0;
        assert!((m.novelty - novelty).abs() < 1e-12, "{m:?}");
        // Item 0 is the most popular fifth of five items; 1, 2 and 4 are the tail.
        assert!((m.long_tail_share - 0.75).abs() < 1e-12);
        assert!((m.popularity_bias - 1.5 / 1.4).abs() < 1e-12);
        // cos(0, 1) = 2 / (√3·√2); item 4 has no vector, cosine 0.
        let diversity = ((1.0 - 2.0 / 6f64.sqrt()) + 1.0) / 2.0;
        assert!((m.diversity - diversity).abs() < 1e-12);
        let [lo, hi] = interval(&[1.0, 0.0, 1.0, 0.0]);
        let half = 1.96 * (1.0f64 / 3.0 / 4.0).sqrt();
        assert!((lo - (0.5 - half)).abs() < 1e-12 && (hi - (0.5 + half)).abs() < 1e-12);
        assert_eq!(interval(&[0.3]), [0.3, 0.3]);
        assert!(!Metrics::default().meaningful());
    }

    #[test]
    fn top_k_equals_sorting_everything() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        for trial in 0..50 {
            let n = rng.random_range(0..300);
            // Few distinct values, so ties are common; some non-finite scores.
            let scores: Vec<f32> = (0..n)
                .map(|i| match i % 17 {
                    3 => f32::NAN,
                    5 => f32::INFINITY,
                    _ => rng.random_range(-5..5) as f32 * 0.5,
                })
                .collect();
            let k = [0, 1, 7, 50, 400][trial % 5];
            let excluded = |i: u32| i % 4 == trial as u32 % 4;
            let mut want: Vec<(u32, f32)> = scores
                .iter()
                .enumerate()
                .filter(|&(i, s)| s.is_finite() && !excluded(i as u32))
                .map(|(i, &s)| (i as u32, s))
                .collect();
            want.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            want.truncate(k);
            assert_eq!(top_k(&scores, k, excluded), want, "trial {trial}");
        }
    }

    #[test]
    fn perfect_and_useless_rankings() {
        let train = matrix_from_triplets(1, 4, &[(0, 0, 1.0)]);
        let rel = vec![(0u32, HashSet::from([1u32, 2]))];
        let perfect = evaluate(|_| vec![9.0, 3.0, 2.0, 1.0], &train, &rel, 2);
        assert!((perfect.ndcg - 1.0).abs() < 1e-12 && perfect.precision == 1.0);
        assert_eq!(perfect.map, 1.0);
        assert_eq!(perfect.coverage, 0.5);
        let bad = evaluate(|_| vec![9.0, 1.0, 2.0, 3.0], &train, &rel, 1);
        assert_eq!(bad.hit_rate, 0.0);
        // Item 0 is seen, so item 3 is first; rank 2 hit: AP = (1/2)/2.
        let mid = evaluate(|_| vec![9.0, 1.0, 2.0, 3.0], &train, &rel, 2);
        assert!((mid.map - 0.25).abs() < 1e-12, "{mid:?}");
    }

    #[test]
    fn splits_by_days_and_per_user() {
        let day = 86_400_000_000i64;
        let ev = |u: &str, i: &str, d: i64| Interaction {
            user_id: u.into(),
            item_id: i.into(),
            event_type: "view".into(),
            weight: 1.0,
            ts: d * day,
        };
        let evs = vec![
            ev("a", "x", 1),
            ev("a", "y", 9),
            ev("b", "x", 10),
            ev("b", "z", 2),
        ];
        let s = split(&evs, Holdout::LastDays { days: 2.0 });
        assert_eq!(s.test.len(), 2);
        let s = split(&evs, Holdout::LastPerUser { k: 1 });
        assert_eq!(
            s.test
                .iter()
                .map(|e| e.item_id.as_str())
                .collect::<Vec<_>>(),
            ["y", "x"]
        );
        let users = IdMap::from_ids(vec!["a".into()]);
        let items = IdMap::from_ids(vec!["x".into(), "y".into()]);
        let train = matrix_from_triplets(1, 2, &[(0, 0, 1.0)]);
        let rel = relevance(&s.test, &users, &items, &train);
        assert_eq!(rel, vec![(0, HashSet::from([1]))]);
    }
}
