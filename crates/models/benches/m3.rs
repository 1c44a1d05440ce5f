//! M3 accuracy bench: recast's automatic forecasts against statsforecast's on M3 Quarterly,
//! Yearly and Other, in one run.
//!
//! Why a bench and not a test: it needs public data that are not in the repository and a
//! couple of minutes of CPU. It fits every candidate recast model to each series' training
//! part (in parallel), scores the official test horizon (MASE with the in-sample
//! seasonal-naive scale, sMAPE 0-200, 80 %/95 % interval coverage, as in M4), then runs
//! `references/forecast/m3_peers.py` for statsforecast's AutoETS, AutoARIMA, AutoTheta,
//! AutoCES and their ETS-Theta-CES mean on the same splits, and prints the ratios of recast's
//! default to the best statsforecast single model and to that mean.
//!
//! The pooled choices are evaluated from one pooled backtest per series and one fit per
//! member on the whole training part, with the library functions `select()` composes
//! (`pooled_backtest`, `pooled_choice`, `combine_forecasts`); a check at the start compares
//! them with `select()` itself on a few series. The last two rows are the default with
//! conformal bands (`recast_models::forecast::conformal`) from a three-window backtest of
//! the chosen model: calibrated on each series' own errors, and on the errors of the set's
//! series pooled (as training pools a chunk's); only their coverage differs from the default.
//!
//! Environment: `RECAST_M3_DIR` (default `../../../shared/data/m3-quarterly-yearly-other`
//! from this crate), `RECAST_M3_SETS` (comma list, default all three),
//! `RECAST_M3_HOLDOUT=validation` (score on the last horizon of the training part instead of
//! the test part, statsforecast's peers too: how the rule was tuned, never looking at the
//! test data),
//! `RECAST_BENCH_PYTHON` (default `python3`), `RECAST_M3_DUMP` (append every series' backtest
//! score and held-out MASE and sMAPE of every mean and median combination of the members to
//! this CSV file, for studying choice rules). Run:
//! `RECAST_BENCH_PYTHON=/root/.venvs/recast-fc/bin/python cargo bench -p recast-models --bench m3`

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

mod common;

use common::{Row, peer_rows, peers, print_table};
use rayon::prelude::*;
use recast_models::forecast::backtest::{BacktestConfig, rolling_origin_kept, score};
use recast_models::forecast::combination::{Combine, combine_forecasts};
use recast_models::forecast::conformal::Calibration;
use recast_models::forecast::select::{
    PoolCandidate, PoolRule, PooledConfig, SelectionMethod, pooled_backtest, pooled_choice, select,
};
use recast_models::forecast::{Forecast, ModelSpec};

const LEVELS: [f64; 2] = [80.0, 95.0];
const SETS: [(&str, usize, usize); 3] = [("quarterly", 4, 8), ("yearly", 1, 6), ("other", 1, 8)];

struct Series {
    id: String,
    train: Vec<f64>,
    test: Vec<f64>,
}

/// Reads one long-form M3 file: `series_id,category,start_year,start_period,t,y,split`.
fn load(path: &Path) -> Result<Vec<Series>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out: Vec<Series> = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if f.len() != 7 {
            return Err(format!("{}:{}: expected 7 fields", path.display(), i + 1));
        }
        let y: f64 = f[5]
            .parse()
            .map_err(|e| format!("{}:{}: {e}", path.display(), i + 1))?;
        let id = f[0].trim();
        if out.last().is_none_or(|s| s.id != id) {
            out.push(Series {
                id: id.to_string(),
                train: Vec::new(),
                test: Vec::new(),
            });
        }
        let s = out.last_mut().expect("pushed above");
        match f[6] {
            "train" => s.train.push(y),
            "test" => s.test.push(y),
            other => return Err(format!("{}:{}: split {other}", path.display(), i + 1)),
        }
    }
    Ok(out)
}

