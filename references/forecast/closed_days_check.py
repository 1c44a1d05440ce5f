"""Why closed weekdays are zeroed and not left out of the fit.

statsforecast's AutoETS, AutoARIMA, AutoTheta and AutoCES on the Rossmann sample's stores,
each store's rows in file order (the 2014 gap of stores 13 and 20 is not filled here), three
ways: as they are ("full"), with the forecast set to 0 on every weekday that was 0 in each
of the last 12 weeks of training ("zeroed", recast's `forecast::closed` rule), and fitted on
the open days alone with a season of 7 minus the closed days ("open-days"). Mean MASE over
the stores (in-sample seasonal-naive scale, season 7) of each, and of the mean and median
of the four.

    python closed_days_check.py validation   # the 42 days before the last 42 (how it was chosen)
    python closed_days_check.py test         # the last 42 days

Run with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset, in the peers' virtualenv
(requirements.txt).
"""

import collections
import csv
import pathlib
import sys

import numpy as np
from statsforecast.models import AutoARIMA, AutoCES, AutoETS, AutoTheta

DATA = pathlib.Path(__file__).resolve().parents[3] / "shared/data/rossmann-sample/store_sales.csv"
H = 42
MODELS = {"ets": AutoETS, "arima": AutoARIMA, "theta": AutoTheta, "ces": AutoCES}


def mase(y, f, ins, m=7):
    scale = np.mean(np.abs(ins[m:] - ins[:-m]))
    return np.mean(np.abs(y - f)) / scale


def main(split):
    by = collections.defaultdict(list)
    for r in csv.DictReader(open(DATA)):
        by[r["Store"]].append(r)
    res = collections.defaultdict(list)
    for _, rs in sorted(by.items(), key=lambda x: int(x[0])):
        rs.sort(key=lambda r: r["Date"])
        rs = rs[:-H] if split == "validation" else rs
        y = np.array([float(r["Sales"]) for r in rs])
        dow = np.array([int(r["DayOfWeek"]) for r in rs])
        tr, te, dtr, dte = y[:-H], y[-H:], dow[:-H], dow[-H:]
        closed = [d for d in range(1, 8) if np.all(tr[-84:][dtr[-84:] == d] == 0)]
        keep_tr, keep_te = ~np.isin(dtr, closed), ~np.isin(dte, closed)
        fc = {}
        for name, model in MODELS.items():
            full = model(season_length=7).forecast(y=tr, h=H)["mean"]
            zeroed = full.copy()
            zeroed[~keep_te] = 0
            open_days = np.zeros(H)
            open_days[keep_te] = model(season_length=7 - len(closed)).forecast(
                y=tr[keep_tr], h=int(keep_te.sum())
            )["mean"]
            fc[name] = (full, zeroed, open_days)
            for k, label in enumerate(["full", "zeroed", "open-days"]):
                res[f"{name} {label}"].append(mase(te, fc[name][k], tr))
        for k, label in enumerate(["full", "zeroed", "open-days"]):
            stack = [fc[n][k] for n in fc]
            res[f"mean4 {label}"].append(mase(te, np.mean(stack, axis=0), tr))
            res[f"median4 {label}"].append(mase(te, np.median(stack, axis=0), tr))
    for key, values in res.items():
        print(f"{key:20s} {np.mean(values):.4f}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "validation")
