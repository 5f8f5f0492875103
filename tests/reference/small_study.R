# Reference values for evidence/small_study.py (regression tests for small-study effects).
#
# Writes tests/reference/small_study_fixtures.json (every number as %.17g) from R metafor
# regtest(..., model = "lm", predictor = ...) on real metadat datasets.  Run from the
# repository root:
#
#     Rscript tests/reference/small_study.R
#
# Cases: Egger (predictor "sei"), Peters (predictor "ninv", Peters et al. JAMA 2006;295:676),
# the sample-size test for SMDs (predictor "sqrtninv", Zwetsloot et al. eLife 2017;6:e24260),
# and Harbord's score test (Harbord et al. Stat Med 2006;25:3443) computed as regtest on
# yi = Z/V, vi = 1/V with predictor "sei" (Z, V: efficient score and its variance of the log
# odds ratio), which is the same regression as Z/sqrt(V) on sqrt(V).
# The closed-form "lm" fit is not iterative, so no control settings are needed.

suppressPackageStartupMessages(library(metafor))

num1 <- function(x) {
  if (is.na(x)) return("null")
  if (is.character(x)) return(paste0("\"", gsub("\"", "\\\\\"", x), "\""))
  sprintf("%.17g", x)
}
vec <- function(x) paste0("[", paste(vapply(x, num1, ""), collapse = ", "), "]")

cases <- character(0)
add <- function(name, call, yi, vi, ni, res) {
  fields <- c(
    sprintf("\"call\": %s", num1(call)),
    sprintf("\"yi\": %s", vec(yi)), sprintf("\"vi\": %s", vec(vi)),
    sprintf("\"ni\": %s", if (is.null(ni)) "null" else vec(ni)),
    sprintf("\"predictor\": %s", num1(res$predictor)),
    sprintf("\"zval\": %s", num1(res$zval)), sprintf("\"pval\": %s", num1(res$pval)),
    sprintf("\"dfs\": %s", num1(res$dfs)), sprintf("\"est\": %s", num1(res$est)),
    sprintf("\"ci_lb\": %s", num1(res$ci.lb)), sprintf("\"ci_ub\": %s", num1(res$ci.ub)),
    sprintf("\"slope\": %s", num1(coef(res$fit)[2])),
    sprintf("\"slope_se\": %s", num1(sqrt(diag(vcov(res$fit)))[2]))
  )
  cases <<- c(cases, sprintf("    \"%s\": {\n      %s\n    }", name,
                              paste(fields, collapse = ",\n      ")))
}

bcg <- escalc(measure = "OR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
bcg$ni <- with(dat.bcg, tpos + tneg + cpos + cneg)
eg <- escalc(measure = "OR", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat.egger2001,
             subset = -16)
eg$ni <- eg$n1i + eg$n2i
norm <- escalc(measure = "SMD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i,
               n2i = n2i, data = dat.normand1999)
norm$ni <- norm$n1i + norm$n2i
bd <- dat.bangertdrowns2004

for (p in c("sei", "ninv", "sqrtninv")) {
  r <- regtest(bcg$yi, bcg$vi, ni = bcg$ni, model = "lm", predictor = p)
  add(paste0("bcg_or_", p), sprintf('regtest(yi, vi, ni=ni, model="lm", predictor="%s") on escalc("OR", dat.bcg)', p),
      bcg$yi, bcg$vi, bcg$ni, r)
  r <- regtest(eg$yi, eg$vi, ni = eg$ni, model = "lm", predictor = p)
  add(paste0("egger2001_or_", p), sprintf('regtest(yi, vi, ni=ni, model="lm", predictor="%s") on escalc("OR", dat.egger2001, subset=-16)', p),
      eg$yi, eg$vi, eg$ni, r)
}
for (p in c("sei", "sqrtninv", "ninv")) {
  r <- regtest(norm$yi, norm$vi, ni = norm$ni, model = "lm", predictor = p)
  add(paste0("normand_smd_", p), sprintf('regtest(yi, vi, ni=ni, model="lm", predictor="%s") on escalc("SMD", dat.normand1999)', p),
      norm$yi, norm$vi, norm$ni, r)
  ok <- !is.na(bd$ni)
  r <- regtest(bd$yi[ok], bd$vi[ok], ni = bd$ni[ok], model = "lm", predictor = p)
  add(paste0("bangertdrowns_smd_", p), sprintf('regtest(yi, vi, ni=ni, model="lm", predictor="%s") on dat.bangertdrowns2004 (rows with ni)', p),
      bd$yi[ok], bd$vi[ok], bd$ni[ok], r)
}
# Harbord: score Z and variance V of the log odds ratio per 2x2 table
harb <- function(a, b, c, d) {
  a <- as.numeric(a); b <- as.numeric(b); c <- as.numeric(c); d <- as.numeric(d)
  n1 <- a + b; n2 <- c + d; m1 <- a + c; m0 <- b + d; N <- n1 + n2
  Z <- a - n1 * m1 / N
  V <- n1 * n2 * m1 * m0 / (N^2 * (N - 1))
  list(Z = Z, V = V)
}
h <- with(dat.bcg, harb(tpos, tneg, cpos, cneg))
r <- regtest(h$Z / h$V, 1 / h$V, model = "lm", predictor = "sei")
add("bcg_harbord", 'Z, V from dat.bcg (tpos, tneg, cpos, cneg); regtest(Z/V, 1/V, model="lm", predictor="sei")',
    h$Z / h$V, 1 / h$V, NULL, r)
h <- with(eg, harb(ai, n1i - ai, ci, n2i - ci))
r <- regtest(h$Z / h$V, 1 / h$V, model = "lm", predictor = "sei")
add("egger2001_harbord", 'Z, V from dat.egger2001[-16,] (ai, n1i-ai, ci, n2i-ci); regtest(Z/V, 1/V, model="lm", predictor="sei")',
    h$Z / h$V, 1 / h$V, NULL, r)

meta <- sprintf(paste0("  \"meta\": {\n    \"R\": %s,\n    \"metafor\": %s,\n    \"metadat\": %s,\n",
                       "    \"generated\": %s\n  }"),
                num1(R.version.string), num1(as.character(packageVersion("metafor"))),
                num1(as.character(packageVersion("metadat"))), num1(format(Sys.time(), tz = "UTC", usetz = TRUE)))
writeLines(c("{", paste0(meta, ","), "  \"cases\": {", paste(cases, collapse = ",\n"), "  }", "}"),
           "tests/reference/small_study_fixtures.json")