/// Validation mode: the last `h` training points become the test part.
fn to_validation(s: Series, h: usize) -> Series {
    let cut = s.train.len() - h;
    Series {
        id: s.id,
        test: s.train[cut..].to_vec(),
        train: s.train[..cut].to_vec(),
    }
}

/// The pooled rules compared; the first is recast's default ([`PooledConfig::standard`]).
fn rules(h: usize) -> Vec<(String, PooledConfig)> {
    let std = PooledConfig::standard(h);
    let with = |reference: usize, rule: PoolRule| PooledConfig {
        reference,
        rule,
        ..std.clone()
    };
    let comb = |margin: f64| with(5, PoolRule::CombinationUnlessBeaten { margin });
    let top = |k: usize, how: Combine| with(5, PoolRule::TopMembers { k, how });
    vec![
        (
            "DEFAULT pooled (PooledConfig::standard)".into(),
            std.clone(),
        ),
        ("pooled: best of 7".into(), with(5, PoolRule::Best)),
        (
            "pooled: mean4 unless beaten 0.9".into(),
            with(5, PoolRule::ReferenceUnlessBeaten { margin: 0.9 }),
        ),
        (
            "pooled: mean4 unless beaten 0.8".into(),
            with(5, PoolRule::ReferenceUnlessBeaten { margin: 0.8 }),
        ),
        ("pooled: best combination".into(), comb(0.0)),
        (
            "pooled: before the weighted mean (to 12-07)".into(),
            comb(0.2),
        ),
        (
            "pooled: weighted 1/MASE^2 unless single 0.2".into(),
            with(
                5,
                PoolRule::WeightedUnlessBeaten {
                    margin: 0.2,
                    power: 2.0,
                },
            ),
        ),
        ("pooled: best comb. unless single 0.6".into(), comb(0.6)),
        ("pooled: best comb. unless single 0.7".into(), comb(0.7)),
        ("pooled: best comb. unless single 0.8".into(), comb(0.8)),
        (
            "pooled: mean of top 2 members".into(),
            top(2, Combine::Mean),
        ),
        (
            "pooled: mean of top 3 members".into(),
            top(3, Combine::Mean),
        ),
        (
            "pooled: median of top 3 members".into(),
            top(3, Combine::Median),
        ),
    ]
}

/// Names of the fixed (non-pooled) recast rows, in the order of [`fixed_forecasts`].
const FIXED: [&str; 7] = [
    "auto_ets (AICc, previous default)",
    "auto_arima",
    "auto_theta",
    "auto_ces",
    "mean(ets,theta,ces)",
    "mean(ets,arima,theta,ces)",
    "median(ets,arima,theta,ces)",
];

struct SeriesResult {
    rows: Vec<Row>,
    failures: Vec<String>,
    choices: Vec<String>,
    /// The default's forecast, its calibration and the seconds both took.
    calibrated: Option<(Forecast, Option<Calibration>, f64)>,
    /// Per candidate of [`all_candidates`]: backtest score, held-out MASE and sMAPE.
    dump: Vec<(String, f64, f64, f64)>,
    /// Per member: label, backtest score and point forecast (`RECAST_M3_DUMP` only).
    member_points: Vec<(String, f64, Vec<f64>)>,
}

/// Every mean combination of the standard members, and the median of each three or more:
/// the candidates `RECAST_M3_DUMP` writes, for tuning rules outside the bench.
fn all_candidates(members: usize) -> Vec<PoolCandidate> {
    let mut out = Vec::new();
    for mask in 1u32..(1 << members) {
        let m: Vec<usize> = (0..members).filter(|i| mask & (1 << i) != 0).collect();
        if m.len() >= 3 {
            out.push(PoolCandidate::combined(Combine::Median, &m));
        }
        out.push(PoolCandidate::combined(Combine::Mean, &m));
    }
    out
}

