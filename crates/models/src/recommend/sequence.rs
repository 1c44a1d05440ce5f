//! Order in a user's history: recency weights and an item-to-item transition signal.
//!
//! Why: a history treated as a bag says what a user likes, not what they are doing now. On
//! temporal splits (each user's next interactions as test) the items just touched predict
//! the next ones far better than the items of a year ago, and "what users do next after X"
//! is a signal of its own: a user who watched part 1 of a series watches part 2, a buyer of a
//! camera buys its memory card. Two plain, cheap pieces capture that:
//!
//! - [`weigh_recent`]: the i-th most recent history item counts `0.5^(i / half_life)`, with
//!   the half-life in positions (interactions), not days, so it means the same for a user
//!   active every day and one active twice a year;
//! - [`Transitions`]: `next[i][j]` counts how often `j` followed `i` within `window` steps in
//!   the training sequences (a step further away counts `decay` times less), each row
//!   normalised to sum 1 and pruned to its `keep` strongest entries. A user's transition
//!   scores sum the rows of their last `window` items, weighted by recency.
//!
//! Every history here is ordered oldest first; the caller orders it (training by event time,
//! serving by the trained history's last-seen times, then the request's fresh events).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::InvalidParam;
use super::sparse::{SparseRows, keep_top_k};

/// Weight of a step `d` further away than the next one: `DECAY^(d-1)`.
const DECAY: f32 = 0.9;
/// Recency half-life, in positions, of the items a transition score starts from.
const SOURCE_HALF_LIFE: f32 = 3.0;

/// Multiplies each strength by `0.5^(i / half_life)`, `i` counting positions back from the
/// newest entry (0 = newest). No half-life: the history unchanged.
pub fn weigh_recent(history: &mut [(u32, f32)], half_life: Option<f32>) {
    let Some(h) = half_life.filter(|h| h.is_finite() && *h > 0.0) else {
        return;
    };
    let n = history.len();
    for (p, e) in history.iter_mut().enumerate() {
        e.1 *= 0.5f32.powf((n - 1 - p) as f32 / h);
    }
}

/// The transition model's settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TransitionParams {
    /// Steps ahead that count as "next" (and history items a score starts from).
    pub window: usize,
    /// Entries kept per item row.
    pub keep: usize,
}

impl TransitionParams {
    pub fn validate(&self) -> Result<(), InvalidParam> {
        if self.window > 100 {
            return Err(InvalidParam::new(
                "transition_window",
                "must be in 0..=100 (0: no transition part)",
            ));
        }
        if self.keep == 0 {
            return Err(InvalidParam::new("neighbours", "must be at least 1"));
        }
        Ok(())
    }
}

/// What users did next after each item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transitions {
    /// items × items, row i = what followed i, normalised to sum 1 (empty: never followed).
    pub next: SparseRows,
    pub window: usize,
}

