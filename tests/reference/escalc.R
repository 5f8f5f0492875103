# Reference values for evidence.effect_sizes() and evidence.effects_from_ci().
#
# Regenerate from the repository root with:
#     Rscript tests/reference/escalc.R
# It writes tests/reference/escalc_fixtures.json.  Every number is written with
# sprintf("%.17g") so that doubles round-trip exactly (jsonlite caps at 15
# significant digits even with digits=NA, so it is only used to escape strings).
#
# Each case stores: the metadat dataset it came from, the exact R expression
# that produced yi/vi (evaluated with eval(parse()) so the recorded text is the
# code that ran), the input columns (so Python never needs R or metadat), the
# keyword arguments for effect_sizes(), and the resulting yi and vi.

suppressPackageStartupMessages({
  library(metafor)
  library(metadat)
})

out_path <- file.path("tests", "reference", "escalc_fixtures.json")

# ---------------------------------------------------------------- JSON writer
jarr <- function(x) structure(list(x), class = "jarray")

json_str <- function(s) as.character(jsonlite::toJSON(s, auto_unbox = TRUE))

json_num <- function(x) {
  ifelse(is.na(x), "null",
         ifelse(is.infinite(x), "null", sprintf("%.17g", x)))
}

to_json <- function(x, ind = "") {
  nxt <- paste0(ind, "  ")
  if (inherits(x, "jarray")) {
    v <- x[[1]]
    if (is.character(v)) {
      items <- vapply(v, function(s) if (is.na(s)) "null" else json_str(s), "")
    } else if (is.logical(v)) {
      items <- ifelse(is.na(v), "null", ifelse(v, "true", "false"))
    } else {
      items <- json_num(as.numeric(v))
    }
    return(paste0("[", paste(items, collapse = ", "), "]"))
  }
  if (is.list(x)) {
    if (length(x) == 0L) return("{}")
    keys <- names(x)
    body <- vapply(seq_along(x), function(i) {
      paste0(nxt, json_str(keys[i]), ": ", to_json(x[[i]], nxt))
    }, "")
    return(paste0("{\n", paste(body, collapse = ",\n"), "\n", ind, "}"))
  }
  stopifnot(length(x) == 1L)
  if (is.character(x)) return(json_str(x))
  if (is.logical(x)) return(if (x) "true" else "false")
  json_num(as.numeric(x))
}

# ---------------------------------------------------------------- cases
cases <- list()

# Add one escalc case.  `cols` are the dataset columns the Python side needs;
# `args` are the keyword arguments of evidence.effect_sizes().
add_case <- function(name, dataset, call, cols, args, note = NULL) {
  dat <- get(dataset)
  res <- eval(parse(text = call))
  stopifnot(length(res$yi) == nrow(dat))
  data <- lapply(cols, function(cn) jarr(dat[[cn]]))
  names(data) <- cols
  entry <- list(
    dataset = dataset,
    call = call,
    args = args,
    data = data,
    yi = jarr(as.numeric(res$yi)),
    vi = jarr(as.numeric(res$vi))
  )
  if (!is.null(note)) entry$note <- note
  if (!is.null(cases[[name]])) stop("duplicate case name ", name)
  cases[[name]] <<- entry
}

q <- function(s) paste0('"', s, '"')

