# Reference values for evidence.pool() / evidence.pool_groups(), computed with R metafor.
#
# Run from the repository root:   Rscript tests/reference/pooling.R
# Writes tests/reference/pooling_fixtures.json (numbers with %.17g, R never needed at test time).
#
# For every dataset the effect sizes are computed here with escalc() and stored next to the
# results, so the Python tests need no effect-size code. Every (dataset x method x test) case
# stores the exact R calls used for rma(), confint() and predict().

suppressPackageStartupMessages({
  library(metafor)
  library(metadat)
})

ctrl_txt <- "list(threshold=1e-12, tol=1e-13, maxiter=1e5, stepadj=0.5)"
methods <- c("FE", "DL", "REML", "PM", "HE", "SJ", "ML")
tests <- c("z", "knha", "adhoc")

# ---- datasets: name -> list(call = escalc call as text) --------------------------------------
ds <- list(
  bcg_rr = 'escalc(measure="RR", ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg)',
  bcg_or_k2 = 'escalc(measure="OR", ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg[1:2, ])',
  normand1999_smd = 'escalc(measure="SMD", m1i=m1i, sd1i=sd1i, n1i=n1i, m2i=m2i, sd2i=sd2i, n2i=n2i, data=dat.normand1999)',
  normand1999_md = 'escalc(measure="MD", m1i=m1i, sd1i=sd1i, n1i=n1i, m2i=m2i, sd2i=sd2i, n2i=n2i, data=dat.normand1999)',
  hackshaw1998_or = 'escalc(measure="GEN", yi=yi, vi=vi, data=dat.hackshaw1998)',
  raudenbush1985_smd = 'escalc(measure="GEN", yi=yi, vi=vi, data=dat.raudenbush1985)',
  molloy2014_zcor = 'escalc(measure="ZCOR", ri=ri, ni=ni, data=dat.molloy2014)',
  pritz1997_plo = 'escalc(measure="PLO", xi=xi, ni=ni, data=dat.pritz1997)',
  li2007_or = 'escalc(measure="OR", ai=ai, n1i=n1i, ci=ci, n2i=n2i, data=dat.li2007)',
  yusuf1985_t9_or = 'escalc(measure="OR", ai=ai, n1i=n1i, ci=ci, n2i=n2i, data=dat.yusuf1985[dat.yusuf1985$table == "9", ])',
  linde2005_rr = 'escalc(measure="RR", ai=ai, n1i=n1i, ci=ci, n2i=n2i, data=dat.linde2005)',
  collins1985b_pre_or = 'escalc(measure="OR", ai=pre.xti, n1i=pre.nti, ci=pre.xci, n2i=pre.nci, data=dat.collins1985b)',
  hart1999_irr = 'escalc(measure="IRR", x1i=x1i, t1i=t1i, x2i=x2i, t2i=t2i, data=dat.hart1999)',
  konstantopoulos2011_smd = 'escalc(measure="GEN", yi=yi, vi=vi, data=dat.konstantopoulos2011)',
  curtis1998_rom = 'escalc(measure="ROM", m1i=m1i, sd1i=sd1i, n1i=n1i, m2i=m2i, sd2i=sd2i, n2i=n2i, data=dat.curtis1998)',
  nielweise2007_or_drop00 = 'escalc(measure="OR", ai=ai, n1i=n1i, ci=ci, n2i=n2i, drop00=TRUE, data=dat.nielweise2007)',
  hine1989_rd = 'escalc(measure="RD", ai=ai, n1i=n1i, ci=ci, n2i=n2i, data=dat.hine1989)',
  # synthetic edge cases (documented here; computed by R like the others)
  identical_k5 = 'escalc(measure="GEN", yi=rep(0.3, 5), vi=rep(0.04, 5))',
  bcg_rr_tiny = 'within(escalc(measure="RR", ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg), {yi <- yi * 1e-3; vi <- vi * 1e-6})',
  bcg_rr_huge = 'within(escalc(measure="RR", ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg), {yi <- yi * 1e3; vi <- vi * 1e6})'
)
ds_source <- c(
  bcg_rr = "metadat dat.bcg", bcg_or_k2 = "metadat dat.bcg (first 2 trials)",
  normand1999_smd = "metadat dat.normand1999", normand1999_md = "metadat dat.normand1999",
  hackshaw1998_or = "metadat dat.hackshaw1998 (log OR as stored)",
  raudenbush1985_smd = "metadat dat.raudenbush1985 (as stored)",
  molloy2014_zcor = "metadat dat.molloy2014", pritz1997_plo = "metadat dat.pritz1997",
  li2007_or = "metadat dat.li2007", yusuf1985_t9_or = "metadat dat.yusuf1985, table 9",
  linde2005_rr = "metadat dat.linde2005", collins1985b_pre_or = "metadat dat.collins1985b (pre-eclampsia)",
  hart1999_irr = "metadat dat.hart1999",
  konstantopoulos2011_smd = "metadat dat.konstantopoulos2011 (multilevel structure ignored)",
  curtis1998_rom = "metadat dat.curtis1998", nielweise2007_or_drop00 = "metadat dat.nielweise2007 (double-zero study -> NA)",
  hine1989_rd = "metadat dat.hine1989 (tau2 on the boundary 0)",
  identical_k5 = "synthetic: 5 identical studies", bcg_rr_tiny = "dat.bcg RR scaled: yi*1e-3, vi*1e-6",
  bcg_rr_huge = "dat.bcg RR scaled: yi*1e3, vi*1e6"
)
# Fisher-scoring threshold is absolute in tau2: scale it for the tiny-variance case.
threshold_for <- function(name) if (name == "bcg_rr_tiny") "1e-18" else "1e-12"

