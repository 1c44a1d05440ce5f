"""statsforecast's intermittent-demand models on the series `cargo bench --bench intermittent`
writes, for the bench to score next to recast's in the same run.

Input: a CSV (argv[1]) with columns unique_id, ds (integer day index), y (training part only)
and the horizon (argv[2]). Output (stdout): JSON {"version", "seconds": {model: s},
"forecasts": {model: {unique_id: [h values]}}}. Models: CrostonClassic, CrostonSBA,
CrostonOptimized, TSB (alpha_d = alpha_p = 0.1, statsforecast has no optimised TSB), ADIDA,
IMAPA. Run with the environment of references/forecast/requirements.txt.
"""

import json
import sys
import time
import warnings

import pandas as pd
import statsforecast
from statsforecast import StatsForecast
from statsforecast.models import (
    ADIDA,
    IMAPA,
    TSB,
    CrostonClassic,
    CrostonOptimized,
    CrostonSBA,
)

warnings.simplefilter("ignore")


def main():
    path, h = sys.argv[1], int(sys.argv[2])
    df = pd.read_csv(path, dtype={"unique_id": str})
    models = {
        "CrostonClassic": CrostonClassic(),
        "CrostonSBA": CrostonSBA(),
        "CrostonOptimized": CrostonOptimized(),
        "TSB(0.1,0.1)": TSB(alpha_d=0.1, alpha_p=0.1),
        "ADIDA": ADIDA(),
        "IMAPA": IMAPA(),
    }
    out = {"version": statsforecast.__version__, "seconds": {}, "forecasts": {}}
    for name, model in models.items():
        sf = StatsForecast(models=[model], freq=1, n_jobs=1)
        started = time.perf_counter()
        fc = sf.forecast(df=df, h=h)
        out["seconds"][name] = time.perf_counter() - started
        col = [c for c in fc.columns if c not in ("unique_id", "ds")][0]
        out["forecasts"][name] = {
            uid: g[col].tolist() for uid, g in fc.groupby("unique_id", sort=False)
        }
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
