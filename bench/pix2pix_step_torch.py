"""PyTorch twin of bench/pix2pix_step.py: the same pix2pix SR x4 step, eager, on the CPU.

The networks are genjax/models/pix2pix.py's layer for layer, in NCHW (width 64):

    G (U-Net): e1 = Conv 4x4 s2 p1 (1 -> 64, bias), LeakyReLU 0.2
               e2 = Conv 4x4 s2 p1 (64 -> 128, no bias), BN, LeakyReLU 0.2
               b  = Conv 3x3 s1 p1 (128 -> 256, no bias), BN, Dropout 0.5, ReLU
               d2 = ConvT 4x4 s2 p1 ([b, e2] 384 -> 64, no bias), BN, Dropout 0.5, ReLU
               out = ConvT 4x4 s2 p1 ([d2, e1] 128 -> 1, bias), tanh
    D (PatchGAN on [input, output]): Conv 4x4 s2 p1 (2 -> 64, bias), LeakyReLU 0.2,
               Conv 4x4 s2 p1 (64 -> 128, no bias), BN, LeakyReLU 0.2,
               Conv 4x4 s1 p1 (128 -> 1, bias): a 6x6 grid of logits for 28x28

Flax's padding 'SAME' is (1, 1) for these convolutions, and genjax's 'SAME'
transposed convolution (lax padding (2, 2) on the stride-dilated input) is
PyTorch's ConvTranspose2d padding 1: 7 -> 14 -> 28. BatchNorm: eps 1e-5, running
averages with momentum 0.1 (flax's 0.9), scale 1 and offset 0 at init; conv
weights N(0, 0.02), biases 0. The parameter counts are printed; they equal
genjax's (G 823,233, D 135,489 at width 64).

The step is genjax/train/pix2pix_step.py's: one D Adam step, then one G Adam step
(Adam lr 2e-4, betas (0.5, 0.999), eps 1e-8 for both, as experiments/configs/
pix2pix_sr4.py).

- D: 0.5 * [mean softplus(-D(x, y)) + mean softplus(D(x, G(x)))] with G(x)
  detached, reals then fakes (each pass normalised by its own batch statistics).
- G: mean softplus(-D(x, G(x))) + 100 * mean |G(x) - y|, D's parameters frozen
  (no gradient computed for them, as autodiff with respect to G's computes none).
- `--g-passes 2` (the default) runs G as genjax does: once without gradients for
  D's fakes, then again with gradients for G's own loss, with the same dropout
  masks (the RNG state is restored), so the same fakes. `--g-passes 1` reuses
  the first pass's output for G's step, as the authors' PyTorch code does.

The batch has the genjax batch's shape and value range: inputs (N, 1, 28, 28),
7x7 block means of the target nearest-upsampled to 28x28, and targets, both in
[-1, 1]. The images are uniform random pixels, not Fashion-MNIST (the work of
a dense convolution does not depend on the values); they are made before timing.

    PYTHONPATH=. .venv/bin/python bench/pix2pix_step_torch.py [--steps 30] [--batch-size 64]
        [--channels-last] [--g-passes {1,2}] [--threads 2]
"""

from __future__ import annotations

import argparse
import os

import torch
import torch.nn.functional as F
from torch import nn

from bench.timing import machine, report, time_steps

WIDTH = 64
DROPOUT = 0.5
SCALE = 4  # super-resolution factor: 28 -> 7 -> 28
L1_WEIGHT = 100.0
D_SCALE = 0.5


def batch_norm(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=1e-5, momentum=0.1)


class UNet(nn.Module):
    def __init__(self, in_channels: int = 1, out_channels: int = 1, width: int = WIDTH,
                 dropout: float = DROPOUT):
        super().__init__()
        w = width
        self.e1 = nn.Conv2d(in_channels, w, 4, stride=2, padding=1)
        self.e2 = nn.Conv2d(w, 2 * w, 4, stride=2, padding=1, bias=False)
        self.e2_bn = batch_norm(2 * w)
        self.b = nn.Conv2d(2 * w, 4 * w, 3, stride=1, padding=1, bias=False)
        self.b_bn = batch_norm(4 * w)
        self.d2 = nn.ConvTranspose2d(6 * w, w, 4, stride=2, padding=1, bias=False)
        self.d2_bn = batch_norm(w)
        self.out = nn.ConvTranspose2d(2 * w, out_channels, 4, stride=2, padding=1)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        e1 = F.leaky_relu(self.e1(x), 0.2)
        e2 = F.leaky_relu(self.e2_bn(self.e2(e1)), 0.2)
        b = F.relu(self.drop(self.b_bn(self.b(e2))))
        d2 = F.relu(self.drop(self.d2_bn(self.d2(torch.cat([b, e2], dim=1)))))
        return torch.tanh(self.out(torch.cat([d2, e1], dim=1)))


