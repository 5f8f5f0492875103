# Raw public datasets and their metafor reference values for tests/test_public_datasets.py
# (issue 13 "Done when": four public datasets straight from their published tables through
# `evigap run --config`).
#
# Run from the repository root:  Rscript tests/reference/public_datasets.R
#
# 1. Writes each metadat dataset as the raw table a user would download: R's write.csv
#    (original column names, missing values as NA) into tests/data/public/<name>.csv.
# 2. Computes, from the metadat objects (not from the CSV files), what `evigap run` must report
#    for the body of evidence of each config file tests/data/public/<name>.toml, with
#    control=list(threshold=1e-12, tol=1e-13, maxiter=1e5, stepadj=0.5):
#    - one row in the body: the row's yi, sqrt(vi), z interval;
#    - one row per study: rma(yi, vi, method="REML");
#    - several rows of one study (multi-arm trials, comparisons sharing a control) and at least
#      two studies: robust(rma(yi, vi, method="REML"), cluster=study, clubSandwich=TRUE) (CR2,
#      Satterthwaite df), as grading/body.py pools them; tau2 and I2 of the working model.
#    - RR/OR tables with no event in either arm (double-zero) are left out (escalc drop00=TRUE),
#      as grade() and the forests leave them out (Cochrane Handbook 10.4.4.2).
#    Rows evigap must reject (an arm without SD/SE, without n, or with SE 0) are dropped here by
#    the same rule, and their count is stored so that the test checks rows in = accepted +
#    rejected against an independent count.
# Writes tests/reference/public_datasets_fixtures.json (numbers with sprintf("%.17g")).
suppressPackageStartupMessages({library(metafor); library(metadat); library(clubSandwich)})
source("tests/reference/_json.R")

write.csv(metadat::dat.hartmannboyce2018, "tests/data/public/hartmannboyce2018.csv", row.names = FALSE)
write.csv(metadat::dat.axfors2021, "tests/data/public/axfors2021.csv", row.names = FALSE)
write.csv(metadat::dat.besson2016, "tests/data/public/besson2016.csv", row.names = FALSE)
write.csv(metadat::dat.curtis1998, "tests/data/public/curtis1998.csv", row.names = FALSE)

ctrl <- list(threshold = 1e-12, tol = 1e-13, maxiter = 1e5, stepadj = 0.5)

body <- function(yi, vi, study) {
  k <- length(yi)
  n_studies <- length(unique(study))
  if (k == 1) {
    se <- sqrt(vi)
    z <- qnorm(0.975)
    return(list(k = n_studies, k_records = k, estimate = yi, se = se, ci_low = yi - z * se,
                ci_high = yi + z * se, tau2 = NA, i2 = NA, clustered = FALSE))
  }
  fit <- rma(yi, vi, method = "REML", control = ctrl)
  clustered <- n_studies < k && n_studies >= 2
  r <- if (clustered) robust(fit, cluster = study, clubSandwich = TRUE) else fit
  list(k = n_studies, k_records = k, estimate = as.numeric(r$b), se = r$se, ci_low = r$ci.lb,
       ci_high = r$ci.ub, tau2 = fit$tau2, i2 = fit$I2, clustered = clustered)
}

# helper for the call text stored beside each dataset
pool_call <- paste(
  "one row: yi, sqrt(vi), z interval; one row per study: rma(yi, vi, method='REML',",
  "control=ctrl); several rows of a study: robust(rma(yi, vi, method='REML', control=ctrl),",
  "cluster=study, clubSandwich=TRUE); double-zero tables left out (drop00=TRUE)")

out <- list()