fn naive(y: &[f64], h: usize) -> Forecast {
    ModelSpec::Naive
        .fit(y, 1)
        .expect("naive fits any non-empty series")
        .forecast(h, &LEVELS)
}

/// `c`'s forecast from its members' (a member that could not be fitted left out, with its
/// weight); `None` when none could be.
fn candidate_forecast(
    c: &PoolCandidate,
    member_fc: &[Option<Forecast>],
    h: usize,
) -> Option<Forecast> {
    let blank = Forecast {
        mean: vec![f64::NAN; h],
        intervals: Vec::new(),
    };
    let fs: Vec<&Forecast> = c
        .members
        .iter()
        .map(|&m| member_fc[m].as_ref().unwrap_or(&blank))
        .collect();
    let fc = combine_forecasts((c.how, c.weights.as_deref()), &fs, h, &LEVELS);
    fc.mean.iter().any(|v| v.is_finite()).then_some(fc)
}

/// Fits and scores one series; `dump`: also score every candidate of [`all_candidates`]
/// (only `RECAST_M3_DUMP` reads them).
fn run_series(s: &Series, season: usize, h: usize, dump: bool) -> SeriesResult {
    let cfg = PooledConfig::standard(h);
    let mut failures = Vec::new();
    let mut member_fc = Vec::new();
    let mut member_secs = Vec::new();
    for spec in &cfg.members {
        let t0 = Instant::now();
        let fc = spec
            .fit(&s.train, season)
            .map(|m| m.forecast(h, &LEVELS))
            .map_err(|e| failures.push(format!("{} {}: {e}", s.id, spec.label())))
            .ok();
        member_secs.push(t0.elapsed().as_secs_f64());
        member_fc.push(fc);
    }
    // Candidate forecasts from the member fits, in PooledConfig::standard's order.
    let cand_fc: Vec<Option<Forecast>> = cfg
        .candidates
        .iter()
        .map(|c| candidate_forecast(c, &member_fc, h))
        .collect();
    let cand_secs: Vec<f64> = cfg
        .candidates
        .iter()
        .map(|c| c.members.iter().map(|&m| member_secs[m]).sum())
        .collect();
    let mut rows = Vec::new();
    let mut row = |fc: Option<&Forecast>, seconds: f64| {
        let fallback;
        let fc = match fc {
            Some(f) if f.mean.iter().all(|v| v.is_finite()) => f,
            _ => {
                fallback = naive(&s.train, h);
                &fallback
            }
        };
        rows.push(Row::of(&score(&s.test, fc, &s.train, season), seconds));
    };
    for (i, _) in FIXED.iter().enumerate() {
        row(cand_fc[i].as_ref(), cand_secs[i]);
    }
    let t0 = Instant::now();
    let bt = pooled_backtest(&s.train, season, &cfg);
    let bt_secs = t0.elapsed().as_secs_f64();
    let all_secs: f64 = member_secs.iter().sum::<f64>() + bt_secs;
    let mut choices = Vec::new();
    let mut default_fc = None;
    for (_, rule_cfg) in rules(h) {
        let chosen = pooled_choice(&bt, &rule_cfg).chosen;
        let fc = candidate_forecast(&chosen, &member_fc, h);
        row(fc.as_ref(), all_secs);
        if default_fc.is_none() {
            default_fc = Some((chosen.spec(&cfg.members), fc));
        }
        choices.push(chosen.spec(&cfg.members).label());
    }
    // The default's bands calibrated as training does: a three-window backtest of the chosen
    // model, `h` apart, whose errors calibrate the bands (see `finish_calibrated`).
    let (spec, fc) = default_fc.expect("rules(h) starts with the default");
    let t0 = Instant::now();
    let cal = conformal(&s.train, season, &spec, h);
    let candidates = if dump {
        all_candidates(cfg.members.len())
    } else {
        Vec::new()
    };
    let dump = candidates
        .iter()
        .map(|c| {
            let all_fitted = c.members.iter().all(|&m| member_fc[m].is_some());
            let fc = candidate_forecast(c, &member_fc, h)
                .filter(|_| all_fitted)
                .unwrap_or_else(|| naive(&s.train, h));
            let m = score(&s.test, &fc, &s.train, season);
            (c.spec(&cfg.members).label(), bt.score(c), m.mase, m.smape)
        })
        .collect();
    let member_points = if candidates.is_empty() {
        Vec::new()
    } else {
        cfg.members
            .iter()
            .zip(&member_fc)
            .enumerate()
            .map(|(i, (spec, fc))| {
                let points = fc
                    .as_ref()
                    .map_or_else(|| naive(&s.train, h).mean, |f| f.mean.clone());
                (spec.label(), bt.score(&PoolCandidate::single(i)), points)
            })
            .collect()
    };
    SeriesResult {
        rows,
        failures,
        choices,
        dump,
        member_points,
        calibrated: fc.map(|fc| (fc, cal, all_secs + t0.elapsed().as_secs_f64())),
    }
}

