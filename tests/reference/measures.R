# Reference values for the measures added to evidence.effect_sizes() (COR, ZCOR, IRR, IRD, PR,
# PLN, PLO, PAS, PFT, SMDH, PETO), for pooled proportions (PLO and PFT with back-
# transformation) and for the single-study proportion CIs of evidence.proportion_ci().
#
# Regenerate from the repository root with:
#     Rscript tests/reference/measures.R
# It writes tests/reference/measures_fixtures.json.  `escalc` cases: dataset, the R call,
# the keyword arguments of effect_sizes(), the input columns and escalc()'s yi and vi.
# `pooled` cases: rma() with the control list below and predict(..., transf=) on the
# proportion scale.  `ci` cases: binom.test() (Clopper-Pearson) and prop.test(correct=FALSE)
# (Wilson) intervals from base R's stats package.
suppressPackageStartupMessages({ library(metafor); library(metadat) })
source(file.path("tests", "reference", "_json.R"))
out_path <- file.path("tests", "reference", "measures_fixtures.json")
ctrl <- list(threshold = 1e-12, tol = 1e-13, maxiter = 1e5, stepadj = 0.5)

escalc_cases <- list()
add_escalc <- function(name, dataset, prep, call, cols, args) {
  dat <- eval(parse(text = prep))
  res <- suppressWarnings(eval(parse(text = call)))
  data <- lapply(cols, function(cn) jarr(dat[[cn]]))
  names(data) <- cols
  escalc_cases[[name]] <<- list(dataset = dataset, prep = prep, call = call, args = args,
                                data = data, yi = jarr(as.numeric(res$yi)),
                                vi = jarr(as.numeric(res$vi)))
}
# correlations
add_escalc("molloy2014_COR", "dat.molloy2014", "dat.molloy2014",
           "escalc(measure = 'COR', ri = ri, ni = ni, data = dat)", c("ri", "ni"),
           list(measure = "COR", ri = "ri", ni = "ni"))
add_escalc("molloy2014_ZCOR", "dat.molloy2014", "dat.molloy2014",
           "escalc(measure = 'ZCOR', ri = ri, ni = ni, data = dat)", c("ri", "ni"),
           list(measure = "ZCOR", ri = "ri", ni = "ni"))
add_escalc("mcdaniel1994_ZCOR", "dat.mcdaniel1994", "dat.mcdaniel1994",
           "escalc(measure = 'ZCOR', ri = ri, ni = ni, data = dat)", c("ri", "ni"),
           list(measure = "ZCOR", ri = "ri", ni = "ni"))
add_escalc("mcdaniel1994_COR", "dat.mcdaniel1994", "dat.mcdaniel1994",
           "escalc(measure = 'COR', ri = ri, ni = ni, data = dat)", c("ri", "ni"),
           list(measure = "COR", ri = "ri", ni = "ni"))
# incidence rates
for (m in c("IRR", "IRD")) {
  for (to in c("only0", "all", "none")) {
    add_escalc(sprintf("hart1999_%s_%s", m, to), "dat.hart1999", "dat.hart1999",
               sprintf("escalc(measure = '%s', x1i = x1i, t1i = t1i, x2i = x2i, t2i = t2i, data = dat, to = '%s')", m, to),
               c("x1i", "t1i", "x2i", "t2i"),
               list(measure = m, x1i = "x1i", t1i = "t1i", x2i = "x2i", t2i = "t2i", to = to))
  }
}
# zero events in person-time: the nielweise2007 events over the catheter-days are not in
# metadat, so the zero-count rows come from dat.nielweise2007's counts with n as exposure
niel <- "transform(dat.nielweise2007, x1i = ai, t1i = n1i, x2i = ci, t2i = n2i)"
for (m in c("IRR", "IRD")) {
  for (d00 in c(FALSE, TRUE)) {
    add_escalc(sprintf("nielweise2007_%s_drop00_%s", m, d00), "dat.nielweise2007", niel,
               sprintf("escalc(measure = '%s', x1i = x1i, t1i = t1i, x2i = x2i, t2i = t2i, data = dat, drop00 = %s)", m, d00),
               c("x1i", "t1i", "x2i", "t2i"),
               list(measure = m, x1i = "x1i", t1i = "t1i", x2i = "x2i", t2i = "t2i", drop00 = d00))
  }
}
# single-arm proportions
for (ds in c("dat.pritz1997", "dat.debruin2009")) {
  short <- sub("dat.", "", ds, fixed = TRUE)
  for (m in c("PR", "PLN", "PLO", "PAS", "PFT")) {
    add_escalc(paste0(short, "_", m), ds, ds,
               sprintf("escalc(measure = '%s', xi = xi, ni = ni, data = dat)", m),
               c("xi", "ni"), list(measure = m, xi = "xi", ni = "ni"))
  }
  for (m in c("PLN", "PAS", "PFT")) {
    add_escalc(paste0(short, "_", m, "_add_all"), ds, ds,
               sprintf("escalc(measure = '%s', xi = xi, ni = ni, data = dat, add = 0.5, to = 'all')", m),
               c("xi", "ni"), list(measure = m, xi = "xi", ni = "ni", add = 0.5, to = "all"))
  }
}
# zero events: nielweise2007 treated arms as single-arm proportions
nz <- "transform(dat.nielweise2007, xi = ai, ni = n1i)"
for (m in c("PR", "PLN", "PLO", "PAS", "PFT")) {
  add_escalc(paste0("nielweise2007_arm1_", m), "dat.nielweise2007", nz,
             sprintf("escalc(measure = '%s', xi = xi, ni = ni, data = dat)", m),
             c("xi", "ni"), list(measure = m, xi = "xi", ni = "ni"))
}
# SMDH (heteroscedastic SMD)
for (ds in c("dat.normand1999", "dat.curtis1998")) {
  short <- sub("dat.", "", ds, fixed = TRUE)
  for (vt in c("LS", "LS2")) {
    add_escalc(sprintf("%s_SMDH_%s", short, vt), ds, ds,
               sprintf("escalc(measure = 'SMDH', m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i, n2i = n2i, data = dat, vtype = '%s')", vt),
               c("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i"),
               list(measure = "SMDH", m1i = "m1i", sd1i = "sd1i", n1i = "n1i", m2i = "m2i",
                    sd2i = "sd2i", n2i = "n2i", vtype = vt))
  }
}
# Peto's log odds ratio per study
for (ds in c("dat.nielweise2007", "dat.hahn2001")) {
  short <- sub("dat.", "", ds, fixed = TRUE)
  add_escalc(paste0(short, "_PETO"), ds, ds,
             "escalc(measure = 'PETO', ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat)",
             c("ai", "n1i", "ci", "n2i"),
             list(measure = "PETO", ai = "ai", n1i = "n1i", ci = "ci", n2i = "n2i"))
}

