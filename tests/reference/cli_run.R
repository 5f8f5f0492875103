# Reference values for tests/test_config.py: `evigap run --config` on dat.bcg with options.
# Run from the repository root:  Rscript tests/reference/cli_run.R
# Writes tests/reference/cli_run_fixtures.json (numbers with sprintf("%.17g")).
suppressPackageStartupMessages({library(metafor); library(metadat); library(jsonlite)})
ctrl <- list(threshold = 1e-12, tol = 1e-13, maxiter = 1e5, stepadj = 0.5)
num <- function(x) if (is.na(x)) "null" else sprintf("%.17g", x)
d <- escalc(measure = "OR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
cases <- list()
add_case <- function(name, call) {
  fit <- eval(parse(text = call))
  cases[[name]] <<- sprintf(
    '{"call": %s, "k": %d, "estimate": %s, "se": %s, "ci_low": %s, "ci_high": %s, "tau2": %s, "i2": %s, "q": %s}',
    toJSON(call, auto_unbox = TRUE), fit$k, num(fit$b[1]), num(fit$se), num(fit$ci.lb),
    num(fit$ci.ub), num(fit$tau2), num(fit$I2), num(fit$QE))
}
add_case("all_OR_DL_knha", 'rma(yi, vi, data = d, method = "DL", test = "knha")')
add_case("random_OR_DL_knha", 'rma(yi, vi, data = d, method = "DL", test = "knha", subset = alloc == "random")')
add_case("alternate_OR_DL_knha", 'rma(yi, vi, data = d, method = "DL", test = "knha", subset = alloc == "alternate")')
add_case("systematic_OR_DL_knha", 'rma(yi, vi, data = d, method = "DL", test = "knha", subset = alloc == "systematic")')
# test for subgroup differences with separate tau2: fixed-effect model of the subgroup estimates
sub <- do.call(rbind, lapply(split(d, d$alloc), function(s) {
  f <- rma(yi, vi, data = s, method = "DL", test = "knha"); data.frame(b = f$b[1], se = f$se)}))
qb <- rma(b, sei = se, data = sub, method = "FE")
between <- sprintf('{"call": %s, "stat": %s, "df": %d, "p_value": %s}',
  toJSON('rma(b, sei = se, method = "FE") on the per-alloc DL/knha fits', auto_unbox = TRUE),
  num(qb$QE), qb$k - 1L, num(qb$QEp))
mixed <- rma(yi, vi, mods = ~ factor(alloc), data = d, method = "DL", test = "knha")
moderator <- sprintf('{"call": %s, "stat": %s, "df": %d, "df2": %d, "p_value": %s, "tau2": %s}',
  toJSON('rma(yi, vi, mods = ~ factor(alloc), data = d, method = "DL", test = "knha")', auto_unbox = TRUE),
  num(mixed$QM), mixed$QMdf[1], mixed$QMdf[2], num(mixed$QMp), num(mixed$tau2))
meta <- sprintf('{"R": %s, "metafor": %s, "metadat": %s, "escalc": %s}',
  toJSON(R.version.string, auto_unbox = TRUE), toJSON(as.character(packageVersion("metafor")), auto_unbox = TRUE),
  toJSON(as.character(packageVersion("metadat")), auto_unbox = TRUE),
  toJSON('escalc(measure = "OR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)', auto_unbox = TRUE))
body <- paste0('{"meta": ', meta, ', "pooled": {',
  paste0('"', names(cases), '": ', unlist(cases), collapse = ", "),
  '}, "between": ', between, ', "moderator": ', moderator, '}')
writeLines(body, "tests/reference/cli_run_fixtures.json")
