"""Parameter counts and GMACs of the benchmark models (``dfew-build models``).

GMACs are measured with ``torch.utils.flop_counter.FlopCounterMode`` on one forward
pass in eval mode without gradients; that counter counts the matrix products and
convolutions (2 FLOPs per multiply-accumulate), not batch norm, pooling or activations,
so MACs = FLOPs / 2 — the convention of the published GMAC/GFLOP tables.

A model whose decision needs more than ``forward`` — NR-DFERNet, whose snippet-based filter
also runs seven snippets through its temporal transformer — defines ``forward_decision``;
``gmacs`` counts that pass, the one its paper's cost counts.

One gap is filled by hand: on CPU ``nn.LSTM`` runs as a single fused ``aten.lstm``
call that the counter does not see (it reports 0). For every LSTM call the counter
missed, ``gmacs`` adds the analytic count, per layer and direction and per time
step, ``4·hidden·(input + hidden)`` MACs for the four gates (element-wise gate
arithmetic not counted, as for the other layers).
"""

from __future__ import annotations

import torch
from torch import nn


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (all of them, or only those with ``requires_grad``)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def gmacs(model: nn.Module, input_shape=(1, 3, 16, 112, 112), device=None) -> float:
    """Giga multiply-accumulates of one forward pass on an ``input_shape`` zero tensor
    (``model.forward_decision`` when the model has one, see the module docstring).

    The model is put in eval mode for the measurement and given back in the mode it
    was in. With the default batch of 1 this is GMACs per clip.
    """
    from torch.utils.flop_counter import FlopCounterMode

    if device is None:
        device = next(iter(model.parameters())).device
    x = torch.zeros(*input_shape, device=device)
    counter = FlopCounterMode(display=False)
    missed_macs = 0
    seen_at_start: list[int] = []

    def before(module, args):
        seen_at_start.append(counter.get_total_flops())

    def after(module, args, output):
        nonlocal missed_macs
        if counter.get_total_flops() == seen_at_start.pop():  # the counter missed it
            missed_macs += _lstm_macs(module, args[0])

    handles = []
    for m in model.modules():
        if isinstance(m, nn.LSTM):
            handles += [m.register_forward_pre_hook(before), m.register_forward_hook(after)]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), counter:
            getattr(model, "forward_decision", model)(x)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return (counter.get_total_flops() / 2 + missed_macs) / 1e9


def _lstm_macs(lstm: nn.LSTM, inp) -> int:
    """Multiply-accumulates of the gate products of one ``nn.LSTM`` call."""
    if isinstance(inp, nn.utils.rnn.PackedSequence):
        steps = int(inp.data.shape[0])  # sum of sequence lengths over the batch
    elif inp.dim() == 2:
        steps = int(inp.shape[0])
    else:
        steps = int(inp.shape[0] * inp.shape[1])
    directions = 2 if lstm.bidirectional else 1
    hidden = lstm.hidden_size
    out = lstm.proj_size if lstm.proj_size > 0 else hidden
    total = 0
    for layer in range(lstm.num_layers):
        in_size = lstm.input_size if layer == 0 else out * directions
        per_step = 4 * hidden * (in_size + out)
        if lstm.proj_size > 0:
            per_step += hidden * lstm.proj_size
        total += per_step * directions * steps
    return total
