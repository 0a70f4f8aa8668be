"""PyTorch twin of bench/cyclegan_step.py: the same CycleGAN step, eager, on the CPU.

The networks are genjax/models/cyclegan.py's and genjax/models/pix2pix.py's layer
for layer, in NCHW. Generators G (A -> B) and F (B -> A), ResNet width 32 with 6
blocks; "reflect k" is reflection padding by k, IN instance norm without scale
and offset (eps 1e-5):

    G, F: reflect 3, Conv 7x7 (1 -> 32, bias), IN, ReLU                   28 x 28
          Conv 3x3 s2 p1 (32 -> 64, bias; zero padding), IN, ReLU           14 x 14
          Conv 3x3 s2 p1 (64 -> 128, bias; zero padding), IN, ReLU           7 x 7
          6 x [x + IN(Conv 3x3 (reflect 1, 128 -> 128, bias) of
                   ReLU(IN(Conv 3x3 (reflect 1, 128 -> 128, bias) of x)))]
          ConvT 3x3 s2 (128 -> 64, bias), IN, ReLU                          14 x 14
          ConvT 3x3 s2 (64 -> 32, bias), IN, ReLU                           28 x 28
          reflect 3, Conv 7x7 (32 -> 1, bias), tanh
    D_A, D_B (PatchGAN on one image): Conv 4x4 s2 p1 (1 -> 64, bias), LeakyReLU 0.2,
          Conv 4x4 s2 p1 (64 -> 128, no bias), IN, LeakyReLU 0.2,
          Conv 4x4 s1 p1 (128 -> 1, bias): a 6x6 grid of logits for 28x28

genjax's 'SAME' transposed convolution with a 3x3 kernel and stride 2 pads the
stride-dilated input by (2, 1) (lax.conv_transpose's 'SAME'); PyTorch's
ConvTranspose2d pads it by (2 - padding, 2 - padding + output_padding), so no
padding/output_padding gives (2, 1) (padding 1, output_padding 1, the CycleGAN
authors' layer, gives (1, 2): the same shapes, outputs shifted by one pixel).
Here ConvTranspose2d(padding 0), 7 -> 15 and 14 -> 29, keeps the first 2 H x 2 W
rows and columns: (2, 1) exactly. Its matrix products are those of padding 1
(PyTorch's transposed convolution works from the input side), only the scatter
writes one more row and column. Conv weights N(0, 0.02), biases 0. The
parameter counts are printed; they equal genjax's (G 1,958,785 and F 1,958,785,
D_A 134,209 and D_B 134,209).

The step is genjax/train/cyclegan_step.py's with genjax/losses/cyclegan.py's
losses (experiments/configs/cyclegan_sneaker_boot.py: LSGAN, adversarial weight
2, cycle 10, identity 5, pools of 50; Adam lr 2e-4, betas (0.5, 0.999), eps 1e-8,
one optimizer over G and F, one over D_A and D_B):

- G and F: one Adam step on
  2 [0.5 mean (D_B(G(a)) - 1)^2] + 2 [0.5 mean (D_A(F(b)) - 1)^2]
  + 10 (mean |F(G(a)) - a| + mean |G(F(b)) - b|) + 5 (mean |F(a) - a| + mean |G(b) - b|),
  six generator passes, D_A's and D_B's parameters frozen (no gradient computed
  for them, as autodiff with respect to G's and F's computes none).
- the image pools (genjax/train/image_pool.py): pool A gets F(b), pool B G(a),
  detached, one image at a time: stored and returned while fewer than 50 are
  stored, then with probability 1/2 swapped with a uniformly chosen stored one
  (the stored one returned), else returned as is.
- D_A and D_B: one Adam step on the sum over A and B of
  0.5 mean (D(real) - 1)^2 + 0.5 mean D(pooled fake)^2.

The batch has the genjax batch's shape and value range: "a" and "b", each
(N, 1, 28, 28) in [-1, 1], N per domain (16 by default). The images are uniform
random pixels, not Fashion-MNIST (the work of a dense convolution does not depend
on the values); they are made before timing. images/s counts image pairs (one a
and one b per pair): N / median step time.

    PYTHONPATH=. .venv/bin/python bench/cyclegan_step_torch.py [--steps 30] [--batch-size 16]
        [--channels-last] [--threads 2]
"""

from __future__ import annotations

import argparse
import os

import torch
import torch.nn.functional as F
from torch import nn

from bench.timing import machine, report, time_steps

WIDTH = 32
BLOCKS = 6
D_WIDTH = 64
ADV_WEIGHT = 2.0
CYCLE_WEIGHT = 10.0
IDENTITY_WEIGHT = 5.0
POOL_SIZE = 50
REPLACE_PROB = 0.5


