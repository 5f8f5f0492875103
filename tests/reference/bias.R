# Reference values for evidence/bias.py and evidence/moderators.py.
#
# Writes tests/reference/bias_fixtures.json (every number as %.17g) from R metafor on real
# metadat datasets.  Run from the repository root:
#
#     Rscript tests/reference/bias.R
#
# Each case stores the R call that produced it, the yi/vi from escalc() (so the Python tests
# need no R and no effect-size code), and the metafor output.  R is never needed at test time.

suppressPackageStartupMessages(library(metafor))

ctrl <- list(threshold = 1e-12, tol = 1e-13, maxiter = 1e5, stepadj = 0.5)

# ---------------------------------------------------------------- tiny JSON writer (%.17g)
arr <- function(x) structure(list(v = x), class = "jsonarray")
esc <- function(s) paste0("\"", gsub("\"", "\\\\\"", gsub("\\\\", "\\\\\\\\", s)), "\"")
num1 <- function(x) {
  if (is.na(x)) return("null")
  if (is.logical(x)) return(if (x) "true" else "false")
  if (is.character(x)) return(esc(x))
  if (is.infinite(x)) return(if (x > 0) "1e999" else "-1e999")
  sprintf("%.17g", x)
}
to_json <- function(x, ind = "") {
  nind <- paste0(ind, "  ")
  if (inherits(x, "jsonarray")) {
    v <- x$v
    if (is.factor(v)) v <- as.character(v)
    return(paste0("[", paste(vapply(seq_along(v), function(i) num1(v[[i]]), ""), collapse = ", "), "]"))
  }
  if (is.null(x)) return("null")
  if (is.list(x)) {
    if (is.null(names(x))) {
      items <- vapply(x, to_json, "", ind = nind)
      return(paste0("[\n", nind, paste(items, collapse = paste0(",\n", nind)), "\n", ind, "]"))
    }
    items <- vapply(names(x), function(n) paste0(esc(n), ": ", to_json(x[[n]], nind)), "")
    return(paste0("{\n", nind, paste(items, collapse = paste0(",\n", nind)), "\n", ind, "}"))
  }
  if (is.factor(x)) x <- as.character(x)
  if (length(x) != 1L) return(to_json(arr(x), ind))
  num1(x)
}

cases <- list()
add <- function(name, call, input, expected) {
  stopifnot(!name %in% names(cases))
  cases[[name]] <<- list(call = call, input = input, expected = expected)
}
run <- function(code) eval(parse(text = code), envir = globalenv())

fit_out <- function(res) {
  # the scalar summary of an rma.uni fit (intercept-only or with moderators)
  list(
    beta = arr(c(res$beta)), se = arr(res$se), zval = arr(res$zval), pval = arr(res$pval),
    ci_lb = arr(res$ci.lb), ci_ub = arr(res$ci.ub), tau2 = res$tau2, QE = res$QE,
    QEp = res$QEp, I2 = res$I2, H2 = res$H2, k = res$k, p = res$p,
    QM = res$QM, QMdf = arr(res$QMdf), QMp = res$QMp,
    R2 = if (is.null(res$R2)) NA else res$R2, names = arr(rownames(res$beta)),
    method = res$method, test = res$test, dfs = if (is.null(res$ddf)) NA else res$ddf[[1]]
  )
}

# ---------------------------------------------------------------- datasets (escalc)
bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
hack <- dat.hackshaw1998
norm <- escalc(measure = "SMD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i,
               n2i = n2i, data = dat.normand1999)
molloy <- escalc(measure = "ZCOR", ri = ri, ni = ni, data = dat.molloy2014)
egger <- escalc(measure = "OR", ai = ai, n1i = n1i, ci = ci, n2i = n2i,
                data = dat.egger2001, subset = -16)  # without ISIS-4, as in ?regtest
