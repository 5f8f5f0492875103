# Fixture for tests/test_plots_forest.py: BCG trials (metadat dat.bcg), log risk ratios,
# overall REML model, REML models per allocation subgroup, and the test for subgroup
# differences as RevMan computes it (Q across the subgroup estimates with their SEs, which
# equals metafor's fixed-effect QE of those estimates).
# Run: Rscript tests/reference/plots_bcg.R  (from the repository root)
suppressPackageStartupMessages(library(metafor))
ctrl <- list(threshold=1e-12, tol=1e-13, maxiter=1e5, stepadj=0.5)
dat <- escalc(measure="RR", ai=tpos, bi=tneg, ci=cpos, di=cneg, data=metadat::dat.bcg)
dat$study_id <- paste(dat$author, dat$year)
out <- data.frame(study_id=dat$study_id, alloc=dat$alloc, events_int=dat$tpos,
                  n_int=dat$tpos + dat$tneg, events_ctrl=dat$cpos, n_ctrl=dat$cpos + dat$cneg,
                  yi=as.numeric(dat$yi), vi=as.numeric(dat$vi))
res <- rma(yi, vi, data=dat, method="REML", control=ctrl)
out$weight <- weights(res)
write.csv(out, "tests/reference/plots_bcg.csv", row.names=FALSE)
groups <- unique(dat$alloc)
sub <- do.call(rbind, lapply(groups, function(g) {
  r <- rma(yi, vi, data=dat, subset=alloc==g, method="REML", control=ctrl)
  data.frame(alloc=g, k=r$k, estimate=as.numeric(r$b), se=r$se, ci_low=r$ci.lb, ci_high=r$ci.ub,
             tau2=r$tau2, i2=r$I2, q=r$QE, q_p=r$QEp)
}))
fe <- rma(sub$estimate, sei=sub$se, method="FE")
summ <- rbind(
  data.frame(name="overall", estimate=as.numeric(res$b), se=res$se, ci_low=res$ci.lb,
             ci_high=res$ci.ub, tau2=res$tau2, i2=res$I2, q=res$QE, q_p=res$QEp,
             pi_low=predict(res)$pi.lb, pi_high=predict(res)$pi.ub),
  data.frame(name="subgroup_difference", estimate=NA, se=NA, ci_low=NA, ci_high=NA, tau2=NA,
             i2=fe$I2, q=fe$QE, q_p=fe$QEp, pi_low=NA, pi_high=NA))
write.csv(sub, "tests/reference/plots_bcg_subgroups.csv", row.names=FALSE)
write.csv(summ, "tests/reference/plots_bcg_summary.csv", row.names=FALSE)
cat(R.version.string, "; metafor", as.character(packageVersion("metafor")), "; metadat",
    as.character(packageVersion("metadat")), "\n", file="tests/reference/plots_bcg_versions.txt")
