//! Hourly series modelled on the local clock: the hours are observed in UTC, but a store
//! opens by its wall clock, so in UTC its daily cycle moves an hour at every daylight-saving
//! change and a 24- or 168-hour season is out of step for the months in between.
//!
//! How: a [`HourClock`] gives the UTC offset in force at each observation. The series is
//! re-indexed onto local hours ("slots", 24 to every local day) before any model sees it:
//! the hour skipped in spring is filled by interpolating its neighbours, the hour repeated in
//! autumn holds the mean of its two observations. The model is fitted and forecast on slots
//! ([`ModelSpec::LocalTime`]), and every forecast step, band, fitted value and part is read
//! back at the slot of its UTC hour, so callers keep UTC hours throughout.
//!
//! The clock knows no time zones or dates (this crate has none): the caller lists the
//! offsets from a time-zone database. Where the first forecast hour repeats the last
//! observed one (a series ending in the first of autumn's two repeated hours), it takes the
//! first forecast slot.

use serde::{Deserialize, Serialize};

use super::{FitLeaf, FittedModel, Forecast, ForecastError, Interval, ModelSpec};

/// UTC offsets of an hourly series: `changes[j] = (i, hours)` puts the offset at `hours`
/// from observation `i` on (index 0 = the series' first hour), until the next change; the
/// first entry is at index 0, and the last holds beyond the list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HourClock {
    pub changes: Vec<(usize, i32)>,
}

impl HourClock {
    /// A clock with a fixed offset.
    pub fn fixed(hours: i32) -> HourClock {
        HourClock {
            changes: vec![(0, hours)],
        }
    }

    /// Checks the list: it starts at index 0, indices increase and offsets stay within a day.
    pub fn check(&self) -> Result<(), ForecastError> {
        let bad = |why: &str| Err(ForecastError::InvalidInput(format!("local clock: {why}")));
        match self.changes.first() {
            Some((0, _)) => {}
            _ => return bad("the first offset must start at observation 0"),
        }
        if self.changes.windows(2).any(|w| w[1].0 <= w[0].0) {
            return bad("offset changes must be in increasing order");
        }
        if self.changes.iter().any(|c| c.1.abs() > 24) {
            return bad("an offset must be within 24 hours");
        }
        Ok(())
    }

    /// The offset in force at observation `i`.
    pub fn offset(&self, i: usize) -> i32 {
        let at = self.changes.partition_point(|c| c.0 <= i);
        self.changes[at.saturating_sub(1)].1
    }

    /// The local hour of observation `i`, counted from the first observation's.
    pub fn slot(&self, i: usize) -> usize {
        let local = i as i64 + i64::from(self.offset(i)) - i64::from(self.offset(0));
        usize::try_from(local).unwrap_or(0)
    }

    /// `y` on local hours: repeated hours averaged, skipped hours interpolated (or carried
    /// from the nearest observed one at either end).
    pub fn to_slots(&self, y: &[f64]) -> Vec<f64> {
        let Some(last) = y.len().checked_sub(1) else {
            return Vec::new();
        };
        let len = self.slot(last) + 1;
        let (mut sum, mut count) = (vec![0.0; len], vec![0u32; len]);
        for (i, v) in y.iter().enumerate() {
            let s = self.slot(i).min(len - 1);
            sum[s] += v;
            count[s] += 1;
        }
        let mut out: Vec<Option<f64>> = sum
            .iter()
            .zip(&count)
            .map(|(s, &c)| (c > 0).then(|| s / f64::from(c)))
            .collect();
        fill_gaps(&mut out);
        out.into_iter().map(|v| v.unwrap_or(0.0)).collect()
    }

    /// Forecast slots needed for `h` UTC hours after `n` observations.
    pub fn future_slots(&self, n: usize, h: usize) -> usize {
        if h == 0 || n == 0 {
            return h;
        }
        (self.slot(n + h - 1).saturating_sub(self.slot(n - 1))).max(1)
    }

    /// The forecast slot (0 = the first after the history) of UTC step `s` after `n`
    /// observations.
    fn future_slot(&self, n: usize, s: usize) -> usize {
        let last = if n == 0 { 0 } else { self.slot(n - 1) };
        self.slot(n + s).saturating_sub(last + 1)
    }

