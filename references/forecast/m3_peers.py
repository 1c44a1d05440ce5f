"""Peer figures for the M3 bench: statsforecast's AutoETS, AutoARIMA, AutoTheta and AutoCES
and the mean of ETS, Theta and CES on M3 Quarterly, Yearly and Other.

Each series is fitted on its `train` rows and forecast over its `test` rows (the official
horizon: quarterly h=8 m=4, yearly h=6 m=1, other h=8 m=1) with 80 % and 95 % intervals.
Scores follow the M4 definitions: MASE divided by the in-sample mean absolute error of the
seasonal naive forecast (naive when the training part is not longer than a season), sMAPE in
0-200, coverage the share of test values inside each interval. The ETS-Theta-CES mean
averages the members' point forecasts and interval bounds, as recast's combination does.

`cargo bench -p recast-models --bench m3` runs this script and prints its rows next to
recast's. Output: JSON on stdout, {set: {model: {mase, smape, cov80, cov95, seconds, n}}}.
Run: /root/.venvs/recast-fc/bin/python references/forecast/m3_peers.py [M3_DIR]
(M3_DIR defaults to $RECAST_M3_DIR). Optional third/fourth args: a set name to run alone.
With RECAST_M3_HOLDOUT=validation the last horizon of each training part is held out and
scored instead of the test part (the bench's validation mode), so recast's models can be
compared with statsforecast's while a choice is tuned, without looking at the test part.
"""

import json
import os
import sys
import time
import warnings

import pandas as pd
from statsforecast import StatsForecast
from peer_scores import LEVELS, model_rows, scores, summary
from statsforecast.models import AutoARIMA, AutoCES, AutoETS, AutoTheta

warnings.simplefilter("ignore")

SETS = {"quarterly": (4, 8), "yearly": (1, 6), "other": (1, 8)}


def run_set(path, name, m, h):
    df = pd.read_csv(path)
    df["series_id"] = df["series_id"].str.strip()
    df = df.sort_values(["series_id", "t"])
    if os.environ.get("RECAST_M3_HOLDOUT") == "validation":
        df = df[df.split == "train"].copy()
        last = df.groupby("series_id")["t"].transform("max")
        df["split"] = (df["t"] > last - h).map({True: "test", False: "train"})
    train = df[df.split == "train"].rename(columns={"series_id": "unique_id"})
    test = df[df.split == "test"]
    train = train.assign(ds=train["t"].astype(int))[["unique_id", "ds", "y"]]
    models = {
        "AutoETS": AutoETS(season_length=m),
        "AutoARIMA": AutoARIMA(season_length=m),
        "AutoTheta": AutoTheta(season_length=m),
        "CES": AutoCES(season_length=m),
    }
    fcs, secs = {}, {}
    for label, model in models.items():
        t0 = time.time()
        sf = StatsForecast(models=[model], freq=1, n_jobs=1)
        fc = sf.forecast(df=train, h=h, level=LEVELS)
        secs[label] = time.time() - t0
        fcs[label] = fc.sort_values(["unique_id", "ds"])
    tests = {k: g["y"].to_numpy(float) for k, g in test.groupby("series_id")}
    trains = {k: g["y"].to_numpy(float) for k, g in train.groupby("unique_id")}
    names = sorted(tests)

    def per_series(col_of):
        return summary([scores(trains[sid], tests[sid], *col_of(sid), m) for sid in names])

    grouped = {lab: {k: g for k, g in fc.groupby("unique_id")} for lab, fc in fcs.items()}
    col = {"AutoETS": "AutoETS", "AutoARIMA": "AutoARIMA", "AutoTheta": "AutoTheta", "CES": "CES"}

    def one(label, sid):
        g = grouped[label][sid]
        c = col[label]
        bounds = {lv: (g[f"{c}-lo-{lv}"].to_numpy(float), g[f"{c}-hi-{lv}"].to_numpy(float)) for lv in LEVELS}
        return g[c].to_numpy(float), bounds

    return model_rows(list(models), secs, one, per_series)


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("RECAST_M3_DIR")
    if not d:
        sys.exit("usage: m3_peers.py M3_DIR (or set RECAST_M3_DIR)")
    only = sys.argv[2:] or list(SETS)
    import statsforecast

    result = {"statsforecast": statsforecast.__version__}
    for name in only:
        m, h = SETS[name]
        result[name] = run_set(os.path.join(d, f"{name}.csv"), name, m, h)
    json.dump(result, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
