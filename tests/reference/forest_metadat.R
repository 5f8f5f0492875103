# Fixtures for tests/test_forest_layout.py: four public metadat datasets of the kinds in issue 13
# (a Cochrane review with 136 trials, COVID-19 RCTs with many double-zero tables, rodent
# comparisons sharing control groups, plant experiments as ratios of means).  For each: the rows
# as the study sheet has them (arm data, yi, vi from escalc) and the REML model metafor fits,
# with control=list(threshold=1e-12, tol=1e-13, maxiter=1e5, stepadj=0.5).
# Run: Rscript tests/reference/forest_metadat.R  (from the repository root)
suppressPackageStartupMessages(library(metafor))
ctrl <- list(threshold=1e-12, tol=1e-13, maxiter=1e5, stepadj=0.5)
calls <- character(0)
summ <- list()
fit <- function(name, dat, call) {
  res <- rma(yi, vi, data=dat, method="REML", control=ctrl)
  calls[[name]] <<- call
  summ[[name]] <<- data.frame(name=name, k=res$k, estimate=as.numeric(res$b), se=res$se,
                              ci_low=res$ci.lb, ci_high=res$ci.ub, tau2=res$tau2, i2=res$I2,
                              q=res$QE, q_p=res$QEp)
  res
}
w <- function(df, file) write.csv(df, file.path("tests/reference", file), row.names=FALSE)

# 1. Hartmann-Boyce 2018 (Cochrane): NRT vs control, abstinence at 6+ months, RR; 136 trials.
d <- escalc(measure="RR", ai=x.nrt, n1i=n.nrt, ci=x.ctrl, n2i=n.ctrl,
            data=metadat::dat.hartmannboyce2018)
res <- fit("hartmannboyce2018", d,
           "rma(yi, vi, data=escalc('RR', ai=x.nrt, n1i=n.nrt, ci=x.ctrl, n2i=n.ctrl, data=dat.hartmannboyce2018), method='REML')")
w(data.frame(study_id=d$study, treatment=d$treatment, events_int=d$x.nrt, n_int=d$n.nrt,
             events_ctrl=d$x.ctrl, n_ctrl=d$n.ctrl, yi=as.numeric(d$yi), vi=as.numeric(d$vi),
             weight=weights(res)), "forest_hartmannboyce2018.csv")
sub <- do.call(rbind, lapply(unique(d$treatment), function(g) {
  r <- if (sum(d$treatment == g) > 1) rma(yi, vi, data=d, subset=treatment==g, method="REML",
                                         control=ctrl) else rma(yi, vi, data=d, subset=treatment==g, method="FE")
  data.frame(treatment=g, k=r$k, estimate=as.numeric(r$b), se=r$se)
}))
fe <- rma(sub$estimate, sei=sub$se, method="FE")
summ[["hartmannboyce2018_subgroups"]] <- data.frame(
  name="hartmannboyce2018_subgroups", k=nrow(sub), estimate=NA, se=NA, ci_low=NA, ci_high=NA,
  tau2=NA, i2=fe$I2, q=fe$QE, q_p=fe$QEp)
calls[["hartmannboyce2018_subgroups"]] <- "rma(est, sei=se, method='FE') over rma(..., subset=treatment==g) per treatment"

# 2. Axfors 2021: (hydroxy)chloroquine vs control, mortality, OR; double-zero trials.  The
# sheet keeps metafor's default yi/vi (0.5 added, drop00=FALSE); the forest leaves the
# double-zero trials out, i.e. metafor escalc(drop00=TRUE).
a <- metadat::dat.axfors2021
d <- escalc(measure="OR", ai=hcq_arm_event, n1i=hcq_arm_total, ci=control_arm_event,
            n2i=control_arm_total, data=a)
d0 <- escalc(measure="OR", ai=hcq_arm_event, n1i=hcq_arm_total, ci=control_arm_event,
             n2i=control_arm_total, data=a, drop00=TRUE)
invisible(fit("axfors2021_drop00", d0,
    "rma(yi, vi, data=escalc('OR', ai=hcq_arm_event, n1i=hcq_arm_total, ci=control_arm_event, n2i=control_arm_total, data=dat.axfors2021, drop00=TRUE), method='REML')"))
