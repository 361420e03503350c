"""One RECNet training step (forward, loss, backward, optimizer step), faster than the plain eager loop.

``make_train_step(model, criterion, optimizer, compiled=False)`` returns ``step(inp, target) ->
(loss, parts)`` doing exactly what ``recnet.training.train`` does per iteration::

    output = model(inp); loss, parts = criterion(output, inp, target)
    optimizer.zero_grad(set_to_none=True); loss.backward(); optimizer.step()

with the same maths (gradients equal to that reference up to float32 rounding; checked by
``tests/test_train_step.py``). What differs is only how the forward is evaluated
(``shared_blur_forward``):

- **One mask blur for all five blocks.** Every RIN blurs the same exposure mask; when all five
  blur kernels are frozen and equal (always in our training: they stay at their Gaussian
  initialisation, see ``RECNet.freeze_blur``), ``(blur(mask), blur(1 - mask))`` is computed once
  and handed to every block through ``DualBlock.forward``'s ``region_masks`` argument, instead of
  five times forward and five times backward. Blocks whose kernels differ (e.g. official trained
  weights before ``freeze_blur``) fall back to their own blur.
- **Edge replication written out** (``compiled=True`` only). ``ExposureMaskNet``'s
  ``padding_mode="replicate"`` convs are evaluated as an explicit edge-replicating pad
  (concatenated edge rows/columns) followed by an unpadded conv: the same numbers, and it avoids
  inductor's wrong meta kernel for ``replication_pad2d_backward`` on channels-last tensors, which
  made ``torch.compile(model)`` fail in backward.

With ``compiled=True`` the forward and the loss are one ``torch.compile`` graph (the loss terms
are returned as tensors, ``loss_terms``, so nothing breaks the graph). The first step then
compiles for a minute or two on 2 cores (inductor's cache, ``TORCHINDUCTOR_CACHE_DIR``, default
``/tmp/torchinductor_$USER``, makes later runs start in seconds); every new input shape (crop
size, a smaller last batch) compiles again. On the 2-core AMD EPYC this project trains on,
the compiled step was *not* faster than the eager shared-blur path (convolutions and their backward,
which inductor leaves to oneDNN, are most of the step; see
``benchmarks/results/training_*.md``), so ``compiled=False`` is the default.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from recnet.model import RECNet, RECNetOutput
from recnet.training import losses as L


def replicate_pad(x: torch.Tensor, pad: int) -> torch.Tensor:
    """``F.pad(x, (pad,) * 4, mode="replicate")`` as concatenated edge rows and columns (compile-friendly)."""
    if pad == 0:
        return x
    top, bottom = x[:, :, :1].expand(-1, -1, pad, -1), x[:, :, -1:].expand(-1, -1, pad, -1)
    x = torch.cat([top, x, bottom], dim=2)
    left, right = x[:, :, :, :1].expand(-1, -1, -1, pad), x[:, :, :, -1:].expand(-1, -1, -1, pad)
    return torch.cat([left, x, right], dim=3)


def _conv_explicit_pad(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """``conv(x)`` for a stride-1 square-padded conv, with replicate padding done by ``replicate_pad``."""
    if conv.padding_mode != "replicate":
        return conv(x)
    pad = conv.padding[0]
    if conv.padding != (pad, pad) or conv.stride != (1, 1) or conv.dilation != (1, 1):
        return conv(x)
    return F.conv2d(replicate_pad(x, pad), conv.weight, conv.bias, 1, 0, 1, conv.groups)


def mask_net_forward(mask_net: nn.Module, features: torch.Tensor, explicit_pad: bool = True) -> torch.Tensor:
    """``ExposureMaskNet`` forward; with ``explicit_pad`` its replicate padding is written out."""
    if not explicit_pad:
        return mask_net(features)
    x = features
    for layer in mask_net.convs:
        x = _conv_explicit_pad(layer, x) if isinstance(layer, nn.Conv2d) else layer(x)
    return x


def shared_blur(model: RECNet) -> bool:
    """True when every block's mask blur is frozen and identical, so one blur serves all blocks."""
    norms = [block.norm for block in model.blocks]
    first = norms[0]
    for norm in norms:
        if norm.blur_kernel.requires_grad:
            return False
        if norm is not first:
            if not torch.equal(norm.blur_kernel, first.blur_kernel):
                return False
            a, b = norm.blur_factors, first.blur_factors
            if (a is None) != (b is None):
                return False
            if a is not None and not all(torch.equal(u, v) for u, v in zip(a, b)):
                return False
    return True


def shared_blur_forward(model: RECNet, image: torch.Tensor, share_blur: bool = True, explicit_pad: bool = False) -> RECNetOutput:
    """``model(image)``, the same function, with one shared mask blur when ``share_blur`` (see ``shared_blur``)."""
    x0 = model.stem(image)
    mask = mask_net_forward(model.mask_net, x0, explicit_pad)
    region_masks = model.blocks[0].norm.region_masks(mask) if share_blur else None
    x, outputs = x0, []
    for block in model.blocks:
        x = block(x, mask, region_masks)
        outputs.append(x)
    y = model.refine(model.merge(torch.cat(outputs, dim=1)))
    return RECNetOutput(torch.clamp(y + 1e-5, 0, 1), mask, tuple(outputs), x0)


def loss_terms(criterion: L.RecnetLoss, output: RECNetOutput, inp: torch.Tensor, target: torch.Tensor):
    """``RecnetLoss.forward`` with tensor parts: (total, {term: unweighted tensor}); no host sync, so it compiles."""
    terms = criterion.terms(output, inp, target)
    return criterion.total(terms, output.image), terms


def _eager_step(forward: Callable, criterion: nn.Module, optimizer: torch.optim.Optimizer):
    """``step(inp, target) -> (loss, parts)``: ``forward``, the loss, backward and the optimiser step."""

    def step(inp: torch.Tensor, target: torch.Tensor):
        output = forward(inp)
        loss, parts = criterion(output, inp, target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.detach(), parts

    return step


def reference_step(model: RECNet, criterion: nn.Module, optimizer: torch.optim.Optimizer):
    """The plain eager step of ``recnet.training.train`` (the reference the shared-blur step is tested against)."""
    return _eager_step(model, criterion, optimizer)


def make_train_step(
    model: RECNet, criterion: L.RecnetLoss, optimizer: torch.optim.Optimizer, compiled: bool = False
) -> Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, dict]]:
    """``step(inp, target) -> (loss, parts)``: one training iteration, as ``reference_step`` but faster.

    ``parts`` is ``RecnetLoss``'s dict (unweighted term values as floats, plus ``total``).
    ``compiled`` compiles forward and loss with ``torch.compile`` (first call: a compile;
    see the module docstring). Call ``model.freeze_blur()`` first so the blur can be shared.
    """
    if not compiled:
        return _eager_step(lambda inp: shared_blur_forward(model, inp, share_blur=shared_blur(model)), criterion, optimizer)

    def forward_loss(inp: torch.Tensor, target: torch.Tensor, share_blur: bool):
        output = shared_blur_forward(model, inp, share_blur=share_blur, explicit_pad=True)
        return loss_terms(criterion, output, inp, target)

    compiled_forward_loss = torch.compile(forward_loss)

    def compiled_step(inp: torch.Tensor, target: torch.Tensor):
        loss, terms = compiled_forward_loss(inp, target, shared_blur(model))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        parts = {k: float(v.detach()) for k, v in terms.items()}
        parts["total"] = float(loss.detach())
        return loss.detach(), parts

    return compiled_step
