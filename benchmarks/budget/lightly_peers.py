"""lightly's SimCLR, BYOL and MoCo-v2 on the Deep InfoMax encoder, for a wall-clock budget (the peers).

Runs in an environment of its own (lightly needs torchvision, which infomax does not depend on; set it up
as ``benchmarks/dim/README.md`` describes for ``lightly_simclr.py``: a venv with torch, torchvision,
``lightly==1.6.*`` and safetensors). The encoder is infomax's own :class:`DIMConvEncoder` on ``fc``
(1024); everything SSL is lightly's (transforms, heads, losses, momentum helpers). Recipes (``RECIPES``),
each with lightly's CIFAR-10 settings as used in its examples / benchmark scripts: input size = image
side, no Gaussian blur, normalisation left to the encoder; SGD momentum 0.9, weight decay 5e-4, batch
256, drop last; constant learning rate (the schedule length is unknown under a wall-clock budget), and
the momentum encoders' coefficient follows lightly's cosine schedule over the *elapsed fraction* of the
budget. Run with lightly 1.6.0 / torch 2.14.1 (2026-12-05): each recipe for three 10-minute Fashion-MNIST
cells (README); none yet on CIFAR-10. A peer's cell records its first and last
loss: check that the loss fell before its row counts.

- ``simclr``: ``SimCLRTransform``, ``SimCLRProjectionHead(1024, 1024, 128)``, ``NTXentLoss()`` (T 0.5),
  lr 0.12 (as ``benchmarks/dim/lightly_simclr.py``, whose rows are in BENCHMARKS.md);
- ``byol``: ``BYOLTransform`` (views 1 and 2), ``BYOLProjectionHead(1024, 1024, 256)``,
  ``BYOLPredictionHead(256, 1024, 256)``, ``NegativeCosineSimilarity``, symmetric loss, EMA 0.99 -> 1,
  lr 0.06;
- ``mocov2``: ``MoCoV2Transform``, ``MoCoProjectionHead(1024, 512, 128)``, ``NTXentLoss(temperature=0.1,
  memory_bank_size=(4096, 128))``, EMA 0.99 -> 1, lr 0.06.

Prints one JSON line (steps, elapsed, images/s, versions, recipe) and writes the encoder's weights as
safetensors (``--out-weights``) for ``run.py`` to probe.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks" / "dim"))

import torch  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

RECIPES = {"simclr": {"lr": 0.12}, "byol": {"lr": 0.06, "ema": 0.99}, "mocov2": {"lr": 0.06, "ema": 0.99}}


def ema_coefficient(frac: float, base: float) -> float:
    """lightly's ``cosine_schedule(step, max_steps, base, 1)`` with step / max_steps = ``frac``.

    Example:
        >>> ema_coefficient(0.0, 0.99), ema_coefficient(1.0, 0.99)
        (0.99, 1.0)
    """
    frac = min(max(frac, 0.0), 1.0)
    return round(1.0 - (1.0 - base) * (math.cos(math.pi * frac) + 1) / 2, 12)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--method", choices=sorted(RECIPES), required=True)
    p.add_argument("--data", default="cifar10")
    p.add_argument("--data-root", default=None)
    p.add_argument("--budget-minutes", type=float, required=True)
    p.add_argument("--out-weights", type=Path, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    import lightly
    from lightly.models.utils import deactivate_requires_grad, update_momentum
    from lightly_simclr import TwoViewDataset
    from safetensors.torch import save_file

    from infomax.data.datasets import load_dataset
    from infomax.encoders.dim_conv import DIMConvEncoder

    recipe = RECIPES[args.method]
    splits = load_dataset(args.data, args.data_root, val_fraction=0.0)
    info = splits.info
    size = info.image_size
    backbone = DIMConvEncoder(info.channels, info.image_size, mean=info.mean, std=info.std)
    ema_nets: list = []
    if args.method == "simclr":
        from lightly.loss import NTXentLoss
        from lightly.models.modules import SimCLRProjectionHead
        from lightly.transforms import SimCLRTransform

        transform = SimCLRTransform(input_size=size, gaussian_blur=0.0, normalize=None)
        head = SimCLRProjectionHead(1024, 1024, 128)
        criterion = NTXentLoss()
        trainable = [backbone, head]

        def loss_fn(x0, x1, m):
            return criterion(head(backbone(x0)["fc"]), head(backbone(x1)["fc"]))
    elif args.method == "byol":
        from lightly.loss import NegativeCosineSimilarity
        from lightly.models.modules import BYOLPredictionHead, BYOLProjectionHead
        from lightly.transforms.byol_transform import BYOLTransform, BYOLView1Transform, BYOLView2Transform

        transform = BYOLTransform(
            view_1_transform=BYOLView1Transform(input_size=size, gaussian_blur=0.0, normalize=None),
            view_2_transform=BYOLView2Transform(input_size=size, gaussian_blur=0.0, normalize=None))
        proj, pred = BYOLProjectionHead(1024, 1024, 256), BYOLPredictionHead(256, 1024, 256)
        bb_m, proj_m = copy.deepcopy(backbone), copy.deepcopy(proj)
        deactivate_requires_grad(bb_m)
        deactivate_requires_grad(proj_m)
        ema_nets = [(backbone, bb_m), (proj, proj_m)]
        criterion = NegativeCosineSimilarity()
        trainable = [backbone, proj, pred]

        def loss_fn(x0, x1, m):
            p0, p1 = pred(proj(backbone(x0)["fc"])), pred(proj(backbone(x1)["fc"]))
            with torch.no_grad():
                z0, z1 = proj_m(bb_m(x0)["fc"]), proj_m(bb_m(x1)["fc"])
            return 0.5 * (criterion(p0, z1) + criterion(p1, z0))
    else:
        from lightly.loss import NTXentLoss
        from lightly.models.modules import MoCoProjectionHead
        from lightly.transforms import MoCoV2Transform

        transform = MoCoV2Transform(input_size=size, gaussian_blur=0.0, normalize=None)
        proj = MoCoProjectionHead(1024, 512, 128)
        bb_m, proj_m = copy.deepcopy(backbone), copy.deepcopy(proj)
        deactivate_requires_grad(bb_m)
        deactivate_requires_grad(proj_m)
        ema_nets = [(backbone, bb_m), (proj, proj_m)]
        criterion = NTXentLoss(temperature=0.1, memory_bank_size=(4096, 128))
        trainable = [backbone, proj]

        def loss_fn(x0, x1, m):
            q = proj(backbone(x0)["fc"])
            with torch.no_grad():
                k = proj_m(bb_m(x1)["fc"])
            return criterion(q, k)

    loader = DataLoader(TwoViewDataset(splits.train.images, transform), batch_size=args.batch_size,
                        shuffle=True, drop_last=True, num_workers=0,
                        generator=torch.Generator().manual_seed(args.seed))
    params = [q for net in trainable for q in net.parameters()]
    opt = torch.optim.SGD(params, lr=recipe["lr"], momentum=0.9, weight_decay=5e-4)
    for net in trainable:
        net.train()
    budget = 60 * args.budget_minutes
    t0, steps, epochs, done, loss_v, first = time.monotonic(), 0, 0, False, float("nan"), None
    while not done:
        for views in loader:
            m = ema_coefficient((time.monotonic() - t0) / budget, recipe.get("ema", 0.99))
            for online, target in ema_nets:
                update_momentum(online, target, m=m)
            loss = loss_fn(views[0], views[1], m)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            steps, loss_v = steps + 1, loss.item()
            first = loss_v if first is None else first
            if time.monotonic() - t0 >= budget:
                done = True
                break
        else:
            epochs += 1
    elapsed = time.monotonic() - t0
    args.out_weights.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in backbone.state_dict().items()}, str(args.out_weights))
    print(json.dumps({"lightly": lightly.__version__, "torch": torch.__version__, "method": args.method,
                      "recipe": f"{args.method} {recipe}", "steps": steps, "epochs_completed": epochs,
                      "elapsed_s": round(elapsed, 1), "first_loss": first, "final_loss": loss_v,
                      "images_per_s": round(steps * args.batch_size / elapsed, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
