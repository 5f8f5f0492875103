# Calibration sheets from R metadat (tests/reference/calibration/).
#
# Writes the evigap study sheet of the calibration case whose trial-level data come from
# metadat:
#   hartmannboyce2018_any_nrt.csv
#     dat.hartmannboyce2018 (Hartmann-Boyce et al. 2018, Cochrane CD000146.pub5)
#
# Run from the repository root:
#     Rscript tests/reference/calibration/extract_metadat.R
#
# Uses only the installed metadat 1.2-0 (Debian r-cran-metadat); only the data are read,
# nothing is computed here except the column mapping below.

suppressPackageStartupMessages(library(metadat))

out_dir <- file.path("tests", "reference", "calibration")

columns <- c("study_id", "citation_key", "year", "registry_id", "indication",
  "indication_label", "intervention", "intervention_source", "comparator", "comparison",
  "outcome", "timepoint", "outcome_direction", "outcome_kind", "outcome_level", "stream",
  "model", "model_detail", "k_studies", "randomised", "blinded", "controlled",
  "within_subject", "data_type", "measure", "events_int", "n_int", "events_ctrl", "n_ctrl",
  "mean_int", "sd_int", "mean_ctrl", "sd_ctrl", "estimate", "ci_low", "ci_high", "ci_level",
  "se", "n_total", "dose", "dose_unit", "result_text", "rob_tool", "rob_domains",
  "rob_overall", "funding", "conflict_of_interest", "where_read", "notes")

sheet <- function(n, ...) {
  fields <- list(...)
  out <- as.data.frame(matrix("", nrow = n, ncol = length(columns)), stringsAsFactors = FALSE)
  names(out) <- columns
  for (f in names(fields)) {
    stopifnot(f %in% columns)
    v <- fields[[f]]
    v <- if (is.numeric(v)) ifelse(is.na(v), "", format(v, scientific = FALSE, trim = TRUE,
                                                         digits = 15))
         else ifelse(is.na(v), "", as.character(v))
    out[[f]] <- rep_len(v, n)
  }
  out
}

write_sheet <- function(frame, name) {
  path <- file.path(out_dir, name)
  write.csv(frame, path, row.names = FALSE, na = "", fileEncoding = "UTF-8")
  cat(sprintf("%s: %d rows\n", path, nrow(frame)))
}

# ------------------------------------------------------------ Hartmann-Boyce 2018 (NRT)
h <- dat.hartmannboyce2018
f <- sheet(nrow(h), study_id = h$study, citation_key = "hartmannboyce2018",
  indication = "smoking cessation", intervention = paste0("nicotine replacement therapy (",
  h$treatment, ")"), comparator = "placebo or no NRT", comparison = h$treatment,
  outcome = "smoking abstinence at 6+ months", timepoint = ">= 6 months",
  outcome_direction = "higher_is_better", outcome_kind = "benefit", outcome_level = "clinical",
  stream = "human", model = "clinical_trial", randomised = "true", controlled = "true",
  data_type = "counts", measure = "RR", events_int = h$x.nrt, n_int = h$n.nrt,
  events_ctrl = h$x.ctrl, n_ctrl = h$n.ctrl,
  where_read = paste0("metadat 1.2-0 dat.hartmannboyce2018 (Hartmann-Boyce 2018 Cochrane ",
                      "CD000146.pub5, Analysis 1.1: x.nrt/n.nrt, x.ctrl/n.ctrl)"),
  notes = paste0("Risk of bias not entered: the review judges each trial (Characteristics of ",
                 "included studies) but those judgements are not in metadat and were not read ",
                 "for the 133 trials; the columns are empty on purpose (a body with unassessed ",
                 "risk of bias). Multi-arm trials (Moolchan 2005, Piper 2009) appear once per ",
                 "NRT arm with the control group split between arms, as in the review."))
write_sheet(f, "hartmannboyce2018_any_nrt.csv")

cat(R.version.string, "\n")
cat("metadat", as.character(packageVersion("metadat")), "(installed)\n")
