"""The multi-view MNIST study (Tschannen et al., ICLR 2020, sec. 3) under a CPU budget.

Drives short training loops directly (Adam, the method's own ``forward``) and writes one tidy CSV
(``results.csv``: one row per run x step x metric), the paper's plots and ``report.md``.

Parts (``--parts``):
  grid     critic x bound with the MLP encoder (paper Fig. 3), ``--seeds`` seeds;
  conv     the same cells with the ConvNet encoder (``--conv-critics``, first seed only by default);
  target   |I_EST - t| for t = 2, 4 with the MLP and ConvNet encoders (paper Fig. 4);
  realnvp  a RealNVP bijection as g1 and g2, plain and adversarial (paper Fig. 1).

Example (the reduced grid of README.md; ``--data fashion-mnist`` for the second dataset):
    python benchmarks/multiview/run_grid.py --out benchmarks/multiview/results
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from probe import logreg_accuracy  # noqa: E402

from infomax.data.datasets import DataInfo, load_split  # noqa: E402
from infomax.methods import multiview as mv  # noqa: E402

#: The 28x28 grayscale datasets the study runs on (the halves view needs 28x28 images).
DATASETS = ("mnist", "fashion-mnist")


class Data:
    def __init__(self, name: str, root: str | None, probe_train: int, seed: int = 0) -> None:
        tr, te = load_split(name, "train", root), load_split(name, "test", root)
        self.x_train, self.y_train = torch.from_numpy(tr.images), torch.from_numpy(tr.labels)
        self.x_test, self.y_test = torch.from_numpy(te.images), torch.from_numpy(te.labels)
        g = torch.Generator().manual_seed(seed)
        n = min(probe_train, len(self.x_train)) if probe_train > 0 else len(self.x_train)
        self.probe_idx = torch.randperm(len(self.x_train), generator=g)[:n]
        self.info = DataInfo(name=name, channels=1, image_size=28, num_classes=10, mean=(0.0,), std=(1.0,))


@torch.no_grad()
def _features(enc: torch.nn.Module, x_u8: torch.Tensor, bs: int = 2000) -> torch.Tensor:
    enc.eval()
    out = torch.cat([enc(x_u8[i : i + bs].float() / 255)["g1"] for i in range(0, len(x_u8), bs)])
    enc.train()
    return out


@torch.no_grad()
def _test_bound(method: mv.MultiView, data: Data, batch: int, n_batches: int = 8) -> float:
    """The bound on the first ``n_batches`` full test batches (fewer if the test set is smaller)."""
    n = max(1, min(n_batches, len(data.x_test) // batch))
    vals = [method((data.x_test[i * batch : (i + 1) * batch].float() / 255,
                    data.y_test[i * batch : (i + 1) * batch]))[f"mi/{method.bound_name}"].item()
            for i in range(n)]
    return sum(vals) / len(vals)


def _probe(method: mv.MultiView, data: Data) -> float:
    f_tr = _features(method.encoder, data.x_train[data.probe_idx])
    f_te = _features(method.encoder, data.x_test)
    return logreg_accuracy(f_tr, data.y_train[data.probe_idx], f_te, data.y_test)


def run_one(exp: str, cfg: mv.Config, seed: int, steps: int, args: argparse.Namespace, data: Data,
            writer: csv.DictWriter) -> None:
    torch.manual_seed(seed)
    method = mv.build(cfg, data.info)
    groups = method.param_groups()
    opts = {k: torch.optim.Adam(v, lr=args.lr) for k, v in groups.items()}
    key = {"dataset": args.data, "experiment": exp, "encoder": cfg.encoder, "critic": cfg.critic,
           "bound": cfg.bound, "target_mi": "" if cfg.target_mi is None else cfg.target_mi,
           "adversary_weight": cfg.adversary_weight, "seed": seed}

    def emit(step: int, metric: str, value: float) -> None:
        writer.writerow({**key, "step": step, "metric": metric, "value": round(value, 5)})

    def evaluate(step: int) -> None:
        emit(step, "probe_acc", _probe(method, data))
        emit(step, "bound_test", _test_bound(method, data, args.batch_size))

    t0 = time.time()
    evaluate(0)
    gen = torch.Generator().manual_seed(seed)
    running: list[float] = []
    for step in range(1, steps + 1):
        idx = torch.randint(0, len(data.x_train), (args.batch_size,), generator=gen)
        out = method((data.x_train[idx].float() / 255, data.y_train[idx]))
        for opt in opts.values():
            opt.zero_grad()
        out["loss"].backward()
        if "adversary" in opts:
            out["loss/adversary"].backward()
        for opt in opts.values():
            opt.step()
        running.append(out[f"mi/{cfg.bound}"].item())
        if step % args.eval_every == 0 or step == steps:
            emit(step, "bound_train", sum(running) / len(running))
            if "adversary/accuracy" in out:
                emit(step, "adversary_acc", out["adversary/accuracy"].item())
            running = []
            evaluate(step)
    emit(steps, "seconds", time.time() - t0)
    print(f"{exp} {cfg.encoder}/{cfg.critic}/{cfg.bound} t={cfg.target_mi} adv={cfg.adversary_weight} "
          f"seed={seed}: {time.time() - t0:.0f}s", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="benchmarks/multiview/results")
    p.add_argument("--data", default="mnist", choices=DATASETS,
                   help="28x28 grayscale dataset (files under $INFOMAX_DATA/<name>/ or --data-root)")
    p.add_argument("--data-root", default=None)
    p.add_argument("--parts", default="grid,conv,target,realnvp")
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--steps", type=int, default=1000, help="MLP steps (paper: 21000)")
    p.add_argument("--conv-steps", type=int, default=400)
    p.add_argument("--conv-critics", default="bilinear")
    p.add_argument("--conv-seeds", type=int, default=1)
    p.add_argument("--flow-steps", type=int, default=400)
    p.add_argument("--flow-layers", type=int, default=10, help="paper: 30")
    p.add_argument("--flow-hidden", default="256,256", help="paper: 512,512")
    p.add_argument("--eval-every", type=int, default=200)
    p.add_argument("--probe-train", type=int, default=10000, help="train images for the probe (0 = all)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-4)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = Data(args.data, args.data_root, args.probe_train)
    parts = set(args.parts.split(","))
    fields = ["dataset", "experiment", "encoder", "critic", "bound", "target_mi", "adversary_weight", "seed",
              "step", "metric", "value"]
    with open(out / "results.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        pix_tr = data.x_train[data.probe_idx, 0, :14].flatten(1).float() / 255
        pix_te = data.x_test[:, 0, :14].flatten(1).float() / 255
        acc = logreg_accuracy(pix_tr, data.y_train[data.probe_idx], pix_te, data.y_test)
        writer.writerow({"dataset": args.data, "experiment": "baseline", "encoder": "pixels", "critic": "",
                         "bound": "", "target_mi": "", "adversary_weight": 0.0, "seed": 0, "step": 0,
                         "metric": "probe_acc", "value": round(acc, 5)})
        print(f"raw-pixel baseline {acc:.4f}", file=sys.stderr, flush=True)
        if "grid" in parts:
            for seed in range(args.seeds):
                for critic in ("bilinear", "separable", "concat"):
                    for bound in ("infonce", "nwj"):
                        cfg = mv.Config(encoder="mlp", critic=critic, bound=bound)
                        run_one("grid", cfg, seed, args.steps, args, data, writer)
                        fh.flush()
        if "conv" in parts:
            for seed in range(args.conv_seeds):
                for critic in args.conv_critics.split(","):
                    for bound in ("infonce", "nwj"):
                        run_one("grid", mv.Config(encoder="convnet", critic=critic, bound=bound), seed,
                                args.conv_steps, args, data, writer)
                        fh.flush()
        if "target" in parts:
            for t in (2.0, 4.0):
                for enc, steps in (("mlp", args.steps), ("convnet", args.conv_steps)):
                    cfg = mv.Config(encoder=enc, critic="bilinear", bound="infonce", shared_encoder=True,
                                    target_mi=t)
                    run_one("target", cfg, 0, steps, args, data, writer)
                    fh.flush()
        if "realnvp" in parts:
            hidden = tuple(int(h) for h in args.flow_hidden.split(","))
            for adv in (0.0, 1.0):
                cfg = mv.Config(encoder="realnvp", critic="bilinear", bound="infonce",
                                flow_layers=args.flow_layers, flow_hidden=hidden, adversary_weight=adv)
                run_one("realnvp", cfg, 0, args.flow_steps, args, data, writer)
                fh.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