def instance_norm(x):
    return F.instance_norm(x, eps=1e-5)


class ReflectConv(nn.Module):
    """Reflection padding by k // 2, then a k x k stride-1 convolution with bias."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int):
        super().__init__()
        self.pad = kernel // 2
        self.conv = nn.Conv2d(in_channels, out_channels, kernel)

    def forward(self, x):
        return self.conv(F.pad(x, (self.pad,) * 4, mode="reflect"))


class SameConvTranspose(nn.Module):
    """genjax's ConvTranspose(3x3, stride 2, 'SAME'): H x W -> 2H x 2W (module docstring)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = nn.ConvTranspose2d(in_channels, out_channels, 3, stride=2, padding=0)

    def forward(self, x):
        height, width = x.shape[-2:]
        return self.conv(x)[..., :2 * height, :2 * width]


class ResidualBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = ReflectConv(channels, channels, 3)
        self.conv2 = ReflectConv(channels, channels, 3)

    def forward(self, x):
        y = F.relu(instance_norm(self.conv1(x)))
        return x + instance_norm(self.conv2(y))


class ResnetGenerator(nn.Module):
    def __init__(self, in_channels: int = 1, out_channels: int = 1, width: int = WIDTH,
                 blocks: int = BLOCKS):
        super().__init__()
        w = width
        self.c_in = ReflectConv(in_channels, w, 7)
        self.down1 = nn.Conv2d(w, 2 * w, 3, stride=2, padding=1)
        self.down2 = nn.Conv2d(2 * w, 4 * w, 3, stride=2, padding=1)
        self.blocks = nn.ModuleList(ResidualBlock(4 * w) for _ in range(blocks))
        self.up1 = SameConvTranspose(4 * w, 2 * w)
        self.up2 = SameConvTranspose(2 * w, w)
        self.c_out = ReflectConv(w, out_channels, 7)

    def forward(self, x):
        x = F.relu(instance_norm(self.c_in(x)))
        x = F.relu(instance_norm(self.down1(x)))
        x = F.relu(instance_norm(self.down2(x)))
        for block in self.blocks:
            x = block(x)
        x = F.relu(instance_norm(self.up1(x)))
        x = F.relu(instance_norm(self.up2(x)))
        return torch.tanh(self.c_out(x))


class PatchGAN(nn.Module):
    def __init__(self, in_channels: int = 1, width: int = D_WIDTH):
        super().__init__()
        self.c1 = nn.Conv2d(in_channels, width, 4, stride=2, padding=1)
        self.c2 = nn.Conv2d(width, 2 * width, 4, stride=2, padding=1, bias=False)
        self.logits = nn.Conv2d(2 * width, 1, 4, stride=1, padding=1)

    def forward(self, x):
        x = F.leaky_relu(self.c1(x), 0.2)
        x = F.leaky_relu(instance_norm(self.c2(x)), 0.2)
        return self.logits(x)[:, 0]


class ImagePool:
    """genjax/train/image_pool.py's pool: `size` stored fakes, queried one image at a time."""

    def __init__(self, size: int, shape: tuple[int, ...], generator: torch.Generator,
                 memory_format=torch.contiguous_format):
        self.images = torch.zeros(size, *shape)
        self.count = 0
        self.generator = generator
        self.memory_format = memory_format

    def query(self, fakes):
        size = self.images.shape[0]
        coins = torch.rand(len(fakes), generator=self.generator).tolist()
        indices = torch.randint(0, size, (len(fakes),), generator=self.generator).tolist()
        returned = []
        for fake, coin, index in zip(fakes, coins, indices, strict=True):
            if self.count < size:
                self.images[self.count] = fake
                self.count += 1
                returned.append(fake)
            elif coin < REPLACE_PROB:
                returned.append(self.images[index].clone())
                self.images[index] = fake
            else:
                returned.append(fake)
        return torch.stack(returned).contiguous(memory_format=self.memory_format)


