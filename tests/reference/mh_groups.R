# Reference values for evidence.pool(data, method = "MH" / "PETO") and
# evidence.pool_groups(data, by, method = "MH" / "PETO") (issue 14 item 1).
#
# Regenerate from the repository root with:
#     Rscript tests/reference/mh_groups.R
# It writes tests/reference/mh_groups_fixtures.json. dat.yusuf1985 (beta blockers after
# myocardial infarction; 6 tables of trials, 11 double-zero trials, 12 trials without counts)
# is pooled per table with rma.mh() (OR, RR, RD) and rma.peto(), with metafor's default
# zero-cell rules and with drop00 = c(TRUE, TRUE) / add = c(0.5, 0.5) on the MH cells.
# Each fit is non-iterative (closed forms). Per case: the R call (evaluated with
# eval(parse()), so the text is the code that ran), and the results, including the
# Breslow-Day / Tarone / CMH tests (OR) and weights() with na.action = "na.pass".
suppressPackageStartupMessages({ library(metafor); library(metadat) })
source(file.path("tests", "reference", "_json.R"))
out_path <- file.path("tests", "reference", "mh_groups_fixtures.json")

yus <- dat.yusuf1985
fields <- c("beta", "se", "zval", "pval", "ci.lb", "ci.ub", "QE", "QEp", "I2", "H2", "k",
            "k.yi", "k.pos", "MH", "MHp", "BD", "BDp", "TA", "TAp")
calls <- list(
  mh_OR = "rma.mh(ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat, measure = 'OR')",
  mh_RR = "rma.mh(ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat, measure = 'RR')",
  mh_RD = "rma.mh(ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat, measure = 'RD')",
  peto = "rma.peto(ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat)",
  mh_OR_drop00 = "rma.mh(ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat, measure = 'OR', drop00 = c(TRUE, TRUE))",
  mh_RD_drop00 = "rma.mh(ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat, measure = 'RD', drop00 = c(TRUE, TRUE))",
  mh_RR_add = "rma.mh(ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat, measure = 'RR', add = c(0.5, 0.5), to = c('only0', 'only0'))",
  peto_level90 = "rma.peto(ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat, level = 90)"
)
args <- list(
  mh_OR = list(method = "MH", measure = "OR"),
  mh_RR = list(method = "MH", measure = "RR"),
  mh_RD = list(method = "MH", measure = "RD"),
  peto = list(method = "PETO"),
  mh_OR_drop00 = list(method = "MH", measure = "OR", drop00 = list(TRUE, TRUE)),
  mh_RD_drop00 = list(method = "MH", measure = "RD", drop00 = list(TRUE, TRUE)),
  mh_RR_add = list(method = "MH", measure = "RR", add = list(0.5, 0.5), to = list("only0", "only0")),
  peto_level90 = list(method = "PETO", level = 0.9)
)
cases <- list()
for (name in names(calls)) {
  per_table <- list()
  for (tab in sort(unique(as.character(yus$table)))) {
    dat <- yus[yus$table == tab, ]
    res <- suppressWarnings(eval(parse(text = calls[[name]])))
    expected <- lapply(fields, function(f) { v <- res[[f]]; if (is.null(v)) NA else as.numeric(v) })
    names(expected) <- fields
    op <- options(na.action = "na.pass")
    expected$weights <- jarr(as.numeric(tryCatch(weights(res), error = function(e) rep(NA, res$k.f))))
    options(op)
    per_table[[tab]] <- expected
  }
  cases[[name]] <- list(call = calls[[name]], args = args[[name]], by_table = per_table)
}
data <- list(table = jarr(as.character(yus$table)), trial = jarr(as.character(yus$trial)),
             ai = jarr(yus$ai), n1i = jarr(yus$n1i), ci = jarr(yus$ci), n2i = jarr(yus$n2i))
write_fixture(list(meta = meta_info(), dataset = "dat.yusuf1985",
                   prep = "dat <- dat.yusuf1985[dat.yusuf1985$table == tab, ] for each table",
                   data = data, cases = cases), out_path)