class PatchGAN(nn.Module):
    def __init__(self, in_channels: int = 2, width: int = WIDTH):
        super().__init__()
        self.c1 = nn.Conv2d(in_channels, width, 4, stride=2, padding=1)
        self.c2 = nn.Conv2d(width, 2 * width, 4, stride=2, padding=1, bias=False)
        self.c2_bn = batch_norm(2 * width)
        self.logits = nn.Conv2d(2 * width, 1, 4, stride=1, padding=1)

    def forward(self, inputs, outputs):
        x = F.leaky_relu(self.c1(torch.cat([inputs, outputs], dim=1)), 0.2)
        x = F.leaky_relu(self.c2_bn(self.c2(x)), 0.2)
        return self.logits(x)[:, 0]


def init_weights(module: nn.Module) -> None:
    """Conv weights N(0, 0.02), biases 0 (genjax's PIX2PIX_INIT); BN scale 1, offset 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def make_batch(batch_size: int, generator: torch.Generator, memory_format) -> dict:
    """Targets uniform in [-1, 1]; inputs their 7x7 block means, nearest-upsampled."""
    targets = torch.rand(batch_size, 1, 28, 28, generator=generator)
    small = F.avg_pool2d(targets, SCALE)
    inputs = small.repeat_interleave(SCALE, dim=2).repeat_interleave(SCALE, dim=3)
    return {"input": (2 * inputs - 1).contiguous(memory_format=memory_format),
            "target": (2 * targets - 1).contiguous(memory_format=memory_format)}


def d_objective(real_logits, fake_logits):
    return D_SCALE * (F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean())


def train_step(g, d, g_opt, d_opt, batch, g_passes: int) -> dict:
    x, y = batch["input"], batch["target"]
    if g_passes == 2:
        rng_state = torch.get_rng_state()
        with torch.no_grad():
            fakes = g(x)
    else:
        fakes = g(x)

    # D: one Adam step on the halved non-saturating loss, fakes fixed.
    d_opt.zero_grad(set_to_none=True)
    d_loss = d_objective(d(x, y), d(x, fakes.detach()))
    d_loss.backward()
    d_opt.step()

    # G: one Adam step on adversarial + 100 L1, D fixed (updated by the step above).
    for p in d.parameters():
        p.requires_grad_(False)
    g_opt.zero_grad(set_to_none=True)
    if g_passes == 2:
        torch.set_rng_state(rng_state)  # the same dropout masks, hence the same fakes
        fakes = g(x)
    l1 = (fakes - y).abs().mean()
    g_loss = F.softplus(-d(x, fakes)).mean() + L1_WEIGHT * l1
    g_loss.backward()
    g_opt.step()
    for p in d.parameters():
        p.requires_grad_(True)
    return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach(), "l1": l1.detach()}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--channels-last", action="store_true",
                        help="NHWC memory format for the networks and the batch")
    parser.add_argument("--g-passes", type=int, choices=(1, 2), default=2,
                        help="2: G recomputed for its own step as genjax does; 1: reused")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    memory_format = torch.channels_last if args.channels_last else torch.contiguous_format
    g, d = UNet(), PatchGAN()
    init_weights(g)
    init_weights(d)
    g.to(memory_format=memory_format).train()
    d.to(memory_format=memory_format).train()
    g_opt = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999), eps=1e-8)
    d_opt = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999), eps=1e-8)
    data_rng = torch.Generator().manual_seed(0)
    batches = [make_batch(args.batch_size, data_rng, memory_format)
               for _ in range(args.steps + 1)]
    shapes = {k: tuple(v.shape) for k, v in batches[0].items()}

    timed = time_steps(lambda batch: train_step(g, d, g_opt, d_opt, batch, args.g_passes),
                       batches)
    metrics = timed["result"]

    layout = "channels_last" if args.channels_last else "contiguous (NCHW)"
    print(machine(f"torch {torch.__version__}, {torch.get_num_threads()} threads, eager, "
                  f"{layout}; LD_PRELOAD={os.environ.get('LD_PRELOAD', '')!r}"))
    print(f"model: G {count(g):,} + D {count(d):,} parameters; batch {shapes}; "
          f"{args.steps} timed steps; random pixels; G passes per step {args.g_passes}")
    report(timed, batch_size=args.batch_size, first_label="eager, nothing compiled")
    print(f"last metrics: d_loss {float(metrics['d_loss']):.3f}, "
          f"g_loss {float(metrics['g_loss']):.3f}, l1 {float(metrics['l1']):.3f}")


if __name__ == "__main__":
    main()