/// The calibration of `spec` on `y` from a backtest of three windows of `h` (else one), as
/// training runs it; `None` when neither backtest runs.
fn conformal(y: &[f64], season: usize, spec: &ModelSpec, h: usize) -> Option<Calibration> {
    [3, 1].into_iter().find_map(|windows| {
        let cfg = BacktestConfig {
            horizon: h,
            step: h,
            windows,
            levels: LEVELS.to_vec(),
        };
        let report = rolling_origin_kept(y, season, spec, &cfg).ok()?;
        Calibration::from_windows(&report.windows)
    })
}

/// Rows of the default with conformal bands: each series' own calibration, and the one
/// pooled over the set's series.
fn calibrated_rows(s: &[Series], results: &mut [SeriesResult], season: usize) {
    let pooled = Calibration::pool(
        results
            .iter()
            .filter_map(|r| r.calibrated.as_ref().and_then(|c| c.1.as_ref())),
    );
    for (series, r) in s.iter().zip(results.iter_mut()) {
        // No forecast at all (every member failed): the naive fallback, as in `run_series`.
        let (fc, cal, secs) = r
            .calibrated
            .take()
            .unwrap_or_else(|| (naive(&series.train, series.test.len()), None, 0.0));
        for by in [cal.as_ref(), pooled.as_ref()] {
            let band = by.map_or_else(|| fc.clone(), |c| c.apply(&fc, &LEVELS).0);
            let m = score(&series.test, &band, &series.train, season);
            r.rows.push(Row::of(&m, secs));
        }
    }
}

/// `select()` with the default pooled method must choose what the bench's composition does.
fn check_against_select(series: &[Series], season: usize, h: usize) {
    let cfg = PooledConfig::standard(h);
    for s in series.iter().take(3) {
        let sel = select(&s.train, season, &SelectionMethod::Pooled(cfg.clone()))
            .expect("select on an M3 series");
        let ours = run_series(s, season, h, false).choices.swap_remove(0);
        assert_eq!(
            sel.spec.label(),
            ours,
            "{}: select() and the bench disagree",
            s.id
        );
    }
}

/// A choice's label without its weights (`weighted(auto_ets:0.31+...)` becomes
/// `weighted(auto_ets+...)`), so that choices can be counted by kind.
fn without_weights(label: &str) -> String {
    label
        .split('+')
        .map(|part| match part.split_once(':') {
            Some((member, rest)) if rest.ends_with(')') => format!("{member})"),
            Some((member, _)) => member.to_string(),
            None => part.to_string(),
        })
        .collect::<Vec<_>>()
        .join("+")
}