    /// Reads `h` UTC steps out of per-slot `values` forecast after `n` observations.
    fn pick(&self, n: usize, h: usize, values: &[f64]) -> Vec<f64> {
        (0..h)
            .map(|s| {
                let at = self.future_slot(n, s).min(values.len().saturating_sub(1));
                values.get(at).copied().unwrap_or(f64::NAN)
            })
            .collect()
    }
}

/// Linear interpolation over runs of `None`, carrying the nearest value at the ends.
fn fill_gaps(v: &mut [Option<f64>]) {
    let known: Vec<usize> = (0..v.len()).filter(|&i| v[i].is_some()).collect();
    let (Some(&first), Some(&last)) = (known.first(), known.last()) else {
        return;
    };
    for i in 0..v.len() {
        if v[i].is_some() {
            continue;
        }
        v[i] = if i < first {
            v[first]
        } else if i > last {
            v[last]
        } else {
            let at = known.partition_point(|&k| k < i);
            let (before, after) = (known[at - 1], known[at]);
            let (a, b) = (v[before].unwrap_or(0.0), v[after].unwrap_or(0.0));
            let w = (i - before) as f64 / (after - before) as f64;
            Some(a + w * (b - a))
        };
    }
}

/// `model` fitted on the local hours of `n` UTC observations.
#[derive(Debug)]
pub struct LocalTime {
    model: Box<dyn FittedModel>,
    clock: HourClock,
    n: usize,
    /// Hours skipped (interpolated) and repeated (averaged) in the history.
    skipped: usize,
    repeated: usize,
}

impl LocalTime {
    /// Fits `inner` on the local hours of `y` (its leaves by `leaf`, see
    /// [`ModelSpec::fit_through`]).
    pub fn fit(
        y: &[f64],
        season: usize,
        inner: &ModelSpec,
        clock: &HourClock,
        leaf: &mut FitLeaf<'_>,
    ) -> Result<LocalTime, ForecastError> {
        clock.check()?;
        let model = inner.fit_through(&clock.to_slots(y), season, leaf)?;
        Ok(LocalTime::around(model, clock, y.len()))
    }

    /// `model`, already fitted on `clock.to_slots(y)` of `n` observations, read in UTC.
    pub fn around(model: Box<dyn FittedModel>, clock: &HourClock, n: usize) -> LocalTime {
        // Slots never decrease: a repeated hour shares its predecessor's slot.
        let slots = if n == 0 { 0 } else { clock.slot(n - 1) + 1 };
        let repeated = (1..n)
            .filter(|&i| clock.slot(i) == clock.slot(i - 1))
            .count();
        LocalTime {
            model,
            skipped: slots + repeated - n,
            repeated,
            clock: clock.clone(),
            n,
        }
    }
}

impl FittedModel for LocalTime {
    fn name(&self) -> String {
        format!("{} on local time", self.model.name())
    }

    fn forecast(&self, h: usize, levels: &[f64]) -> Forecast {
        let k = self.clock.future_slots(self.n, h);
        let fc = self.model.forecast(k, levels);
        let pick = |v: &[f64]| self.clock.pick(self.n, h, v);
        Forecast {
            mean: pick(&fc.mean),
            intervals: fc
                .intervals
                .iter()
                .map(|iv| Interval {
                    level: iv.level,
                    lower: pick(&iv.lower),
                    upper: pick(&iv.upper),
                })
                .collect(),
        }
    }

    fn aicc(&self) -> Option<f64> {
        self.model.aicc()
    }

    fn loglik(&self) -> Option<f64> {
        self.model.loglik()
    }

    fn params(&self) -> serde_json::Value {
        self.model.params()
    }

    fn fitted(&self) -> Vec<f64> {
        let inner = self.model.fitted();
        (0..self.n)
            .map(|i| inner.get(self.clock.slot(i)).copied().unwrap_or(f64::NAN))
            .collect()
    }

    fn notes(&self) -> Vec<String> {
        let mut notes = self.model.notes();
        notes.push(format!(
            "fitted on the local clock: {} hour(s) skipped by a clock change interpolated, {} \
             repeated hour(s) averaged",
            self.skipped, self.repeated
        ));
        notes
    }

