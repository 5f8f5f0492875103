# Reference values for evidence.pool_groups() on a real dataset with many groups (issue 14
# item 7: the vectorised engine equals metafor group by group).
#
# Run from the repository root:   Rscript tests/reference/pool_groups_many.R
# Writes tests/reference/pool_groups_many_fixtures.json (numbers with %.17g).
#
# dat.mccurdy2020 (metadat; McCurdy et al. 2020, the generation effect: 1653 effect sizes from
# 126 articles) is pooled per article with rma() (REML, full-precision control) for every
# article with k >= 2, with test = "z" and test = "knha", plus confint() (Q-profile tau2 CI)
# and predict() (prediction interval). The data (article, yi, vi) are stored beside the
# results, so the tests need neither R nor metadat.
suppressPackageStartupMessages({ library(metafor); library(metadat) })
source(file.path("tests", "reference", "_json.R"))
out_path <- file.path("tests", "reference", "pool_groups_many_fixtures.json")

dat <- dat.mccurdy2020
ctrl_txt <- "list(threshold=1e-12, tol=1e-13, maxiter=1e5, stepadj=0.5)"
ctrl <- eval(parse(text = ctrl_txt))
cases <- list()
for (test in c("z", "knha")) {
  call <- sprintf('rma(yi, vi, method="REML", test="%s", data=sub, control=%s)', test, ctrl_txt)
  rows <- list()
  for (a in sort(unique(dat$article))) {
    sub <- dat[dat$article == a, ]
    if (nrow(sub) < 2) next
    fit <- eval(parse(text = call))
    ci <- confint(fit, control = list(tol = 1e-13))$random
    pr <- predict(fit)
    rows[[length(rows) + 1]] <- c(article = a, k = fit$k, beta = fit$b[1], se = fit$se,
      pval = fit$pval, ci.lb = fit$ci.lb, ci.ub = fit$ci.ub, tau2 = fit$tau2,
      tau2.lb = ci["tau^2", "ci.lb"], tau2.ub = ci["tau^2", "ci.ub"], I2 = fit$I2,
      H2 = fit$H2, QE = fit$QE, QEp = fit$QEp, pi.lb = pr$pi.lb, pi.ub = pr$pi.ub)
  }
  tab <- do.call(rbind, rows)
  cases[[test]] <- c(list(call = call,
    confint = "confint(fit, control = list(tol = 1e-13))", predict = "predict(fit)"),
    lapply(as.data.frame(tab), jarr))
}
out <- list(
  generated_by = "tests/reference/pool_groups_many.R",
  r_version = R.version.string,
  metafor_version = as.character(packageVersion("metafor")),
  metadat_version = as.character(packageVersion("metadat")),
  dataset = "dat.mccurdy2020",
  control = ctrl_txt,
  data = list(article = jarr(dat$article), yi = jarr(dat$yi), vi = jarr(dat$vi)),
  cases = cases
)
writeLines(to_json(out), out_path)
cat("wrote", out_path, "\n")
