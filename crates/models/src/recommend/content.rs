//! Content-based similarity: TF-IDF vectors over each item's title, description, category,
//! brand and tags, compared by cosine. It needs no interactions, so it is what answers for an
//! item nobody has touched yet (cold start) and what keeps similar-item lists sensible in
//! sparse corners of the catalogue. Category, brand and tags become prefixed tokens
//! (`cat:shoes`) so they never collide with words and weigh like rare words do.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::data::ItemRecord;
use super::sparse::{SparseRows, keep_top_k};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContentModel {
    /// items × items, row i = top-K content neighbours of item i (cosine > 0, no self).
    pub neighbours: SparseRows,
}

/// Lower-cased alphanumeric words of at least two characters.
pub fn tokenize(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 2)
        .map(|w| w.to_lowercase())
}

fn item_tokens(item: &ItemRecord) -> Vec<String> {
    let mut t: Vec<String> = tokenize(&item.title).collect();
    if let Some(d) = &item.description {
        t.extend(tokenize(d));
    }
    if let Some(c) = &item.category {
        t.push(format!("cat:{}", c.to_lowercase()));
    }
    if let Some(b) = &item.brand {
        t.push(format!("brand:{}", b.to_lowercase()));
    }
    t.extend(
        item.tags
            .iter()
            .map(|g| format!("tag:{}", g.to_lowercase())),
    );
    t
}

/// L2-normalised TF-IDF rows (`tf = 1 + ln count`, `idf = ln((1 + n)/(1 + df)) + 1`).
pub fn tfidf(items: &[Option<&ItemRecord>]) -> Vec<Vec<(u32, f32)>> {
    let mut vocab: HashMap<String, u32> = HashMap::new();
    let mut counts: Vec<HashMap<u32, u32>> = Vec::with_capacity(items.len());
    for item in items {
        let mut c: HashMap<u32, u32> = HashMap::new();
        if let Some(item) = item {
            for tok in item_tokens(item) {
                let n = vocab.len() as u32;
                let id = *vocab.entry(tok).or_insert(n);
                *c.entry(id).or_default() += 1;
            }
        }
        counts.push(c);
    }
    let mut df = vec![0u32; vocab.len()];
    for c in &counts {
        for &t in c.keys() {
            df[t as usize] += 1;
        }
    }
    let n = items.len() as f32;
    counts
        .into_iter()
        .map(|c| {
            let mut row: Vec<(u32, f32)> = c
                .into_iter()
                .map(|(t, k)| {
                    let idf = ((1.0 + n) / (1.0 + df[t as usize] as f32)).ln() + 1.0;
                    (t, (1.0 + (k as f32).ln()) * idf)
                })
                .collect();
            let norm = row.iter().map(|(_, v)| v * v).sum::<f32>().sqrt();
            if norm > 0.0 {
                row.iter_mut().for_each(|(_, v)| *v /= norm);
            }
            row.sort_by_key(|e| e.0);
            row
        })
        .collect()
}

impl ContentModel {
    /// `items[i]` is the catalogue row of item index i (None for items only seen in
    /// interactions); keeps the `k` most similar items per item.
    pub fn fit(items: &[Option<&ItemRecord>], k: usize) -> ContentModel {
        let rows = tfidf(items);
        // Inverted index: term → (item, weight); a row's cosine with all others is one pass
        // over the postings of its own terms.
        let mut postings: HashMap<u32, Vec<(u32, f32)>> = HashMap::new();
        for (i, row) in rows.iter().enumerate() {
            for &(t, v) in row {
                postings.entry(t).or_default().push((i as u32, v));
            }
        }
        let neighbours: Vec<Vec<(u32, f32)>> = rows
            .iter()
            .enumerate()
            .map(|(i, row)| {
                let mut acc: HashMap<u32, f32> = HashMap::new();
                for &(t, v) in row {
                    for &(j, w) in &postings[&t] {
                        if j as usize != i {
                            *acc.entry(j).or_default() += v * w;
                        }
                    }
                }
                keep_top_k(acc.into_iter().filter(|e| e.1 > 0.0).collect(), k)
            })
            .collect();
        ContentModel {
            neighbours: SparseRows::from_rows(items.len(), &neighbours),
        }
    }

    /// Scores of every item for a history of `(item, weight)`.
    pub fn score(&self, history: &[(u32, f32)]) -> Vec<f32> {
        self.neighbours.score_history(history)
    }

    pub fn similar(&self, item: u32) -> Vec<(u32, f32)> {
        self.neighbours.row_by_strength(item as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str, title: &str, cat: &str) -> ItemRecord {
        ItemRecord {
            item_id: id.into(),
            title: title.into(),
            description: None,
            category: Some(cat.into()),
            brand: None,
            tags: vec![],
            price: None,
            active: true,
            updated_at: 0,
        }
    }

    #[test]
    fn shared_words_and_category_make_neighbours() {
        let a = item("a", "Red running shoe", "shoes");
        let b = item("b", "Blue running shoe", "shoes");
        let c = item("c", "Espresso machine", "kitchen");
        let m = ContentModel::fit(&[Some(&a), Some(&b), Some(&c), None], 5);
        assert_eq!(m.similar(0)[0].0, 1);
        assert!(m.similar(2).is_empty());
        assert!(m.similar(3).is_empty());
    }
}
