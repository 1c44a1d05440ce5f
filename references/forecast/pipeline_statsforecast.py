"""statsforecast + hierarchicalforecast side of `cargo bench --bench forecast_pipeline`: the
same default pipeline as recast's `train forecaster --select pooled --reconcile wls_struct`,
built from the Nixtla libraries, on the sales CSV the bench generated.

    pipeline_statsforecast.py SALES_CSV HORIZON ORIGINS

1. Aggregate the item x store series into every item, every store and the total
   (hierarchicalforecast.aggregate, the same grouped hierarchy recast builds).
2. Rolling-origin cross-validation of AutoETS, AutoARIMA, AutoTheta and AutoCES (weekly season)
   over ORIGINS origins one day apart, every node: recast's pooled backtest.
3. Per node, recast's pooled rule over its seven candidates (the four models, the mean of
   ETS, Theta and CES, the mean and the median of all four): the combination with the
   lowest mean MASE over the origins, unless a single model's is below 0.6 times it.
4. The four models fitted on the whole history and forecast HORIZON days; the chosen
   candidate's forecast per node, with conformal 80 % / 95 % bands from the backtest's
   absolute errors per step (what recast serves).
5. MinTrace(wls_struct) reconciliation of the chosen forecasts.

The numba JIT is warmed up on two short series before the clock starts (reported apart).
StatsForecast runs with n_jobs=-1 (one worker process per core). Prints one JSON line:
seconds, warm-up seconds, series (nodes), peak RSS of this process and of its largest worker.
"""

import json
import os
import resource
import sys
import time
import warnings

warnings.simplefilter("ignore")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from hierarchicalforecast.core import HierarchicalReconciliation  # noqa: E402
from hierarchicalforecast.methods import MinTrace  # noqa: E402
from hierarchicalforecast.utils import aggregate  # noqa: E402
from statsforecast import StatsForecast  # noqa: E402
from statsforecast.models import AutoARIMA, AutoCES, AutoETS, AutoTheta  # noqa: E402

SEASON = 7
NAMES = ["AutoETS", "AutoARIMA", "AutoTheta", "CES"]


def models():
    return [
        AutoETS(season_length=SEASON),
        AutoARIMA(season_length=SEASON),
        AutoTheta(season_length=SEASON),
        AutoCES(season_length=SEASON),
    ]


def warm_up():
    t0 = time.perf_counter()
    rng = np.random.default_rng(0)
    df = pd.DataFrame(
        {
            "unique_id": np.repeat(["a", "b"], 120),
            "ds": np.tile(pd.date_range("2024-01-01", periods=120, freq="D"), 2),
            "y": 50 + rng.normal(size=240),
        }
    )
    StatsForecast(models=models(), freq="D", n_jobs=1).forecast(df=df, h=7)
    return time.perf_counter() - t0


def candidates(frame):
    """The pool's seven candidates' point forecasts, columns named as recast names them."""
    ets, arima, theta, ces = (frame[n] for n in NAMES)
    all4 = frame[NAMES]
    return pd.DataFrame(
        {
            "ets": ets,
            "arima": arima,
            "theta": theta,
            "ces": ces,
            "mean3": (ets + theta + ces) / 3.0,
            "mean4": all4.mean(axis=1),
            "median4": all4.median(axis=1),
        }
    )


def choose(cv, train):
    """Per node: the candidate with the lowest mean MASE over the origins, and the absolute
    errors per step of that candidate (the conformal calibration)."""
    def seasonal_naive_mae(y):
        y = y.to_numpy()
        return np.mean(np.abs(y[SEASON:] - y[:-SEASON])) if len(y) > SEASON else 1.0

    scale = train.groupby("unique_id")["y"].apply(seasonal_naive_mae).rename("scale")
    cands = candidates(cv)
    err = cands.sub(cv["y"], axis=0).abs()
    err["unique_id"] = cv["unique_id"].to_numpy()
    err["cutoff"] = cv["cutoff"].to_numpy()
    err["step"] = cv.groupby(["unique_id", "cutoff"]).cumcount().to_numpy()
    mae = err.groupby("unique_id")[list(cands.columns)].mean()
    mase = mae.div(scale.reindex(mae.index).replace(0.0, 1.0), axis=0)
    singles, combos = ["ets", "arima", "theta", "ces"], ["mean3", "mean4", "median4"]
    best_combo = mase[combos].idxmin(axis=1)
    best_single = mase[singles].idxmin(axis=1)
    single_wins = mase[singles].min(axis=1) < 0.6 * mase[combos].min(axis=1)
    chosen = best_combo.where(~single_wins, best_single)
    return chosen, err


def bands(chosen, err, horizon):
    """Conformal half-widths per node and step: quantiles of the chosen candidate's errors."""
    rows = []
    for uid, group in err.groupby("unique_id"):
        c = chosen[uid]
        for step in range(horizon):
            e = group.loc[group["step"] == step, c].to_numpy()
            q80, q95 = (np.quantile(e, q) if len(e) else 0.0 for q in (0.8, 0.95))
            rows.append((uid, step, q80, q95))
    return pd.DataFrame(rows, columns=["unique_id", "step", "q80", "q95"])


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def largest_child_mib():
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0


def main():
    path, horizon, origins = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    warm = warm_up()
    sales = pd.read_csv(path, parse_dates=["date"])
    t0 = time.perf_counter()
    bottom = pd.DataFrame(
        {
            "total": "total",
            "store": "store=" + sales["store_id"].astype(str),
            "item": "item=" + sales["item_id"].astype(str),
            "ds": sales["date"],
            "y": sales["quantity"].astype(float),
        }
    )
    spec = [["total"], ["total", "store"], ["total", "item"], ["total", "store", "item"]]
    y_df, s_df, tags = aggregate(bottom, spec)
    sf = StatsForecast(models=models(), freq="D", n_jobs=-1)
    cv = sf.cross_validation(df=y_df, h=horizon, step_size=1, n_windows=origins)
    cv = cv.reset_index() if "unique_id" not in cv.columns else cv
    first_cutoff = cv["cutoff"].min()
    chosen, err = choose(cv, y_df[y_df["ds"] <= first_cutoff])
    fc = sf.forecast(df=y_df, h=horizon)
    fc = fc.reset_index() if "unique_id" not in fc.columns else fc
    cands = candidates(fc)
    fc["mean"] = [cands.at[i, chosen[u]] for i, u in zip(fc.index, fc["unique_id"])]
    fc["step"] = fc.groupby("unique_id").cumcount()
    fc = fc.merge(bands(chosen, err, horizon), on=["unique_id", "step"], how="left")
    for lvl in ("80", "95"):
        fc[f"lo-{lvl}"] = (fc["mean"] - fc[f"q{lvl}"]).clip(lower=0.0)
        fc[f"hi-{lvl}"] = fc["mean"] + fc[f"q{lvl}"]
    y_hat = fc[["unique_id", "ds", "mean"]]
    reconciled = HierarchicalReconciliation([MinTrace(method="wls_struct")]).reconcile(
        Y_hat_df=y_hat, S_df=s_df, tags=tags
    )
    seconds = time.perf_counter() - t0
    assert len(reconciled) == len(y_hat), "every node reconciled"
    print(
        json.dumps(
            {
                "seconds": seconds,
                "warmup_seconds": warm,
                "series": int(y_df["unique_id"].nunique()),
                "chosen": chosen.value_counts().to_dict(),
                "peak_rss_mib": peak_rss_mib(),
                "peak_rss_largest_worker_mib": largest_child_mib(),
            }
        )
    )


if __name__ == "__main__":
    sys.exit(main())
