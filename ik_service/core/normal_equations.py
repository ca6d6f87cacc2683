"""
The Gauss-Newton terms of a batch of configurations, packed in one array.

Row b holds, for configuration b of the batch: x (k) the active joint values [rad or
m], the augmented Jacobian A = [J | r] (m, k + 1) and its Gram matrix A^T A, which holds
H = J^T J, g = J^T r and cost = r.r, all from one matrix product. Packing everything in
one row lets the descent accept the rows of a trial batch where they lower the cost
with one copy, instead of one per array.
"""

from __future__ import annotations

import numpy as np


class NormalEquations:
    """Views x, jacobian, r, h, g and cost into one (B, width) array."""

    def __init__(self, rows: int, k: int, m: int):
        a, gram = m * (k + 1), (k + 1) * (k + 1)
        self.data = np.empty((rows, k + a + gram))
        # a column block of a C-ordered array reshapes to a view, never a copy
        self.x = self.data[:, :k]                                            # (B, k)
        self.augmented = self.data[:, k:k + a].reshape(rows, m, k + 1)
        self.jacobian = self.augmented[:, :, :k]                             # (B, m, k)
        self.r = self.augmented[:, :, k]                                     # (B, m)
        self.gram = self.data[:, k + a:].reshape(rows, k + 1, k + 1)
        self.h = self.gram[:, :k, :k]                                        # (B, k, k)
        self.g = self.gram[:, :k, k]                                         # (B, k)
        self.cost = self.gram[:, k, k]                                       # (B,)

    def __len__(self) -> int:
        return len(self.data)

    def update_gram(self) -> None:
        """Compute h, g and cost from the Jacobian and residual already in place."""
        np.matmul(self.augmented.transpose(0, 2, 1), self.augmented, out=self.gram)

    def set_from_jacobian(self, residual: np.ndarray, jacobian: np.ndarray) -> None:
        """Fill everything but x from the residual (B, m) and Jacobian (B, m, k)."""
        self.r[...] = residual
        self.jacobian[...] = jacobian
        self.update_gram()

    def take(self, other: 'NormalEquations', rows: np.ndarray) -> None:
        """Copy the rows of ``other`` where ``rows`` (B,) is True."""
        np.copyto(self.data, other.data, where=rows[:, None])
