"""Reference fixtures for forecast reconciliation (src/forecast/reconcile.rs), computed with
hierarchicalforecast.

Writes references/forecast/reconcile.json so the Rust test
(crates/models/tests/reconcile_reference.rs) needs no Python. Run once the pinned
requirements (hierarchicalforecast 1.5.3, numpy 2.4.6) are installed:

    /root/.venvs/recast-fc/bin/pip install -r references/forecast/requirements.txt
    /root/.venvs/recast-fc/bin/python references/forecast/make_reconcile_fixtures.py

The hierarchy is small and hand-made (seeded): 2 stores x 3 items as the bottom series, with
the grand total, the 3 item totals and the 2 store totals as aggregates, in that order and
bottoms last (the order hierarchicalforecast expects: S's bottom block is the identity). It is
grouped, not strictly hierarchical, so TopDown is called without tags (hierarchicalforecast
then takes row 0, the grand total, as the top). History is T = 48 monthly-looking periods of
coherent demand; base forecasts are deliberately incoherent (each node forecast on its own,
with noise); in-sample fitted values are each node's previous value plus noise, so the
residuals differ by node and are correlated across nodes.

Stored per case: ids, S, base forecasts (n_total x h), history (n_total x T), residuals
(history minus in-sample fits) and the reconciled means from BottomUp,
TopDown(average_proportions, proportion_averages) and MinTrace(ols, wls_struct, wls_var,
mint_shrink), plus the covariance W hierarchicalforecast used for mint_shrink. A second case
uses only T = 6 periods, so the sample covariance is singular and shrinkage matters.
"""

import json
import pathlib
import warnings

import hierarchicalforecast
import numpy as np
from hierarchicalforecast.methods import BottomUp, MinTrace, TopDown

warnings.simplefilter("ignore")
HERE = pathlib.Path(__file__).resolve().parent
OUT = HERE / "reconcile.json"

STORES = ["s1", "s2"]
ITEMS = ["a", "b", "c"]


def hierarchy():
    bottom = [f"{s}/{i}" for s in STORES for i in ITEMS]
    aggs = [("total", list(range(len(bottom))))]
    aggs += [(f"item {i}", [k for k, b in enumerate(bottom) if b.endswith("/" + i)]) for i in ITEMS]
    aggs += [(f"store {s}", [k for k, b in enumerate(bottom) if b.startswith(s + "/")]) for s in STORES]
    S = np.zeros((len(aggs) + len(bottom), len(bottom)))
    for r, (_, members) in enumerate(aggs):
        S[r, members] = 1.0
    S[len(aggs):] = np.eye(len(bottom))
    return bottom, aggs, S


def case(name, rng, T, h):
    bottom, aggs, S = hierarchy()
    nb = len(bottom)
    level = rng.uniform(20, 80, size=nb)
    season = np.sin(2 * np.pi * np.arange(T + h) / 12)
    common = rng.normal(0, 4, size=T + h)  # shared shocks: residuals correlate across series
    y_b = (level[:, None] * (1 + 0.2 * season[None, :]) + common[None, :]
           + rng.normal(0, 3, size=(nb, T + h)))
    y_b = np.maximum(y_b, 1.0)
    y = S @ y_b
    history = y[:, :T]
    fitted = np.concatenate([history[:, :1], history[:, :-1]], axis=1)
    fitted = fitted + rng.normal(0, 2, size=fitted.shape)
    base = y[:, T:] * (1 + rng.normal(0, 0.08, size=(S.shape[0], h)))
    out = {}
    out["bottom_up"] = BottomUp().fit_predict(S=S, y_hat=base)["mean"]
    for m in ["average_proportions", "proportion_averages"]:
        out[f"top_down_{m}"] = TopDown(method=m).fit_predict(
            S=S, y_hat=base, tags=None, y_insample=history)["mean"]
    w_shrink = None
    for m in ["ols", "wls_struct", "wls_var", "mint_shrink"]:
        rec = MinTrace(method=m)
        out[f"min_trace_{m}"] = rec.fit_predict(
            S=S, y_hat=base, y_insample=history, y_hat_insample=fitted)["mean"]
        if m == "mint_shrink":
            w_shrink = rec.W
    return {
        "name": name,
        "bottom": bottom,
        "aggregates": [{"id": a, "members": m} for a, m in aggs],
        "S": S.tolist(),
        "base": base.tolist(),
        "history": history.tolist(),
        "residuals": (history - fitted).tolist(),
        "mint_shrink_covariance": w_shrink.tolist(),
        "reconciled": {k: v.tolist() for k, v in out.items()},
    }


def main():
    rng = np.random.default_rng(20261205)
    cases = [case("stores2_items3_T48", rng, 48, 6), case("stores2_items3_T6", rng, 6, 3)]
    doc = {
        "source": f"hierarchicalforecast {hierarchicalforecast.__version__}, numpy {np.__version__}",
        "cases": cases,
    }
    OUT.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