# --- 2x2 tables: dat.bcg (no zero cells), dat.hahn2001 and
# dat.nielweise2007 (zero cells and double-zero studies)
tables <- list(
  bcg = list(dataset = "dat.bcg",
             r = "ai=tpos, bi=tneg, ci=cpos, di=cneg",
             py = list(ai = "tpos", bi = "tneg", ci = "cpos", di = "cneg"),
             cols = c("tpos", "tneg", "cpos", "cneg")),
  hahn2001 = list(dataset = "dat.hahn2001",
                  r = "ai=ai, n1i=n1i, ci=ci, n2i=n2i",
                  py = list(ai = "ai", n1i = "n1i", ci = "ci", n2i = "n2i"),
                  cols = c("ai", "n1i", "ci", "n2i")),
  nielweise2007 = list(dataset = "dat.nielweise2007",
                       r = "ai=ai, n1i=n1i, ci=ci, n2i=n2i",
                       py = list(ai = "ai", n1i = "n1i", ci = "ci", n2i = "n2i"),
                       cols = c("ai", "n1i", "ci", "n2i"))
)
for (tn in names(tables)) {
  tb <- tables[[tn]]
  for (m in c("RR", "OR", "RD")) {
    for (to in c("only0", "all", "if0all", "none")) {
      for (d00 in c(FALSE, TRUE)) {
        call <- sprintf("escalc(measure=%s, %s, data=%s, to=%s%s)", q(m), tb$r, tb$dataset,
                        q(to), if (d00) ", drop00=TRUE" else "")
        name <- sprintf("%s_%s_%s%s", tn, m, to, if (d00) "_drop00" else "")
        args <- c(list(measure = m), tb$py, list(to = to, drop00 = d00))
        add_case(name, tb$dataset, call, tb$cols, args)
      }
    }
  }
}
# add= other than 1/2, and the RD unbiased variance
add_case("hahn2001_OR_only0_add1", "dat.hahn2001",
         "escalc(measure=\"OR\", ai=ai, n1i=n1i, ci=ci, n2i=n2i, data=dat.hahn2001, add=1)",
         c("ai", "n1i", "ci", "n2i"),
         list(measure = "OR", ai = "ai", n1i = "n1i", ci = "ci", n2i = "n2i", add = 1))
add_case("nielweise2007_RR_all_add0.1", "dat.nielweise2007",
         "escalc(measure=\"RR\", ai=ai, n1i=n1i, ci=ci, n2i=n2i, data=dat.nielweise2007, add=0.1, to=\"all\")",
         c("ai", "n1i", "ci", "n2i"),
         list(measure = "RR", ai = "ai", n1i = "n1i", ci = "ci", n2i = "n2i", add = 0.1, to = "all"))
add_case("bcg_RD_UB", "dat.bcg",
         "escalc(measure=\"RD\", ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg, vtype=\"UB\")",
         c("tpos", "tneg", "cpos", "cneg"),
         list(measure = "RD", ai = "tpos", bi = "tneg", ci = "cpos", di = "cneg", vtype = "UB"))
add_case("hahn2001_RD_UB", "dat.hahn2001",
         "escalc(measure=\"RD\", ai=ai, n1i=n1i, ci=ci, n2i=n2i, data=dat.hahn2001, vtype=\"UB\")",
         c("ai", "n1i", "ci", "n2i"),
         list(measure = "RD", ai = "ai", n1i = "n1i", ci = "ci", n2i = "n2i", vtype = "UB"))

# --- dat.collins1985a: deaths, with missing counts (NA rows), zero cells and
# double-zero trials
for (m in c("RR", "OR", "RD")) {
  for (d00 in c(FALSE, TRUE)) {
    call <- sprintf("escalc(measure=%s, ai=d.xti, n1i=nti, ci=d.xci, n2i=nci, data=dat.collins1985a%s)",
                    q(m), if (d00) ", drop00=TRUE" else "")
    add_case(sprintf("collins1985a_%s_only0%s", m, if (d00) "_drop00" else ""),
             "dat.collins1985a", call, c("d.xti", "nti", "d.xci", "nci"),
             list(measure = m, ai = "d.xti", n1i = "nti", ci = "d.xci", n2i = "nci", drop00 = d00))
  }
}

