#!/usr/bin/python3
"""demo_train.py - train one version of the demo's model (scripts/demo).

Debian's python3-xgboost on the breast-cancer data that ships inside
scikit-learn (569 rows, 30 features, two classes: nothing is downloaded).
The data is split once, the same way every time (stratified, 25% held out,
fixed seed), and both halves are written as CSV files, so the version can be
pushed with the very file it was trained on as its dataset.  The metrics are
computed on the held-out rows only, never on the training rows.

Writes into --out a version folder ready for `mlreg push` (model.json and
mlreg-model.json, docs/model-format.md); into --data-dir train.csv and
holdout.csv; into --flags-out the push flags (--metric and --param, one
argument a line, for a bash array); into --rows-out held-out rows and this
model's predictions for them (the load generator's traffic).  Prints one
line saying what it trained and how it scored.

usage: demo_train.py --out DIR --data-dir DIR [--trees N] [--depth D]
                     [--eta X] [--seed S] [--flags-out FILE] [--rows-out FILE]
"""
import argparse
import csv
import json
import os

import numpy as np
import xgboost as xgb
from sklearn.datasets import load_breast_cancer
from sklearn.metrics import accuracy_score, f1_score, log_loss, roc_auc_score
from sklearn.model_selection import train_test_split


def write_csv(path, names, x, y):
    tmp = path + ".tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(list(names) + ["label"])
        for row, label in zip(x, y):
            w.writerow(["%.6g" % v for v in row] + [int(label)])
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--trees", type=int, default=10)
    ap.add_argument("--depth", type=int, default=3)
    ap.add_argument("--eta", type=float, default=0.3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--flags-out")
    ap.add_argument("--rows-out")
    ap.add_argument("--nrows", type=int, default=100)
    a = ap.parse_args()

    data = load_breast_cancer()
    x = data.data.astype(np.float32)
    y = data.target
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.25, stratify=y, random_state=42)
    os.makedirs(a.data_dir, exist_ok=True)
    names = [n.replace(" ", "_") for n in data.feature_names]
    write_csv(os.path.join(a.data_dir, "train.csv"), names, xtr, ytr)
    write_csv(os.path.join(a.data_dir, "holdout.csv"), names, xte, yte)

    params = {"objective": "binary:logistic", "max_depth": a.depth, "eta": a.eta,
              "seed": a.seed, "nthread": 1, "subsample": 0.8, "colsample_bytree": 0.8}
    booster = xgb.train(params, xgb.DMatrix(xtr, label=ytr), num_boost_round=a.trees)

    os.makedirs(a.out, exist_ok=True)
    booster.save_model(os.path.join(a.out, "model.json"))
    spec = {
        "format": "xgboost",
        "file": "model.json",
        "inputs": [{"name": "input", "datatype": "FP32", "shape": [-1, x.shape[1]]}],
        "outputs": [{"name": "output", "datatype": "FP32", "shape": [-1]}],
    }
    with open(os.path.join(a.out, "mlreg-model.json"), "w") as f:
        json.dump(spec, f, indent=1)
        f.write("\n")

    p = np.asarray(booster.inplace_predict(xte), dtype=np.float64)
    metrics = {
        "accuracy": accuracy_score(yte, p > 0.5),
        "auc": roc_auc_score(yte, p),
        "f1": f1_score(yte, p > 0.5),
        "logloss": log_loss(yte, p),
    }
    hyper = {"trees": a.trees, "max_depth": a.depth, "eta": a.eta, "seed": a.seed}
    if a.flags_out:
        with open(a.flags_out, "w") as f:
            for k, v in metrics.items():
                f.write("--metric\n%s=%.4f\n" % (k, v))
            for k, v in hyper.items():
                f.write("--param\n%s=%s\n" % (k, v))
    if a.rows_out:
        rows = xte[: a.nrows]
        with open(a.rows_out, "w") as f:
            json.dump({"rows": rows.tolist(), "pred": p[: a.nrows].tolist(),
                       "features": int(x.shape[1]), "classes": 2}, f)
    print("trained %d trees of depth %d (eta %g) on %d rows; on the %d held-out rows: %s"
          % (a.trees, a.depth, a.eta, len(ytr), len(yte),
             " ".join("%s=%.4f" % kv for kv in metrics.items())))


if __name__ == "__main__":
    main()