/// Appends one line per series and candidate: set, series, candidate, backtest score,
/// held-out MASE and sMAPE (`RECAST_M3_DUMP`).
fn dump(path: &Path, set: &str, series: &[Series], results: &[SeriesResult]) {
    use std::io::Write;
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("RECAST_M3_DUMP names a writable file");
    let mut points = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path.with_extension("points"))
        .expect("RECAST_M3_DUMP's folder is writable");
    let join = |v: &[f64]| v.iter().map(f64::to_string).collect::<Vec<_>>().join(";");
    for (s, r) in series.iter().zip(results) {
        for (label, bt, mase, smape) in &r.dump {
            writeln!(out, "{set},{},\"{label}\",{bt},{mase},{smape}", s.id).expect("dump written");
        }
        writeln!(points, "{set},{},train,0,{}", s.id, join(&s.train)).expect("points written");
        writeln!(points, "{set},{},test,0,{}", s.id, join(&s.test)).expect("points written");
        for (label, bt, fc) in &r.member_points {
            writeln!(points, "{set},{},{label},{bt},{}", s.id, join(fc)).expect("points written");
        }
    }
}

fn data_dir() -> PathBuf {
    std::env::var_os("RECAST_M3_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../../shared/data/m3-quarterly-yearly-other")
        })
}

fn print_ratios(title: &str, ours: &Row, peer: &[(String, Row)]) {
    let singles = ["AutoETS", "AutoARIMA", "AutoTheta", "CES"];
    let best = peer
        .iter()
        .filter(|(n, _)| singles.iter().any(|s| n.ends_with(s)))
        .min_by(|a, b| a.1.mase.total_cmp(&b.1.mase));
    let combo = peer
        .iter()
        .find(|(n, _)| n.ends_with("mean(ETS,Theta,CES)"));
    if let (Some(best), Some(combo)) = (best, combo) {
        println!(
            "{title}: recast default MASE {:.4} / best statsforecast single ({}) {:.4} = {:.4}; \
             / statsforecast mean(ETS,Theta,CES) {:.4} = {:.4}",
            ours.mase,
            best.0.trim_start_matches("statsforecast "),
            best.1.mase,
            ours.mase / best.1.mase,
            combo.1.mase,
            ours.mase / combo.1.mase
        );
    }
}

