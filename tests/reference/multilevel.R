# Reference values for evidence.pool_multilevel() and the CR2 option of pool_clustered().
#
# Writes tests/reference/multilevel_fixtures.json (every number as %.17g) from R metafor
# rma.mv() (three-level model: comparisons nested in studies) and robust(..., clubSandwich=TRUE)
# on real metadat datasets.  Run from the repository root:
#
#     Rscript tests/reference/multilevel.R
#
# rma.mv() optimises the log variance components with optim(method="BFGS", reltol=1e-15)
# (threshold/tol are rma.uni() settings).  Its default nlminb stops early on
# dat.bornmann2007 ML (sigma2 off by 1.2e-6 relative, logLik 2.6e-12 lower than at the
# BFGS/nlm optimum) and reports false convergence (code 1) with a tighter rel.tol.  evigap
# solves the score equations exactly; the tests compare at rtol 1e-6.  Profile-likelihood CIs use
# confint(res, sigma2=j, control=list(tol=1e-13)) (the default uniroot tol is eps^0.25).
# I^2 per level follows the multilevel formula on metafor's web site (Cheung 2014):
#   P = W - W X (X'WX)^-1 X'W with W = diag(1/vi);  vtyp = (k - p) / tr(P);
#   I2_level = 100 sigma2_level / (sum(sigma2) + vtyp).
# R is never needed at test time.

suppressPackageStartupMessages({
  library(metafor)
  library(clubSandwich)
})

ctrl_mv_txt <- "list(optimizer=\"BFGS\", reltol=1e-15)"
ctrl_uni_txt <- "list(threshold=1e-12, tol=1e-13, maxiter=1e5, stepadj=0.5)"

arr <- function(x) structure(list(v = x), class = "jsonarray")
esc <- function(s) paste0("\"", gsub("\"", "\\\\\"", gsub("\\\\", "\\\\\\\\", s)), "\"")
num1 <- function(x) {
  if (is.na(x)) return("null")
  if (is.logical(x)) return(if (x) "true" else "false")
  if (is.character(x)) return(esc(x))
  if (is.infinite(x)) return(if (x > 0) "1e999" else "-1e999")
  sprintf("%.17g", x)
}
to_json <- function(x, ind = "") {
  nind <- paste0(ind, "  ")
  if (inherits(x, "jsonarray")) {
    v <- x$v
    if (is.factor(v)) v <- as.character(v)
    return(paste0("[", paste(vapply(seq_along(v), function(i) num1(v[[i]]), ""), collapse = ", "), "]"))
  }
  if (is.null(x)) return("null")
  if (is.list(x)) {
    if (is.null(names(x))) {
      items <- vapply(x, to_json, "", ind = nind)
      return(paste0("[\n", nind, paste(items, collapse = paste0(",\n", nind)), "\n", ind, "]"))
    }
    items <- vapply(names(x), function(n) paste0(esc(n), ": ", to_json(x[[n]], nind)), "")
    return(paste0("{\n", nind, paste(items, collapse = paste0(",\n", nind)), "\n", ind, "}"))
  }
  if (is.factor(x)) x <- as.character(x)
  if (length(x) != 1L) return(to_json(arr(x), ind))
  num1(x)
}

cases <- list()
add <- function(name, call, input, expected) {
  stopifnot(!name %in% names(cases))
  cases[[name]] <<- list(call = call, input = input, expected = expected)
}
run <- function(code) eval(parse(text = code), envir = globalenv())

data_calls <- list(
  kon = "dat.konstantopoulos2011",
  assink = "dat.assink2016",
  born = 'escalc(measure="OR", ai=waward, n1i=wtotal, ci=maward, n2i=mtotal, data=dat.bornmann2007)'
)
levels_of <- list(kon = c("district", "school"), assink = c("study", "esid"),
                  born = c("study", "obs"))
for (d in names(data_calls)) assign(d, run(data_calls[[d]]))

i2_levels <- function(res) {
  W <- diag(1 / res$vi)
  X <- res$X
  P <- W - W %*% X %*% solve(t(X) %*% W %*% X) %*% t(X) %*% W
  vtyp <- (res$k - res$p) / sum(diag(P))
  tot <- sum(res$sigma2) + vtyp
  list(i2_levels = arr(100 * res$sigma2 / tot), i2_total = 100 * sum(res$sigma2) / tot,
       vtyp = vtyp)
}

