"""Peer figures for the prophet bench: the `prophet` package on the Rossmann sample's stores.

Each store's daily `Sales` (a day missing from the file, or closed, counts as 0 sales and no
promotion) is fitted on all but its last H days and forecasts them with 80 % and 95 % bands,
in three setups: `plain` (prophet's defaults), `holidays+regressors` (the store's state
holidays as a holidays table: `public` and `easter` on the day, `christmas` with the eve;
`Promo` and `SchoolHoliday` as extra regressors with their actual future values) and the
same with `seasonality_mode="multiplicative"`, and `holidays+regressors+promo weekly`: the
additive setup plus a weekly seasonality of order 3 on promotion days only
(`add_seasonality(..., condition_name="promo_day")`, `promo_day` a copy of the promotion
flag: prophet refuses a regressor's name as a condition), and `holidays+regressors logistic`:
the additive setup with `growth="logistic"` and a `cap` of 1.2 times the store's largest
training day. Scores as
the other forecasting benches define them (`peer_scores.py`). Stores are fitted one after
another; the first fit (which loads the Stan model) is not timed.

`cargo bench -p recast-models --bench prophet` runs this script and prints its rows next to
recast's. Output: JSON on stdout, {setup: {mase, smape, cov80, cov95, seconds, n}}.
Run: env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /root/.venvs/recast-fc/bin/python references/forecast/prophet_peers.py CSV H
"""

import json
import logging
import sys
import time
import warnings

import numpy as np
import pandas as pd
from peer_scores import LEVELS, scores, summary
from prophet import Prophet
from rossmann import load_days

warnings.simplefilter("ignore")
logging.getLogger("cmdstanpy").setLevel(logging.WARNING)
logging.getLogger("prophet").setLevel(logging.WARNING)
NAMES = {"a": ("public", 0), "b": ("easter", 0), "c": ("christmas", -1)}


def load(path):
    """Each store's days (`rossmann.load_days`) and its state holidays as a holidays table."""
    out = {}
    for store, frame in load_days(path).items():
        rows = []
        for ds, code in zip(frame["ds"], frame["code"]):
            if code in NAMES:
                name, lower = NAMES[code]
                rows.append({"holiday": name, "ds": ds, "lower_window": lower, "upper_window": 0})
        out[store] = (frame, pd.DataFrame(rows))
    return out


CAP_RATIO = 1.2


def fit_one(frame, holidays, h, extras, mode="additive", promo_weekly=False, logistic=False):
    frame = frame.assign(promo_day=frame["promo"].astype(bool))
    if logistic:
        frame = frame.assign(cap=CAP_RATIO * frame["y"].iloc[:-h].max())
    train = frame.iloc[:-h]
    bounds = {}
    m = Prophet(
        holidays=holidays if extras and len(holidays) else None,
        seasonality_mode=mode,
        growth="logistic" if logistic else "linear",
    )
    if extras:
        m.add_regressor("promo")
        m.add_regressor("school_holiday")
    if promo_weekly:
        m.add_seasonality(name="weekly_promo", period=7, fourier_order=3, condition_name="promo_day")
    m.fit(train)
    future = frame.iloc[-h:][["ds", "promo", "school_holiday", "promo_day", *(["cap"] if logistic else [])]]
    mean = None
    for lv in LEVELS:
        m.interval_width = lv / 100
        np.random.seed(0)
        fc = m.predict(future)
        mean = fc["yhat"].to_numpy(float)
        bounds[lv] = (fc["yhat_lower"].to_numpy(float), fc["yhat_upper"].to_numpy(float))
    return train["y"].to_numpy(float), mean, bounds


def main():
    path, h = sys.argv[1], int(sys.argv[2])
    stores = load(path)
    first = next(iter(stores.values()))
    fit_one(*first, h, False)  # loads the Stan model: not timed
    out = {}
    setups = (
        ("plain", False, "additive", False, False),
        ("holidays+regressors", True, "additive", False, False),
        ("holidays+regressors multiplicative", True, "multiplicative", False, False),
        ("holidays+regressors+promo weekly", True, "additive", True, False),
        ("holidays+regressors logistic", True, "additive", False, True),
    )
    for label, extras, mode, promo_weekly, logistic in setups:
        rows = []
        t0 = time.time()
        for sid in sorted(stores):
            frame, holidays = stores[sid]
            train, mean, bounds = fit_one(frame, holidays, h, extras, mode, promo_weekly, logistic)
            rows.append(scores(train, frame["y"].to_numpy(float)[-h:], mean, bounds, 7))
        out[label] = {**summary(rows), "seconds": time.time() - t0}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
