//! Which rows of a run are new, which repeat a row already seen, and which conflict with one.
//!
//! A row is identified by a 128-bit hash of the pipeline's dedup key (collisions are out of
//! reach at any realistic row count). A row whose key was seen before is a *duplicate* when
//! its other columns are the same (an export that repeats yesterday's rows, a redelivered
//! message) and is dropped; it is a *conflict* when they differ (two same-day rows of one
//! item and store in a till export keyed by date, an ERP's restated figure), and the landing
//! quarantines it with a reason rather than drop data without a word. The other columns are
//! compared by a 32-bit hash kept beside each key (a real conflict passes unseen with
//! probability 2⁻³²); a pipeline with `conflicts = "drop"` skips that hash and treats every
//! repeated key as a duplicate.

use std::collections::HashMap;

use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Float64Type, TimestampMicrosecondType};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{ArrowError, DataType};

use super::EtlError;

/// What a row is, against the rows seen before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    New,
    /// Its key and its other columns were seen: the same row again.
    Duplicate,
    /// Its key was seen with other values in the other columns.
    Conflict,
}

/// Keys seen, each with the hash of its row's other columns (0 when they are not compared).
#[derive(Debug, Default, Clone)]
pub struct Seen {
    rows: HashMap<Key, u32, std::hash::BuildHasherDefault<PrehashedKey>>,
}

impl Seen {
    /// Sizes the set for about `rows` rows up front, so a large run does not pay for
    /// rehashing a multi-million-entry set again and again while it grows.
    pub fn reserve(&mut self, rows: usize) {
        self.rows.reserve(rows);
    }

    /// The verdict on a row of this key and content, remembering it when it is new.
    pub fn admit(&mut self, key: u128, content: u32) -> Verdict {
        match self.rows.entry(Key::from(key)) {
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(content);
                Verdict::New
            }
            std::collections::hash_map::Entry::Occupied(seen) => verdict(*seen.get(), content),
        }
    }

    /// The verdict on a row of this key and content, without remembering it.
    pub fn check(&self, key: u128, content: u32) -> Verdict {
        match self.rows.get(&Key::from(key)) {
            None => Verdict::New,
            Some(seen) => verdict(*seen, content),
        }
    }

    /// The content hash kept for `key`, if it was seen.
    fn content(&self, key: u128) -> Option<u32> {
        self.rows.get(&Key::from(key)).copied()
    }

    /// Makes `content` the reference for `key` (the row that counts is another one).
    fn set(&mut self, key: u128, content: u32) {
        self.rows.insert(Key::from(key), content);
    }

    /// Remembers every row of a batch (rows already landed).
    pub fn extend(&mut self, keys: &[u128], contents: Option<&[u32]>) {
        for (i, key) in keys.iter().enumerate() {
            self.rows
                .entry(Key::from(*key))
                .or_insert(contents.map_or(0, |c| c[i]));
        }
    }
}

/// Where a row goes, judged against the run's rows and the lake's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Judgement {
    Land,
    DuplicateInRun,
    DuplicateLanded,
    /// Quarantined; says where the key's row that counts is.
    Conflict(&'static str),
}

/// Judges a row first against the run's rows (`seen`, which remembers it), then against
/// the rows already landed in its partition (`landed`, when the run checks them). When it
/// conflicts with the lake, the lake's row becomes the key's reference for the rest of the
/// run, so a later copy of that row is a duplicate rather than a second conflict.
pub fn judge(seen: &mut Seen, landed: Option<&Seen>, key: u128, content: u32) -> Judgement {
    match seen.admit(key, content) {
        Verdict::New => {}
        Verdict::Duplicate => return Judgement::DuplicateInRun,
        Verdict::Conflict => return Judgement::Conflict("landed earlier in this run"),
    }
    let Some(landed) = landed else {
        return Judgement::Land;
    };
    match landed.check(key, content) {
        Verdict::New => Judgement::Land,
        Verdict::Duplicate => Judgement::DuplicateLanded,
        Verdict::Conflict => {
            if let Some(reference) = landed.content(key) {
                seen.set(key, reference);
            }
            Judgement::Conflict("is already in the lake")
        }
    }
}

fn verdict(seen: u32, content: u32) -> Verdict {
    if seen == content {
        Verdict::Duplicate
    } else {
        Verdict::Conflict
    }
}

/// A 128-bit key as two words, so a map entry with its 32-bit content hash takes 24 bytes
/// rather than the 32 a `u128`'s alignment would make it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Key {
    low: u64,
    high: u64,
}

impl From<u128> for Key {
    fn from(v: u128) -> Key {
        Key {
            low: v as u64,
            high: (v >> 64) as u64,
        }
    }
}

impl std::hash::Hash for Key {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.low);
    }
}

/// The keys are already uniform hashes: hashing them again (SipHash by default) would only
/// cost time, so the map uses their low word as it is.
#[derive(Default, Clone, Copy)]
pub struct PrehashedKey(u64);

