"""The project's CNN classifier: convolution, pooling and fully connected layers.

Two blocks of two 3x3 convolutions (BatchNorm, ReLU) each followed by 2x2 max
pooling, then a fully connected hidden layer with dropout and the class logits.
`features()` returns the hidden layer's activations: the feature space of the
domain Fréchet distance and the classifier of Classification Accuracy Score.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax


class CNN(nn.Module):
    num_classes: int = 10
    widths: Sequence[int] = (32, 64)
    hidden: int = 256
    dropout: float = 0.3

    def setup(self):
        self.convs = [nn.Conv(w, (3, 3), name=f"conv{i}_{j}")
                      for i, w in enumerate(self.widths) for j in range(2)]
        self.norms = [nn.BatchNorm(momentum=0.9, name=f"bn{i}_{j}")
                      for i, _ in enumerate(self.widths) for j in range(2)]
        self.fc = nn.Dense(self.hidden, name="fc")
        self.fc_norm = nn.BatchNorm(momentum=0.9, name="fc_bn")
        self.drop = nn.Dropout(self.dropout)
        self.head = nn.Dense(self.num_classes, name="head")

    def features(self, images: jax.Array, *, train: bool = False) -> jax.Array:
        """Images (N, H, W, C) in [0, 1] -> (N, hidden) penultimate activations."""
        x = images
        for k, (conv, norm) in enumerate(zip(self.convs, self.norms, strict=True)):
            x = nn.relu(norm(conv(x), use_running_average=not train))
            if k % 2 == 1:
                x = nn.max_pool(x, (2, 2), strides=(2, 2))
        x = x.reshape(x.shape[0], -1)
        return nn.relu(self.fc_norm(self.fc(x), use_running_average=not train))

    def __call__(self, images: jax.Array, *, train: bool = False) -> jax.Array:
        """Images (N, H, W, C) in [0, 1] -> class logits (N, num_classes)."""
        x = self.features(images, train=train)
        return self.head(self.drop(x, deterministic=not train))