    fn components(&self, h: usize) -> Option<Vec<(String, Vec<f64>)>> {
        let k = self.clock.future_slots(self.n, h);
        let parts = self.model.components(k)?;
        Some(
            parts
                .into_iter()
                .map(|(name, v)| (name, self.clock.pick(self.n, h, &v)))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forecast::fit_leaf;

    /// Central European time around 2026's spring change (29 March, 01:00 UTC) for a series
    /// starting at 00:00 UTC on 28 March, and around the autumn change (25 October, 01:00
    /// UTC) for one starting at 00:00 UTC on 24 October.
    fn spring() -> HourClock {
        HourClock {
            changes: vec![(0, 1), (25, 2)],
        }
    }
    fn autumn() -> HourClock {
        HourClock {
            changes: vec![(0, 2), (25, 1)],
        }
    }

    #[test]
    fn the_skipped_hour_is_interpolated_and_the_repeated_one_averaged() {
        let y: Vec<f64> = (0..48).map(|i| i as f64).collect();
        let s = spring().to_slots(&y);
        // 48 UTC hours cover 49 local ones; local 02:00 on the 29th (slot 25) is between
        // the observations of slots 24 and 26.
        assert_eq!(s.len(), 49);
        assert_eq!((s[24], s[25], s[26]), (24.0, 24.5, 25.0));
        let a = autumn().to_slots(&y);
        // ... and 47 in autumn: local 02:00 on the 25th (slot 24) was observed twice.
        assert_eq!(a.len(), 47);
        assert_eq!((a[24], a[25], a[26]), (24.5, 26.0, 27.0));
        assert_eq!(HourClock::fixed(3).to_slots(&y), y);
        let fitted = |clock: &HourClock| {
            let slots = clock.to_slots(&y);
            let model = ModelSpec::Naive.fit(&slots, 1).unwrap();
            LocalTime::around(model, clock, y.len()).notes().join(" ")
        };
        assert!(
            fitted(&spring())
                .contains("1 hour(s) skipped by a clock change interpolated, 0 repeated")
        );
        assert!(
            fitted(&autumn())
                .contains("0 hour(s) skipped by a clock change interpolated, 1 repeated")
        );
    }

    #[test]
    fn a_local_daily_cycle_is_forecast_in_step_across_a_clock_change() {
        // A store busy from 09:00 to 18:00 local time, observed in UTC for four weeks
        // before the autumn change and forecast over it.
        let clock = HourClock {
            changes: vec![(0, 2), (28 * 24 + 1, 1)],
        };
        let n = 28 * 24;
        let local_hour = |i: usize| (clock.slot(i) + 2) % 24;
        let demand = |i: usize| {
            if (9..18).contains(&local_hour(i)) {
                10.0
            } else {
                1.0
            }
        };
        let y: Vec<f64> = (0..n).map(demand).collect();
        let m = LocalTime::fit(&y, 24, &ModelSpec::SeasonalNaive, &clock, &mut fit_leaf).unwrap();
        let fc = m.forecast(72, &[80.0]);
        for (s, v) in fc.mean.iter().enumerate() {
            assert_eq!(*v, demand(n + s), "step {s}");
        }
        assert_eq!(fc.intervals[0].lower.len(), 72);
        // In UTC the same model is an hour out for the two days after the change.
        let utc = ModelSpec::SeasonalNaive
            .fit(&y, 24)
            .unwrap()
            .forecast(72, &[]);
        let wrong = (0..72).filter(|&s| utc.mean[s] != demand(n + s)).count();
        assert!(wrong >= 4, "{wrong}");
        assert_eq!(m.fitted().len(), n);
        assert!(m.name().ends_with("on local time"));
    }

    #[test]
    fn a_bad_clock_is_refused() {
        let bad = HourClock {
            changes: vec![(3, 1)],
        };
        assert!(LocalTime::fit(&[1.0; 48], 24, &ModelSpec::Naive, &bad, &mut fit_leaf).is_err());
        let unordered = HourClock {
            changes: vec![(0, 1), (5, 2), (5, 1)],
        };
        assert!(unordered.check().is_err());
    }
}
