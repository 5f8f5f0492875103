# Reference values for continuous arms reported with an SE, a CI or a median and quartiles
# (evidence.study_effects; tests/test_study_effects.py).  Run from the repository root:
#   Rscript tests/reference/continuous_arms.R
# Data: dat.normand1999 (metadat; 9 stroke-unit trials, length of stay, mean/SD/n per arm).
# From each arm's real mean, SD and n the script derives what a paper might print instead of
# the SD: SE = SD / sqrt(n); a CI of the mean at level L with the t quantile (Cochrane Handbook
# 6.5.2.2): mean +/- qt((1 + L) / 2, n - 1) * SE; quartiles of a normal with that mean and SD.
# metafor::escalc() on the real SDs gives the yi/vi that study_effects() must reproduce from
# the SE and CI forms.  metafor 3.8 has no conv.fivenum(), so the median/IQR case is computed
# here from Wan et al. 2014 (BMC Med Res Methodol 14:135, scenario C3): mean = (q1 + m + q3)/3,
# SD = (q3 - q1) / (2 * qnorm((0.75 n - 0.125) / (n + 0.25))), then escalc() on those.
suppressMessages(library(metafor))
dat <- metadat::dat.normand1999
num <- function(x) if (length(x) == 0) "[]" else
  paste0("[", paste(ifelse(is.na(x), "null", sprintf("%.17g", x)), collapse = ","), "]")
level <- rep(c(0.95, 0.9, 0.99), length.out = nrow(dat))
se1 <- dat$sd1i / sqrt(dat$n1i); se2 <- dat$sd2i / sqrt(dat$n2i)
t1 <- qt((1 + level) / 2, dat$n1i - 1); t2 <- qt((1 + level) / 2, dat$n2i - 1)
z <- qnorm(0.75)
q1_1 <- dat$m1i - z * dat$sd1i; q3_1 <- dat$m1i + z * dat$sd1i
q1_2 <- dat$m2i - z * dat$sd2i; q3_2 <- dat$m2i + z * dat$sd2i
wan_mean <- function(q1, m, q3) (q1 + m + q3) / 3
wan_sd <- function(q1, q3, n) (q3 - q1) / (2 * qnorm((0.75 * n - 0.125) / (n + 0.25)))
wm1 <- wan_mean(q1_1, dat$m1i, q3_1); ws1 <- wan_sd(q1_1, q3_1, dat$n1i)
wm2 <- wan_mean(q1_2, dat$m2i, q3_2); ws2 <- wan_sd(q1_2, q3_2, dat$n2i)
cases <- c()
for (measure in c("MD", "SMD", "ROM")) {
  call <- sprintf('escalc("%s", m1i=m1i, sd1i=sd1i, n1i=n1i, m2i=m2i, sd2i=sd2i, n2i=n2i, data=dat)', measure)
  es <- eval(parse(text = call))
  callw <- sprintf('escalc("%s", m1i=wm1, sd1i=ws1, n1i=n1i, m2i=wm2, sd2i=ws2, n2i=n2i, data=dat)', measure)
  ew <- eval(parse(text = callw))
  cases <- c(cases, sprintf(
    '"%s": {"call": %s, "call_wan": %s, "yi": %s, "vi": %s, "yi_wan": %s, "vi_wan": %s}',
    measure, jsonlite::toJSON(call, auto_unbox = TRUE), jsonlite::toJSON(callw, auto_unbox = TRUE),
    num(es$yi), num(es$vi), num(ew$yi), num(ew$vi)))
}
data <- sprintf(paste0('{"study": %s, "n1i": %s, "m1i": %s, "sd1i": %s, "n2i": %s, "m2i": %s, ',
  '"sd2i": %s, "se1i": %s, "se2i": %s, "level": %s, "ci_low1": %s, "ci_high1": %s, ',
  '"ci_low2": %s, "ci_high2": %s, "q1_1": %s, "q3_1": %s, "q1_2": %s, "q3_2": %s, ',
  '"wan_m1": %s, "wan_sd1": %s, "wan_m2": %s, "wan_sd2": %s}'),
  jsonlite::toJSON(as.character(dat$study)), num(dat$n1i), num(dat$m1i), num(dat$sd1i),
  num(dat$n2i), num(dat$m2i), num(dat$sd2i), num(se1), num(se2), num(level),
  num(dat$m1i - t1 * se1), num(dat$m1i + t1 * se1), num(dat$m2i - t2 * se2),
  num(dat$m2i + t2 * se2), num(q1_1), num(q3_1), num(q1_2), num(q3_2),
  num(wm1), num(ws1), num(wm2), num(ws2))
meta <- sprintf('{"R": %s, "metafor": "%s", "metadat": "%s", "generated": "%s"}',
  jsonlite::toJSON(R.version.string, auto_unbox = TRUE), packageVersion("metafor"),
  packageVersion("metadat"), format(Sys.time(), "%Y-%m-%d %H:%M:%S %Z"))
out <- sprintf('{"meta": %s, "dataset": "dat.normand1999", "data": %s, "cases": {%s}}\n',
  meta, data, paste(cases, collapse = ", "))
writeLines(out, "tests/reference/continuous_arms_fixtures.json", sep = "")