# --- continuous outcomes
cont <- list(
  normand1999 = "dat.normand1999",
  curtis1998 = "dat.curtis1998",   # small n (2 to 48 per arm)
  gibson2002 = "dat.gibson2002"    # two rows without means/SDs (NA)
)
cont_cols <- c("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i")
cont_py <- list(m1i = "m1i", sd1i = "sd1i", n1i = "n1i", m2i = "m2i", sd2i = "sd2i", n2i = "n2i")
cont_r <- "m1i=m1i, sd1i=sd1i, n1i=n1i, m2i=m2i, sd2i=sd2i, n2i=n2i"
for (cn in names(cont)) {
  ds <- cont[[cn]]
  grid <- list(c("MD", "LS"), c("SMD", "LS"), c("SMD", "UB"), c("SMD", "LS2"))
  if (cn != "gibson2002") grid <- c(grid, list(c("ROM", "LS"), c("ROM", "HO")))
  for (g in grid) {
    call <- sprintf("escalc(measure=%s, %s, data=%s, vtype=%s)", q(g[1]), cont_r, ds, q(g[2]))
    add_case(sprintf("%s_%s_%s", cn, g[1], g[2]), ds, call, cont_cols,
             c(list(measure = g[1]), cont_py, list(vtype = g[2])))
  }
}
# Bias-corrected ROM: metafor 3.8-1 has no 'correct' argument (it arrived in
# 5.0-1, where it is the default).  The formula below is the one metafor
# >= 5.0-1 uses (Lajeunesse 2015, eq. 8), evaluated in R; vi is the usual LS
# variance from escalc().
rom_bc <- paste0(
  "within(escalc(measure=\"ROM\", %s, data=%s), ",
  "yi <- log(m1i/m2i) + 1/2*(sd1i^2/(n1i*m1i^2) - sd2i^2/(n2i*m2i^2)))")
for (cn in c("normand1999", "curtis1998")) {
  add_case(sprintf("%s_ROM_corrected", cn), cont[[cn]], sprintf(rom_bc, cont_r, cont[[cn]]),
           cont_cols, c(list(measure = "ROM"), cont_py, list(correct = TRUE)),
           note = paste("metafor 3.8-1 lacks escalc(correct=); expected yi is Lajeunesse (2015)",
                        "eq. 8 evaluated in R, as used by metafor >= 5.0-1 (correct=TRUE)."))
}

# --- single-arm proportions: dat.pritz1997 has xi == ni rows (only0 applies)
for (pn in c("pritz1997", "debruin2009")) {
  ds <- paste0("dat.", pn)
  grid <- list(c("PLO", "LS", "only0"), c("PR", "LS", "only0"), c("PR", "UB", "only0"),
               c("PLO", "LS", "none"), c("PLO", "LS", "all"), c("PR", "LS", "if0all"))
  for (g in grid) {
    call <- sprintf("escalc(measure=%s, xi=xi, ni=ni, data=%s, vtype=%s, to=%s)",
                    q(g[1]), ds, q(g[2]), q(g[3]))
    add_case(sprintf("%s_%s_%s_%s", pn, g[1], g[2], g[3]), ds, call, c("xi", "ni"),
             list(measure = g[1], xi = "xi", ni = "ni", vtype = g[2], to = g[3]))
  }
}

# --- GEN: given yi with vi, or yi with sei
add_case("bangertdrowns2004_GEN_vi", "dat.bangertdrowns2004",
         "escalc(measure=\"GEN\", yi=yi, vi=vi, data=dat.bangertdrowns2004)",
         c("yi", "vi"), list(measure = "GEN", yi = "yi", vi = "vi"))
add_case("lopez2019_GEN_sei", "dat.lopez2019",
         "escalc(measure=\"GEN\", yi=diff, sei=se, data=dat.lopez2019)",
         c("diff", "se"), list(measure = "GEN", yi = "diff", sei = "se"))

