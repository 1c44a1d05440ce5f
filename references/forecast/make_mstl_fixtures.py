"""Reference fixtures for MSTL (src/forecast/mstl.rs), computed with statsforecast.

Writes references/forecast/mstl.json with each input series and statsforecast's results, so
the Rust test (crates/models/tests/mstl_reference.rs) needs no Python. Run offline once the
pinned requirements (statsforecast 2.1.1, statsmodels 0.15.0, numpy 2.4.6, pandas 2.3.3) are
installed:

    python3 -m venv /root/.venvs/recast-fc && /root/.venvs/recast-fc/bin/pip install -r references/forecast/requirements.txt
    /root/.venvs/recast-fc/bin/python references/forecast/make_mstl_fixtures.py

Cases (only the numbers needed are copied into the JSON):
- rossmann_store_{1,2,3}: daily sales of Rossmann stores 1, 2 and 3 (../shared/data/
  rossmann-sample), the last 910 days (130 weeks, 2013-02-01 to 2015-07-31), periods
  [7, 365], horizon 42. Every calendar day is kept and a closed day (Open = 0) counts as 0
  sales: that is what a planner forecasting a store's daily takings would do. The periods are
  counts of days, so they only mean "week" and "year" on an unbroken calendar; dropping closed
  days would shift the weekday pattern at every public holiday. The weekly component learns
  the Sunday closure; a closed day in the horizon is set to 0 by the planner anyway.
- m3_quarterly_<id>: the training part of the first M3 quarterly series with at least 40
  observations (../shared/data/m3-quarterly-yearly-other), a single period [4], horizon 8:
  MSTL with one period is one STL plus a non-seasonal ETS.
For every case: statsforecast's `mstl` decomposition (trend, one seasonal component per period
in ascending order, remainder), and `MSTL(season_length=periods)` (its default trend
forecaster `AutoETS(model="ZZN")`): the ETS model it chose, the point forecasts and the 80 %
and 95 % intervals.
"""

import json
import pathlib
import warnings

import numpy as np
import pandas as pd
import statsforecast
import statsmodels
from statsforecast.models import MSTL
from statsforecast.mstl import mstl

warnings.simplefilter("ignore")
HERE = pathlib.Path(__file__).resolve().parent
OUT = HERE / "mstl.json"
DATA = HERE.parent.parent.parent / "shared" / "data"
LEVELS = [80, 95]
DAYS = 910


def rossmann(store):
    df = pd.read_csv(DATA / "rossmann-sample" / "store_sales.csv", parse_dates=["Date"], low_memory=False)
    s = df[df["Store"] == store].set_index("Date").sort_index()
    sales = s["Sales"].where(s["Open"] == 1, 0.0).astype(float)
    full = pd.date_range(sales.index.min(), sales.index.max(), freq="D")
    if len(full) != len(sales):
        raise RuntimeError(f"store {store} has gaps in its calendar")
    return sales.to_numpy()[-DAYS:], str(sales.index[-DAYS].date()), str(sales.index[-1].date())


def m3_quarterly():
    df = pd.read_csv(DATA / "m3-quarterly-yearly-other" / "quarterly.csv")
    df = df[df["split"] == "train"].sort_values(["series_id", "t"])
    for sid, g in df.groupby("series_id", sort=True):
        if len(g) >= 40:
            return sid, g["y"].to_numpy(dtype=float)
    raise RuntimeError("no long quarterly series")


def case(name, y, periods, h, note):
    periods = sorted(periods)
    dec = mstl(y.copy(), periods if len(periods) > 1 else periods[0])
    seasonal_cols = [c for c in dec.columns if c.startswith("seasonal")]
    model = MSTL(season_length=periods).fit(y=y.copy())
    fc = model.predict(h=h, level=LEVELS)
    ets = model.trend_forecaster.model_
    return {
        "name": name,
        "note": note,
        "series": y.tolist(),
        "periods": periods,
        "h": h,
        "decomposition": {
            "trend": dec["trend"].tolist(),
            "seasonal": [dec[c].tolist() for c in seasonal_cols],
            "remainder": dec["remainder"].tolist(),
        },
        "forecast": {
            "trend_model": ets["method"],
            "trend_aicc": float(ets["aicc"]),
            "mean": fc["mean"].tolist(),
            **{f"{b}{lv}": fc[f"{b}-{lv}"].tolist() for lv in LEVELS for b in ("lo", "hi")},
        },
    }


def main():
    cases = []
    for store in (1, 2, 3):
        y, first, last = rossmann(store)
        note = f"Rossmann store {store} daily sales {first}..{last}, closed days as 0"
        cases.append(case(f"rossmann_store_{store}", y, [7, 365], 42, note))
    sid, y = m3_quarterly()
    cases.append(case(f"m3_quarterly_{sid.replace(' ', '')}", y, [4], 8, f"M3 {sid} training part"))
    doc = {
        "generator": "references/forecast/make_mstl_fixtures.py",
        "versions": {
            "statsforecast": statsforecast.__version__,
            "statsmodels": statsmodels.__version__,
            "numpy": np.__version__,
            "pandas": pd.__version__,
        },
        "cases": cases,
    }
    OUT.write_text(json.dumps(doc, indent=1) + "\n")
    for c in cases:
        print(c["name"], len(c["series"]), c["periods"], c["forecast"]["trend_model"], c["forecast"]["mean"][:3])


if __name__ == "__main__":
    main()