impl Transitions {
    /// Counts transitions in `sequences` (each a user's items, oldest first; a repeat of the
    /// previous item is skipped, a step to the same item never counts).
    pub fn fit<'a>(
        sequences: impl IntoIterator<Item = &'a [u32]>,
        items: usize,
        p: &TransitionParams,
    ) -> Transitions {
        let mut counts: Vec<HashMap<u32, f32>> = vec![HashMap::new(); items];
        let mut seq: Vec<u32> = Vec::new();
        for raw in sequences {
            seq.clear();
            for &i in raw {
                if seq.last() != Some(&i) && (i as usize) < items {
                    seq.push(i);
                }
            }
            for (a, &from) in seq.iter().enumerate() {
                let mut w = 1.0;
                for &to in seq.iter().skip(a + 1).take(p.window) {
                    if to != from {
                        *counts[from as usize].entry(to).or_insert(0.0) += w;
                    }
                    w *= DECAY;
                }
            }
        }
        let rows: Vec<Vec<(u32, f32)>> = counts
            .into_iter()
            .map(|row| {
                let total: f32 = row.values().sum();
                let row: Vec<(u32, f32)> = row.into_iter().map(|(j, c)| (j, c / total)).collect();
                keep_top_k(row, p.keep)
            })
            .collect();
        Transitions {
            next: SparseRows::from_rows(items, &rows),
            window: p.window,
        }
    }

    /// Scores over all items for a history ordered oldest first: the rows of its last
    /// `window` items, the newest weighing most. Strengths do not enter: what comes next
    /// depends on where the user is, not on how much they liked it.
    pub fn score(&self, history: &[(u32, f32)]) -> Vec<f32> {
        let start = history.len().saturating_sub(self.window);
        let mut last: Vec<(u32, f32)> = history[start..].iter().map(|e| (e.0, 1.0)).collect();
        weigh_recent(&mut last, Some(SOURCE_HALF_LIFE));
        self.next.score_history(&last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recency_halves_every_half_life_positions() {
        let mut h = vec![(7, 2.0), (3, 1.0), (5, 1.0)];
        weigh_recent(&mut h, Some(1.0));
        assert_eq!(h, vec![(7, 0.5), (3, 0.5), (5, 1.0)]);
        let mut same = vec![(1, 3.0)];
        weigh_recent(&mut same, None);
        assert_eq!(same, vec![(1, 3.0)]);
    }

    #[test]
    fn transitions_count_what_came_next_by_hand() {
        // 0 → 1 → 2 twice, 0 → 2 once; window 2: a step two ahead counts 0.9.
        let seqs: Vec<Vec<u32>> = vec![vec![0, 1, 2], vec![0, 1, 1, 2], vec![0, 2]];
        let p = TransitionParams {
            window: 2,
            keep: 10,
        };
        let t = Transitions::fit(seqs.iter().map(Vec::as_slice), 4, &p);
        // Row 0: 1 twice (1.0 each), 2 from the first two sequences at step 2 (0.9 each) and
        // the third at step 1 (1.0): 2.0 vs 2.8 of 4.8.
        let (idx, val) = t.next.row(0);
        assert_eq!(idx, &[1, 2]);
        assert!((val[0] - 2.0 / 4.8).abs() < 1e-6 && (val[1] - 2.8 / 4.8).abs() < 1e-6);
        // Row 1: only 2 (the repeated 1 is skipped, never a self-transition).
        assert_eq!(t.next.row(1), (&[2u32][..], &[1.0f32][..]));
        assert_eq!(t.next.row(2).0.len(), 0);
        assert_eq!(t.next.row(3).0.len(), 0);
        // Scoring from [.., 1]: the newest item's row leads.
        let s = t.score(&[(0, 5.0), (1, 1.0)]);
        let w0 = 0.5f32.powf(1.0 / SOURCE_HALF_LIFE);
        assert!((s[1] - w0 * 2.0 / 4.8).abs() < 1e-6);
        assert!((s[2] - (1.0 + w0 * 2.8 / 4.8)).abs() < 1e-6);
    }

    #[test]
    fn rows_keep_their_strongest_entries_and_only_the_window_scores() {
        let seqs: Vec<Vec<u32>> = vec![vec![0, 1], vec![0, 1], vec![0, 2], vec![3, 0]];
        let p = TransitionParams { window: 1, keep: 1 };
        let t = Transitions::fit(seqs.iter().map(Vec::as_slice), 4, &p);
        assert_eq!(t.next.row(0).0, &[1]);
        // Window 1: only the newest item (0) scores; 3's row would add to 0.
        let s = t.score(&[(3, 1.0), (0, 1.0)]);
        assert_eq!(s, vec![0.0, 2.0 / 3.0, 0.0, 0.0]);
        assert!(p.validate().is_ok());
        assert!(
            TransitionParams {
                window: 101,
                keep: 1
            }
            .validate()
            .is_err()
        );
    }
}
