"""Figures of Hamiltonians, orbital levels and prediction errors (matplotlib, host side).

Used by the notebooks; every function draws on axes it is given (or returns a new
figure) and never selects a matplotlib backend, saves files or shows windows, so it works
inline in Jupyter and headless alike. Inputs are in user units (eV, Debye, a.u.) as the
names and docstrings say; matrices in pyscf AO order.

Example:
    >>> import matplotlib.pyplot as plt, numpy as np
    >>> fig, ax = plt.subplots()
    >>> _ = plot_blocks(ax, np.eye(7), [8, 1, 1])  # water in STO-3G: 5 + 1 + 1 AOs
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from hamlearn.data.basis import ao_offsets
from hamlearn.units import AU_TO_DEBYE, HARTREE_TO_EV


def plot_blocks(ax, matrix: np.ndarray, numbers: Sequence[int], basis: str = "sto-3g", *,
                vmax: float | None = None, cmap: str = "RdBu_r", title: str | None = None):
    """Heatmap of an ``(ao, ao)`` matrix with its atom blocks outlined.

    On-site (atom-diagonal) blocks get a solid black frame, the boundaries between atoms
    thin grey lines, so every off-site block (atom pair) is a cell of that grid. Ticks
    name the atoms at the centre of their AO ranges.

    Args:
        ax: matplotlib axes.
        matrix: ``(ao, ao)`` e.g. a Fock matrix (any unit), pyscf AO order.
        numbers: ``(atom,)`` atomic numbers (fix the AO ranges with ``basis``).
        basis: the matrix's basis.
        vmax: symmetric colour limit (default: the largest absolute entry).
        cmap, title: colour map and axes title.

    Returns:
        the ``AxesImage`` (pass it to ``fig.colorbar``).
    """
    from ase.data import chemical_symbols
    from matplotlib.patches import Rectangle

    matrix = np.asarray(matrix)
    off = ao_offsets(basis, numbers)
    if off[-1] != matrix.shape[0]:
        raise ValueError(f"matrix has {matrix.shape[0]} AOs, {basis} gives {off[-1]}")
    vmax = float(np.abs(matrix).max()) if vmax is None else vmax
    image = ax.imshow(matrix, cmap=cmap, vmin=-vmax, vmax=vmax, interpolation="nearest")
    for edge in off[1:-1]:
        ax.axhline(edge - 0.5, color="0.6", lw=0.5)
        ax.axvline(edge - 0.5, color="0.6", lw=0.5)
    for a, b in zip(off[:-1], off[1:]):
        ax.add_patch(Rectangle((a - 0.5, a - 0.5), b - a, b - a, fill=False, ec="k", lw=1.3))
    centres = 0.5 * (off[:-1] + off[1:]) - 0.5
    names = [f"{chemical_symbols[int(z)]}{k}" for k, z in enumerate(numbers)]
    ax.set_xticks(centres, names, rotation=90, fontsize=7)
    ax.set_yticks(centres, names, fontsize=7)
    if title:
        ax.set_title(title)
    return image


def plot_levels(ax, levels: Mapping[str, np.ndarray], nocc: int, *, n_virtual: int = 4,
                connect: bool = True):
    """Orbital level diagram: one column per label, occupied levels solid, virtual dashed.

    Args:
        ax: matplotlib axes.
        levels: label -> ``(mo,)`` ascending MO energies (eV); the columns, left to right.
        nocc: doubly occupied MOs (the same for every column).
        n_virtual: virtual levels drawn per column (besides all occupied ones).
        connect: join level k of each column to level k of the next by a thin line.
    """
    shown = [np.asarray(e)[: nocc + n_virtual] for e in levels.values()]
    for i, e in enumerate(shown):
        for k, value in enumerate(e):
            occupied = k < nocc
            ax.hlines(value, i - 0.3, i + 0.3, color="C0" if occupied else "C3",
                      ls="-" if occupied else "--", lw=1.5)
        if connect and i + 1 < len(shown):
            n = min(len(e), len(shown[i + 1]))
            for a, b in zip(e[:n], shown[i + 1][:n]):
                ax.plot([i + 0.3, i + 0.7], [a, b], color="0.7", lw=0.5)
    ax.set_xticks(range(len(shown)), list(levels))
    ax.set_xlim(-0.6, len(shown) - 0.4)
    ax.set_ylabel("MO energy (eV)")


def parity_panels(result: dict, refs: Sequence, target_basis: str, polarizability_kind: str,
                  *, fig=None):
    """Parity plots (prediction vs reference) of MO energies, dipoles and polarizabilities,
    coloured by the molecule's heavy-atom count.

    Args:
        result: the output of `hamlearn.training.evaluate.evaluate_indices` (its
            ``errors``: signed per-molecule errors in eV / Debye / a.u.).
        refs: the `Reference` of each evaluated molecule, in the same order.
        target_basis: basis of the reference labels (``cfg.train.target_basis``).
        polarizability_kind: 'uncoupled' or 'coupled' (``cfg.train.loss``).
        fig: a figure to draw on (default: a new 1 x 3 figure).

    Returns:
        the figure; panel titles give the MAE of the points shown.
    """
    import matplotlib.pyplot as plt

    from hamlearn.training.split import n_heavy_atoms

    panels = [("eigenvalues_ev", "MO energies (eV)",
               lambda r, e: r.target(target_basis).mo_energy[:len(e)] * HARTREE_TO_EV),
              ("dipole_debye", "dipole components (D)",
               lambda r, e: r.target(target_basis).dipole * AU_TO_DEBYE),
              ("polarizability_au", "polarizability components (a.u.)",
               lambda r, e: r.target(target_basis).polarizability(polarizability_kind).ravel())]
    fig = fig if fig is not None else plt.figure(figsize=(13, 4))
    axes = fig.subplots(1, 3)
    sizes = [n_heavy_atoms(r.structure) for r in refs]
    norm = plt.Normalize(min(sizes), max(sizes)) if sizes else None
    scatter = None
    for ax, (key, title, ref_fn) in zip(axes, panels):
        pts = [(ref_fn(r, e[key]), e[key], n) for r, e, n in zip(refs, result["errors"], sizes)
               if key in e]
        if not pts:
            ax.set_visible(False)
            continue
        x = np.concatenate([p[0] for p in pts])
        y = x + np.concatenate([p[1] for p in pts])
        c = np.concatenate([np.full(len(p[0]), p[2]) for p in pts])
        scatter = ax.scatter(x, y, c=c, s=8, cmap="viridis", norm=norm)
        lo, hi = min(x.min(), y.min()), max(x.max(), y.max())
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        ax.set(title=f"{title}\nMAE {np.mean(np.abs(y - x)):.3g}", xlabel="reference",
               ylabel="prediction")
    if scatter is not None:
        fig.colorbar(scatter, ax=axes, label="heavy atoms")
    return fig
