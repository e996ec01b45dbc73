"""CPU milliseconds per training step of the MINE and NDM critics on a run's y features (300 steps, early
stopping off), for comparing two source trees one right after the other:

    PYTHONPATH=OLD/src python benchmarks/evaluation/critic_step.py before /tmp/evs/run
    PYTHONPATH=NEW/src python benchmarks/evaluation/critic_step.py after /tmp/evs/run
"""

from __future__ import annotations

import sys
import time

import torch


def main() -> None:
    from infomax.evaluation.dv_critic import DVSchedule, layer_features, standardize
    from infomax.evaluation.mine import mine_fit
    from infomax.evaluation.ndm import ndm_fit
    from infomax.experiment import load_splits
    from infomax.run import load_run, train_config_from

    label, run_dir = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "/tmp/evs/run"
    torch.set_num_threads(1)
    run = load_run(run_dir)
    splits = load_splits(train_config_from(run.config))
    _, x_train, x_test, f_train, f_test = layer_features(run, splits, "y", None, "cpu")
    y_train, y_test = standardize(f_train, f_test)
    x_train, x_test = torch.from_numpy(x_train), torch.from_numpy(x_test)
    schedule = DVSchedule(steps=300, patience=1000)
    mine_fit(x_train[:300], y_train[:300], x_test, y_test, 0, 256, DVSchedule(steps=2))  # one-time imports
    fits = {"mine": lambda: mine_fit(x_train, y_train, x_test, y_test, 0, 256, schedule),
            "ndm": lambda: ndm_fit(f_train, f_test, 0, 128, schedule)}
    for name, fit in fits.items():
        c0, w0 = time.process_time(), time.perf_counter()
        fit()
        print(f"{label} {name}: {1000 * (time.process_time() - c0) / 300:.1f} ms CPU/step, "
              f"{1000 * (time.perf_counter() - w0) / 300:.1f} ms wall/step", flush=True)


if __name__ == "__main__":
    main()