fn main() {
    let dir = data_dir();
    if !dir.is_dir() {
        println!(
            "M3 data not found at {} (set RECAST_M3_DIR): bench skipped",
            dir.display()
        );
        return;
    }
    let dir = dir.canonicalize().unwrap_or(dir);
    let validation = std::env::var("RECAST_M3_HOLDOUT").is_ok_and(|v| v == "validation");
    let dump_to = std::env::var_os("RECAST_M3_DUMP");
    let wanted: Vec<String> = std::env::var("RECAST_M3_SETS")
        .map(|s| s.split(',').map(|x| x.trim().to_string()).collect())
        .unwrap_or_else(|_| SETS.iter().map(|s| s.0.to_string()).collect());
    let sets: Vec<_> = SETS
        .iter()
        .filter(|s| wanted.iter().any(|w| w == s.0))
        .collect();
    println!(
        "M3 from {}; scored on the {} part; {} rayon threads",
        dir.display(),
        if validation {
            "VALIDATION (last horizon of train)"
        } else {
            "test"
        },
        rayon::current_num_threads()
    );
    let mut names: Vec<String> = FIXED.iter().map(|s| s.to_string()).collect();
    names.extend(rules(1).into_iter().map(|r| r.0));
    names.push("default, conformal bands per series".into());
    names.push("default, conformal bands pooled".into());
    let mut overall = vec![Row::default(); names.len()];
    let mut recast_sets = BTreeMap::new();
    for &&(set, season, h) in &sets {
        let mut series = match load(&dir.join(format!("{set}.csv"))) {
            Ok(s) => s,
            Err(e) => {
                println!("{set}: {e}; skipped");
                continue;
            }
        };
        if validation {
            series = series.into_iter().map(|s| to_validation(s, h)).collect();
        }
        check_against_select(&series, season, h);
        let wall = Instant::now();
        let mut results: Vec<SeriesResult> = series
            .par_iter()
            .map(|s| run_series(s, season, h, dump_to.is_some()))
            .collect();
        calibrated_rows(&series, &mut results, season);
        if let Some(path) = &dump_to {
            dump(Path::new(path), set, &series, &results);
        }
        let wall = wall.elapsed().as_secs_f64();
        let mut sums = vec![Row::default(); names.len()];
        let mut chosen = BTreeMap::<String, usize>::new();
        for r in &results {
            for (acc, row) in sums.iter_mut().zip(&r.rows) {
                acc.add(row);
            }
            *chosen.entry(without_weights(&r.choices[0])).or_default() += 1;
            for f in &r.failures {
                println!("  fit failed: {f}");
            }
        }
        for (acc, s) in overall.iter_mut().zip(&sums) {
            acc.add(s);
        }
        let rows: Vec<(String, Row)> = names
            .iter()
            .cloned()
            .zip(sums.iter().map(Row::mean))
            .collect();
        print_table(
            &format!(
                "{set} (m={season}, h={h}, {} series, {wall:.1} s wall; seconds = CPU summed over series)",
                series.len()
            ),
            &rows,
        );
        let picks: Vec<String> = chosen.iter().map(|(l, n)| format!("{l} {n}")).collect();
        println!("default's choices: {}", picks.join(", "));
        recast_sets.insert(set, rows);
    }
    let overall_rows: Vec<(String, Row)> = names
        .iter()
        .cloned()
        .zip(overall.iter().map(Row::mean))
        .collect();
    print_table("overall (mean over all series)", &overall_rows);
    let set_names: Vec<&str> = sets.iter().map(|s| s.0).collect();
    let mut args = vec![dir.as_os_str()];
    args.extend(set_names.iter().map(std::ffi::OsStr::new));
    let Some(peer) = peers("m3_peers.py", &args) else {
        return;
    };
    let mut peer_overall: BTreeMap<String, Row> = BTreeMap::new();
    for set in &set_names {
        let pr = peer_rows(peer.get(set));
        for (n, r) in &pr {
            let acc = peer_overall.entry(n.clone()).or_default();
            let w = r.n as f64;
            acc.add(&Row {
                mase: r.mase * w,
                smape: r.smape * w,
                cov80: r.cov80 * w,
                cov95: r.cov95 * w,
                seconds: r.seconds,
                n: r.n,
            });
        }
        let mut rows = recast_sets.get(set).cloned().unwrap_or_default();
        let ours = rows
            .iter()
            .find(|r| r.0.starts_with("DEFAULT"))
            .map(|r| r.1);
        if let (Some(o), Some(ets)) = (ours, rows.first()) {
            println!(
                "{set}: recast default / recast {} = {:.4}",
                ets.0,
                o.mase / ets.1.mase
            );
        }
        rows.iter_mut()
            .for_each(|r| r.0 = format!("recast {}", r.0));
        rows.extend(pr.iter().cloned());
        print_table(
            &format!(
                "{set}: recast and statsforecast {}",
                peer["statsforecast"].as_str().unwrap_or("?")
            ),
            &rows,
        );
        if let Some(ours) = ours {
            print_ratios(set, &ours, &pr);
        }
    }
    let pr: Vec<(String, Row)> = peer_overall
        .into_iter()
        .map(|(n, r)| (n, r.mean()))
        .collect();
    let mut rows: Vec<(String, Row)> = overall_rows
        .iter()
        .map(|(n, r)| (format!("recast {n}"), *r))
        .collect();
    rows.extend(pr.iter().cloned());
    print_table("overall: recast and statsforecast", &rows);
    if let Some((_, ours)) = overall_rows.iter().find(|r| r.0.starts_with("DEFAULT")) {
        println!(
            "overall: recast default / recast {} = {:.4}",
            overall_rows[0].0,
            ours.mase / overall_rows[0].1.mase
        );
        print_ratios("overall", ours, &pr);
    }
}