def init_weights(module: nn.Module) -> None:
    """Conv weights N(0, 0.02), biases 0 (genjax's CYCLEGAN_INIT and PIX2PIX_INIT)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def make_batch(batch_size: int, generator: torch.Generator, memory_format) -> dict:
    """"a" and "b": uniform in [-1, 1], (N, 1, 28, 28) each."""
    return {domain: (2 * torch.rand(batch_size, 1, 28, 28, generator=generator) - 1)
            .contiguous(memory_format=memory_format) for domain in ("a", "b")}


def lsgan_d_loss(real_logits, fake_logits):
    return 0.5 * ((real_logits - 1).square().mean() + fake_logits.square().mean())


def lsgan_g_loss(fake_logits):
    return 0.5 * (fake_logits - 1).square().mean()


def train_step(nets: dict, g_opt, d_opt, pools: dict, batch) -> dict:
    g_ab, g_ba, d_a, d_b = nets["g_ab"], nets["g_ba"], nets["d_a"], nets["d_b"]
    a, b = batch["a"], batch["b"]

    # G and F: one Adam step on adversarial + cycle + identity, D_A and D_B fixed.
    for d in (d_a, d_b):
        for p in d.parameters():
            p.requires_grad_(False)
    g_opt.zero_grad(set_to_none=True)
    fake_b = g_ab(a)
    fake_a = g_ba(b)
    cycle_a = (g_ba(fake_b) - a).abs().mean()
    cycle_b = (g_ab(fake_a) - b).abs().mean()
    adv_ab = lsgan_g_loss(d_b(fake_b))
    adv_ba = lsgan_g_loss(d_a(fake_a))
    identity_a = (g_ba(a) - a).abs().mean()
    identity_b = (g_ab(b) - b).abs().mean()
    g_loss = (ADV_WEIGHT * (adv_ab + adv_ba) + CYCLE_WEIGHT * (cycle_a + cycle_b)
              + IDENTITY_WEIGHT * (identity_a + identity_b))
    g_loss.backward()
    g_opt.step()
    for d in (d_a, d_b):
        for p in d.parameters():
            p.requires_grad_(True)

    # The pools answer the fakes of that forward pass, detached.
    pooled_a = pools["a"].query(fake_a.detach())
    pooled_b = pools["b"].query(fake_b.detach())

    # D_A and D_B: one Adam step on the halved least-squares loss.
    d_opt.zero_grad(set_to_none=True)
    d_loss = lsgan_d_loss(d_a(a), d_a(pooled_a)) + lsgan_d_loss(d_b(b), d_b(pooled_b))
    d_loss.backward()
    d_opt.step()
    return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach(),
            "cycle_a": cycle_a.detach(), "cycle_b": cycle_b.detach()}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=16, help="images per domain")
    parser.add_argument("--channels-last", action="store_true",
                        help="NHWC memory format for the networks and the batch")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    memory_format = torch.channels_last if args.channels_last else torch.contiguous_format
    nets = {"g_ab": ResnetGenerator(), "g_ba": ResnetGenerator(),
            "d_a": PatchGAN(), "d_b": PatchGAN()}
    for net in nets.values():
        init_weights(net)
        net.to(memory_format=memory_format).train()
    g_params = [*nets["g_ab"].parameters(), *nets["g_ba"].parameters()]
    d_params = [*nets["d_a"].parameters(), *nets["d_b"].parameters()]
    g_opt = torch.optim.Adam(g_params, lr=2e-4, betas=(0.5, 0.999), eps=1e-8)
    d_opt = torch.optim.Adam(d_params, lr=2e-4, betas=(0.5, 0.999), eps=1e-8)
    pool_rng = torch.Generator().manual_seed(1)
    pools = {domain: ImagePool(POOL_SIZE, (1, 28, 28), pool_rng, memory_format)
             for domain in ("a", "b")}
    data_rng = torch.Generator().manual_seed(0)
    batches = [make_batch(args.batch_size, data_rng, memory_format)
               for _ in range(args.steps + 1)]
    shapes = {k: tuple(v.shape) for k, v in batches[0].items()}

    timed = time_steps(lambda batch: train_step(nets, g_opt, d_opt, pools, batch), batches)
    metrics = timed["result"]

    layout = "channels_last" if args.channels_last else "contiguous (NCHW)"
    print(machine(f"torch {torch.__version__}, {torch.get_num_threads()} threads, eager, "
                  f"{layout}; LD_PRELOAD={os.environ.get('LD_PRELOAD', '')!r}"))
    print(f"model: G {count(nets['g_ab']):,} + F {count(nets['g_ba']):,} + "
          f"D_A {count(nets['d_a']):,} + D_B {count(nets['d_b']):,} parameters; "
          f"batch {shapes}; {args.steps} timed steps; random pixels; "
          f"images/s below counts pairs (one a and one b)")
    report(timed, batch_size=args.batch_size, first_label="eager, nothing compiled")
    print(f"last metrics: d_loss {float(metrics['d_loss']):.3f}, "
          f"g_loss {float(metrics['g_loss']):.3f}, cycle_a {float(metrics['cycle_a']):.3f}, "
          f"cycle_b {float(metrics['cycle_b']):.3f}")


if __name__ == "__main__":
    main()
