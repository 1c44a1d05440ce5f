"""Reference fixtures for the intermittent-demand models (src/forecast/intermittent.rs),
computed with statsforecast.

Writes references/forecast/intermittent.json with each input series and statsforecast's point
forecasts, so the Rust test (crates/models/tests/intermittent_reference.rs) needs no Python.
Run once the pinned requirements (statsforecast 2.1.1, numpy 2.4.6, pandas 2.3.3) are
installed:

    python3 -m venv /root/.venvs/recast-fc && /root/.venvs/recast-fc/bin/pip install -r references/forecast/requirements.txt
    /root/.venvs/recast-fc/bin/python references/forecast/make_intermittent_fixtures.py

Cases: eight series drawn with numpy's seeded generator (default_rng(20261205)): intermittent
(occurrence 0.3, Poisson sizes), lumpy (0.2, heavy-tailed sizes), smooth (0.9), erratic
(0.85, geometric sizes), dying (demand stops for the last 14 periods), sparse (0.08 over 120
periods), a single non-zero value, and a short series with real-valued (gamma) sizes. For
each, h = 12 point forecasts of CrostonClassic, CrostonSBA, CrostonOptimized, TSB(alpha_d=0.2,
alpha_p=0.1), ADIDA and IMAPA; TSB with both alphas chosen by statsforecast's golden-section
SES optimiser in [0.1, 0.3] (the rule recast uses when they are not given; statsforecast's TSB
itself requires them); and the Syntetos–Boylan statistics (ADI = mean inter-demand interval,
CV² = population variance over squared mean of the non-zero sizes). For CrostonClassic,
CrostonSBA and TSB(0.2, 0.1) also the in-sample one-step predictions (`fitted=True`), which
the empirical intervals are built from.
"""

import json
import pathlib

import numpy as np
import pandas as pd
import statsforecast
from statsforecast.models import (
    ADIDA,
    IMAPA,
    TSB,
    CrostonClassic,
    CrostonOptimized,
    CrostonSBA,
    _ses_lib,
)

OUT = pathlib.Path(__file__).resolve().parent / "intermittent.json"
H = 12


def draw(rng, n, p, sizes):
    occurs = rng.random(n) < p
    return np.where(occurs, sizes(n), 0.0).astype(float)


def series():
    rng = np.random.default_rng(20261205)
    out = {
        "intermittent": draw(rng, 60, 0.3, lambda n: rng.poisson(3, n) + 1),
        "lumpy": draw(rng, 80, 0.2, lambda n: np.ceil(rng.lognormal(1.0, 1.2, n))),
        "smooth": draw(rng, 48, 0.9, lambda n: rng.poisson(10, n) + 5),
        "erratic": draw(rng, 50, 0.85, lambda n: rng.geometric(0.15, n)),
        "dying": np.concatenate([draw(rng, 50, 0.4, lambda n: rng.poisson(4, n) + 1), np.zeros(14)]),
        "sparse": draw(rng, 120, 0.08, lambda n: rng.poisson(2, n) + 1),
        "single": np.where(np.arange(24) == 7, 5.0, 0.0),
        "gamma_short": draw(rng, 14, 0.5, lambda n: np.round(rng.gamma(2.0, 1.5, n), 3) + 0.1),
    }
    return out


def stats(y):
    nz = np.where(y != 0)[0]
    sizes = y[y > 0]
    adi = float(np.diff(nz + 1, prepend=0).mean())
    cv2 = float(sizes.var() / sizes.mean() ** 2)
    return adi, cv2


def case(name, y):
    yd = y[y > 0]
    yp = (y != 0).astype(float)
    a_d = float(_ses_lib.golden_section_ses(yd, 0.1, 0.3))
    a_p = float(_ses_lib.golden_section_ses(yp, 0.1, 0.3))
    models = {
        "croston_classic": CrostonClassic(),
        "croston_sba": CrostonSBA(),
        "croston_optimized": CrostonOptimized(),
        "tsb_0.2_0.1": TSB(alpha_d=0.2, alpha_p=0.1),
        "tsb_optimized": TSB(alpha_d=a_d, alpha_p=a_p),
        "adida": ADIDA(),
        "imapa": IMAPA(),
    }
    adi, cv2 = stats(y)
    return {
        "name": name,
        "series": y.tolist(),
        "h": H,
        "adi": adi,
        "cv2": cv2,
        "tsb_alphas": [a_d, a_p],
        "forecasts": {k: m.forecast(y=y, h=H)["mean"].tolist() for k, m in models.items()},
        # One-step in-sample predictions (None where undefined) of the fixed-parameter models.
        "fitted": {
            k: [None if np.isnan(v) else float(v) for v in models[k].forecast(y=y, h=H, fitted=True)["fitted"]]
            for k in ("croston_classic", "croston_sba", "tsb_0.2_0.1")
        },
    }


def main():
    cases = [case(k, v) for k, v in series().items()]
    doc = {
        "generator": "references/forecast/make_intermittent_fixtures.py",
        "versions": {"statsforecast": statsforecast.__version__, "numpy": np.__version__, "pandas": pd.__version__},
        "cases": cases,
    }
    OUT.write_text(json.dumps(doc, indent=1) + "\n")
    for c in cases:
        print(c["name"], len(c["series"]), "ADI %.2f CV2 %.2f" % (c["adi"], c["cv2"]), {k: round(v[0], 4) for k, v in c["forecasts"].items()})


if __name__ == "__main__":
    main()
