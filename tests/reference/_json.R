# Shared JSON writer for the reference scripts of engine-a (mh_peto.R, measures.R,
# diagnostics.R).  Every number is written with sprintf("%.17g") so that doubles round-trip
# exactly; NA and NaN are written as null, +-Inf as the strings "Inf" / "-Inf".
jarr <- function(x) structure(list(x), class = "jarray")
json_str <- function(s) as.character(jsonlite::toJSON(s, auto_unbox = TRUE))
json_num <- function(x) {
  ifelse(is.na(x), "null",
         ifelse(is.infinite(x), ifelse(x > 0, "\"Inf\"", "\"-Inf\""), sprintf("%.17g", x)))
}
to_json <- function(x, ind = "") {
  nxt <- paste0(ind, "  ")
  if (inherits(x, "jarray")) {
    v <- x[[1]]
    if (is.character(v) || is.factor(v)) {
      v <- as.character(v)
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
    if (is.null(keys)) {
      items <- vapply(x, function(e) to_json(e, nxt), "")
      return(paste0("[", paste(items, collapse = ", "), "]"))
    }
    body <- vapply(seq_along(x), function(i) {
      paste0(nxt, json_str(keys[i]), ": ", to_json(x[[i]], nxt))
    }, "")
    return(paste0("{\n", paste(body, collapse = ",\n"), "\n", ind, "}"))
  }
  if (length(x) != 1L) return(to_json(jarr(x), ind))
  if (is.character(x) || is.factor(x)) return(json_str(as.character(x)))
  if (is.logical(x)) return(if (is.na(x)) "null" else if (x) "true" else "false")
  json_num(as.numeric(x))
}
meta_info <- function() list(
  R = R.version.string,
  metafor = as.character(packageVersion("metafor")),
  metadat = as.character(packageVersion("metadat")),
  generated = format(Sys.time(), "%Y-%m-%d %H:%M:%S %Z")
)
write_fixture <- function(obj, path) {
  writeLines(to_json(obj), path)
  cat("wrote", path, "\n")
}
