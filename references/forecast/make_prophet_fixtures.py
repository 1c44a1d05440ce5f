"""Reference fixtures for the Prophet-style model (crates/models/src/forecast/prophet),
computed with the `prophet` package.

Writes references/forecast/prophet.json with each input series and prophet's results, so the
Rust test (crates/models/tests/prophet_reference.rs) needs no Python. Run offline once the
pinned requirements (prophet 1.5.0 and the versions in requirements.txt) are installed:

    python3 -m venv /root/.venvs/recast-fc && /root/.venvs/recast-fc/bin/pip install -r references/forecast/requirements.txt
    /root/.venvs/recast-fc/bin/python references/forecast/make_prophet_fixtures.py

Cases, from ../shared/data/rossmann-sample (only the numbers needed are copied):
- rossmann_store_{1,2}_holidays_promo: a store's daily sales over the last 910 days
  (2013-02-01 to 2015-07-31, a closed day counts as 0 sales), the last 42 held out; the
  store's state holidays as a holidays table (`public` and `easter` on the day, `christmas`
  with the day before), promotion and school holiday as extra regressors (binary, so prophet
  leaves them unscaled) with their actual values over the horizon;
- rossmann_store_3_plain: store 3's daily sales the same way, prophet's defaults only;
- rossmann_store_4_weekly: store 4's sales summed into ISO weeks (Monday dates), 134 weeks,
  the last 13 held out: yearly seasonality only (weekly is off for weekly data);
- rossmann_store_5_plain_multiplicative, rossmann_store_6_holidays_promo_multiplicative: as
  the daily cases above with `seasonality_mode="multiplicative"` (holidays and regressors
  follow it, prophet's default);
- rossmann_store_7_holidays_promo_conditional: as the first daily cases, plus a weekly
  seasonality of order 3 that acts only on promotion days (`add_seasonality(name=
  "weekly_promo", period=7, fourier_order=3, condition_name="promo_day")`, where
  `promo_day` is a copy of the promo column: prophet refuses a regressor's name as a
  condition, recast takes the condition from a regressor, so both fit the same design);
- rossmann_store_8_plain_flat: store 8's daily sales with prophet's defaults and
  `growth="flat"` (a constant level, no changepoints).
- rossmann_store_9_plain_logistic: store 9's daily sales with `growth="logistic"` and a
  cap of 1.2 times the history's largest day (floor 0);
- rossmann_store_10_holidays_promo_logistic: as the first daily cases, logistic, with a cap of
  1.1 times the largest day and a floor of 1,000;
- rossmann_store_11_plain_multiplicative_logistic: multiplicative and logistic, cap 1.2 times
  the largest day;
- m3_yearly_n208_logistic: M3 yearly series N 208 (industry, 1947 on; its growth slows
  toward a level), the training part dated on 1 January of each year, with
  `growth="logistic"`, cap 6,500 and floor 1,000, yearly seasonality off (it carries
  nothing on yearly data; recast leaves it out by rule); the test part's 6 years held out.
For every case: prophet's MAP parameters (k, m, delta, sigma_obs, beta), the in-sample yhat,
the forecast yhat and its 80 % and 95 % bands (1,000 samples, numpy seed 0).
"""

import json
import pathlib
import warnings

import numpy as np
import pandas as pd
import prophet
from prophet import Prophet
from rossmann import load_days

warnings.simplefilter("ignore")
HERE = pathlib.Path(__file__).resolve().parent
OUT = HERE / "prophet.json"
DATA = HERE.parent.parent.parent / "shared" / "data"
DAYS = 910
H_DAILY = 42
H_WEEKLY = 13
EPOCH = pd.Timestamp("1970-01-01")
NAMES = {"a": "public", "b": "easter", "c": "christmas"}
WINDOWS = {"public": (0, 0), "easter": (0, 0), "christmas": (-1, 0)}


def day_number(ts):
    return int((pd.Timestamp(ts) - EPOCH).days)


def store_frame(store):
    """The store's last DAYS days (`rossmann.load_days`: ds, y, promo, school_holiday, code)."""
    return load_days(DATA / "rossmann-sample" / "store_sales.csv")[str(store)].iloc[-DAYS:].reset_index(drop=True)


def holidays_of(s):
    rows = []
    for ds, code in zip(s["ds"], s["code"]):
        if code in NAMES:
            name = NAMES[code]
            lo, up = WINDOWS[name]
            rows.append({"holiday": name, "ds": ds, "lower_window": lo, "upper_window": up})
    return pd.DataFrame(rows)