# 1. Hartmann-Boyce 2018: NRT vs control, abstinence at 6+ months, RR; 136 rows, 133 trials.
h <- metadat::dat.hartmannboyce2018
d <- escalc(measure = "RR", ai = x.nrt, n1i = n.nrt, ci = x.ctrl, n2i = n.ctrl, data = h)
b <- body(d$yi, d$vi, d$study)
sub <- do.call(rbind, lapply(unique(d$treatment), function(g) {
  s <- d[d$treatment == g, ]
  f <- if (nrow(s) > 1) rma(yi, vi, data = s, method = "REML", control = ctrl) else
    rma(yi, vi, data = s, method = "FE")
  data.frame(treatment = g, b = as.numeric(f$b), se = f$se)
}))
qb <- rma(b, sei = se, data = sub, method = "FE")
mixed <- rma(yi, vi, mods = ~ factor(treatment), data = d, method = "REML", control = ctrl)
out$hartmannboyce2018 <- list(
  call = paste("escalc('RR', ai=x.nrt, n1i=n.nrt, ci=x.ctrl, n2i=n.ctrl,",
               "data=dat.hartmannboyce2018); cluster=study;", pool_call),
  n_in = nrow(h), n_accepted = nrow(d),
  bodies = list(list(outcome = "abstinence at 6+ months", pooled = b)),
  subgroup_tests = list(
    between = list(call = "rma(b, sei=se, method='FE') over the per-treatment REML fits (FE for one trial)",
                   stat = qb$QE, df = qb$k - 1L, p_value = qb$QEp),
    moderator = list(call = "rma(yi, vi, mods=~factor(treatment), method='REML', control=ctrl)",
                     stat = mixed$QM, df = mixed$QMdf[1], p_value = mixed$QMp,
                     tau2 = mixed$tau2)))

# 2. Axfors 2021: (hydroxy)chloroquine vs control, mortality, OR; 0.5 added to tables with a
# zero cell, double-zero tables left out (drop00=TRUE), as grade() does; k_records counts every
# row of the body (grade()'s k_records: rows with or without a result).
a <- metadat::dat.axfors2021
d <- escalc(measure = "OR", ai = hcq_arm_event, n1i = hcq_arm_total, ci = control_arm_event,
            n2i = control_arm_total, data = a, drop00 = TRUE)
d_all <- d
d <- d[!is.na(d$yi), ]
out$axfors2021 <- list(
  call = paste("escalc('OR', ai=hcq_arm_event, n1i=hcq_arm_total, ci=control_arm_event,",
               "n2i=control_arm_total, data=dat.axfors2021, drop00=TRUE); cluster=acronym;", pool_call),
  n_in = nrow(a), n_accepted = nrow(d_all),
  bodies = list(list(outcome = "all-cause mortality",
                     pooled = modifyList(body(d$yi, d$vi, d$acronym),
                                         list(k_records = nrow(d_all))))))

# 3. Besson 2016: maternal diet and offspring coping styles in rodents, SMD from mean, SE and n
# (SD = SE * sqrt(n)); one body per behavioural measure (column 'measure'); study = Reference.
bs <- metadat::dat.besson2016
ok <- with(bs, !is.na(exp_mean) & !is.na(exp_se) & !is.na(exp_n) & !is.na(con_mean) &
             !is.na(con_se) & !is.na(con_n) & exp_se > 0 & con_se > 0)
bk <- bs[ok, ]
d <- escalc(measure = "SMD", m1i = exp_mean, sd1i = exp_se * sqrt(exp_n), n1i = exp_n,
            m2i = con_mean, sd2i = con_se * sqrt(con_n), n2i = con_n, data = bk)
bodies <- lapply(sort(unique(d$measure)), function(m) {
  s <- d[d$measure == m, ]
  list(outcome = m, pooled = body(as.numeric(s$yi), as.numeric(s$vi), s$Reference))
})
out$besson2016 <- list(
  call = paste("escalc('SMD', m1i=exp_mean, sd1i=exp_se*sqrt(exp_n), n1i=exp_n, m2i=con_mean,",
               "sd2i=con_se*sqrt(con_n), n2i=con_n, data=subset(dat.besson2016, arms complete",
               "and SE > 0)); one body per 'measure'; cluster=Reference;", pool_call),
  n_in = nrow(bs), n_accepted = nrow(bk), bodies = bodies)

# 4. Curtis 1998: elevated CO2 and woody plant biomass, ROM; several rows per paper.
cu <- metadat::dat.curtis1998
d <- escalc(measure = "ROM", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i,
            n2i = n2i, data = cu)
out$curtis1998 <- list(
  call = paste("escalc('ROM', m1i=m1i, sd1i=sd1i, n1i=n1i, m2i=m2i, sd2i=sd2i, n2i=n2i,",
               "data=dat.curtis1998); cluster=paper;", pool_call),
  n_in = nrow(cu), n_accepted = nrow(d),
  bodies = list(list(outcome = "total plant biomass", pooled = body(d$yi, d$vi, d$paper))))

out$versions <- list(R = R.version.string, metafor = as.character(packageVersion("metafor")),
                     metadat = as.character(packageVersion("metadat")))
out$control <- "list(threshold=1e-12, tol=1e-13, maxiter=1e5, stepadj=0.5)"
writeLines(to_json(out), "tests/reference/public_datasets_fixtures.json")