impl std::hash::Hasher for PrehashedKey {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 ^= u64::from_le_bytes(word);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

/// One column's values as the hashes read them.
enum Values<'a> {
    Text(&'a arrow_array::StringArray),
    Micros(&'a arrow_array::TimestampMicrosecondArray),
    Days(&'a arrow_array::Date32Array),
    Float(&'a arrow_array::Float64Array),
    Bool(&'a arrow_array::BooleanArray),
    TextList(&'a arrow_array::ListArray),
}

impl<'a> Values<'a> {
    fn of(col: &'a ArrayRef) -> Result<Values<'a>, EtlError> {
        Ok(match col.data_type() {
            DataType::Utf8 => Values::Text(col.as_string::<i32>()),
            DataType::Timestamp(_, _) => {
                Values::Micros(col.as_primitive::<TimestampMicrosecondType>())
            }
            DataType::Date32 => Values::Days(col.as_primitive::<Date32Type>()),
            DataType::Float64 => Values::Float(col.as_primitive::<Float64Type>()),
            DataType::Boolean => Values::Bool(col.as_boolean()),
            DataType::List(_) => Values::TextList(col.as_list::<i32>()),
            other => {
                return Err(EtlError::Arrow(ArrowError::InvalidArgumentError(format!(
                    "a column of type {other} cannot be compared"
                ))));
            }
        })
    }

    /// Appends row `row`'s value as typed bytes with separators (so `("a","bc")` and
    /// `("ab","c")` differ, and a null differs from every value).
    fn append(&self, row: usize, buf: &mut Vec<u8>) {
        let array: &dyn Array = match self {
            Values::Text(a) => *a,
            Values::Micros(a) => *a,
            Values::Days(a) => *a,
            Values::Float(a) => *a,
            Values::Bool(a) => *a,
            Values::TextList(a) => *a,
        };
        if array.is_null(row) {
            buf.push(0);
            return;
        }
        buf.push(1);
        match self {
            Values::Text(a) => buf.extend_from_slice(a.value(row).as_bytes()),
            Values::Micros(a) => buf.extend_from_slice(&a.value(row).to_le_bytes()),
            Values::Days(a) => buf.extend_from_slice(&a.value(row).to_le_bytes()),
            Values::Float(a) => buf.extend_from_slice(&a.value(row).to_bits().to_le_bytes()),
            Values::Bool(a) => buf.push(a.value(row) as u8),
            Values::TextList(a) => {
                let items = a.value(row);
                for item in items.as_string::<i32>().iter() {
                    buf.extend_from_slice(item.unwrap_or_default().as_bytes());
                    buf.push(0xfe);
                }
            }
        }
        buf.push(0xff);
    }
}

/// Each row's bytes over `columns`, handed to `hash`. One reused buffer: this runs for every
/// landed row.
fn hash_rows<T>(
    batch: &RecordBatch,
    columns: &[usize],
    hash: impl Fn(&[u8]) -> T,
) -> Result<Vec<T>, EtlError> {
    let values = columns
        .iter()
        .map(|&c| Values::of(batch.column(c)))
        .collect::<Result<Vec<_>, EtlError>>()?;
    let mut buf: Vec<u8> = Vec::with_capacity(64);
    let mut out = Vec::with_capacity(batch.num_rows());
    for row in 0..batch.num_rows() {
        buf.clear();
        for v in &values {
            v.append(row, &mut buf);
        }
        out.push(hash(&buf));
    }
    Ok(out)
}

/// A 128-bit hash of each row's key columns.
pub fn key_hashes(batch: &RecordBatch, key_columns: &[usize]) -> Result<Vec<u128>, EtlError> {
    hash_rows(batch, key_columns, twox_hash::XxHash3_128::oneshot)
}

/// A 32-bit hash of each row's other columns, to tell a repeated row from a conflicting one.
///
/// Column by column rather than row by row: each column's values are hashed in one tight
/// loop (numbers by a multiply-xorshift of their bits, text eight bytes at a time) and
/// folded into the row's running hash, which keeps this cheap next to the key's hash on a
/// landing's busiest thread.
pub fn content_hashes(batch: &RecordBatch, columns: &[usize]) -> Result<Vec<u32>, EtlError> {
    let mut acc = vec![0u64; batch.num_rows()];
    for &c in columns {
        let values = Values::of(batch.column(c))?;
        values.fold_into(&mut acc);
    }
    Ok(acc.into_iter().map(|h| (h ^ (h >> 32)) as u32).collect())
}

/// Folds a value's hash into a row's running hash (order matters: columns are not
/// interchangeable).
fn fold(acc: u64, value: u64) -> u64 {
    (acc.rotate_left(27) ^ value).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// A fixed 64-bit mix of a number's bits (splitmix64's finaliser).
fn mix(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// What a null folds in: distinct from every value's hash but by chance.
const NULL: u64 = 0x6e75_6c6c_6e75_6c6c;

impl Values<'_> {
    fn fold_into(&self, acc: &mut [u64]) {
        fn each<A: Array + ?Sized>(array: &A, acc: &mut [u64], hash: impl Fn(usize) -> u64) {
            if array.null_count() == 0 {
                for (row, h) in acc.iter_mut().enumerate() {
                    *h = fold(*h, hash(row));
                }
                return;
            }
            for (row, h) in acc.iter_mut().enumerate() {
                let v = if array.is_null(row) { NULL } else { hash(row) };
                *h = fold(*h, v);
            }
        }
        match self {
            Values::Text(a) => each(*a, acc, |r| text_hash(a.value(r).as_bytes())),
            Values::Micros(a) => each(*a, acc, |r| mix(a.value(r) as u64)),
            Values::Days(a) => each(*a, acc, |r| mix(a.value(r) as u64)),
            Values::Float(a) => each(*a, acc, |r| mix(a.value(r).to_bits())),
            Values::Bool(a) => each(*a, acc, |r| mix(a.value(r) as u64 + 1)),
            Values::TextList(a) => each(*a, acc, |r| {
                let mut buf = Vec::new();
                Values::TextList(a).append(r, &mut buf);
                text_hash(&buf)
            }),
        }
    }
}

/// A quick hash of a short text (ids, event types): its bytes eight at a time, folded and
/// mixed with its length. Not for adversarial input — a forged collision only makes a
/// conflicting row pass for a duplicate of its key's first row.
fn text_hash(bytes: &[u8]) -> u64 {
    let mut h = bytes.len() as u64;
    let mut words = bytes.chunks_exact(8);
    for w in &mut words {
        h = fold(h, u64::from_le_bytes(w.try_into().expect("eight bytes")));
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        let mut last = [0u8; 8];
        last[..rest.len()].copy_from_slice(rest);
        h = fold(h, u64::from_le_bytes(last));
    }
    mix(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_key_is_a_duplicate_with_the_same_values_and_a_conflict_with_others() {
        let mut seen = Seen::default();
        assert_eq!(seen.admit(7, 1), Verdict::New);
        assert_eq!(seen.admit(7, 1), Verdict::Duplicate);
        assert_eq!(seen.admit(7, 2), Verdict::Conflict);
        assert_eq!(seen.check(8, 2), Verdict::New);
        assert_eq!(seen.check(8, 2), Verdict::New, "check does not remember");
        // The first row's values stay the reference.
        assert_eq!(seen.admit(7, 1), Verdict::Duplicate);
        let mut landed = Seen::default();
        landed.extend(&[1 << 70, 5], Some(&[3, 4]));
        assert_eq!(landed.check(1 << 70, 3), Verdict::Duplicate);
        assert_eq!(landed.check(5, 9), Verdict::Conflict);
        // Keys equal in their low word are still told apart.
        assert_eq!(landed.check((1 << 70) + 5, 0), Verdict::New);
    }

    #[test]
    fn content_hashes_tell_values_nulls_and_columns_apart() {
        use std::sync::Arc;
        let text =
            |v: Vec<Option<&str>>| -> ArrayRef { Arc::new(arrow_array::StringArray::from(v)) };
        let num =
            |v: Vec<Option<f64>>| -> ArrayRef { Arc::new(arrow_array::Float64Array::from(v)) };
        let batch = RecordBatch::try_from_iter([
            (
                "a",
                text(vec![Some("x"), Some("x"), Some("x"), None, Some("y")]),
            ),
            (
                "b",
                num(vec![Some(1.0), Some(1.0), Some(2.0), Some(1.0), None]),
            ),
            (
                "c",
                text(vec![Some("y"), Some("y"), Some("y"), Some("y"), Some("x")]),
            ),
        ])
        .unwrap();
        let h = content_hashes(&batch, &[0, 1, 2]).unwrap();
        assert_eq!(h[0], h[1], "the same row");
        assert_ne!(h[0], h[2], "another number");
        assert_ne!(h[0], h[3], "a null");
        // Swapped texts across columns (and a null number) differ too.
        assert_ne!(h[0], h[4]);
        let keys = key_hashes(&batch, &[0]).unwrap();
        assert_eq!(keys[0], keys[2]);
        assert_ne!(keys[0], keys[3]);
    }

    #[test]
    fn a_conflict_with_the_lake_makes_the_lakes_row_the_reference() {
        let mut landed = Seen::default();
        landed.extend(&[1], Some(&[10]));
        let mut seen = Seen::default();
        let lake = Some(&landed);
        assert_eq!(
            judge(&mut seen, lake, 1, 11),
            Judgement::Conflict("is already in the lake")
        );
        // A copy of the lake's row later in the run is a duplicate, not a second conflict.
        assert_eq!(judge(&mut seen, lake, 1, 10), Judgement::DuplicateInRun);
        assert_eq!(judge(&mut seen, lake, 2, 5), Judgement::Land);
        assert_eq!(
            judge(&mut seen, lake, 2, 6),
            Judgement::Conflict("landed earlier in this run")
        );
        let mut fresh = Seen::default();
        assert_eq!(judge(&mut fresh, lake, 1, 10), Judgement::DuplicateLanded);
        assert_eq!(judge(&mut fresh, None, 3, 0), Judgement::Land);
    }
}
