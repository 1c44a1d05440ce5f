"""Scores the statsforecast peer scripts share (m3_peers.py, store_sales_peers.py), defined as
recast's benches define them: MASE divided by the in-sample mean absolute error of the
seasonal naive forecast (naive when the training part is not longer than a season), sMAPE in
0-200, coverage the share of held-out values inside each interval."""

import numpy as np

LEVELS = [80, 95]


def mase_scale(train, m):
    m = m if (m > 1 and len(train) > m) else 1
    if len(train) <= m:
        return float("nan")
    return float(np.mean(np.abs(train[m:] - train[:-m])))


def scores(train, test, mean, bounds, m):
    err = test - mean
    mae = float(np.mean(np.abs(err)))
    scale = mase_scale(train, m)
    mase = mae / scale if scale > 0 else (0.0 if mae == 0 else float("inf"))
    den = np.abs(test) + np.abs(mean)
    smape = float(np.mean(np.where(den == 0, 0.0, 200 * np.abs(err) / np.where(den == 0, 1, den))))
    cov = {lv: float(np.mean((test >= lo) & (test <= hi))) for lv, (lo, hi) in bounds.items()}
    return mase, smape, cov


def summary(rows):
    """Means over series of `scores` results, as the benches' rows."""
    return {
        "mase": float(np.mean([r[0] for r in rows])),
        "smape": float(np.mean([r[1] for r in rows])),
        "cov80": float(np.mean([r[2][80] for r in rows])),
        "cov95": float(np.mean([r[2][95] for r in rows])),
        "n": len(rows),
    }


def mean_of(parts):
    """The mean of (point forecast, {level: (lo, hi)}) pairs: points and bounds averaged, as
    recast's combination averages them."""
    mean = np.mean([p[0] for p in parts], axis=0)
    bounds = {
        lv: (np.mean([p[1][lv][0] for p in parts], axis=0), np.mean([p[1][lv][1] for p in parts], axis=0))
        for lv in LEVELS
    }
    return mean, bounds


def model_rows(labels, secs, one, per_series):
    """Each model's row, and the ETS-Theta-CES mean's when all three ran: `one(label, sid)`
    gives a model's (point forecast, bands) for a series, `per_series(col_of)` scores a
    forecast-of-series function over every series."""
    out = {}
    for label in labels:
        out[label] = {**per_series(lambda sid, lab=label: one(lab, sid)), "seconds": secs[label]}
    trio = ("AutoETS", "AutoTheta", "CES")
    if all(k in labels for k in trio):
        row = per_series(lambda sid: mean_of([one(lab, sid) for lab in trio]))
        out["mean(ETS,Theta,CES)"] = {**row, "seconds": sum(secs[lab] for lab in trio)}
    return out
