# Reference values for evidence.cumulative(), evidence.influence(), evidence.baujat_data(),
# evidence.ranktest() and evidence.fail_safe_n().
#
# Regenerate from the repository root with:
#     Rscript tests/reference/diagnostics.R
# It writes tests/reference/diagnostics_fixtures.json.  Every rma() fit uses the control list
# below (cumul() and influence() refit with the model's control).  Each case stores the R
# call, the input yi/vi (from escalc() or as shipped) and metafor's output columns.
suppressPackageStartupMessages({ library(metafor); library(metadat) })
source(file.path("tests", "reference", "_json.R"))
out_path <- file.path("tests", "reference", "diagnostics_fixtures.json")
ctrl <- list(threshold = 1e-12, tol = 1e-13, maxiter = 1e5, stepadj = 0.5)

datasets <- list(
  bcg = "escalc(measure = 'RR', ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)",
  molloy2014 = "escalc(measure = 'ZCOR', ri = ri, ni = ni, data = dat.molloy2014)",
  normand1999 = "escalc(measure = 'SMD', m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i, n2i = n2i, data = dat.normand1999)",
  hackshaw1998 = "dat.hackshaw1998",
  li2007 = "escalc(measure = 'OR', ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat.li2007)"
)
years <- list(bcg = "year", molloy2014 = "year", normand1999 = NULL, hackshaw1998 = "year",
              li2007 = "year")
get_es <- function(ds) eval(parse(text = datasets[[ds]]))
input_of <- function(ds) {
  es <- get_es(ds)
  out <- list(yi = jarr(as.numeric(es$yi)), vi = jarr(as.numeric(es$vi)))
  if (!is.null(years[[ds]])) out$year <- jarr(es[[years[[ds]]]])
  out
}

# ------------------------------------------------------------------ cumul
cumul_cases <- list()
add_cumul <- function(name, ds, method, test, order_expr) {
  es <- get_es(ds)
  res <- rma(yi, vi, data = es, method = method, test = test, control = ctrl)
  call <- if (is.null(order_expr)) "cumul(res)" else sprintf("cumul(res, order = %s)", order_expr)
  cu <- suppressWarnings(eval(parse(text = call)))
  ord <- if (is.null(order_expr)) seq_len(nrow(es)) else order(eval(parse(text = order_expr), es))
  cumul_cases[[name]] <<- list(
    dataset = ds, escalc = datasets[[ds]],
    call = sprintf("res <- rma(yi, vi, data = es, method = '%s', test = '%s', control = ctrl); %s",
                   method, test, call),
    args = list(method = method, test = test, order = if (is.null(order_expr)) NA else order_expr),
    input = input_of(ds), row_order = jarr(ord),
    expected = list(estimate = jarr(cu$estimate), se = jarr(cu$se), pval = jarr(cu$pvals),
                    ci_low = jarr(cu$ci.lb), ci_high = jarr(cu$ci.ub), q = jarr(cu$Q),
                    q_p = jarr(cu$Qp), tau2 = jarr(if (is.null(cu$tau2)) rep(0, length(cu$Q)) else cu$tau2),
                    i2 = jarr(cu$I2), h2 = jarr(cu$H2)))
}
add_cumul("bcg_REML_year", "bcg", "REML", "z", "year")
add_cumul("bcg_DL_knha_year", "bcg", "DL", "knha", "year")
add_cumul("bcg_EE_input", "bcg", "EE", "z", NULL)
add_cumul("molloy2014_REML_year", "molloy2014", "REML", "z", "year")
add_cumul("normand1999_PM_input", "normand1999", "PM", "z", NULL)
add_cumul("hackshaw1998_DL_year", "hackshaw1998", "DL", "z", "year")
add_cumul("li2007_REML_year", "li2007", "REML", "z", "year")
add_cumul("bcg_REML_vi", "bcg", "REML", "z", "vi")