# ---------------------------------------------------------------- CI cases
# conv.wald() does not exist in metafor 3.8-1 (added in 4.0-0).  The expected
# values are its formula evaluated in R: yi = transf(estimate),
# vi = ((transf(ci.ub) - transf(ci.lb)) / (2*qnorm((1+level)/2)))^2, with
# transf = log for ratio measures.  The estimates and CIs are real: they are
# metafor's own summary.escalc() CIs of the real datasets.
ci_cases <- list()
add_ci_case <- function(name, dataset, escalc_call, measure, level, ratio) {
  es <- eval(parse(text = escalc_call))
  s <- summary(es, level = 100 * level, transf = if (ratio) exp else function(x) x)
  tr <- if (ratio) log else function(x) x
  yi <- tr(s$yi)
  vi <- ((tr(s$ci.ub) - tr(s$ci.lb)) / (2 * qnorm((1 + level) / 2)))^2
  ci_cases[[name]] <<- list(
    dataset = dataset,
    call = paste0("s <- summary(", escalc_call, ", level=", 100 * level,
                  if (ratio) ", transf=exp" else "", "); ",
                  "yi <- ", if (ratio) "log(s$yi)" else "s$yi", "; ",
                  "vi <- ((", if (ratio) "log(s$ci.ub) - log(s$ci.lb)" else "s$ci.ub - s$ci.lb",
                  ") / (2*qnorm((1+", level, ")/2)))^2"),
    measure = measure,
    level = level,
    estimate = jarr(as.numeric(s$yi)),
    ci_low = jarr(as.numeric(s$ci.lb)),
    ci_high = jarr(as.numeric(s$ci.ub)),
    escalc_vi = jarr(as.numeric(es$vi)),
    yi = jarr(as.numeric(yi)),
    vi = jarr(as.numeric(vi))
  )
}
add_ci_case("bcg_RR_95", "dat.bcg",
            "escalc(measure=\"RR\", ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg)",
            "RR", 0.95, TRUE)
add_ci_case("bcg_OR_90", "dat.bcg",
            "escalc(measure=\"OR\", ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg)",
            "OR", 0.90, TRUE)
add_ci_case("curtis1998_ROM_99", "dat.curtis1998",
            paste0("escalc(measure=\"ROM\", ", cont_r, ", data=dat.curtis1998)"),
            "ROM", 0.99, TRUE)
add_ci_case("normand1999_MD_95", "dat.normand1999",
            paste0("escalc(measure=\"MD\", ", cont_r, ", data=dat.normand1999)"),
            "MD", 0.95, FALSE)

# ---------------------------------------------------------------- write
meta <- list(
  generator = "tests/reference/escalc.R",
  r_version = R.version.string,
  metafor = as.character(packageVersion("metafor")),
  metadat = as.character(packageVersion("metadat")),
  generated_utc = format(Sys.time(), "%Y-%m-%dT%H:%M:%SZ", tz = "UTC"),
  conv_wald_available = exists("conv.wald", envir = asNamespace("metafor")),
  escalc_has_correct = "correct" %in% names(formals(escalc)),
  notes = jarr(c(
    "Numbers are written with sprintf('%.17g'); null means NA in R.",
    "escalc() recodes +-Inf and NaN yi/vi to NA; effect_sizes() returns NaN there.",
    paste("ROM 'corrected' cases: metafor 3.8-1 has no correct= argument; expected yi is",
          "log(m1i/m2i) + 1/2*(sd1i^2/(n1i*m1i^2) - sd2i^2/(n2i*m2i^2)) evaluated in R",
          "(Lajeunesse 2015 eq. 8, metafor >= 5.0-1 default)."),
    paste("ci_cases: conv.wald() is absent in metafor 3.8-1; expected values are its",
          "formula evaluated in R on metafor's own summary.escalc() CIs.")
  ))
)
txt <- to_json(list(meta = meta, cases = cases, ci_cases = ci_cases))
writeLines(txt, out_path)
cat(sprintf("wrote %d escalc cases and %d CI cases to %s\n", length(cases), length(ci_cases), out_path))
