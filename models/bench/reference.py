#!/usr/bin/env python3
"""Reference timings for models/benches/trees.rs: scikit-learn's random
forest and LightGBM on the same synthetic 200k x 120 file.

    pip install scikit-learn lightgbm pandas pyarrow
    cargo bench -p poolcast-models --bench trees   # writes the data file once
    python3 models/bench/reference.py [--only rf|gbm] [--data PATH]

Prints the same table as the Rust bench. Both learners get 2 threads (the
machine has 2 cores), the hyper-parameters the issue fixes, and otherwise
their defaults.
"""

import argparse
import os
import time

import numpy as np
import pandas as pd


def cpu_seconds():
    """CPU seconds (user + system) of this process and its threads."""
    t = os.times()
    return t.user + t.system


def r2_rmse(pred, y):
    sse = float(np.sum((pred - y) ** 2))
    sst = float(np.sum((y - y.mean()) ** 2))
    return 1.0 - sse / sst, (sse / len(y)) ** 0.5


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default = os.path.join(here, "..", "..", "target", "bench-data", "trees_200k.parquet")
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.path.normpath(default))
    ap.add_argument("--only", choices=["rf", "gbm"])
    args = ap.parse_args()

    df = pd.read_parquet(args.data)
    feats = [f"f{c}" for c in range(120)]
    test = df["is_test"].to_numpy()
    x = df[feats].to_numpy(dtype=np.float64)
    y = df["y"].to_numpy(dtype=np.float64)
    x_tr, y_tr, x_te, y_te = x[~test], y[~test], x[test], y[test]
    x_tr = np.ascontiguousarray(x_tr)
    x_te = np.ascontiguousarray(x_te)
    print(f"data: {args.data} ({len(y_tr)} train / {len(y_te)} test rows x 120 features)")

    rows = []
    if args.only in (None, "rf"):
        import sklearn
        from sklearn.ensemble import RandomForestRegressor

        rf = RandomForestRegressor(n_estimators=100, max_depth=10, n_jobs=2, random_state=0)
        t, cpu = time.perf_counter(), cpu_seconds()
        rf.fit(x_tr, y_tr)
        secs, cpu = time.perf_counter() - t, cpu_seconds() - cpu
        t = time.perf_counter()
        p = rf.predict(x_te)
        us = (time.perf_counter() - t) * 1e6 / len(y_te)
        r2, rmse = r2_rmse(p, y_te)
        rows.append((f"sklearn {sklearn.__version__} RandomForestRegressor", secs, cpu, r2, rmse, us))
        print(f"rf: {secs:.2f} s ({cpu:.1f} CPU s)", flush=True)
    if args.only in (None, "gbm"):
        import lightgbm
        from lightgbm import LGBMRegressor

        gbm = LGBMRegressor(
            n_estimators=500, learning_rate=0.1, num_leaves=31, n_jobs=2, verbose=-1
        )
        t, cpu = time.perf_counter(), cpu_seconds()
        gbm.fit(x_tr, y_tr)
        secs, cpu = time.perf_counter() - t, cpu_seconds() - cpu
        t = time.perf_counter()
        p = gbm.predict(x_te)
        us = (time.perf_counter() - t) * 1e6 / len(y_te)
        r2, rmse = r2_rmse(p, y_te)
        rows.append((f"LightGBM {lightgbm.__version__} LGBMRegressor", secs, cpu, r2, rmse, us))
        print(f"gbm: {secs:.2f} s ({cpu:.1f} CPU s)", flush=True)

    print()
    print(
        f"| {'model (reference)':<50} | {'train s':>9} | {'CPU s':>9} | {'R²':>7} | {'RMSE':>7} "
        f"| {'predict µs/row':>14} |"
    )
    print(f"|{'-' * 52}|{'-' * 11}|{'-' * 11}|{'-' * 9}|{'-' * 9}|{'-' * 16}|")
    for name, secs, cpu, r2, rmse, us in rows:
        print(
            f"| {name:<50} | {secs:>9.2f} | {cpu:>9.1f} | {r2:>7.4f} | {rmse:>7.4f} | {us:>14.2f} |"
        )
    print("(predict µs/row here is one batched predict call on 2 threads, not a per-row loop)")


if __name__ == "__main__":
    main()
