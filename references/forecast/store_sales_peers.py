"""Peer figures for the store-sales bench: statsforecast on the Rossmann sample's stores.

`daily` (the default mode): each store's daily `Sales` (days missing from the file count as
closed, 0) is fitted on all but its last H days with a weekly season by AutoETS, AutoARIMA,
AutoTheta, AutoCES, MSTL (periods 7 and 365, AutoETS trend) and the mean of ETS, Theta and
CES. `weekly`: the days summed in blocks of seven ending on each store's last day (an
incomplete first block dropped), all but the last H weeks fitted by AutoETS with season 52.
`regressors`: AutoARIMA with the store's promo, school-holiday, state-holiday (0/1) and open
flags as exogenous regressors, their actual values over the held-out days (closed or missing
days: 0 sales, no promotion, closed). Each forecasts the held-out stretch with 80 % and 95 %
intervals; scores and the
ETS-Theta-CES mean as in the M3 bench (`peer_scores.py`). Times exclude numba's compilation
(each model is first fitted once on one series, untimed).

`cargo bench -p recast-models --bench store_sales` runs this script and prints its rows next
to recast's. Output: JSON on stdout, {model: {mase, smape, cov80, cov95, seconds, n}}.
Run: /root/.venvs/recast-fc/bin/python references/forecast/store_sales_peers.py CSV H [daily|weekly|regressors]
With RECAST_STORE_HOLDOUT=validation the daily mode drops each store's last H days first and
scores the H days before them (the bench's validation mode), so recast's models can be
compared with statsforecast's while a choice is tuned, without the test part.
"""

import json
import os
import sys
import time
import warnings

import pandas as pd
from peer_scores import LEVELS, model_rows, scores, summary
from rossmann import load_days
from statsforecast import StatsForecast
from statsforecast.models import MSTL, AutoARIMA, AutoCES, AutoETS, AutoTheta

warnings.simplefilter("ignore")


def load(path):
    """Each store's daily sales as a series by date (`rossmann.load_days`)."""
    return {sid: f.set_index("ds")["y"].rename_axis(None) for sid, f in load_days(path).items()}


def weekly(s):
    """Sums of seven-day blocks ending on the last day, indexed by each block's last day."""
    n = len(s) // 7 * 7
    tail = s.iloc[len(s) - n :]
    sums = tail.to_numpy().reshape(-1, 7).sum(axis=1)
    return pd.Series(sums, index=tail.index[6::7])


def run(series, h, m, freq, models):
    frames, tests, trains = [], {}, {}
    for sid, s in series.items():
        train, test = s.iloc[:-h], s.iloc[-h:]
        trains[sid], tests[sid] = train.to_numpy(), test.to_numpy()
        frames.append(pd.DataFrame({"unique_id": sid, "ds": train.index, "y": train.to_numpy()}))
    train_df = pd.concat(frames)
    fcs, secs = {}, {}
    first = train_df[train_df.unique_id == train_df.unique_id.iloc[0]]
    for label, model in models.items():
        # numba compiles on the first fit: warm up on one series so the time is the fitting.
        StatsForecast(models=[model], freq=freq, n_jobs=1).forecast(df=first, h=h, level=LEVELS)
        t0 = time.time()
        sf = StatsForecast(models=[model], freq=freq, n_jobs=1)
        fc = sf.forecast(df=train_df, h=h, level=LEVELS)
        secs[label] = time.time() - t0
        fcs[label] = {k: g.sort_values("ds") for k, g in fc.groupby("unique_id")}

    def one(label, sid):
        g = fcs[label][sid]
        bounds = {lv: (g[f"{label}-lo-{lv}"].to_numpy(float), g[f"{label}-hi-{lv}"].to_numpy(float)) for lv in LEVELS}
        return g[label].to_numpy(float), bounds

    def per_series(col_of):
        return summary([scores(trains[sid], tests[sid], *col_of(sid), m) for sid in sorted(series)])

    return model_rows(list(models), secs, one, per_series)


EXOG = ["promo", "school_holiday", "state_holiday", "open"]


def run_exog(frames, h):
    """AutoARIMA with the four regressors, their actual values over the horizon."""
    trains, tests, parts, futures = {}, {}, [], []
    for sid, f in frames.items():
        train, test = f.iloc[:-h], f.iloc[-h:]
        trains[sid], tests[sid] = train["y"].to_numpy(), test["y"].to_numpy()
        parts.append(train.assign(unique_id=sid))
        futures.append(test.drop(columns=["y", "code"]).assign(unique_id=sid))
    train_df = pd.concat(parts)[["unique_id", "ds", "y", *EXOG]]
    future_df = pd.concat(futures)[["unique_id", "ds", *EXOG]]
    first = train_df.unique_id.iloc[0]
    model = AutoARIMA(season_length=7)
    StatsForecast(models=[model], freq="D", n_jobs=1).forecast(
        df=train_df[train_df.unique_id == first], h=h, X_df=future_df[future_df.unique_id == first], level=LEVELS
    )
    t0 = time.time()
    fc = StatsForecast(models=[model], freq="D", n_jobs=1).forecast(df=train_df, h=h, X_df=future_df, level=LEVELS)
    secs = time.time() - t0
    by = {k: g.sort_values("ds") for k, g in fc.groupby("unique_id")}
    rows = []
    for sid in sorted(frames):
        g = by[sid]
        bounds = {lv: (g[f"AutoARIMA-lo-{lv}"].to_numpy(float), g[f"AutoARIMA-hi-{lv}"].to_numpy(float)) for lv in LEVELS}
        rows.append(scores(trains[sid], tests[sid], g["AutoARIMA"].to_numpy(float), bounds, 7))
    return {"AutoARIMA with regressors": {**summary(rows), "seconds": secs}}


def main():
    path, h = sys.argv[1], int(sys.argv[2])
    mode = sys.argv[3] if len(sys.argv) > 3 else "daily"
    if mode == "regressors":
        json.dump(run_exog(load_days(path), h), sys.stdout)
        return
    series = load(path)
    if os.environ.get("RECAST_STORE_HOLDOUT") == "validation":
        series = {sid: s.iloc[:-h] for sid, s in series.items()}
    if mode == "weekly":
        weeks = {sid: weekly(s) for sid, s in series.items()}
        out = run(weeks, h, 52, "7D", {"AutoETS": AutoETS(season_length=52)})
    else:
        models = {
            "AutoETS": AutoETS(season_length=7),
            "AutoARIMA": AutoARIMA(season_length=7),
            "AutoTheta": AutoTheta(season_length=7),
            "CES": AutoCES(season_length=7),
            "MSTL": MSTL(season_length=[7, 365], trend_forecaster=AutoETS(model="ZZN")),
        }
        out = run(series, h, 7, "D", models)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
