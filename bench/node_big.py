#!/usr/bin/python3
"""bench/node_big.py - a large XGBoost model for bench/node's load-time step.

Trains a regression model on synthetic data (30 float features, random
targets, so every tree keeps splitting) with Debian's python3-xgboost, in
chunks of trees, until its JSON is at least --mb megabytes (10^6 bytes), and
writes a version folder ready for `mlreg push`: model.json and
mlreg-model.json (docs/model-format.md).  Deterministic for its parameters.

Parameters chosen to be quick rather than realistic: 4,000 rows, depth 12,
max_bin 16 (the histogram work per node is what makes big trees slow to
train), eta 0.01 (the residuals never vanish, so later trees stay as large
as the first), lambda 0 and min_child_weight 0; about 5,000 nodes a tree,
about 57 bytes of JSON a node, so ~100 MB is ~720 trees and ~6 s on 2 cores.

The folder is cached in --cache-dir under a name made of the parameters and
the XGBoost version, so a rerun of the benchmark skips the training.

usage: node_big.py --out DIR [--mb N] [--cache-dir DIR]
Prints JSON: out, bytes, trees, nodes, seconds (training; 0 when cached), cached.
"""
import argparse
import json
import os
import shutil
import time

import numpy as np
import xgboost as xgb

ROWS, FEATURES, DEPTH, CHUNK, SEED = 4000, 30, 12, 40, 7


def train(out, mb):
    rng = np.random.default_rng(SEED)
    x = rng.standard_normal((ROWS, FEATURES), dtype=np.float32)
    y = rng.standard_normal(ROWS).astype(np.float32)
    params = {"objective": "reg:squarederror", "tree_method": "hist", "max_depth": DEPTH, "max_bin": 16,
              "eta": 0.01, "lambda": 0, "min_child_weight": 0, "nthread": os.cpu_count() or 2, "seed": SEED}
    dtrain = xgb.DMatrix(x, label=y)
    booster, size = None, 0
    t0 = time.time()
    while size < mb * 1e6:
        booster = xgb.train(params, dtrain, num_boost_round=CHUNK, xgb_model=booster)
        size = len(booster.save_raw("json"))
    secs = time.time() - t0
    os.makedirs(out, exist_ok=True)
    booster.save_model(os.path.join(out, "model.json"))
    spec = {"format": "xgboost", "file": "model.json",
            "inputs": [{"name": "input", "datatype": "FP32", "shape": [-1, FEATURES]}],
            "outputs": [{"name": "output", "datatype": "FP32", "shape": [-1]}]}
    with open(os.path.join(out, "mlreg-model.json"), "w") as f:
        json.dump(spec, f, indent=1)
    trees = json.loads(booster.save_raw("json"))["learner"]["gradient_booster"]["model"]["trees"]
    info = {"trees": len(trees), "nodes": sum(int(t["tree_param"]["num_nodes"]) for t in trees),
            "train_seconds": round(secs, 1)}
    with open(os.path.join(out, "info.json"), "w") as f:
        json.dump(info, f)
    return info


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--mb", type=float, default=100)
    ap.add_argument("--cache-dir")
    a = ap.parse_args()
    key = "big-%g-r%d-f%d-d%d-s%d-xgb%s" % (a.mb, ROWS, FEATURES, DEPTH, SEED, xgb.__version__)
    cached = False
    if a.cache_dir and os.path.exists(os.path.join(a.cache_dir, key, "info.json")):
        shutil.copytree(os.path.join(a.cache_dir, key), a.out, dirs_exist_ok=True)
        cached = True
        with open(os.path.join(a.out, "info.json")) as f:
            info = json.load(f)
    else:
        info = train(a.out, a.mb)
        if a.cache_dir:
            os.makedirs(a.cache_dir, exist_ok=True)
            tmp = os.path.join(a.cache_dir, key + ".tmp%d" % os.getpid())
            shutil.copytree(a.out, tmp)
            os.replace(tmp, os.path.join(a.cache_dir, key)) if not os.path.exists(
                os.path.join(a.cache_dir, key)) else shutil.rmtree(tmp)
    os.remove(os.path.join(a.out, "info.json"))  # the version holds the model and its descriptor only
    print(json.dumps({"out": a.out, "bytes": os.path.getsize(os.path.join(a.out, "model.json")),
                      "trees": info["trees"], "nodes": info["nodes"],
                      "seconds": 0 if cached else info["train_seconds"], "cached": cached}))


if __name__ == "__main__":
    main()
