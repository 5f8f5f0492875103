"""Cluster-robust (sandwich) variances with the CR2 small-sample correction.

CR2 ("bias-reduced linearisation", Bell & McCaffrey 2002; Pustejovsky & Tipton 2018,
doi:10.1080/07350015.2016.1247004) with Satterthwaite degrees of freedom, as R clubSandwich
``vcovCR(type="CR2")`` / ``coef_test(test="Satterthwaite")`` compute them for metafor models
whose weights are the inverse of the model's marginal variance (``inverse_var=TRUE``; what
metafor ``robust(fit, cluster=, clubSandwich=TRUE)`` uses). Internal module: the public entry
points are :func:`evidence.pool_multilevel` (``ci_method="cr2"``) and
:func:`evidence.pool_clustered` (``vcov="CR2"``).

Notation (one cluster ``j``): ``V_j`` the working marginal covariance of its rows,
``W_j = V_j^-1``, ``M = (sum X_j' W_j X_j)^-1``, residuals ``e_j = y_j - X_j b``. With
``V_j = L_j L_j'`` (Cholesky), ``G_j = L_j' (I - X_j M X_j' W_j) V_j L_j`` and the adjustment
``A_j = L_j G_j^(-1/2) L_j'``; the robust covariance is ``M (sum c_j c_j') M`` with
``c_j = X_j' W_j A_j e_j``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["CR2Result", "cr2"]


@dataclass(frozen=True)
class CR2Result:
    """CR2 covariance of the coefficients and Satterthwaite df per coefficient."""

    vcov: np.ndarray  # (p, p)
    df: np.ndarray  # (p,)


def _inv_sqrt_psd(g: np.ndarray) -> np.ndarray:
    """Symmetric inverse square root (clubSandwich ``matrix_power(g, -1/2)``)."""
    vals, vecs = np.linalg.eigh(0.5 * (g + g.T))
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = np.where(
            vals > np.finfo(float).eps * max(vals.max(), 0.0) * len(vals),
            1.0 / np.sqrt(np.maximum(vals, 0.0)),
            0.0,
        )
    return (vecs * inv) @ vecs.T


def cr2(
    X: np.ndarray, resid: np.ndarray, blocks: list[np.ndarray], rows: list[np.ndarray]
) -> CR2Result:
    """CR2 covariance and Satterthwaite df.

    Parameters
    ----------
    X : (n, p) model matrix; resid : (n,) residuals ``y - X b`` of the working model.
    blocks : the working covariance ``V_j`` of each cluster (n_j x n_j, positive definite).
    rows : the row positions of each cluster (same order as ``blocks``).
    """
    p = X.shape[1]
    Ws = [np.linalg.inv(V) for V in blocks]
    XtWX = np.zeros((p, p))
    for W, r in zip(Ws, rows, strict=True):
        Xj = X[r]
        XtWX += Xj.T @ W @ Xj
    M = np.linalg.inv(XtWX)
    M = 0.5 * (M + M.T)
    meat = np.zeros((p, p))
    E_list = []
    Ls = []
    for V, W, r in zip(blocks, Ws, rows, strict=True):
        Xj = X[r]
        L = np.linalg.cholesky(V)  # V = L L' (R's chol() gives R = L')
        ih = np.eye(len(r)) - Xj @ M @ Xj.T @ W
        G = L.T @ ih @ V @ L
        A = L @ _inv_sqrt_psd(G) @ L.T
        E = Xj.T @ W @ A  # (p, n_j)
        c = E @ resid[r]
        meat += np.outer(c, c)
        E_list.append(E)
        Ls.append(L)
    vcov = M @ meat @ M
    # Satterthwaite df (clubSandwich get_GH / get_P_array(all_terms=FALSE) / Satterthwaite)
    Mct = np.linalg.cholesky(M)  # t(chol(M_U)), lower
    n_cl = len(blocks)
    df = np.empty(p)
    Gs = [M @ E @ L for E, L in zip(E_list, Ls, strict=True)]  # (p, n_j)
    Hs = [M @ E @ X[r] @ Mct for E, r in zip(E_list, rows, strict=True)]  # (p, p)
    for i in range(p):
        H = np.column_stack([h[i] for h in Hs])  # (p, J)
        P = -H.T @ H
        P[np.diag_indices(n_cl)] += np.array([float(g[i] @ g[i]) for g in Gs])
        v_coef = 2.0 * float(np.sum(P * P))
        e_coef = float(np.trace(P))
        df[i] = 2.0 * e_coef**2 / v_coef if v_coef > 0 else np.nan
    return CR2Result(vcov=0.5 * (vcov + vcov.T), df=df)