ml_case <- function(dname, method) {
  d <- get(dname)
  lv <- levels_of[[dname]]
  fit_call <- sprintf('rma.mv(yi, vi, random = ~ 1 | %s/%s, data=%s, method="%s", control=%s)',
                      lv[1], lv[2], dname, method, ctrl_mv_txt)
  res <- run(fit_call)
  ci <- lapply(1:2, function(j) {
    cc <- confint(res, sigma2 = j, control = list(tol = 1e-13, maxiter = 1e5))
    cc$random[1, ]
  })
  rb_call <- sprintf("robust(res, cluster=%s$%s, clubSandwich=TRUE)", dname, lv[1])
  rb <- robust(res, cluster = d[[lv[1]]], clubSandwich = TRUE)
  pr <- predict(res)
  prb <- predict(rb)
  name <- sprintf("multilevel_%s_%s", dname, tolower(method))
  add(name, fit_call,
      list(data = data_calls[[dname]], study_column = lv[1], comparison_column = lv[2],
           study = arr(as.character(d[[lv[1]]])), comparison = arr(as.character(d[[lv[2]]])),
           yi = arr(c(d$yi)), vi = arr(c(d$vi)), method = method),
      c(list(beta = c(res$beta), se = res$se, zval = res$zval, pval = res$pval,
             ci_lb = res$ci.lb, ci_ub = res$ci.ub, sigma2 = arr(res$sigma2),
             sigma2_ci_lb = arr(sapply(ci, `[`, 2)), sigma2_ci_ub = arr(sapply(ci, `[`, 3)),
             confint_call = "confint(res, sigma2=j, control=list(tol=1e-13, maxiter=1e5))",
             QE = res$QE, QEp = res$QEp, logLik = c(logLik(res)), k = res$k,
             s_nlevels = arr(res$s.nlevels), pi_lb = pr$pi.lb, pi_ub = pr$pi.ub,
             robust_call = rb_call, robust_se = rb$se, robust_tval = rb$zval,
             robust_pval = rb$pval, robust_dfs = rb$dfs, robust_ci_lb = rb$ci.lb,
             robust_ci_ub = rb$ci.ub, robust_n_clusters = rb$n, robust_vbest = rb$vbest,
             robust_pi_lb = prb$pi.lb, robust_pi_ub = prb$pi.ub),
        i2_levels(res)))
}
for (dname in names(data_calls)) for (m in c("REML", "ML")) ml_case(dname, m)

# CR2 on the working rma.uni() model (pool_clustered(vcov="CR2"))
uni_case <- function(dname, method) {
  d <- get(dname)
  lv <- levels_of[[dname]]
  fit_call <- sprintf('rma(yi, vi, data=%s, method="%s", control=%s)', dname, method, ctrl_uni_txt)
  res <- run(fit_call)
  call <- sprintf("predict(robust(%s, cluster=%s$%s, clubSandwich=TRUE))", fit_call, dname, lv[1])
  rb <- robust(res, cluster = d[[lv[1]]], clubSandwich = TRUE)
  pr <- predict(rb)
  add(sprintf("cr2_uni_%s_%s", dname, tolower(method)), call,
      list(data = data_calls[[dname]], cluster_column = lv[1],
           cluster = arr(as.character(d[[lv[1]]])), yi = arr(c(d$yi)), vi = arr(c(d$vi)),
           method = method),
      list(beta = c(rb$beta), se = rb$se, tval = rb$zval, pval = rb$pval, dfs = rb$dfs,
           ci_lb = rb$ci.lb, ci_ub = rb$ci.ub, n_clusters = rb$n, tau2 = rb$tau2,
           vbest = rb$vbest, pi_lb = pr$pi.lb, pi_ub = pr$pi.ub, se_model = res$se))
}
for (dname in names(data_calls)) uni_case(dname, "REML")
uni_case("kon", "DL")

out <- list(
  meta = list(
    R_version = R.version.string,
    metafor = as.character(packageVersion("metafor")),
    metadat = as.character(packageVersion("metadat")),
    clubSandwich = as.character(packageVersion("clubSandwich")),
    control_rma_mv = ctrl_mv_txt,
    control_rma_uni = ctrl_uni_txt,
    generated_by = "Rscript tests/reference/multilevel.R",
    datasets = data_calls
  ),
  cases = cases
)
writeLines(to_json(out), "tests/reference/multilevel_fixtures.json")
cat("wrote", length(cases), "cases\n")
