"""Optimiser construction and the jitted training step (with non-finite step skipping)."""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import optax

from hamlearn.config import TrainConfig


def make_optimizer(cfg: TrainConfig, steps_per_epoch: int) -> optax.GradientTransformation:
    """Adam with the configured schedule, warm-up and global-norm gradient clipping.

    Schedule 'plateau': the learning rate is a hyperparameter held in the optimizer state
    (`optax.inject_hyperparams`), lowered by the training loop after validations without
    improvement (`reduce_learning_rate`); it is saved and resumed with the state."""
    total = max(cfg.epochs * steps_per_epoch, 1)
    chain = [optax.clip_by_global_norm(cfg.grad_clip)] if cfg.grad_clip > 0 else []
    if cfg.schedule == "plateau":
        chain.append(optax.inject_hyperparams(optax.adam)(learning_rate=cfg.learning_rate))
        if cfg.warmup_steps:
            chain.append(optax.scale_by_schedule(optax.linear_schedule(0.0, 1.0, cfg.warmup_steps)))
        return optax.chain(*chain)
    if cfg.schedule == "constant":
        sched = optax.constant_schedule(cfg.learning_rate)
    elif cfg.schedule == "cosine":
        sched = optax.cosine_decay_schedule(cfg.learning_rate, max(total - cfg.warmup_steps, 1),
                                            alpha=0.01)
    else:  # exponential, per epoch
        sched = optax.exponential_decay(cfg.learning_rate, max(steps_per_epoch, 1),
                                        cfg.decay_rate)
    if cfg.warmup_steps:
        warm = optax.linear_schedule(0.0, cfg.learning_rate, cfg.warmup_steps)
        sched = optax.join_schedules([warm, sched], [cfg.warmup_steps])
    return optax.chain(*chain, optax.adam(sched))


def _is_injected(x) -> bool:
    return hasattr(x, "hyperparams") and "learning_rate" in getattr(x, "hyperparams", {})


def learning_rate(opt_state) -> float | None:
    """The injected learning rate of a 'plateau' optimizer state (None for other schedules)."""
    for leaf in jax.tree_util.tree_leaves(opt_state, is_leaf=_is_injected):
        if _is_injected(leaf):
            return float(leaf.hyperparams["learning_rate"])
    return None


def reduce_learning_rate(opt_state, factor: float):
    """``opt_state`` with its injected learning rate multiplied by ``factor``."""

    def scale(x):
        if not _is_injected(x):
            return x
        lr = x.hyperparams["learning_rate"]
        return x._replace(hyperparams={**x.hyperparams,
                                       "learning_rate": jnp.asarray(lr * factor, lr.dtype)})

    return jax.tree_util.tree_map(scale, opt_state, is_leaf=_is_injected)


def _all_finite(tree) -> jax.Array:
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree_util.tree_leaves(tree)
              if eqx.is_inexact_array(x)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.array(True)


def _select(pred, on_true, on_false):
    return jax.tree_util.tree_map(
        lambda a, b: jnp.where(pred, a, b) if eqx.is_array(a) else a, on_true, on_false)


def make_train_step(loss_fn: Callable, optimizer: optax.GradientTransformation) -> Callable:
    """A jitted ``step(model, opt_state, batch) -> (model, opt_state, loss, aux, finite)``.

    ``loss_fn(model, batch) -> (loss, aux)``. When the loss or any gradient is not
    finite the step is skipped: model and optimizer state come back unchanged and
    ``finite`` is False (the loop counts and reports it), so a NaN never reaches a
    checkpoint.
    """

    @eqx.filter_jit
    def step(model, opt_state, batch):
        (loss, aux), grads = eqx.filter_value_and_grad(loss_fn, has_aux=True)(model, batch)
        finite = jnp.isfinite(loss) & _all_finite(grads)
        params = eqx.filter(model, eqx.is_inexact_array)
        grads = jax.tree_util.tree_map(lambda g: jnp.where(finite, g, 0.0), grads)
        updates, new_opt_state = optimizer.update(grads, opt_state, params)
        new_model = eqx.apply_updates(model, updates)
        model = _select(finite, new_model, model)
        opt_state = _select(finite, new_opt_state, opt_state)
        return model, opt_state, loss, aux, finite

    return step