w(data.frame(study_id=a$acronym, control=a$Control, events_int=a$hcq_arm_event,
             n_int=a$hcq_arm_total, events_ctrl=a$control_arm_event, n_ctrl=a$control_arm_total,
             yi=as.numeric(d$yi), vi=as.numeric(d$vi)), "forest_axfors2021.csv")

# 3. Besson 2016: maternal diet and offspring behaviour in rodents, 'Rearing' comparisons,
# SMD from means and SEs (SD = SE * sqrt(n)); several comparisons of one study share a control.
b <- metadat::dat.besson2016
b <- b[b$measure == "Rearing", ]
b$sd_exp <- b$exp_se * sqrt(b$exp_n)
b$sd_con <- b$con_se * sqrt(b$con_n)
d <- escalc(measure="SMD", m1i=exp_mean, sd1i=sd_exp, n1i=exp_n, m2i=con_mean, sd2i=sd_con,
            n2i=con_n, data=b)
invisible(fit("besson2016_rearing", d,
    "rma(yi, vi, data=escalc('SMD', m1i=exp_mean, sd1i=exp_se*sqrt(exp_n), n1i=exp_n, m2i=con_mean, sd2i=con_se*sqrt(con_n), n2i=con_n, data=subset(dat.besson2016, measure=='Rearing')), method='REML')"))
w(data.frame(study_id=b$Reference, comparison=b$comparison, model=b$species,
             model_detail=b$strain, sex=b$sex, con_ID=b$con_ID, high_better=b$high_better,
             mean_int=b$exp_mean, sd_int=b$sd_exp, n_int=b$exp_n, mean_ctrl=b$con_mean,
             sd_ctrl=b$sd_con, n_ctrl=b$con_n, yi=as.numeric(d$yi), vi=as.numeric(d$vi)),
  "forest_besson2016_rearing.csv")
# control animals counted once per study and control group (con_ID within sex: metadat gives
# the male and female controls of one experiment one con_ID)
once <- !duplicated(paste(b$study_ID, b$con_ID, b$sex))
summ[["besson2016_rearing_n_ctrl_once"]] <- data.frame(
  name="besson2016_rearing_n_ctrl_once", k=sum(once), estimate=sum(b$con_n[once], na.rm=TRUE), se=NA,
  ci_low=NA, ci_high=NA, tau2=NA, i2=NA, q=NA, q_p=NA)
calls[["besson2016_rearing_n_ctrl_once"]] <- "sum(con_n[!duplicated(paste(study_ID, con_ID, sex))], na.rm=TRUE)"

# 4. Curtis 1998: elevated CO2 and woody plant biomass, ratio of means; several rows per paper.
d <- escalc(measure="ROM", m1i=m1i, sd1i=sd1i, n1i=n1i, m2i=m2i, sd2i=sd2i, n2i=n2i,
            data=metadat::dat.curtis1998)
invisible(fit("curtis1998", d,
    "rma(yi, vi, data=escalc('ROM', m1i=m1i, sd1i=sd1i, n1i=n1i, m2i=m2i, sd2i=sd2i, n2i=n2i, data=dat.curtis1998), method='REML')"))
w(data.frame(study_id=paste("Paper", d$paper), model_detail=paste(d$genus, d$species),
             comparison=paste0(d$xtrt, ifelse(d$level == ".", "", paste0(" (", d$level, ")"))),
             mean_int=d$m1i, sd_int=d$sd1i, n_int=d$n1i, mean_ctrl=d$m2i, sd_ctrl=d$sd2i,
             n_ctrl=d$n2i, yi=as.numeric(d$yi), vi=as.numeric(d$vi)),
  "forest_curtis1998.csv")

out <- do.call(rbind, summ)
out$call <- unlist(calls[out$name])
w(out, "forest_metadat_summary.csv")
cat(R.version.string, "; metafor", as.character(packageVersion("metafor")), "; metadat",
    as.character(packageVersion("metadat")), "\n", file="tests/reference/forest_metadat_versions.txt")
