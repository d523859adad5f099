"""Gradients through a whole sampling chain in the memory of one step: step-level checkpointing.

Zhang et al., "Unsupervised Discovery of Interpretable Directions in h-space of Pre-trained Diffusion Models"
(arXiv 2310.09912) train their shift module through the *entire* DDIM chain with a general gradient-
checkpointing algorithm. For a chain ``x_{i+1} = step(x_i, i)``, ``i = 0 .. n-1``, with parameters psi inside
``step``:

- forward, without a graph: run the chain and keep only the n states ``x_0 .. x_{n-1}`` (O(n |x|) memory, no
  network activations);
- the loss on the final state takes ordinary autograd and gives ``g = dL/dx_n``;
- backward, for i = n-1 .. 0: recompute ``y = step(x_i, i)`` with a graph from the stored ``x_i``, call
  ``autograd.grad(y, (x_i, psi), g)``, add the psi part to psi's gradient, and carry ``g <- dL/dx_i``.

Peak memory is one step's graph plus the n stored states; the cost is one extra forward per step (about
2x the time of plain backpropagation, which keeps all n graphs alive). :func:`checkpointed_chain` is a
``torch.autograd.Function``, so the result plugs into any loss and ``loss.backward()`` fills ``.grad`` of the
parameters as usual. ``step`` must be deterministic given ``(x, i)``: draw any noise beforehand.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

Step = Callable[[torch.Tensor, int], torch.Tensor]


class _CheckpointedChain(torch.autograd.Function):
    @staticmethod
    def forward(ctx, step: Step, n_steps: int, x: torch.Tensor, *params: torch.Tensor) -> torch.Tensor:
        states = [x.detach()]
        for i in range(n_steps):
            states.append(step(states[-1], i).detach())
        ctx.step, ctx.n_steps = step, n_steps
        ctx.states = states[:-1]
        ctx.save_for_backward(*params)
        return states[-1]

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        params = ctx.saved_tensors
        wanted = [p for p in params if p.requires_grad]
        totals = [torch.zeros_like(p) for p in wanted]
        for i in reversed(range(ctx.n_steps)):
            x_i = ctx.states[i].detach().requires_grad_(True)
            with torch.enable_grad():
                y = ctx.step(x_i, i)
                grads = torch.autograd.grad(y, [x_i, *wanted], grad, allow_unused=True)
            grad = grads[0] if grads[0] is not None else torch.zeros_like(x_i)
            for total, g in zip(totals, grads[1:]):
                if g is not None:
                    total.add_(g)
            ctx.states[i] = None  # free the state as soon as its step is done
        it = iter(totals)
        param_grads = tuple(next(it) if p.requires_grad else None for p in params)
        return (None, None, grad if ctx.needs_input_grad[2] else None, *param_grads)


def checkpointed_chain(step: Step, x: torch.Tensor, n_steps: int, params: Sequence[torch.Tensor] = ()) -> torch.Tensor:
    """The final state of ``x_{i+1} = step(x_i, i)`` (``n_steps`` steps from ``x``) with gradients to ``x`` and
    to ``params`` (every tensor inside ``step`` that should receive a gradient, e.g. ``module.parameters()``)
    computed by step-level checkpointing: memory of one step's graph plus the stored states."""
    params = tuple(params)
    if not params and not x.requires_grad:
        with torch.no_grad():
            for i in range(n_steps):
                x = step(x, i)
        return x
    return _CheckpointedChain.apply(step, n_steps, x, *params)


def full_graph_chain(step: Step, x: torch.Tensor, n_steps: int) -> torch.Tensor:
    """The same chain with ordinary autograd (every step's graph kept): the reference for tests and
    benchmarks, and the faster choice when memory allows."""
    for i in range(n_steps):
        x = step(x, i)
    return x


class SavedTensorMeter:
    """Bytes of the tensors autograd saves for backward while the context is active (a device-independent
    measure of a graph's memory): ``with SavedTensorMeter() as m: ...; m.bytes``. Tensors saved more than
    once (the same storage) are counted once."""

    def __init__(self):
        self.bytes = 0
        self._seen: set = set()
        self._hooks = None

    def _pack(self, t: torch.Tensor):
        key = (t.untyped_storage().data_ptr(), t.dtype, tuple(t.shape), t.storage_offset())
        if key not in self._seen:
            self._seen.add(key)
            self.bytes += t.numel() * t.element_size()
        return t

    def __enter__(self) -> "SavedTensorMeter":
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, lambda t: t)
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._hooks.__exit__(*exc)
