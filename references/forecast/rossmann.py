"""The Rossmann sample's store-sales file as the forecasting peer scripts read it: every
calendar day of each store from its first to its last in the file, a missing or closed day
counting as 0 sales, no promotion, no school holiday and closed (the same rule as the Rust
benches' `benches/common/rossmann.rs`)."""

import pandas as pd


def load_days(path):
    """{store id: DataFrame(ds, y, promo, school_holiday, state_holiday (0/1), open, code)},
    `code` being the raw StateHoliday (a public, b Easter, c Christmas, 0 none)."""
    df = pd.read_csv(path, dtype={"StateHoliday": str}, parse_dates=["Date"])
    out = {}
    for store, g in df.groupby("Store"):
        g = g.set_index("Date").sort_index()
        days = pd.date_range(g.index.min(), g.index.max(), freq="D")
        g = g.reindex(days)
        open_ = g["Open"].fillna(0).astype(float)
        code = g["StateHoliday"].fillna("0")
        out[str(store)] = pd.DataFrame(
            {
                "ds": days,
                "y": g["Sales"].where(open_ == 1, 0.0).fillna(0.0).astype(float).to_numpy(),
                "promo": g["Promo"].fillna(0).astype(float).to_numpy(),
                "school_holiday": g["SchoolHoliday"].fillna(0).astype(float).to_numpy(),
                "state_holiday": (code != "0").astype(float).to_numpy(),
                "open": open_.to_numpy(),
                "code": code.to_numpy(),
            }
        )
    return out
