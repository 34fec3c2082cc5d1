"""Figures of Hamiltonians, orbital levels, prediction errors and training curves
(matplotlib, host side).

Used by the notebooks, `hamlearn.training.evaluate` (``parity.png``) and
`hamlearn.training.curves` (``training_curves.png``). Every function draws on axes it is
given (or returns a new figure) and never selects a matplotlib backend, saves files or
shows windows, so it works inline in Jupyter and headless alike; callers that save pass a
``matplotlib.figure.Figure``, which needs no backend. Inputs are in user units (eV, Debye,
a.u.) as the names and docstrings say; matrices in pyscf AO order.

Example:
    >>> import matplotlib.pyplot as plt, numpy as np
    >>> fig, ax = plt.subplots()
    >>> _ = plot_blocks(ax, np.eye(7), [8, 1, 1])  # water in STO-3G: 5 + 1 + 1 AOs
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from hamlearn.data.basis import ao_offsets
from hamlearn.training.metrics import ordered_targets, target_label
from hamlearn.training.split import n_heavy_atoms
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


#: MO levels below this reference energy (eV) go to the core panel of `parity_panels`
CORE_BELOW_EV = -50.0


def parity_points(result: dict, refs: Sequence, target_basis: str,
                  polarizability_kind: str) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Reference and predicted values of every target, flattened over molecules.

    Args:
        result: `hamlearn.training.evaluate.evaluate_indices` output (its ``errors``:
            signed per-molecule errors in eV / Debye / a.u., keys ``eigenvalues_ev``...).
        refs: the `Reference` of each evaluated molecule, in the same order.
        target_basis: basis of the reference labels (``cfg.train.target_basis``).
        polarizability_kind: 'uncoupled' or 'coupled' (``cfg.train.loss``).

    Returns:
        error key -> ``(reference, prediction, heavy_atoms)``, three ``(point,)`` arrays in
        the key's unit (MO energies: the loss window of each molecule); absent targets are
        left out.
    """
    def inv(name, scale):
        return lambda lab, e: np.atleast_1d(lab.invariant(name)) * scale

    values = {"eigenvalues_ev": lambda lab, e: lab.mo_energy[:len(e)] * HARTREE_TO_EV,
              "dipole_debye": lambda lab, e: lab.dipole * AU_TO_DEBYE,
              "polarizability_au":
                  lambda lab, e: lab.polarizability(polarizability_kind).ravel(),
              # rotation invariants (labels published without a frame, e.g. QM9)
              "homo_ev": inv("homo", HARTREE_TO_EV), "lumo_ev": inv("lumo", HARTREE_TO_EV),
              "dipole_norm_debye": inv("dipole_norm", AU_TO_DEBYE),
              "polarizability_iso_au": inv(f"polarizability_iso_{polarizability_kind}", 1.0)}
    out = {}
    for key, value in values.items():
        pts = [(value(r.target(target_basis), e[key]), e[key], n_heavy_atoms(r.structure))
               for r, e in zip(refs, result["errors"]) if key in e]
        if pts:
            x = np.concatenate([p[0] for p in pts])
            out[key] = (x, x + np.concatenate([p[1] for p in pts]),
                        np.concatenate([np.full(len(p[0]), p[2]) for p in pts]))
    return out


def heavy_atom_colors(counts) -> dict[int, tuple]:
    """One viridis colour per distinct heavy-atom count (ascending counts, dark to light)."""
    import matplotlib

    counts = sorted({int(n) for n in counts})
    cmap = matplotlib.colormaps["viridis"]
    return {n: cmap(t) for n, t in zip(counts, np.linspace(0.0, 0.85, len(counts)))}


