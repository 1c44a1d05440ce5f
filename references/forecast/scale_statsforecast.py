"""statsforecast side of `cargo bench --bench forecast_scale` (invoked by the bench, which
generates the series and passes them as a raw little-endian float64 file).

    scale_statsforecast.py PATH MODEL N_SERIES LENGTH SEASON HORIZON

MODEL is auto_ets or auto_arima. The numba JIT is warmed up first on two series in this
process (compilation is excluded from the timing and reported separately); then all series
are fitted and forecast with StatsForecast(n_jobs=-1), i.e. one worker process per core,
forked after the warm-up so the workers inherit the compiled code. Prints one JSON line:
seconds, warm-up seconds, peak RSS of this process and of the largest worker (MiB).
"""

import json
import os
import resource
import sys
import time
import warnings

warnings.simplefilter("ignore")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from statsforecast import StatsForecast  # noqa: E402
from statsforecast.models import AutoARIMA, AutoETS  # noqa: E402


def main():
    path, model, n, length, season, horizon = sys.argv[1:7]
    n, length, season, horizon = int(n), int(length), int(season), int(horizon)
    y = np.fromfile(path, dtype="<f8").reshape(n, length)
    make = {"auto_ets": AutoETS, "auto_arima": AutoARIMA}[model]
    dates = pd.date_range("2024-01-01", periods=length, freq="D")
    df = pd.DataFrame(
        {
            "unique_id": np.repeat(np.arange(n), length),
            "ds": np.tile(dates, n),
            "y": y.ravel(),
        }
    )
    t0 = time.perf_counter()
    StatsForecast(models=[make(season_length=season)], freq="D", n_jobs=1).forecast(
        df=df[df["unique_id"] < 2], h=horizon
    )
    warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = StatsForecast(models=[make(season_length=season)], freq="D", n_jobs=-1).forecast(
        df=df, h=horizon
    )
    seconds = time.perf_counter() - t0
    assert len(out) == n * horizon
    print(
        json.dumps(
            {
                "seconds": seconds,
                "warmup_seconds": warm,
                "workers": os.cpu_count(),
                "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "peak_rss_largest_worker_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
            }
        )
    )


if __name__ == "__main__":
    main()