kon <- dat.konstantopoulos2011
assink <- dat.assink2016
data_calls <- list(
  bcg = 'escalc(measure="RR", ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg)',
  hack = 'dat.hackshaw1998 (yi, vi as shipped: log odds ratios)',
  norm = 'escalc(measure="SMD", m1i=m1i, sd1i=sd1i, n1i=n1i, m2i=m2i, sd2i=sd2i, n2i=n2i, data=dat.normand1999)',
  molloy = 'escalc(measure="ZCOR", ri=ri, ni=ni, data=dat.molloy2014)',
  egger = 'escalc(measure="OR", ai=ai, n1i=n1i, ci=ci, n2i=n2i, data=dat.egger2001, subset=-16)',
  kon = 'dat.konstantopoulos2011 (yi, vi as shipped)',
  assink = 'dat.assink2016 (yi, vi as shipped)'
)
yv <- function(d) list(yi = arr(c(d$yi)), vi = arr(c(d$vi)))
ctrl_txt <- "control=list(threshold=1e-12, tol=1e-13, maxiter=1e5, stepadj=0.5)"

# ---------------------------------------------------------------- regtest (Egger)
reg_case <- function(name, dname, method, test, model) {
  d <- get(dname)
  fit_call <- sprintf('rma(yi, vi, data=%s, method="%s", test="%s", %s)', dname, method, test, ctrl_txt)
  res <- run(fit_call)
  call <- sprintf('regtest(%s, model="%s")', fit_call, model)
  rt <- regtest(res, model = model)
  if (model == "rma") {
    fit <- fit_out(rt$fit)
  } else {
    cf <- coef(summary(rt$fit))
    fit <- list(beta = arr(cf[, 1]), se = arr(cf[, 2]), zval = arr(cf[, 3]), pval = arr(cf[, 4]),
                sigma = summary(rt$fit)$sigma)
  }
  add(name, call, c(list(data = data_calls[[dname]], method = method, test = test, model = model), yv(d)),
      list(zval = rt$zval, pval = rt$pval, dfs = if (is.null(rt$dfs)) NA else rt$dfs, est = rt$est,
           ci_lb = rt$ci.lb, ci_ub = rt$ci.ub, fit = fit))
}
reg_case("regtest_bcg_rma", "bcg", "REML", "z", "rma")
reg_case("regtest_bcg_lm", "bcg", "REML", "z", "lm")
reg_case("regtest_bcg_knha", "bcg", "REML", "knha", "rma")
reg_case("regtest_egger2001_rma", "egger", "REML", "z", "rma")
reg_case("regtest_egger2001_lm", "egger", "REML", "z", "lm")
reg_case("regtest_hackshaw_dl", "hack", "DL", "z", "rma")
reg_case("regtest_hackshaw_lm", "hack", "DL", "z", "lm")
reg_case("regtest_normand_ml", "norm", "ML", "z", "rma")

# ---------------------------------------------------------------- trimfill
tf_case <- function(name, dname, method, estimator, side = NULL) {
  d <- get(dname)
  fit_call <- sprintf('rma(yi, vi, data=%s, method="%s", %s)', dname, method, ctrl_txt)
  res <- run(fit_call)
  side_txt <- if (is.null(side)) "" else sprintf(', side="%s"', side)
  call <- sprintf('trimfill(%s, estimator="%s"%s, %s)', fit_call, estimator, side_txt, ctrl_txt)
  tf <- if (is.null(side)) trimfill(res, estimator = estimator, control = ctrl)
        else trimfill(res, estimator = estimator, side = side, control = ctrl)
  add(name, call,
      c(list(data = data_calls[[dname]], method = method, estimator = estimator,
             side = if (is.null(side)) NA else side), yv(d)),
      c(list(k0 = tf$k0, se_k0 = tf$se.k0, side = tf$side, p_k0 = tf$p.k0,
             yi_filled = arr(c(tf$yi)), vi_filled = arr(c(tf$vi)), fill = arr(tf$fill)),
        fit_out(tf)))
}
tf_case("trimfill_bcg_reml_L0", "bcg", "REML", "L0")
tf_case("trimfill_bcg_reml_R0", "bcg", "REML", "R0")
tf_case("trimfill_bcg_ee_L0", "bcg", "EE", "L0")
tf_case("trimfill_bcg_ee_R0", "bcg", "EE", "R0")
tf_case("trimfill_bcg_reml_L0_left", "bcg", "REML", "L0", "left")
tf_case("trimfill_bcg_reml_L0_right", "bcg", "REML", "L0", "right")
tf_case("trimfill_bcg_reml_R0_right", "bcg", "REML", "R0", "right")
tf_case("trimfill_hackshaw_reml_L0", "hack", "REML", "L0")
tf_case("trimfill_hackshaw_reml_R0", "hack", "REML", "R0")
tf_case("trimfill_hackshaw_dl_L0_left", "hack", "DL", "L0", "left")
tf_case("trimfill_normand_reml_L0", "norm", "REML", "L0")
tf_case("trimfill_molloy_reml_L0", "molloy", "REML", "L0")

