"""Expressivity check: closed-form ridge fit of STO-3G Fock matrices (cookbook data).

Usage:
    python benchmarks/fit_fock_ridge.py [--set ethane200|qm7|both] [--alpha A] [--set-cfg k=v ...]

Fits `ridge_fit` on the first ``n_train`` molecules (ethane200: 150/50, qm7: 120/30), the
penalty chosen per (block type, irrep) by 4-fold cross-validation over the training
molecules from ``--alpha`` (several values), then reports on train and test: MAE of the matrix elements (meV) and of the generalized
eigenvalues ``F C = S C e`` with the reference STO-3G overlap (meV), against the trivial
"mean block" baseline (every block replaced by the training mean of its block type).
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import ase.io
import jax
import numpy as np
import scipy.linalg
import yaml

from hamlearn.config import FeaturesConfig
from hamlearn.data.structure import Structure
from hamlearn.features import featurize
from hamlearn.model import HamiltonianModel, fock_batch, make_batch, ridge_fit
from hamlearn.model.batch import entry_index
from hamlearn.units import HARTREE_TO_EV

COOKBOOK = Path(__file__).resolve().parents[2] / "shared" / "data" / "qm7-cookbook"
SPLITS = {"ethane200": (150, 50), "qm7": (120, 30)}
ALPHAS = [1e-8, 1e-6, 1e-4, 1e-3, 1e-2]


def load(name: str, n: int):
    """Structures, Fock and overlap matrices (Hartree, pyscf order) of the first n molecules."""
    ref = np.load(COOKBOOK / f"{name}_reference.npz")
    nao = ref["nao_sto3g"][:n]
    off = np.concatenate([[0], np.cumsum(nao**2)])

    def mats(key):
        return [ref[key][off[k]:off[k + 1]].reshape(nao[k], nao[k]) for k in range(n)]

    frames = ase.io.read(COOKBOOK / f"{name}.xyz", f":{n}")
    return [Structure.from_atoms(a) for a in frames], mats("fock_sto3g_flat"), mats(
        "overlap_sto3g_flat")


def mean_block_baseline(fs, focks, train, indices):
    """Every block = the mean over the training entries of its type."""
    out = {m: np.zeros_like(focks[m]) for m in indices}
    for key, tf in fs.types.items():
        tr = entry_index(fs, key, train)
        if len(tr) == 0:
            continue
        mean = np.mean([focks[m][np.ix_(r, c)] for m, r, c in
                        zip(tf.mol[tr], tf.rows[tr], tf.cols[tr])], axis=0)
        for e in entry_index(fs, key, indices):
            m, r, c = tf.mol[e], tf.rows[e], tf.cols[e]
            out[m][np.ix_(r, c)] = mean
            out[m][np.ix_(c, r)] = mean.T
    return [out[m] for m in indices]


def errors_mev(pred, focks, ovlps, indices) -> tuple[float, float]:
    mat, eig = [], []
    for p, m in zip(pred, indices):
        mat.append(np.abs(p - focks[m]).ravel())
        e_p = scipy.linalg.eigh(p, ovlps[m], eigvals_only=True)
        e_r = scipy.linalg.eigh(focks[m], ovlps[m], eigvals_only=True)
        eig.append(np.abs(e_p - e_r))
    to_mev = 1e3 * HARTREE_TO_EV
    return float(np.concatenate(mat).mean() * to_mev), float(np.concatenate(eig).mean() * to_mev)


def run(name: str, cfg: FeaturesConfig, alphas: list[float]) -> dict:
    n_train, n_test = SPLITS[name]
    structures, focks, ovlps = load(name, n_train + n_test)
    train, test = list(range(n_train)), list(range(n_train, n_train + n_test))
    t0 = time.perf_counter()
    fs = featurize(structures, cfg)
    t1 = time.perf_counter()
    chosen: dict = {}
    model = ridge_fit(HamiltonianModel(fs.spec, key=jax.random.PRNGKey(0)), fs,
                      [focks[m] for m in train], alphas, indices=train, report=chosen)
    t2 = time.perf_counter()
    res = {"set": name, "n_train": n_train, "n_test": n_test,
           "features": {k: v for k, v in dataclasses.asdict(cfg).items() if k != "species"},
           "alpha_chosen": {f"{k}/{ir}": a for (k, ir), a in chosen.items()},
           "featurize_s": round(t1 - t0, 2), "ridge_s": round(t2 - t1, 2)}
    for label, idx in (("train", train), ("test", test)):
        out = np.asarray(fock_batch(model, make_batch(fs, idx)))
        pred = [out[b, : fs.nao[m], : fs.nao[m]] for b, m in enumerate(idx)]
        res[f"{label}_matrix_mae_mev"], res[f"{label}_eig_mae_mev"] = errors_mev(
            pred, focks, ovlps, idx)
        base = mean_block_baseline(fs, focks, train, idx)
        res[f"{label}_baseline_matrix_mae_mev"], res[f"{label}_baseline_eig_mae_mev"] = (
            errors_mev(base, focks, ovlps, idx))
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", default="both", choices=["ethane200", "qm7", "both"])
    ap.add_argument("--alpha", type=float, nargs="+", default=ALPHAS,
                    help="candidate relative penalties (chosen by CV per type and irrep)")
    ap.add_argument("--set-cfg", nargs="*", default=[], help="FeaturesConfig overrides k=v")
    args = ap.parse_args()
    over = {k: yaml.safe_load(v) for k, v in (s.split("=", 1) for s in args.set_cfg)}
    cfg = dataclasses.replace(FeaturesConfig(), **over)
    for name in (["ethane200", "qm7"] if args.set == "both" else [args.set]):
        res = run(name, cfg, args.alpha)
        print(yaml.safe_dump(res, sort_keys=False).strip(), "\n", flush=True)


if __name__ == "__main__":
    main()