num <- function(x) {
  x <- as.numeric(x)
  if (length(x) == 0L) return("null")
  out <- ifelse(is.na(x) & !is.nan(x), '"NA"',
         ifelse(is.nan(x), '"NaN"',
         ifelse(is.infinite(x), ifelse(x > 0, '"Inf"', '"-Inf"'), sprintf("%.17g", x))))
  if (length(out) == 1L) out else paste0("[", paste(out, collapse = ", "), "]")
}
str <- function(s) paste0('"', gsub('"', '\\\\"', s), '"')
obj <- function(fields) paste0("{", paste(paste0(str(names(fields)), ": ", unlist(fields)), collapse = ", "), "}")

ds_json <- character(0)
case_json <- character(0)
for (name in names(ds)) {
  dat <- suppressWarnings(eval(parse(text = ds[[name]])))
  yi <- as.numeric(dat$yi)
  vi <- as.numeric(dat$vi)
  ds_json <- c(ds_json, paste0(str(name), ": ", obj(list(
    source = str(ds_source[[name]]), escalc_call = str(ds[[name]]),
    yi = num(yi), vi = num(vi)))))
  ctrl <- sub("1e-12", threshold_for(name), ctrl_txt, fixed = TRUE)
  ok <- !is.na(yi) & !is.na(vi)
  # Q-profile search interval: wide enough to always bracket the upper bound (same rule as
  # evidence.pool), so R's answer is the root, never the interval end.
  ss <- sum((yi[ok] - mean(yi[ok]))^2)
  for (m in methods) for (t in tests) {
    call <- sprintf('rma(yi, vi, method="%s", test="%s", control=%s)', m, t, ctrl)
    res <- suppressWarnings(eval(parse(text = call)))
    cl <- qchisq(0.025, res$k - 1)
    tau2_max <- max(100, 10 * res$tau2, 2 * ss / cl)
    ci_call <- sprintf('confint(res, type="QP", control=list(tol=1e-13, maxiter=1e5, tau2.max=%s))',
                       sprintf("%.17g", tau2_max))
    ci <- if (m == "FE") NULL else suppressWarnings(eval(parse(text = ci_call)))
    tau2_ci <- if (is.null(ci)) c(NA, NA) else ci$random["tau^2", c("ci.lb", "ci.ub")]
    pr <- predict(res)
    pi <- if (is.null(pr$pi.lb)) c(NA, NA) else c(pr$pi.lb, pr$pi.ub)
    case_json <- c(case_json, obj(list(
      dataset = str(name), method = str(m), test = str(t),
      call = str(call), confint_call = str(if (m == "FE") "none (FE model)" else ci_call),
      predict_call = str("predict(res)"),
      k = num(res$k), estimate = num(res$beta[1]), se = num(res$se), stat = num(res$zval),
      pval = num(res$pval), ci_lb = num(res$ci.lb), ci_ub = num(res$ci.ub),
      tau2 = num(res$tau2), QE = num(res$QE), QEp = num(res$QEp), I2 = num(res$I2),
      H2 = num(res$H2), tau2_ci_lb = num(tau2_ci[1]), tau2_ci_ub = num(tau2_ci[2]),
      pi_lb = num(pi[1]), pi_ub = num(pi[2]))))
  }
}

out <- paste0("{\n",
  '"generated_by": "tests/reference/pooling.R",\n',
  '"r_version": ', str(R.version.string), ",\n",
  '"metafor_version": ', str(as.character(packageVersion("metafor"))), ",\n",
  '"metadat_version": ', str(as.character(packageVersion("metadat"))), ",\n",
  '"control": ', str(ctrl_txt), ",\n",
  '"level": 0.95,\n',
  '"datasets": {\n', paste(ds_json, collapse = ",\n"), "\n},\n",
  '"cases": [\n', paste(case_json, collapse = ",\n"), "\n]\n}\n")
writeLines(out, "tests/reference/pooling_fixtures.json")
cat("wrote", length(case_json), "cases for", length(ds), "datasets\n")