def plot_parity(ax, reference: np.ndarray, prediction: np.ndarray, heavy_atoms: np.ndarray,
                colors: Mapping[int, tuple], *, title: str, unit: str, size: float = 8) -> float:
    """Prediction against reference, one scatter series per heavy-atom count.

    The axis limits are those of the points drawn (plus a 5 % margin), the diagonal is
    dashed and the title ends with the MAE of the points.

    Args:
        ax: matplotlib axes.
        reference, prediction: ``(point,)`` values in ``unit``.
        heavy_atoms: ``(point,)`` heavy-atom count of each point's molecule.
        colors: count -> colour (`heavy_atom_colors`); series are labelled by the count.
        title, unit: axes title and the unit of the values (axis labels, MAE).

    Returns:
        the mean absolute error of the points (``unit``).
    """
    reference, prediction = np.asarray(reference), np.asarray(prediction)
    heavy_atoms = np.asarray(heavy_atoms)
    for n in sorted(set(heavy_atoms.tolist())):
        sel = heavy_atoms == n
        ax.scatter(reference[sel], prediction[sel], s=size, color=colors[n], label=str(n))
    ax.set(xlabel=f"reference ({unit})", ylabel=f"prediction ({unit})")
    finite = np.isfinite(reference) & np.isfinite(prediction)  # a diverged model: NaN
    if not finite.any():
        ax.set_title(f"{title}\nno finite prediction")
        return float("nan")
    both = np.concatenate([reference[finite], prediction[finite]])
    lo, hi = both.min(), both.max()
    pad = 0.05 * (hi - lo) if hi > lo else max(1e-3, 0.05 * abs(hi))
    lo, hi = lo - pad, hi + pad
    ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
    mae = float(np.mean(np.abs(prediction - reference)))  # NaN when any point is
    ax.set(xlim=(lo, hi), ylim=(lo, hi), title=f"{title}\nMAE {mae:.3g} {unit}")
    return mae


def parity_panels(result: dict, refs: Sequence, target_basis: str, polarizability_kind: str,
                  *, fig=None, core_below_ev: float = CORE_BELOW_EV):
    """Parity plots of a run: valence MO energies, core MO energies (a small panel),
    dipole and polarizability components, coloured by heavy-atom count.

    MO energies are those of each molecule's loss window; a level whose reference lies
    below ``core_below_ev`` goes to the core panel, so the valence panel's axes span the
    valence and virtual levels only (core 1s levels at -270..-520 eV would squeeze them
    into a dot). One legend, one entry per heavy-atom count present, in the valence panel.

    Args:
        result: `hamlearn.training.evaluate.evaluate_indices` output (uses ``errors``).
        refs: the `Reference` of each evaluated molecule, in the same order.
        target_basis: basis of the reference labels (``cfg.train.target_basis``).
        polarizability_kind: 'uncoupled' or 'coupled' (``cfg.train.loss``).
        fig: a figure to draw on (default: a new 15 x 4 inch figure).
        core_below_ev: the valence/core boundary (eV).

    Returns:
        the figure; its axes are labelled 'valence', 'core', 'dipole', 'polarizability'
        (``ax.get_label()``); panels without points are hidden.
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    fig = fig if fig is not None else plt.figure(figsize=(15, 4), layout="constrained")
    grid = fig.add_gridspec(1, 4, width_ratios=(3.0, 1.5, 2.6, 2.6))
    axes = [fig.add_subplot(grid[0, k], label=name)
            for k, name in enumerate(("valence", "core", "dipole", "polarizability"))]
    points = parity_points(result, refs, target_basis, polarizability_kind)
    colors = heavy_atom_colors(np.concatenate([p[2] for p in points.values()])
                               if points else [])
    panels = [(axes[2], "dipole_debye", None, "dipole components", "D"),
              (axes[3], "polarizability_au", None, "polarizability components", "a.u.")]
    if not any(k in points for k in ("eigenvalues_ev", "dipole_debye", "polarizability_au")):
        # invariant labels only (QM9): HOMO, LUMO, |mu| and alpha_iso in the four panels
        panels = [(ax, key, None, title, unit) for ax, (key, title, unit) in zip(axes, (
            ("homo_ev", "HOMO", "eV"), ("lumo_ev", "LUMO", "eV"),
            ("dipole_norm_debye", "dipole magnitude", "D"),
            ("polarizability_iso_au", "isotropic polarizability", "a.u.")))]
    if "eigenvalues_ev" in points:
        core = points["eigenvalues_ev"][0] < core_below_ev
        panels += [(axes[0], "eigenvalues_ev", ~core,
                    f"valence + virtual MO energies (> {core_below_ev:g} eV)", "eV"),
                   (axes[1], "eigenvalues_ev", core, "core MO energies", "eV")]
    for ax in axes:
        ax.set_visible(False)
    for ax, key, sel, title, unit in panels:
        if key not in points or (sel is not None and not sel.any()):
            continue
        x, y, n = points[key] if sel is None else (v[sel] for v in points[key])
        ax.set_visible(True)
        plot_parity(ax, x, y, n, colors, title=title, unit=unit,
                    size=14 if ax is axes[1] else 8)
    shown = [ax for ax in axes if ax.get_visible()]
    if shown and colors:
        handles = [Line2D([], [], ls="", marker="o", color=c, label=str(n))
                   for n, c in colors.items()]
        shown[0].legend(handles=handles, title="heavy atoms", loc="upper left", fontsize=7,
                        title_fontsize=7, ncols=1 + (len(handles) - 1) // 6)
    return fig


def epoch_means(rows: Sequence[Mapping], key: str = "loss", *,
                offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mean of ``key`` per logged ``epoch`` over log rows (non-finite values skipped).

    Args:
        rows: records with ``epoch`` and ``key``, e.g. the rows of a run log.
        key: the value averaged.
        offset: added to the logged epochs (the loop logs a train step with the 0-based
            index of its epoch, a validation with the number of epochs done: train rows
            need ``offset=1`` to share the validations' axis).

    Returns:
        ``(epoch,)`` epochs (logged + ``offset``) and the means; epochs without a finite
        value are left out.
    """
    groups: dict[int, list[float]] = {}
    for r in rows:
        value = r.get(key)
        if isinstance(value, (int, float)) and np.isfinite(value) and isinstance(
                r.get("epoch"), int):
            groups.setdefault(int(r["epoch"]), []).append(float(value))
    epochs = sorted(groups)
    return np.array(epochs, int) + offset, np.array([np.mean(groups[e]) for e in epochs])


