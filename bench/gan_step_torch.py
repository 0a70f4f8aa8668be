"""PyTorch twin of bench/gan_step.py: the same 28x28 DCGAN step, eager, on the CPU.

The networks are genjax/models/dcgan.py's layer for layer, in NCHW (width 64,
latent 100):

    G: z -> Linear (100 -> 7*7*128, no bias) -> BN, ReLU
         -> ConvT 4x4 s2 p1 (128 -> 64, no bias), BN, ReLU
         -> ConvT 4x4 s2 p1 (64 -> 1, bias), tanh                    (G 0.76M parameters)
    D: Conv 4x4 s2 p1 (1 -> 64, bias), LeakyReLU 0.2
         -> Conv 4x4 s2 p1 (64 -> 128, no bias), BN, LeakyReLU 0.2
         -> Linear (7*7*128 -> 1, bias)                               (D 0.14M parameters)

Flax's 'SAME' padding is (1, 1) for these 4x4 stride-2 convolutions, and genjax's
'SAME' transposed convolution is PyTorch's ConvTranspose2d padding 1 (7 -> 14 -> 28).
BatchNorm eps 1e-5, momentum 0.1 (flax's 0.9); weights N(0, 0.02), biases 0.

The step is genjax/train/gan_step.py's with n_critic 1, the non-saturating loss
and Adam (lr 2e-4, betas (0.5, 0.999)) for both players:
- D: softplus(-D(reals)).mean() + softplus(D(G(z1))).mean(), G's output detached,
  G in train mode (its BN statistics update); reals then fakes, each pass
  normalised by its own batch statistics;
- G: softplus(-D(G(z2))).mean() with fresh latents z2 and D in train mode, D's
  parameters frozen; then the EMA of G's parameters (decay 0.999).

Reals are uniform random pixels in [-1, 1] of Fashion-MNIST's shape, made before
timing (a dense convolution's work does not depend on the values).

    PYTHONPATH=. .venv/bin/python bench/gan_step_torch.py [--steps 30] [--batch-size 128]
        [--channels-last] [--threads 2]
"""

from __future__ import annotations

import argparse
import copy
import os

import torch
import torch.nn.functional as F
from torch import nn

from bench.timing import machine, report, time_steps

WIDTH, LATENT = 64, 100


class Generator(nn.Module):
    def __init__(self, width: int = WIDTH, latent: int = LATENT):
        super().__init__()
        self.project = nn.Linear(latent, 7 * 7 * 2 * width, bias=False)
        self.bn0 = nn.BatchNorm2d(2 * width, eps=1e-5, momentum=0.1)
        self.up1 = nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width, eps=1e-5, momentum=0.1)
        self.up2 = nn.ConvTranspose2d(width, 1, 4, stride=2, padding=1)
        self.width = width

    def forward(self, z):
        x = self.project(z).view(-1, 2 * self.width, 7, 7)
        x = F.relu(self.bn0(x))
        x = F.relu(self.bn1(self.up1(x)))
        return torch.tanh(self.up2(x))


class Discriminator(nn.Module):
    def __init__(self, width: int = WIDTH):
        super().__init__()
        self.c1 = nn.Conv2d(1, width, 4, stride=2, padding=1)
        self.c2 = nn.Conv2d(width, 2 * width, 4, stride=2, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(2 * width, eps=1e-5, momentum=0.1)
        self.logit = nn.Linear(7 * 7 * 2 * width, 1)

    def forward(self, x):
        x = F.leaky_relu(self.c1(x), 0.2)
        x = F.leaky_relu(self.bn2(self.c2(x)), 0.2)
        return self.logit(x.flatten(1))[:, 0]


def init_weights(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def train_step(g, d, g_ema, g_opt, d_opt, reals, batch_size: int, memory_format) -> dict:
    def fakes():
        return g(torch.randn(batch_size, LATENT)).contiguous(memory_format=memory_format)

    d_opt.zero_grad(set_to_none=True)
    d_loss = F.softplus(-d(reals)).mean() + F.softplus(d(fakes().detach())).mean()
    d_loss.backward()
    d_opt.step()

    for p in d.parameters():
        p.requires_grad_(False)
    g_opt.zero_grad(set_to_none=True)
    g_loss = F.softplus(-d(fakes())).mean()
    g_loss.backward()
    g_opt.step()
    for p in d.parameters():
        p.requires_grad_(True)
    with torch.no_grad():
        for ema, p in zip(g_ema.parameters(), g.parameters(), strict=True):
            ema.lerp_(p, 1 - 0.999)
    return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach()}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    memory_format = torch.channels_last if args.channels_last else torch.contiguous_format
    g, d = Generator(), Discriminator()
    init_weights(g)
    init_weights(d)
    g, d = g.to(memory_format=memory_format), d.to(memory_format=memory_format)
    g_ema = copy.deepcopy(g)
    g_opt = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    d_opt = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    batches = [(2 * torch.rand(args.batch_size, 1, 28, 28) - 1).contiguous(
        memory_format=memory_format) for _ in range(args.steps + 1)]
    timed = time_steps(lambda reals: train_step(g, d, g_ema, g_opt, d_opt, reals,
                                                args.batch_size, memory_format), batches)

    print(machine(f"torch {torch.__version__}, {args.threads} threads, "
                  f"{'channels_last' if args.channels_last else 'NCHW'}"))
    print(f"model: G {count(g) / 1e6:.2f}M + D {count(d) / 1e6:.2f}M parameters; "
          f"batch {args.batch_size}; {args.steps} timed steps")
    report(timed, batch_size=args.batch_size, first_label="first eager step")
    metrics = timed["result"]
    print(f"last metrics: d_loss {float(metrics['d_loss']):.3f}, "
          f"g_loss {float(metrics['g_loss']):.3f}")


if __name__ == "__main__":
    main()