# ---------------------------------------------------------------- leave1out
l1o_case <- function(name, dname, method, test) {
  d <- get(dname)
  fit_call <- sprintf('rma(yi, vi, data=%s, method="%s", test="%s", %s)', dname, method, test, ctrl_txt)
  res <- run(fit_call)
  l1 <- leave1out(res)
  add(name, sprintf("leave1out(%s)", fit_call),
      c(list(data = data_calls[[dname]], method = method, test = test), yv(d)),
      list(estimate = arr(l1$estimate), se = arr(l1$se), zval = arr(l1[[3]]), pval = arr(l1$pval),
           ci_lb = arr(l1$ci.lb), ci_ub = arr(l1$ci.ub), Q = arr(l1$Q), Qp = arr(l1$Qp),
           tau2 = if (is.null(l1$tau2)) arr(rep(0, res$k)) else arr(l1$tau2),
           I2 = arr(l1$I2), H2 = arr(l1$H2)))
}
l1o_case("leave1out_bcg_reml", "bcg", "REML", "z")
l1o_case("leave1out_bcg_dl_knha", "bcg", "DL", "knha")
l1o_case("leave1out_hackshaw_reml", "hack", "REML", "z")
l1o_case("leave1out_normand_reml", "norm", "REML", "z")
l1o_case("leave1out_molloy_ee", "molloy", "EE", "z")

# ---------------------------------------------------------------- subgroups
sub_case <- function(name, dname, by, method, test) {
  d <- get(dname)
  g <- sort(unique(as.character(d[[by]])))
  groups <- list()
  for (lev in g) {
    fit_call <- sprintf('rma(yi, vi, data=%s, subset=%s=="%s", method="%s", test="%s", %s)',
                        dname, by, lev, method, test, ctrl_txt)
    r <- run(fit_call)
    groups[[lev]] <- c(list(call = fit_call), fit_out(r))
  }
  est <- vapply(groups, function(z) z$beta$v, 0)
  se <- vapply(groups, function(z) z$se$v, 0)
  fe_call <- 'rma(yi=est, sei=se, method="FE") over the subgroup estimates'
  fe <- rma(yi = est, sei = se, method = "FE")
  mods_call <- sprintf('rma(yi, vi, mods=~factor(%s), data=%s, method="%s", test="%s", %s)',
                       by, dname, method, test, ctrl_txt)
  mm <- run(mods_call)
  add(name, paste(mods_call, fe_call, sep = "; "),
      c(list(data = data_calls[[dname]], by = by, groups = arr(as.character(d[[by]])),
             method = method, test = test), yv(d)),
      list(levels = arr(g), groups = unname(groups),
           between = list(Q = fe$QE, df = fe$k - 1, p = fe$QEp),
           mixed = fit_out(mm)))
}
sub_case("subgroup_bcg_alloc_reml", "bcg", "alloc", "REML", "z")
sub_case("subgroup_bcg_alloc_dl_knha", "bcg", "alloc", "DL", "knha")
sub_case("subgroup_molloy_design_reml", "molloy", "design", "REML", "z")
sub_case("subgroup_hackshaw_design_reml", "hack", "design", "REML", "z")