def training_curve_panels(train: Sequence[Mapping], val: Sequence[Mapping], *, fig=None):
    """Loss against epoch (train: mean per epoch; validation) and one panel per
    validation MAE (``mae_*`` keys, unit in the axis label).

    Args:
        train: 'train' log records (``epoch``, ``loss``), as `hamlearn.training.loop.RunLog`
            writes them.
        val: 'val' log records (``epoch``: epochs done, ``loss``, ``mae_<target>_<unit>``).
            The x axis counts epochs done: a validation at its ``epoch``, the steps of
            0-based epoch ``e`` at ``e + 1``; non-finite values are left out.
        fig: a figure to draw on (default: a new one sized to the panels).

    Returns:
        the figure; axes labelled 'loss' and by their MAE key (``ax.get_label()``).
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    keys = ["mae_" + k for k in ordered_targets(k[4:] for r in val for k in r
                                                if k.startswith("mae_"))]
    ncols = min(1 + len(keys), 3)
    nrows = -(-(1 + len(keys)) // ncols)
    if fig is None:
        fig = plt.figure(figsize=(4.2 * ncols, 3.2 * nrows), layout="constrained")
    for k, name in enumerate(("loss", *keys)):
        ax = fig.add_subplot(nrows, ncols, k + 1, label=name)
        series = [("validation", *epoch_means(val, name), "o-")]
        if name == "loss":
            series.insert(0, ("train (epoch mean)", *epoch_means(train, name, offset=1), "-"))
        for label, x, y, style in series:
            if len(x):
                ax.plot(x, y, style, ms=3, label=label)
        values = np.concatenate([s[2] for s in series])
        if len(values) and values.min() > 0 and values.max() > 10 * values.min():
            ax.set_yscale("log")  # only over a decade: a flat curve on a log axis is unreadable
        ax.set(xlabel="epochs done", ylabel="loss" if name == "loss" else
               f"validation MAE, {target_label(name)}")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if name == "loss" and ax.lines:
            ax.legend(fontsize=8)
    return fig
