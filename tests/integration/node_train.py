#!/usr/bin/python3
"""node_train.py - train a small XGBoost model for the mlreg-node tests.

Uses Debian's python3-xgboost and a dataset that ships inside scikit-learn
(breast cancer: 569 rows, 30 features, two classes; wine: 178 rows, 13
features, three classes), so nothing is downloaded.  Writes a version folder
ready for `mlreg push`: the model file and mlreg-model.json
(docs/model-format.md).  With --rows-out it also writes rows of the dataset
and python's own predictions for them, which the test compares with the
node's answers.

usage: node_train.py --out DIR [--trees N] [--depth D] [--seed S]
                     [--format json|ubj] [--dataset cancer|wine]
                     [--flip] [--rows-out FILE] [--nrows N]
"""
import argparse
import json
import os

import numpy as np
import xgboost as xgb
from sklearn.datasets import load_breast_cancer, load_wine


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--trees", type=int, default=10)
    ap.add_argument("--depth", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--format", choices=["json", "ubj"], default="json")
    ap.add_argument("--dataset", choices=["cancer", "wine"], default="cancer")
    ap.add_argument("--flip", action="store_true", help="train on inverted labels (a bad model)")
    ap.add_argument("--rows-out")
    ap.add_argument("--nrows", type=int, default=50)
    a = ap.parse_args()

    data = load_breast_cancer() if a.dataset == "cancer" else load_wine()
    x = data.data.astype(np.float32)
    y = data.target
    nclass = int(y.max()) + 1
    if a.flip:
        y = (nclass - 1) - y
    params = {"max_depth": a.depth, "eta": 0.3, "seed": a.seed, "nthread": 1,
              "subsample": 0.8, "colsample_bytree": 0.8}
    if nclass == 2:
        params["objective"] = "binary:logistic"
    else:
        params["objective"] = "multi:softprob"
        params["num_class"] = nclass
    booster = xgb.train(params, xgb.DMatrix(x, label=y), num_boost_round=a.trees)

    os.makedirs(a.out, exist_ok=True)
    fname = "model." + a.format
    booster.save_model(os.path.join(a.out, fname))
    nfeat = x.shape[1]
    spec = {
        "format": "xgboost",
        "file": fname,
        "inputs": [{"name": "input", "datatype": "FP32", "shape": [-1, nfeat]}],
        "outputs": [{"name": "output", "datatype": "FP32",
                     "shape": [-1] if nclass == 2 else [-1, nclass]}],
    }
    with open(os.path.join(a.out, "mlreg-model.json"), "w") as f:
        json.dump(spec, f, indent=1)

    if a.rows_out:
        rng = np.random.default_rng(a.seed + 1000)
        idx = rng.choice(len(x), size=min(a.nrows, len(x)), replace=False)
        rows = x[idx]
        pred = booster.inplace_predict(rows)
        with open(a.rows_out, "w") as f:
            json.dump({"rows": rows.tolist(), "pred": np.asarray(pred, dtype=np.float64).tolist(),
                       "features": nfeat, "classes": nclass}, f)
    acc = float(((booster.inplace_predict(x) > 0.5).astype(int) == y).mean()) if nclass == 2 else 0.0
    print(json.dumps({"out": a.out, "file": fname, "accuracy": round(acc, 4)}))


if __name__ == "__main__":
    main()
