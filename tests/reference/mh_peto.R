# Reference values for evidence.mantel_haenszel() and evidence.peto().
#
# Regenerate from the repository root with:
#     Rscript tests/reference/mh_peto.R
# It writes tests/reference/mh_peto_fixtures.json: per case the metadat dataset, the exact R
# call (evaluated with eval(parse()), so the text is the code that ran), the 2x2 table (or
# person-time) columns, and the rma.mh() / rma.peto() results (non-iterative: closed forms),
# including the per-study yi/vi behind Q and weights() with na.action = "na.pass".
suppressPackageStartupMessages({ library(metafor); library(metadat) })
source(file.path("tests", "reference", "_json.R"))
out_path <- file.path("tests", "reference", "mh_peto_fixtures.json")

cases <- list()
fields <- c("beta", "se", "zval", "pval", "ci.lb", "ci.ub", "QE", "QEp", "I2", "H2", "k",
            "k.yi", "k.pos", "CO", "COp", "MH", "MHp", "BD", "BDp", "TA", "TAp")
add_case <- function(name, dataset, prep, call, kind = "table", args = list()) {
  dat <- eval(parse(text = prep))
  res <- suppressWarnings(eval(parse(text = call)))
  cols <- if (kind == "table") c("ai", "n1i", "ci", "n2i") else c("x1i", "t1i", "x2i", "t2i")
  data <- lapply(cols, function(cn) jarr(dat[[cn]]))
  names(data) <- cols
  expected <- lapply(fields, function(f) { v <- res[[f]]; if (is.null(v)) NA else as.numeric(v) })
  names(expected) <- fields
  expected$yi <- jarr(as.numeric(res$yi.f))
  expected$vi <- jarr(as.numeric(res$vi.f))
  op <- options(na.action = "na.pass")
  expected$weights <- jarr(as.numeric(tryCatch(weights(res), error = function(e) rep(NA, res$k.f))))
  options(op)
  cases[[name]] <<- list(dataset = dataset, prep = prep, call = call, args = args,
                         data = data, expected = expected)
}

bcg <- "transform(dat.bcg, ai = tpos, n1i = tpos + tneg, ci = cpos, n2i = cpos + cneg)"
for (m in c("OR", "RR", "RD")) {
  add_case(paste0("bcg_mh_", m), "dat.bcg", bcg,
           sprintf("rma.mh(ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat, measure = '%s')", m),
           args = list(measure = m))
}
add_case("bcg_mh_OR_nocorrect", "dat.bcg", bcg,
         "rma.mh(ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat, measure = 'OR', correct = FALSE)",
         args = list(measure = "OR", correct = FALSE))
add_case("bcg_mh_RR_level90", "dat.bcg", bcg,
         "rma.mh(ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat, measure = 'RR', level = 90)",
         args = list(measure = "RR", level = 0.90))
add_case("bcg_peto", "dat.bcg", bcg,
         "rma.peto(ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat)", args = list())

for (ds in c("dat.li2007", "dat.nielweise2007", "dat.hahn2001")) {
  short <- sub("dat.", "", ds, fixed = TRUE)
  for (m in c("OR", "RR", "RD")) {
    add_case(paste0(short, "_mh_", m), ds, ds,
             sprintf("rma.mh(ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat, measure = '%s')", m),
             args = list(measure = m))
  }
  add_case(paste0(short, "_peto"), ds, ds,
           "rma.peto(ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat)", args = list())
}
# zero-cell rules: second element of add/to/drop00 (the cells of the MH/Peto computation)
add_case("nielweise2007_mh_OR_add_both", "dat.nielweise2007", "dat.nielweise2007",
         "rma.mh(ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat, measure = 'OR', add = c(0.5, 0.5), to = c('only0', 'only0'), drop00 = c(TRUE, TRUE))",
         args = list(measure = "OR", add = list(0.5, 0.5), to = list("only0", "only0"),
                     drop00 = list(TRUE, TRUE)))
add_case("nielweise2007_mh_RR_nodrop", "dat.nielweise2007", "dat.nielweise2007",
         "rma.mh(ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat, measure = 'RR', drop00 = FALSE)",
         args = list(measure = "RR", drop00 = FALSE))
add_case("nielweise2007_peto_all", "dat.nielweise2007", "dat.nielweise2007",
         "rma.peto(ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat, add = c(0.5, 0.5), to = c('all', 'all'))",
         args = list(add = list(0.5, 0.5), to = list("all", "all")))
# all-zero arm: the nielweise2007 trials without an event in the treated arm
zarm <- "subset(dat.nielweise2007, ai == 0)"
for (m in c("OR", "RR", "RD")) {
  add_case(paste0("nielweise2007_zeroarm_mh_", m), "dat.nielweise2007", zarm,
           sprintf("rma.mh(ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat, measure = '%s')", m),
           args = list(measure = m))
}
add_case("nielweise2007_zeroarm_peto", "dat.nielweise2007", zarm,
         "rma.peto(ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat)", args = list())
# collins1985a: missing tables (NA), zeros
col <- "transform(dat.collins1985a, ai = b.xti, n1i = nti, ci = b.xci, n2i = nci)"
for (m in c("OR", "RR", "RD")) {
  add_case(paste0("collins1985a_mh_", m), "dat.collins1985a", col,
           sprintf("rma.mh(ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat, measure = '%s')", m),
           args = list(measure = m))
}
add_case("collins1985a_peto", "dat.collins1985a", col,
         "rma.peto(ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat)", args = list())
# yusuf1985 table 9 (beta blockers, long-term), hine1989 (lidocaine, RD)
yus <- "subset(dat.yusuf1985, table == '9')"
for (m in c("OR", "RR", "RD")) {
  add_case(paste0("yusuf1985_t9_mh_", m), "dat.yusuf1985", yus,
           sprintf("rma.mh(ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat, measure = '%s')", m),
           args = list(measure = m))
}
add_case("yusuf1985_t9_peto", "dat.yusuf1985", yus,
         "rma.peto(ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat)", args = list())
add_case("hine1989_mh_RD", "dat.hine1989", "dat.hine1989",
         "rma.mh(ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat, measure = 'RD')",
         args = list(measure = "RD"))
add_case("hine1989_peto", "dat.hine1989", "dat.hine1989",
         "rma.peto(ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat)", args = list())
# person-time: hart1999 (warfarin, strokes per patient-years)
for (m in c("IRR", "IRD")) {
  add_case(paste0("hart1999_mh_", m), "dat.hart1999", "dat.hart1999",
           sprintf("rma.mh(x1i = x1i, t1i = t1i, x2i = x2i, t2i = t2i, data = dat, measure = '%s')", m),
           kind = "rate", args = list(measure = m))
}

write_fixture(list(meta = meta_info(), cases = cases), out_path)