# pooled proportions, back-transformed as metafor's predict(transf=) does
pooled <- list()
add_pooled <- function(name, dataset, prep, measure, method, transf, targs_ni = FALSE) {
  dat <- eval(parse(text = prep))
  esc <- sprintf("escalc(measure = '%s', xi = xi, ni = ni, data = dat)", measure)
  es <- eval(parse(text = esc))
  fit <- sprintf("rma(yi, vi, data = es, method = '%s', control = ctrl)", method)
  res <- eval(parse(text = fit))
  pr <- if (targs_ni) sprintf("predict(res, transf = %s, targs = list(ni = dat$ni))", transf)
        else sprintf("predict(res, transf = %s)", transf)
  p <- eval(parse(text = pr))
  pooled[[name]] <<- list(
    dataset = dataset, prep = prep, call = paste(esc, fit, pr, sep = "; "),
    args = list(measure = measure, method = method),
    data = list(xi = jarr(dat$xi), ni = jarr(dat$ni)),
    expected = list(estimate = as.numeric(res$beta), se = res$se, ci_low = res$ci.lb,
                    ci_high = res$ci.ub, tau2 = res$tau2,
                    pi_low = as.numeric(predict(res)$pi.lb), pi_high = as.numeric(predict(res)$pi.ub),
                    proportion = as.numeric(p$pred), proportion_ci_low = as.numeric(p$ci.lb),
                    proportion_ci_high = as.numeric(p$ci.ub),
                    proportion_pi_low = if (is.null(p$pi.lb)) NA else as.numeric(p$pi.lb),
                    proportion_pi_high = if (is.null(p$pi.ub)) NA else as.numeric(p$pi.ub)))
}
for (ds in c("dat.pritz1997", "dat.debruin2009")) {
  short <- sub("dat.", "", ds, fixed = TRUE)
  for (method in c("REML", "DL", "FE")) {
    add_pooled(sprintf("%s_PLO_%s", short, method), ds, ds, "PLO", method, "transf.ilogit")
    add_pooled(sprintf("%s_PFT_%s", short, method), ds, ds, "PFT", method, "transf.ipft.hm", TRUE)
  }
}
add_pooled("nielweise2007_arm1_PLO_REML", "dat.nielweise2007", nz, "PLO", "REML", "transf.ilogit")
add_pooled("nielweise2007_arm1_PFT_REML", "dat.nielweise2007", nz, "PFT", "REML", "transf.ipft.hm", TRUE)

# single-study CIs (stats::binom.test and stats::prop.test(correct = FALSE))
ci_cases <- list()
xs <- c(0, 1, 5, 14, 27, 28, 0, 3, 50, 100, 0)
ns <- c(28, 28, 28, 28, 28, 28, 1, 7, 100, 100, 500)
for (lev in c(0.95, 0.90)) {
  cp <- t(mapply(function(x, n) binom.test(x, n, conf.level = lev)$conf.int, xs, ns))
  wi <- t(mapply(function(x, n) suppressWarnings(prop.test(x, n, conf.level = lev, correct = FALSE))$conf.int, xs, ns))
  ci_cases[[sprintf("level_%g", lev)]] <- list(
    call = sprintf("binom.test(x, n, conf.level = %g)$conf.int; prop.test(x, n, conf.level = %g, correct = FALSE)$conf.int", lev, lev),
    level = lev, x = jarr(xs), n = jarr(ns),
    exact_low = jarr(cp[, 1]), exact_high = jarr(cp[, 2]),
    wilson_low = jarr(wi[, 1]), wilson_high = jarr(wi[, 2]))
}

write_fixture(list(meta = c(meta_info(), list(control = ctrl)), escalc = escalc_cases,
                   pooled = pooled, ci = ci_cases), out_path)
