"""Peer figures for the store-sales bench: statsforecast's AutoETS, AutoARIMA, AutoTheta,
AutoCES, MSTL (periods 7 and 365, AutoETS trend) and the mean of ETS, Theta and CES on the
daily sales of the Rossmann sample's stores.

Each store's daily `Sales` (days missing from the file count as closed, 0) is fitted on all
but its last H days and forecast over them with 80 % and 95 % intervals, weekly season.
Scores and the ETS-Theta-CES mean as in the M3 bench (`peer_scores.py`).

`cargo bench -p recast-models --bench store_sales` runs this script and prints its rows next
to recast's. Output: JSON on stdout, {model: {mase, smape, cov80, cov95, seconds, n}}.
Run: /root/.venvs/recast-fc/bin/python references/forecast/store_sales_peers.py CSV H
"""

import json
import sys
import time
import warnings

import pandas as pd
from statsforecast import StatsForecast
from peer_scores import LEVELS, mean_of, scores, summary
from statsforecast.models import MSTL, AutoARIMA, AutoCES, AutoETS, AutoTheta

warnings.simplefilter("ignore")

M = 7


def load(path):
    df = pd.read_csv(path, dtype={"StateHoliday": str}, parse_dates=["Date"])
    out = {}
    for store, g in df.groupby("Store"):
        s = g.set_index("Date")["Sales"].astype(float).sort_index()
        days = pd.date_range(s.index.min(), s.index.max(), freq="D")
        out[str(store)] = s.reindex(days, fill_value=0.0)
    return out


def main():
    path, h = sys.argv[1], int(sys.argv[2])
    series = load(path)
    frames, tests, trains = [], {}, {}
    for sid, s in series.items():
        train, test = s.iloc[:-h], s.iloc[-h:]
        trains[sid], tests[sid] = train.to_numpy(), test.to_numpy()
        frames.append(pd.DataFrame({"unique_id": sid, "ds": train.index, "y": train.to_numpy()}))
    train_df = pd.concat(frames)
    models = {
        "AutoETS": AutoETS(season_length=M),
        "AutoARIMA": AutoARIMA(season_length=M),
        "AutoTheta": AutoTheta(season_length=M),
        "CES": AutoCES(season_length=M),
        "MSTL": MSTL(season_length=[7, 365], trend_forecaster=AutoETS(model="ZZN")),
    }
    fcs, secs = {}, {}
    for label, model in models.items():
        t0 = time.time()
        sf = StatsForecast(models=[model], freq="D", n_jobs=1)
        fc = sf.forecast(df=train_df, h=h, level=LEVELS)
        secs[label] = time.time() - t0
        fcs[label] = {k: g.sort_values("ds") for k, g in fc.groupby("unique_id")}

    def one(label, sid):
        g = fcs[label][sid]
        bounds = {lv: (g[f"{label}-lo-{lv}"].to_numpy(float), g[f"{label}-hi-{lv}"].to_numpy(float)) for lv in LEVELS}
        return g[label].to_numpy(float), bounds

    def per_series(col_of):
        return summary([scores(trains[sid], tests[sid], *col_of(sid), M) for sid in sorted(series)])

    out = {}
    for label in models:
        out[label] = per_series(lambda sid, lab=label: one(lab, sid))
        out[label]["seconds"] = secs[label]

    def combo(sid):
        return mean_of([one(lab, sid) for lab in ("AutoETS", "AutoTheta", "CES")])

    out["mean(ETS,Theta,CES)"] = per_series(combo)
    out["mean(ETS,Theta,CES)"]["seconds"] = secs["AutoETS"] + secs["AutoTheta"] + secs["CES"]
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
