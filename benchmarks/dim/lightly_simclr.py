"""lightly 1.6 SimCLR on the Deep InfoMax encoder, for a wall-clock budget (the bar of issue 3).

Runs in an environment of its own (lightly needs torchvision, which infomax does not depend on): see
``README.md`` (``benchmarks/dim/.venv-lightly``). The encoder is infomax's own
:class:`~infomax.encoders.DIMConvEncoder` (imported from this checkout's ``src``); everything SSL is
lightly's: ``SimCLRTransform`` (its CIFAR-10 settings: ``input_size`` = image side, no Gaussian blur;
normalization left to the encoder, which standardizes with the dataset's mean/std), a
``SimCLRProjectionHead(1024, 1024, 128)`` on ``fc``, ``NTXentLoss`` (temperature 0.5, lightly's default),
SGD lr 0.12 (momentum 0.9, weight decay 5e-4, lightly's CIFAR-10 benchmark settings at batch 256;
constant lr: the schedule length is unknown under a wall-clock budget), batch 256, drop last.

Writes the trained encoder as safetensors (``--out-weights``) and prints one JSON line with the training
figures; ``budget_probe.py`` probes it exactly like the infomax runs.

Example::

    benchmarks/dim/.venv-lightly/bin/python benchmarks/dim/lightly_simclr.py --data cifar10 \\
        --budget-minutes 10 --out-weights /tmp/simclr.safetensors
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch.utils.data import DataLoader, Dataset  # noqa: E402


class TwoViewDataset(Dataset):
    """uint8 (N, C, H, W) images -> lightly's SimCLRTransform views (a list of two tensors)."""

    def __init__(self, images: np.ndarray, transform) -> None:
        self.images, self.transform = images, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        from PIL import Image

        img = self.images[i]  # (C, H, W) uint8
        pil = Image.fromarray(img[0]) if img.shape[0] == 1 else Image.fromarray(img.transpose(1, 2, 0))
        return self.transform(pil)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default="cifar10")
    p.add_argument("--data-root", default=None)
    p.add_argument("--budget-minutes", type=float, required=True)
    p.add_argument("--out-weights", type=Path, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=0.12)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    import lightly
    from lightly.loss import NTXentLoss
    from lightly.models.modules import SimCLRProjectionHead
    from lightly.transforms import SimCLRTransform
    from safetensors.torch import save_file

    from infomax.data.datasets import load_dataset
    from infomax.encoders.dim_conv import DIMConvEncoder

    splits = load_dataset(args.data, args.data_root, val_fraction=0.0)
    info = splits.info
    transform = SimCLRTransform(input_size=info.image_size, gaussian_blur=0.0, normalize=None)
    loader = DataLoader(TwoViewDataset(splits.train.images, transform), batch_size=args.batch_size,
                        shuffle=True, drop_last=True, num_workers=0,
                        generator=torch.Generator().manual_seed(args.seed))
    backbone = DIMConvEncoder(info.channels, info.image_size, mean=info.mean, std=info.std)
    head = SimCLRProjectionHead(1024, 1024, 128)
    criterion = NTXentLoss()
    params = list(backbone.parameters()) + list(head.parameters())
    opt = torch.optim.SGD(params, lr=args.lr, momentum=0.9, weight_decay=5e-4)
    backbone.train()
    head.train()
    t0, steps, epochs, done, loss_v = time.monotonic(), 0, 0, False, float("nan")
    while not done:
        for views in loader:
            x0, x1 = views[0], views[1]  # (B, C, H, W) in [0, 1] each
            z0 = head(backbone(x0)["fc"])
            z1 = head(backbone(x1)["fc"])
            loss = criterion(z0, z1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            steps, loss_v = steps + 1, float(loss)
            if time.monotonic() - t0 >= 60 * args.budget_minutes:
                done = True
                break
        else:
            epochs += 1
    elapsed = time.monotonic() - t0
    args.out_weights.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in backbone.state_dict().items()}, str(args.out_weights))
    print(json.dumps({"lightly": lightly.__version__, "torch": torch.__version__, "steps": steps,
                      "epochs_completed": epochs, "elapsed_s": round(elapsed, 1), "final_loss": loss_v,
                      "images_per_s": round(steps * args.batch_size / elapsed, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