def run(df, h, holidays=None, regressors=(), mode="additive", extra_seasonalities=(), growth="linear",
        cap=None, floor=None, yearly="auto"):
    np.random.seed(0)
    m = Prophet(holidays=holidays, seasonality_mode=mode, growth=growth, yearly_seasonality=yearly)
    saturation = []
    if cap is not None:
        df["cap"] = cap
        saturation.append("cap")
    if floor is not None:
        df["floor"] = floor
        saturation.append("floor")
    for r in regressors:
        m.add_regressor(r)
    for e in extra_seasonalities:
        df[e["condition"] + "_day"] = df[e["condition"]].astype(bool)
        m.add_seasonality(
            name=e["name"], period=e["period"], fourier_order=e["order"], condition_name=e["condition"] + "_day"
        )
    train = df.iloc[:-h]
    m.fit(train)
    future = df[["ds", *saturation, *regressors, *(e["condition"] + "_day" for e in extra_seasonalities)]]
    out = {}
    for width in (0.8, 0.95):
        np.random.seed(0)
        m.interval_width = width
        fc = m.predict(future)
        out[str(int(width * 100))] = fc
    fc80, fc95 = out["80"], out["95"]
    n = len(train)
    features, _, _, _ = m.make_all_seasonality_features(m.setup_dataframe(train.copy()))
    return {
        "origin_day": day_number(df["ds"].iloc[0]),
        "y": train["y"].tolist(),
        "h": h,
        "k": float(m.params["k"][0][0]),
        "m": float(m.params["m"][0][0]),
        "delta": m.params["delta"][0].tolist(),
        "sigma_obs": float(m.params["sigma_obs"][0][0]),
        "beta_names": features.columns.tolist(),
        "beta": m.params["beta"][0].tolist(),
        "fitted": fc80["yhat"].iloc[:n].tolist(),
        "mean": fc80["yhat"].iloc[n:].tolist(),
        "lower_80": fc80["yhat_lower"].iloc[n:].tolist(),
        "upper_80": fc80["yhat_upper"].iloc[n:].tolist(),
        "lower_95": fc95["yhat_lower"].iloc[n:].tolist(),
        "upper_95": fc95["yhat_upper"].iloc[n:].tolist(),
    }


def daily_case(store, extras, mode="additive", extra_seasonalities=(), growth="linear", cap=None, floor=None):
    s = store_frame(store)
    df = s[["ds", "y"]].copy()
    if cap is not None:
        cap = round(cap * df["y"].iloc[:-H_DAILY].max(), 2)
    name = f"rossmann_store_{store}_" + ("holidays_promo" if extras else "plain")
    if mode != "additive":
        name += f"_{mode}"
    if extra_seasonalities:
        name += "_conditional"
    if growth != "linear":
        name += f"_{growth}"
    case = {"name": name, "step_days": 1.0, "mode": mode, "growth": growth}
    if cap is not None:
        case["cap"] = cap
    if floor is not None:
        case["floor"] = floor
    if extra_seasonalities:
        case["extra_seasonalities"] = list(extra_seasonalities)
    if not extras:
        return case | run(df, H_DAILY, mode=mode, growth=growth, cap=cap, floor=floor)
    df["promo"] = s["promo"].values
    df["school_holiday"] = s["school_holiday"].values
    hol = holidays_of(s)
    result = run(
        df, H_DAILY, holidays=hol, regressors=("promo", "school_holiday"), mode=mode,
        extra_seasonalities=extra_seasonalities, growth=growth, cap=cap, floor=floor,
    )
    case["holidays"] = [
        {"name": r.holiday, "day": day_number(r.ds), "lower_window": int(r.lower_window), "upper_window": int(r.upper_window)}
        for r in hol.itertuples()
    ]
    case["regressors"] = {"names": ["promo", "school_holiday"], "columns": [df["promo"].tolist(), df["school_holiday"].tolist()]}
    return case | result


def weekly_case(store):
    """Weeks with a row for each of their seven days in the file (so not `load_days`, which
    fills missing days)."""
    full = pd.read_csv(DATA / "rossmann-sample" / "store_sales.csv", parse_dates=["Date"], low_memory=False)
    f = full[full["Store"] == store].set_index("Date").sort_index()
    sales = f["Sales"].where(f["Open"] == 1, 0.0).astype(float)
    weekly = sales.resample("W-MON", label="left", closed="left").sum()
    counts = sales.resample("W-MON", label="left", closed="left").count()
    weekly = weekly[counts == 7]
    df = pd.DataFrame({"ds": weekly.index, "y": weekly.values})
    return {"name": f"rossmann_store_{store}_weekly", "step_days": 7.0} | run(df, H_WEEKLY)


def m3_yearly_case(series_id, cap, floor):
    d = pd.read_csv(DATA / "m3-quarterly-yearly-other" / "yearly.csv")
    g = d[d["series_id"] == series_id].sort_values("t")
    start = int(g["start_year"].iloc[0])
    df = pd.DataFrame({"ds": [pd.Timestamp(start + int(t), 1, 1) for t in g["t"]], "y": g["y"].astype(float).values})
    h = int((g["split"] == "test").sum())
    name = "m3_yearly_" + series_id.replace(" ", "").lower() + "_logistic"
    case = {"name": name, "step_days": 365.25, "growth": "logistic", "cap": cap, "floor": floor}
    return case | run(df, h, growth="logistic", cap=cap, floor=floor, yearly=False)


def main():
    cases = [
        daily_case(1, True),
        daily_case(2, True),
        daily_case(3, False),
        weekly_case(4),
        daily_case(5, False, "multiplicative"),
        daily_case(6, True, "multiplicative"),
        daily_case(7, True, extra_seasonalities=[{"name": "weekly_promo", "period": 7.0, "order": 3, "condition": "promo"}]),
        daily_case(8, False, growth="flat"),
        daily_case(9, False, growth="logistic", cap=1.2),
        daily_case(10, True, growth="logistic", cap=1.1, floor=1000.0),
        daily_case(11, False, "multiplicative", growth="logistic", cap=1.2),
        m3_yearly_case("N 208", 6500.0, 1000.0),
    ]
    doc = {
        "source": "make_prophet_fixtures.py",
        "prophet": prophet.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "cases": cases,
    }
    OUT.write_text(json.dumps(doc, indent=1) + "\n")
    for c in cases:
        print(c["name"], len(c["y"]), "k", round(c["k"], 4), "sigma", round(c["sigma_obs"], 4))


if __name__ == "__main__":
    main()