# ---------------------------------------------------------------- meta-regression
mr_case <- function(name, dname, mods, method, test) {
  d <- get(dname)
  vars <- all.vars(as.formula(mods))
  call <- sprintf('rma(yi, vi, mods=%s, data=%s, method="%s", test="%s", %s)',
                  mods, dname, method, test, ctrl_txt)
  res <- run(call)
  modvals <- lapply(vars, function(v) arr(if (is.factor(d[[v]])) as.character(d[[v]]) else d[[v]]))
  names(modvals) <- vars
  add(name, call,
      c(list(data = data_calls[[dname]], mods = mods, moderators = arr(vars), method = method,
             test = test, X = lapply(seq_len(ncol(res$X)), function(j) arr(res$X[, j])),
             columns = modvals), yv(d)),
      fit_out(res))
}
mr_case("metareg_bcg_ablat_year_reml", "bcg", "~ ablat + year", "REML", "z")
mr_case("metareg_bcg_ablat_year_ee", "bcg", "~ ablat + year", "EE", "z")
mr_case("metareg_bcg_ablat_year_dl_knha", "bcg", "~ ablat + year", "DL", "knha")
mr_case("metareg_bcg_ablat_ml", "bcg", "~ ablat", "ML", "z")
mr_case("metareg_bcg_ablat_he", "bcg", "~ ablat", "HE", "z")
mr_case("metareg_bcg_ablat_sj", "bcg", "~ ablat", "SJ", "z")
mr_case("metareg_bcg_ablat_pm", "bcg", "~ ablat", "PM", "t")
mr_case("metareg_bcg_alloc_reml", "bcg", "~ alloc", "REML", "z")
mr_case("metareg_molloy_meanage_quality_reml", "molloy", "~ meanage + quality", "REML", "z")
mr_case("metareg_hackshaw_year_reml", "hack", "~ year", "REML", "z")
mr_case("metareg_normand_n_reml", "norm", "~ n1i", "REML", "knha")

# ---------------------------------------------------------------- robust (cluster-robust)
rob_case <- function(name, dname, cl, method, adjust) {
  d <- get(dname)
  fit_call <- sprintf('rma(yi, vi, data=%s, method="%s", %s)', dname, method, ctrl_txt)
  res <- run(fit_call)
  call <- sprintf('predict(robust(%s, cluster=%s, adjust=%s, clubSandwich=FALSE))', fit_call,
                  cl, if (adjust) "TRUE" else "FALSE")
  rb <- robust(res, cluster = d[[cl]], adjust = adjust, clubSandwich = FALSE)
  pr <- predict(rb)
  add(name, call,
      c(list(data = data_calls[[dname]], cluster_column = cl, cluster = arr(d[[cl]]),
             method = method, adjust = adjust), yv(d)),
      list(beta = c(rb$beta), se = rb$se, tval = rb$zval, pval = rb$pval, ci_lb = rb$ci.lb,
           ci_ub = rb$ci.ub, dfs = rb$dfs, n_clusters = rb$n, tau2 = rb$tau2,
           QM = rb$QM, QMp = rb$QMp, vbest = rb$vbest, se_model = res$se,
           pi_lb = pr$pi.lb, pi_ub = pr$pi.ub))
}
rob_case("robust_konstantopoulos_district_reml", "kon", "district", "REML", TRUE)
rob_case("robust_konstantopoulos_district_reml_noadj", "kon", "district", "REML", FALSE)
rob_case("robust_konstantopoulos_district_dl", "kon", "district", "DL", TRUE)
rob_case("robust_assink_study_reml", "assink", "study", "REML", TRUE)

out <- list(
  meta = list(
    R_version = R.version.string,
    metafor = as.character(packageVersion("metafor")),
    metadat = as.character(packageVersion("metadat")),
    control = ctrl_txt,
    generated_by = "Rscript tests/reference/bias.R",
    datasets = data_calls
  ),
  cases = cases
)
writeLines(to_json(out), "tests/reference/bias_fixtures.json")
cat("wrote", length(cases), "cases\n")
