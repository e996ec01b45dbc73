"""Deep InfoMax prior matching: an adversarial discriminator on Y (paper sec. 3.3, appendix A.2).

Hjelm et al., ICLR 2019, eq. 7 and Table 10. A discriminator D (fully connected, hidden 1000 and 200,
ReLU) learns to tell prior samples ``z ~ V`` from encoder outputs; the encoder is trained to fool it
with the non-saturating GAN loss. As in the authors' code, a sigmoid maps Y into [0, 1] before it is
compared with the (default) uniform prior on [0, 1]^d; with the Gaussian prior Y is used as is.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from infomax.errors import UserError

PRIORS = ("uniform", "gaussian")


def sample_prior(kind: str, n: int, dim: int, device: torch.device | None = None) -> Tensor:
    """``n`` samples (n, dim) of the prior: ``"uniform"`` on [0, 1]^dim or standard ``"gaussian"``.

    Example:
        >>> z = sample_prior("uniform", 5, 3)
        >>> bool(((z >= 0) & (z <= 1)).all())
        True
    """
    if kind == "uniform":
        return torch.rand(n, dim, device=device)
    if kind == "gaussian":
        return torch.randn(n, dim, device=device)
    raise UserError(f"unknown prior {kind!r}; choose one of: {', '.join(PRIORS)}")


class PriorDiscriminator(nn.Module):
    """D: (N, y_dim) -> (N,) logits "is a prior sample"; Linear 1000 - ReLU - Linear 200 - ReLU - Linear 1."""

    def __init__(self, y_dim: int, hidden: tuple[int, int] = (1000, 200)) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(y_dim, hidden[0]),
            nn.ReLU(inplace=True),
            nn.Linear(hidden[0], hidden[1]),
            nn.ReLU(inplace=True),
            nn.Linear(hidden[1], 1),
        )

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z).squeeze(-1)  # (N,)


class PriorMatching(nn.Module):
    """Both sides of the prior-matching game on one batch of Y.

    ``forward(y)`` returns ``(encoder_loss, discriminator_loss)``:

    - ``discriminator_loss = E_V[softplus(-D(z))] + E_Q[softplus(D(y.detach()))]`` (binary
      cross-entropy, prior = real): gradients reach only D's parameters;
    - ``encoder_loss = E_Q[softplus(-D(y))]`` (non-saturating generator loss) evaluated with a
      detached copy of D's parameters: gradients reach only the encoder.

    So the two losses can be given to two optimiser groups without cross-talk.

    Args:
        y_dim: Width of Y.
        prior: ``"uniform"`` (default, [0, 1]^d, Y squashed by a sigmoid) or ``"gaussian"``.
        hidden: Discriminator hidden widths (paper: 1000, 200).

    Example:
        >>> pm = PriorMatching(4)
        >>> enc_loss, d_loss = pm(torch.randn(8, 4, requires_grad=True))
        >>> enc_loss.shape, d_loss.shape
        (torch.Size([]), torch.Size([]))
    """

    def __init__(self, y_dim: int, prior: str = "uniform", hidden: tuple[int, int] = (1000, 200)) -> None:
        super().__init__()
        if prior not in PRIORS:
            raise UserError(f"unknown prior {prior!r}; choose one of: {', '.join(PRIORS)}")
        self.prior = prior
        self.y_dim = y_dim
        self.discriminator = PriorDiscriminator(y_dim, hidden)

    def squash(self, y: Tensor) -> Tensor:
        """Map Y to the prior's support (sigmoid for the uniform prior)."""
        return torch.sigmoid(y) if self.prior == "uniform" else y

    def forward(self, y: Tensor) -> tuple[Tensor, Tensor]:
        q = self.squash(y)  # (B, D)
        z = sample_prior(self.prior, y.shape[0], self.y_dim, device=y.device)  # (B, D)
        d_loss = F.softplus(-self.discriminator(z)).mean() + F.softplus(self.discriminator(q.detach())).mean()
        frozen = {k: v.detach() for k, v in self.discriminator.named_parameters()}
        enc_loss = F.softplus(-functional_call(self.discriminator, frozen, (q,))).mean()
        return enc_loss, d_loss