# ------------------------------------------------------------------ influence + baujat
infl_cases <- list()
add_infl <- function(name, ds, method, test) {
  es <- get_es(ds)
  res <- rma(yi, vi, data = es, method = method, test = test, control = ctrl)
  inf <- influence(res)
  pdf(NULL); bj <- baujat(res); invisible(dev.off())
  infl_cases[[name]] <<- list(
    dataset = ds, escalc = datasets[[ds]],
    call = sprintf("res <- rma(yi, vi, data = es, method = '%s', test = '%s', control = ctrl); influence(res); baujat(res)", method, test),
    args = list(method = method, test = test), input = input_of(ds),
    expected = list(rstudent = jarr(inf$inf$rstudent), dffits = jarr(inf$inf$dffits),
                    cook_d = jarr(inf$inf$cook.d), cov_r = jarr(inf$inf$cov.r),
                    tau2_del = jarr(inf$inf$tau2.del), qe_del = jarr(inf$inf$QE.del),
                    hat = jarr(inf$inf$hat), weight = jarr(inf$inf$weight),
                    dfbs = jarr(inf$dfbs$intrcpt), inf = jarr(inf$is.infl),
                    baujat_x = jarr(bj$x), baujat_y = jarr(bj$y)))
}
add_infl("bcg_REML", "bcg", "REML", "z")
add_infl("bcg_DL_knha", "bcg", "DL", "knha")
add_infl("bcg_EE", "bcg", "EE", "z")
add_infl("molloy2014_REML", "molloy2014", "REML", "z")
add_infl("normand1999_REML", "normand1999", "REML", "z")
add_infl("hackshaw1998_ML", "hackshaw1998", "ML", "z")
add_infl("li2007_PM_adhoc", "li2007", "PM", "adhoc")

# ------------------------------------------------------------------ ranktest
rank_cases <- list()
for (ds in names(datasets)) {
  es <- get_es(ds)
  rt <- ranktest(es$yi, es$vi)
  rank_cases[[ds]] <- list(dataset = ds, escalc = datasets[[ds]],
                           call = "ranktest(es$yi, es$vi)", input = input_of(ds),
                           expected = list(tau = as.numeric(rt$tau), pval = rt$pval))
}
es <- get_es("bcg")
rt <- ranktest(es$yi, es$vi, exact = FALSE)
rank_cases[["bcg_normal"]] <- list(dataset = "bcg", escalc = datasets[["bcg"]],
  call = "ranktest(es$yi, es$vi, exact = FALSE)", input = input_of("bcg"),
  args = list(exact = FALSE), expected = list(tau = as.numeric(rt$tau), pval = rt$pval))

# ------------------------------------------------------------------ fsn
fsn_cases <- list()
add_fsn <- function(name, ds, call, args) {
  es <- get_es(ds)
  f <- eval(parse(text = call))
  fsn_cases[[name]] <<- list(dataset = ds, escalc = datasets[[ds]], call = call, args = args,
                             input = input_of(ds),
                             expected = list(fsnum = f$fsnum, alpha = f$alpha, pval = f$pval,
                                             meanes = f$meanes, target = f$target))
}
for (ds in c("bcg", "molloy2014", "normand1999", "hackshaw1998", "li2007")) {
  add_fsn(paste0(ds, "_Rosenthal"), ds, "fsn(yi, vi, data = es)", list(type = "Rosenthal"))
  add_fsn(paste0(ds, "_Orwin"), ds, "fsn(yi, vi, data = es, type = 'Orwin')", list(type = "Orwin"))
  add_fsn(paste0(ds, "_Orwin_weighted"), ds, "fsn(yi, vi, data = es, type = 'Orwin', weighted = TRUE)",
          list(type = "Orwin", weighted = TRUE))
  add_fsn(paste0(ds, "_Rosenberg"), ds, "fsn(yi, vi, data = es, type = 'Rosenberg')",
          list(type = "Rosenberg"))
}
add_fsn("bcg_Orwin_target", "bcg", "fsn(yi, vi, data = es, type = 'Orwin', target = log(0.9))",
        list(type = "Orwin", target = log(0.9)))
add_fsn("bcg_Rosenthal_alpha01", "bcg", "fsn(yi, vi, data = es, alpha = 0.01)",
        list(type = "Rosenthal", alpha = 0.01))
add_fsn("molloy2014_Rosenberg_alpha10", "molloy2014", "fsn(yi, vi, data = es, type = 'Rosenberg', alpha = 0.10)",
        list(type = "Rosenberg", alpha = 0.10))

write_fixture(list(meta = c(meta_info(), list(control = ctrl)), cumul = cumul_cases,
                   influence = infl_cases, ranktest = rank_cases, fsn = fsn_cases), out_path)
