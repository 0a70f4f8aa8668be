"""PyTorch twin of bench/svg_step.py: the same SVG-LP training step, eager, on the CPU.

The networks are genjax/models/svg.py's layer for layer, in NCHW, at
experiments/configs/svg_lp.py's sizes (64x64 frames with 1 channel, width 16,
embedding 64, z 10, LSTMs of 128 units). GN is GroupNorm with min(8, C) groups,
scale and offset, eps 1e-6 (flax's default); LReLU is LeakyReLU(0.2):

    encoder: Conv 4x4 s2 p1 (1 -> 16, bias), LReLU                      32 x 32  skip 0
             Conv 4x4 s2 p1 (16 -> 32, bias), GN, LReLU                 16 x 16  skip 1
             Conv 4x4 s2 p1 (32 -> 64, bias), GN, LReLU                  8 x 8   skip 2
             Conv 4x4 s2 p1 (64 -> 128, bias), GN, LReLU                 4 x 4   skip 3
             Conv 4x4 valid (128 -> 64, bias), tanh                      h (64,)
    decoder: ConvT 4x4 valid (64 -> 128, bias), GN, LReLU               1 -> 4 x 4
             [x, skip 3] ConvT 4x4 s2 p1 (256 -> 64, bias), GN, LReLU    8 x 8
             [x, skip 2] ConvT 4x4 s2 p1 (128 -> 32, bias), GN, LReLU   16 x 16
             [x, skip 1] ConvT 4x4 s2 p1 (64 -> 16, bias), GN, LReLU    32 x 32
             [x, skip 0] ConvT 4x4 s2 p1 (32 -> 1, bias), sigmoid       64 x 64
    LSTM stacks: Linear(in -> 128), LSTM cells of 128, then
             predictor: 2 cells on [h_{t-1}, z_t] (74), Linear(128 -> 64), tanh
             posterior: 1 cell on h_t, Linear(128 -> 10) mean and log-variance heads
             prior:     1 cell on h_{t-1}, the same two heads

genjax's ConvTranspose computes `lax.conv_transpose`: a correlation of the
stride-dilated input, padded by (2, 2) for 'SAME' (kernel 4, stride 2) and (3, 3)
for 'VALID', with the kernel (kh, kw, in, out) as stored, not flipped. PyTorch's
ConvTranspose2d(padding p) is the same correlation with its weight (in, out, kh,
kw) flipped spatially and padding k - 1 - p, so genjax's 'SAME' is padding 1 (H ->
2H) and 'VALID' padding 0 (1 -> 4), with weight = flip(kernel).permute(2, 3, 0, 1).
flax's OptimizedLSTMCell has PyTorch's gate order (i, f, g, o) and formulas
(c' = f c + i g, h' = o tanh c', no forget-gate bias offset), but one bias per gate
(on the recurrent side) where PyTorch has two: each cell here is an
nn.LSTMCell(bias=False) with its bias_hh added back, so the fused ATen cell runs
with b_ih absent and the parameter counts match. Initialisation as flax's:
kernels truncated-normal LeCun (variance 1 / fan_in), recurrent kernels orthogonal
per gate, biases 0, GN scale 1 and offset 0. The parameter counts are printed;
they equal genjax's (encoder 304,112, decoder 476,369, predictor 281,024,
posterior 142,484, prior 142,484: 1,346,473 in all).

The step is genjax's `SVGTask.train_step` (genjax/train/steps.py with
genjax/losses/svg.py's `svg_loss`, genjax/models/svg_rollout.py's
`teacher_forced`): all B x 15 frames encoded in one batched call; for
t = 1..14, the posterior LSTM on h_t gives (mu, log_var) and
z_t = mu + exp(log_var / 2) eps_t, the prior LSTM on h_{t-1} gives the learned
prior, the predictor on [h_{t-1}, z_t] gives g_t; the 14 g_t decoded in one
batched call with the skips of frame 4 (the last of 5 conditioning frames),
tiled over time; loss = sum_t mean-pixel (x^_t - x_t)^2 + 1e-4 sum_t batch-mean
KL(q || p) summed over z; one Adam step (lr 2e-3, betas (0.9, 0.999), eps 1e-8)
over all the networks. The noise eps (14, B, 10) is drawn inside the step, as
genjax draws it inside its loss.

Twin check (done once by hand, not a committed test): genjax's initial
parameters (`SVGTask(svg_lp).init_state(PRNGKey(0))`) copied into these
modules (conv kernels HWIO -> OIHW, transposed-conv kernels flipped and
permuted as above, LSTM gate kernels concatenated and transposed), on one real
batch of 16 sequences with genjax's posterior noise of the first step: the loss
is 3.3363583 in genjax and 3.3363581 here (relative difference 7e-8), its KL
term 6.214021 / 6.214020 (8e-8), the 16 x 14 reconstructions agree to 4.8e-7
(max absolute difference; values 0.18..0.90), the Gaussians' means and
log-variances to 6e-7; both print 1,346,473 parameters. The transposed-conv
mapping was checked on its own: with the spatial flip PyTorch matches genjax's
ConvTranspose to 2e-7 ('SAME', stride 2, padding 1) and 7e-7 ('VALID', padding
0), without it to nothing (differences of 3.7 and 5.0). Gradients: at genjax's
initial parameters the encoder's first convolution sits on LeakyReLU's kink
(zero biases on exactly-black pixels, 82% of the pixels), where flax's
leaky_relu, where(x >= 0, x, 0.2 x), takes slope 1 and PyTorch's 0.2, so the
first step's gradient of that bias differs (the difference is 2.6 times the norm
of PyTorch's; finite differences give neither: the loss is not differentiable
there). With PyTorch's LeakyReLU switched to flax's convention for the check,
all the gradients agree to 1.1e-5 (norm of the difference over the norm of the
gradient, all tensors together), the worst tensor to 4e-4 (the predictor's
input kernel); against a float64
PyTorch reference, PyTorch's float32 gradients are within 2.6e-6 and genjax's
within 1.1e-5 (worst tensor 4e-4), so the remainder is genjax's float32 rounding
(it grows through the decoder's backward pass, from 1e-7 at the output layer to
2e-3 at the decoder's input; not the LSTMs, the scan, the matmul precision or
genjax's ConvTranspose VJP, which gives the same numbers as flax's). After one
Adam step each, the loss on the next batch agrees to 1.8e-6 (relative). The
benchmark keeps PyTorch's own F.leaky_relu: the kink only holds while biases are
exactly 0, and the cost is the same.

The batch has the genjax batch's shape and value range: "frames"
(B, 15, 1, 64, 64) in [0, 1], B sequences (16 by default). The frames are
uniform random pixels, not moving Fashion-MNIST (the work of dense convolutions
and LSTMs does not depend on the values); they are made before timing. images/s
counts frames: B x 15 / median step time; sequences/s is B / median step time.

    PYTHONPATH=. .venv/bin/python bench/svg_step_torch.py [--steps 30] [--batch-size 16]
        [--threads 2]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics

import torch
import torch.nn.functional as F
from torch import nn

from bench.timing import machine, report, time_steps

FRAME_SIZE = 64
CHANNELS = 1
NUM_COND = 5
NUM_FUTURE = 10
DIM = 64
Z_DIM = 10
WIDTH = 16
HIDDEN = 128
PREDICTOR_LAYERS = 2
POSTERIOR_LAYERS = 1
PRIOR_LAYERS = 1
BETA = 1e-4
LR = 2e-3
KERNEL = 4
GROUPS = 8
GN_EPS = 1e-6  # flax.linen.GroupNorm's default


def num_levels(frame_size: int) -> int:
    """The stride-2 levels from `frame_size` down to 4 px (frame_size = 4 * 2^k)."""
    return int(round(math.log2(frame_size / 4)))


def group_norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(GROUPS, channels), channels, eps=GN_EPS)


class FrameEncoder(nn.Module):
    """x (N, C, S, S) in [0, 1] -> (h (N, dim) in (-1, 1), skips: the levels' outputs)."""

    def __init__(self, dim: int = DIM, width: int = WIDTH, channels: int = CHANNELS,
                 frame_size: int = FRAME_SIZE):
        super().__init__()
        self.convs, self.norms = nn.ModuleList(), nn.ModuleList()
        in_channels = channels
        for level in range(num_levels(frame_size)):
            out_channels = width * 2 ** min(level, 3)
            self.convs.append(nn.Conv2d(in_channels, out_channels, KERNEL, stride=2, padding=1))
            self.norms.append(group_norm(out_channels) if level > 0 else nn.Identity())
            in_channels = out_channels
        self.out = nn.Conv2d(in_channels, dim, KERNEL)

    def forward(self, x):
        skips = []
        for conv, norm in zip(self.convs, self.norms, strict=True):
            x = F.leaky_relu(norm(conv(x)), 0.2)
            skips.append(x)
        return torch.tanh(self.out(x).flatten(1)), skips


class FrameDecoder(nn.Module):
    """(h (N, dim), skips) -> frames (N, channels, S, S) in (0, 1)."""

    def __init__(self, dim: int = DIM, width: int = WIDTH, channels: int = CHANNELS,
                 frame_size: int = FRAME_SIZE):
        super().__init__()
        levels = num_levels(frame_size)
        skip_channels = [width * 2 ** min(level, 3) for level in range(levels)]
        self.first = nn.ConvTranspose2d(dim, skip_channels[-1], KERNEL)  # 'VALID': 1 -> 4
        self.first_norm = group_norm(skip_channels[-1])
        self.ups, self.norms = nn.ModuleList(), nn.ModuleList()
        x_channels = skip_channels[-1]
        for level in reversed(range(levels)):
            out_channels = channels if level == 0 else skip_channels[level - 1]
            # genjax's ConvTranspose(4x4, stride 2, 'SAME'): H -> 2H (module docstring).
            self.ups.append(nn.ConvTranspose2d(x_channels + skip_channels[level], out_channels,
                                               KERNEL, stride=2, padding=1))
            self.norms.append(group_norm(out_channels) if level > 0 else nn.Identity())
            x_channels = out_channels

    def forward(self, h, skips):
        x = F.leaky_relu(self.first_norm(self.first(h[:, :, None, None])), 0.2)
        for up, norm, skip in zip(self.ups, self.norms, reversed(skips), strict=True):
            x = up(torch.cat([x, skip], dim=1))
            x = torch.sigmoid(x) if isinstance(norm, nn.Identity) else F.leaky_relu(norm(x), 0.2)
        return x


def flax_lstm_cell(in_features: int, hidden: int) -> nn.LSTMCell:
    """flax's OptimizedLSTMCell: PyTorch's cell with one bias per gate (bias_hh only)."""
    cell = nn.LSTMCell(in_features, hidden, bias=False)
    cell.bias_hh = nn.Parameter(torch.zeros(4 * hidden))
    return cell


class LSTMStack(nn.Module):
    """Linear(hidden) -> `layers` LSTM cells -> Linear(out) (and a log-variance head)."""

    def __init__(self, in_features: int, out: int, hidden: int, layers: int,
                 gaussian: bool = False):
        super().__init__()
        self.embed = nn.Linear(in_features, hidden)
        self.cells = nn.ModuleList(flax_lstm_cell(hidden, hidden) for _ in range(layers))
        self.head = nn.Linear(hidden, out)
        self.log_var_head = nn.Linear(hidden, out) if gaussian else None

    def forward(self, state: list, x):
        """One time step: (state, x (B, in)) -> (state, output); state per layer (h, c)."""
        h = self.embed(x)
        new_state = []
        for cell, carry in zip(self.cells, state, strict=True):
            h, c = cell(h, carry)
            new_state.append((h, c))
        if self.log_var_head is not None:
            return new_state, (self.head(h), self.log_var_head(h))
        return new_state, torch.tanh(self.head(h))


class SVG(nn.Module):
    def __init__(self):
        super().__init__()
        self.decoder = FrameDecoder()
        self.encoder = FrameEncoder()
        self.posterior_net = LSTMStack(DIM, Z_DIM, HIDDEN, POSTERIOR_LAYERS, gaussian=True)
        self.predictor = LSTMStack(DIM + Z_DIM, DIM, HIDDEN, PREDICTOR_LAYERS)
        self.prior_net = LSTMStack(DIM, Z_DIM, HIDDEN, PRIOR_LAYERS, gaussian=True)

    def initial_state(self, batch: int) -> dict[str, list]:
        zeros = torch.zeros(batch, HIDDEN, dtype=self.predictor.embed.weight.dtype)
        return {name: [(zeros, zeros)] * len(getattr(self, name).cells)
                for name in ("predictor", "posterior_net", "prior_net")}


def _lecun_normal_(weight, fan_in: int) -> None:
    """flax's default kernel init: truncated normal (+-2 sd) with variance 1 / fan_in."""
    std = math.sqrt(1.0 / fan_in) / 0.87962566103423978  # the truncation's sd correction
    nn.init.trunc_normal_(weight, 0.0, std, -2 * std, 2 * std)


def init_weights(model: nn.Module) -> None:
    """flax's initialisers: LeCun-normal kernels, orthogonal recurrent kernels, zero biases."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                _lecun_normal_(m.weight, m.weight[0].numel())
            elif isinstance(m, nn.ConvTranspose2d):
                _lecun_normal_(m.weight, m.weight.shape[0] * m.weight[0, 0].numel())
            elif isinstance(m, nn.Linear):
                _lecun_normal_(m.weight, m.in_features)
            elif isinstance(m, nn.LSTMCell):
                hidden = m.hidden_size
                for gate in range(4):
                    rows = slice(gate * hidden, (gate + 1) * hidden)
                    _lecun_normal_(m.weight_ih[rows], m.input_size)
                    nn.init.orthogonal_(m.weight_hh[rows])
                nn.init.zeros_(m.bias_hh)
                continue
            elif isinstance(m, nn.GroupNorm):
                nn.init.ones_(m.weight)
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.GroupNorm)):
                nn.init.zeros_(m.bias)


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def make_batch(batch_size: int, generator: torch.Generator) -> dict:
    """"frames": uniform in [0, 1], (B, 15, 1, 64, 64)."""
    shape = (batch_size, NUM_COND + NUM_FUTURE, CHANNELS, FRAME_SIZE, FRAME_SIZE)
    return {"frames": torch.rand(*shape, generator=generator)}


def diagonal_gaussian_kl(mean_q, log_var_q, mean_p, log_var_p):
    """KL(N(mean_q, exp(log_var_q)) || N(mean_p, exp(log_var_p))) per dimension, nats."""
    return 0.5 * (log_var_p - log_var_q
                  + (log_var_q.exp() + (mean_q - mean_p).square()) * (-log_var_p).exp() - 1.0)


def teacher_forced(model: SVG, frames, noise) -> dict:
    """frames (B, T, C, S, S), noise (T-1, B, z) -> predicted frames (B, T-1, C, S, S) and
    the posterior and prior Gaussians, (T-1, B, z) each."""
    b, t = frames.shape[:2]
    h, skips = model.encoder(frames.flatten(0, 1))
    h = h.reshape(b, t, -1).transpose(0, 1)  # (T, B, dim)
    skip = [s.unflatten(0, (b, t))[:, NUM_COND - 1] for s in skips]
    state = model.initial_state(b)
    gs, posterior, prior = [], [], []
    for step in range(t - 1):
        h_prev, h_now = h[step], h[step + 1]
        state["posterior_net"], (mu, log_var) = model.posterior_net(state["posterior_net"], h_now)
        z = mu + (0.5 * log_var).exp() * noise[step]
        state["prior_net"], gaussian = model.prior_net(state["prior_net"], h_prev)
        state["predictor"], g = model.predictor(state["predictor"], torch.cat([h_prev, z], -1))
        gs.append(g)
        posterior.append((mu, log_var))
        prior.append(gaussian)
    g = torch.stack(gs, 1).flatten(0, 1)  # (B (T-1), dim), sequence-major as genjax
    tiled = [s[:, None].expand(b, t - 1, *s.shape[1:]).flatten(0, 1) for s in skip]
    predicted = model.decoder(g, tiled).unflatten(0, (b, t - 1))
    stack = lambda pairs: tuple(torch.stack(x) for x in zip(*pairs, strict=True))  # noqa: E731
    return {"frames": predicted, "posterior": stack(posterior), "prior": stack(prior)}


def svg_loss(model: SVG, frames, noise):
    """(loss, metrics): genjax/losses/svg.py's objective for SVG-LP."""
    out = teacher_forced(model, frames, noise)
    mse = (out["frames"] - frames[:, 1:]).square().mean(dim=(2, 3, 4))  # (B, T-1)
    kl = diagonal_gaussian_kl(*out["posterior"], *out["prior"]).sum(-1)  # (T-1, B)
    loss = mse.mean(0).sum() + BETA * kl.mean(1).sum()
    steps = frames.shape[1] - 1
    mean_mse = mse.mean()
    return loss, {"loss": loss / steps, "mse": mean_mse, "kl": kl.mean(),
                  "psnr": -10.0 * torch.log10(mean_mse)}


def train_step(model: SVG, opt, batch, generator: torch.Generator) -> dict:
    frames = batch["frames"]
    noise = torch.randn(frames.shape[1] - 1, frames.shape[0], Z_DIM, generator=generator)
    opt.zero_grad(set_to_none=True)
    loss, metrics = svg_loss(model, frames, noise)
    loss.backward()
    opt.step()
    return {k: v.detach() for k, v in metrics.items()}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=16, help="sequences per batch")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = SVG()
    init_weights(model)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=LR, betas=(0.9, 0.999), eps=1e-8)
    data_rng = torch.Generator().manual_seed(0)
    batches = [make_batch(args.batch_size, data_rng) for _ in range(args.steps + 1)]
    shapes = {k: tuple(v.shape) for k, v in batches[0].items()}
    seq_len = NUM_COND + NUM_FUTURE
    noise_rng = torch.Generator().manual_seed(1)

    timed = time_steps(lambda batch: train_step(model, opt, batch, noise_rng), batches)
    metrics = timed["result"]

    print(machine(f"torch {torch.__version__}, {torch.get_num_threads()} threads, eager, "
                  f"contiguous (NCHW); LD_PRELOAD={os.environ.get('LD_PRELOAD', '')!r}"))
    params = {name: count(child) for name, child in model.named_children()}
    parts = " + ".join(f"{k} {v:,}" for k, v in params.items())
    print(f"model: {parts} = {count(model):,} parameters; batch {shapes}; "
          f"{args.steps} timed steps; random pixels; "
          f"images/s below counts frames ({args.batch_size} x {seq_len} per step)")
    report(timed, batch_size=args.batch_size * seq_len, first_label="eager, nothing compiled")
    median = statistics.median(timed["times"])
    print(f"sequences/s: {args.batch_size / median:.1f} (median), "
          f"{args.batch_size / min(timed['times']):.1f} (fastest step)")
    print(f"last metrics: loss {float(metrics['loss']):.4f}, mse {float(metrics['mse']):.4f}, "
          f"kl {float(metrics['kl']):.3f}, psnr {float(metrics['psnr']):.2f}")


if __name__ == "__main__":
    main()
