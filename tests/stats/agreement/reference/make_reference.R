# Reference values for radval's agreement statistics (tests/stats/agreement/).
#
#   Rscript make_reference.R IRRCAC_DIR IRR_DIR > agreement_reference.json
#
# IRRCAC_DIR: the source of Gwet's irrCAC (github kgwet/irrCAC, commit
#   7fb7509236672b8601c96366ca720f12a0d5bb7b, version 1.4); R/weights.gen.r and
#   R/agree.coeff3.raw.r are sourced with `round` masked by the identity so that the
#   estimates and standard errors are not rounded to 5 decimals (irrCAC rounds only
#   what it prints; the arithmetic is Gwet's).
# IRR_DIR: the irr package source (github cran/irr, commit
#   3229aa564b28a83db755d7329fd621e523aaf997, version 0.84.1): R/kappam.fleiss.R,
#   R/kripp.alpha.R and data/diagnoses.rda (irr is not packaged for Debian; its R
#   code is plain R and is sourced here, with `round` masked as for irrCAC because
#   kappam.fleiss rounds its per-category table to 3 decimals).
# Debian bookworm packages: r-base 4.2.2, r-cran-psych 2.2.9, r-cran-epir 2.0.57,
# r-cran-jsonlite, r-cran-dplyr 1.0.10 (irrCAC needs dplyr).
# Inputs are drawn here with set.seed and stored in the JSON beside R's answers.
suppressMessages({
  library(jsonlite)
  library(psych)
  library(epiR)
  library(dplyr)
})
args <- commandArgs(trailingOnly = TRUE)
irrcac <- new.env()
assign("round", function(x, digits = 0) x, envir = irrcac)
sys.source(file.path(args[1], "R", "weights.gen.r"), envir = irrcac)
sys.source(file.path(args[1], "R", "agree.coeff3.raw.r"), envir = irrcac)
irr <- new.env()
assign("round", function(x, digits = 0) x, envir = irr)  # kappam.fleiss rounds its detail table
sys.source(file.path(args[2], "R", "kappam.fleiss.R"), envir = irr)
sys.source(file.path(args[2], "R", "kripp.alpha.R"), envir = irr)
load(file.path(args[2], "data", "diagnoses.rda"))

set.seed(20260611)
num <- function(x) as.numeric(x)
cases <- list()

# --- Cohen's kappa: psych::cohen.kappa ---------------------------------------
for (i in 1:12) {
  n <- c(15, 40, 120, 300)[(i - 1) %% 4 + 1]
  q <- c(2, 3, 4, 5, 6)[(i - 1) %% 5 + 1]
  a <- sample(1:q, n, replace = TRUE)
  b <- ifelse(runif(n) < 0.6, a, sample(1:q, n, replace = TRUE))
  level <- c(0.95, 0.9, 0.99)[(i - 1) %% 3 + 1]
  ck <- cohen.kappa(cbind(a, b), levels = 1:q, alpha = 1 - level)
  wl <- 1 - abs(outer(1:q, 1:q, "-")) / (q - 1)
  ckl <- cohen.kappa(cbind(a, b), w = wl, levels = 1:q, alpha = 1 - level)
  cases[[length(cases) + 1]] <- list(
    kind = "cohen", id = paste0("cohen_", i), a = a, b = b, q = q, confidence_level = level,
    kappa = num(ck$kappa), var_kappa = num(ck$var.kappa),
    ci = num(ck$confid[1, c(1, 3)]),
    weighted_quadratic = num(ck$weighted.kappa), var_weighted_quadratic_psych = num(ck$var.weighted),
    weighted_linear = num(ckl$weighted.kappa),
    call = sprintf("psych::cohen.kappa(cbind(a, b), levels = 1:%d, alpha = %g); linear: w = 1 - abs(outer(1:q, 1:q, '-'))/(q - 1)", q, 1 - level))
}

# --- multi-rater: irrCAC fleiss.kappa.raw, gwet.ac1.raw, pa.coeff.raw; irr -----
parse_ci <- function(s) num(strsplit(gsub("[()]", "", s), ",")[[1]])
for (i in 1:10) {
  n <- c(12, 30, 80, 200, 25)[(i - 1) %% 5 + 1]
  r <- c(3, 4, 5, 2, 6)[(i - 1) %% 5 + 1]
  q <- c(2, 3, 4, 5)[(i - 1) %% 4 + 1]
  truth <- sample(1:q, n, replace = TRUE)
  m <- sapply(1:r, function(j) ifelse(runif(n) < 0.55, truth, sample(1:q, n, replace = TRUE)))
  missing <- i > 5
  if (missing) {
    m[matrix(runif(n * r) < 0.2, n, r)] <- NA
    m <- m[rowSums(!is.na(m)) > 0, , drop = FALSE]
  }
  level <- c(0.95, 0.9)[(i - 1) %% 2 + 1]
  fk <- irrcac$fleiss.kappa.raw(as.data.frame(m), conflev = level)$est
  ac <- irrcac$gwet.ac1.raw(as.data.frame(m), conflev = level)$est
  pa <- irrcac$pa.coeff.raw(as.data.frame(m), conflev = level)$est
  case <- list(
    kind = "multi", id = paste0("multi_", i), ratings = m, confidence_level = level,
    fleiss = num(fk$coeff.val), fleiss_se = num(fk$coeff.se), fleiss_ci = parse_ci(fk$conf.int),
    ac1 = num(ac$coeff.val), ac1_se = num(ac$coeff.se), ac1_ci = parse_ci(ac$conf.int),
    pa = num(pa$coeff.val), pa_se = num(pa$coeff.se), pa_ci = parse_ci(pa$conf.int),
    call = sprintf("irrCAC fleiss.kappa.raw / gwet.ac1.raw / pa.coeff.raw(as.data.frame(m), conflev = %g)", level))
  if (!missing) {
    kf <- irr$kappam.fleiss(m, detail = TRUE)
    case$irr_kappa <- num(kf$value)
    case$irr_z <- num(kf$statistic)
    case$irr_call <- "irr::kappam.fleiss(m, detail = TRUE)"
  }
  case$irr_alpha_nominal <- num(irr$kripp.alpha(t(m), method = "nominal")$value)
  case$irr_alpha_ordinal <- num(irr$kripp.alpha(t(m), method = "ordinal")$value)
  case$irr_alpha_interval <- num(irr$kripp.alpha(t(m), method = "interval")$value)
  case$irr_alpha_ratio <- num(irr$kripp.alpha(t(m), method = "ratio")$value)
  cases[[length(cases) + 1]] <- case
}

# Fleiss (1971) psychiatric diagnoses, as irr's `diagnoses` (30 subjects x 6 raters)
dg <- as.matrix(as.data.frame(lapply(diagnoses, as.character)))
kf <- irr$kappam.fleiss(diagnoses, detail = TRUE)
fk <- irrcac$fleiss.kappa.raw(as.data.frame(dg))$est
ac <- irrcac$gwet.ac1.raw(as.data.frame(dg))$est
cases[[length(cases) + 1]] <- list(
  kind = "fleiss1971", id = "fleiss1971_diagnoses", ratings = dg,
  kappa = num(kf$value), z = num(kf$statistic),
  per_category = num(kf$detail[, "Kappa"]), per_category_z = num(kf$detail[, "z"]),
  categories = rownames(kf$detail),
  fleiss_se = num(fk$coeff.se), fleiss_ci = parse_ci(fk$conf.int),
  ac1 = num(ac$coeff.val), ac1_se = num(ac$coeff.se), ac1_ci = parse_ci(ac$conf.int),
  call = "irr::kappam.fleiss(diagnoses, detail = TRUE); irrCAC fleiss.kappa.raw / gwet.ac1.raw(diagnoses)")

# --- ICC: psych::ICC(lmer = FALSE) -----------------------------------------
for (i in 1:8) {
  n <- c(6, 20, 50, 150)[(i - 1) %% 4 + 1]
  k <- c(2, 3, 4, 5)[(i - 1) %% 4 + 1]
  subj <- rnorm(n, 10, 3)
  bias <- rnorm(k, 0, 1)
  x <- outer(subj, rep(1, k)) + outer(rep(1, n), bias) + matrix(rnorm(n * k, 0, 1.5), n, k)
  level <- c(0.95, 0.9)[(i - 1) %% 2 + 1]
  res <- psych::ICC(x, lmer = FALSE, alpha = 1 - level)$results
  cases[[length(cases) + 1]] <- list(
    kind = "icc", id = paste0("icc_", i), x = x, confidence_level = level,
    forms = as.character(res$type), icc = num(res$ICC), F = num(res$F), df1 = num(res$df1),
    df2 = num(res$df2), p = num(res$p), lower = num(res[["lower bound"]]),
    upper = num(res[["upper bound"]]),
    call = sprintf("psych::ICC(x, lmer = FALSE, alpha = %g)$results", 1 - level))
}
# Shrout & Fleiss (1979) Table 2 data (6 targets, 4 judges)
sf <- matrix(c(9, 2, 5, 8, 6, 1, 3, 2, 8, 4, 6, 8, 7, 1, 2, 6, 10, 5, 6, 9, 6, 2, 4, 7),
             ncol = 4, byrow = TRUE)
res <- psych::ICC(sf, lmer = FALSE)$results
cases[[length(cases) + 1]] <- list(
  kind = "icc", id = "icc_shrout_fleiss_1979", x = sf, confidence_level = 0.95,
  forms = as.character(res$type), icc = num(res$ICC), F = num(res$F), df1 = num(res$df1),
  df2 = num(res$df2), p = num(res$p), lower = num(res[["lower bound"]]),
  upper = num(res[["upper bound"]]), call = "psych::ICC(sf, lmer = FALSE)$results")

# --- CCC and repeated-measures limits: epiR::epi.ccc ------------------------
for (i in 1:8) {
  n <- c(10, 30, 100, 400)[(i - 1) %% 4 + 1]
  tv <- rnorm(n, 50, 10)
  x <- tv + rnorm(n, 0, 3)
  y <- 1.05 * tv - 2 + rnorm(n, 0, 4)
  level <- c(0.95, 0.9)[(i - 1) %% 2 + 1]
  cc <- epi.ccc(x, y, ci = "z-transform", conf.level = level)
  cases[[length(cases) + 1]] <- list(
    kind = "ccc", id = paste0("ccc_", i), x = x, y = y, confidence_level = level,
    est = num(cc$rho.c$est), lower = num(cc$rho.c$lower), upper = num(cc$rho.c$upper),
    s_shift = num(cc$s.shift), l_shift = num(cc$l.shift), C_b = num(cc$C.b),
    call = sprintf("epiR::epi.ccc(x, y, ci = 'z-transform', conf.level = %g)", level))
}
for (i in 1:6) {
  ns <- c(8, 15, 40)[(i - 1) %% 3 + 1]
  m <- sample(1:4, ns, replace = TRUE)
  if (all(m == 1)) m[1] <- 2
  sid <- rep(seq_len(ns), m)
  tv <- rnorm(length(sid), 100, 15)
  sb <- rnorm(ns, 0, 3)[sid]
  x <- tv + sb + rnorm(length(sid), 2, 4)
  y <- tv + rnorm(length(sid), 0, 2)
  level <- c(0.95, 0.9)[(i - 1) %% 2 + 1]
  cc <- suppressWarnings(epi.ccc(x, y, ci = "z-transform", conf.level = level, rep.measure = TRUE,
                                 subjectid = sid))
  cases[[length(cases) + 1]] <- list(
    kind = "ba_repeated", id = paste0("ba_repeated_", i), x = x, y = y, subject = sid,
    confidence_level = level, bias = num(cc$sblalt$est), sd = num(cc$sblalt$delta.sd),
    lower = num(cc$sblalt$lower), upper = num(cc$sblalt$upper),
    call = sprintf("epiR::epi.ccc(x, y, conf.level = %g, rep.measure = TRUE, subjectid = sid)$sblalt", level))
}

# --- Bland-Altman one pair per subject: base R ------------------------------
for (i in 1:8) {
  n <- c(5, 17, 60, 250)[(i - 1) %% 4 + 1]
  ref <- rnorm(n, 100, 20)
  meas <- ref * 1.02 + rnorm(n, 1, 6)
  level <- c(0.95, 0.9)[(i - 1) %% 2 + 1]
  cover <- c(0.95, 0.9, 0.99)[(i - 1) %% 3 + 1]
  d <- meas - ref; mn <- (meas + ref) / 2
  dbar <- mean(d); s <- sd(d); zp <- qnorm(1 - (1 - cover) / 2); a <- (1 - level) / 2
  tq <- qt(1 - a, n - 1)
  kl <- qt(a, n - 1, ncp = zp * sqrt(n)) / sqrt(n)
  ku <- qt(1 - a, n - 1, ncp = zp * sqrt(n)) / sqrt(n)
  se_loa <- s * sqrt(1 / n + zp^2 / (2 * (n - 1)))
  fit <- lm(d ~ mn)
  ci <- confint(fit, level = level)
  cases[[length(cases) + 1]] <- list(
    kind = "ba", id = paste0("ba_", i), measured = meas, reference = ref,
    confidence_level = level, loa_coverage = cover,
    bias = dbar, sd = s, bias_ci = c(dbar - tq * s / sqrt(n), dbar + tq * s / sqrt(n)),
    exact_low_ci = c(dbar - ku * s, dbar - kl * s), exact_high_ci = c(dbar + kl * s, dbar + ku * s),
    approx_low_ci = dbar - zp * s + c(-1, 1) * tq * se_loa,
    approx_high_ci = dbar + zp * s + c(-1, 1) * tq * se_loa,
    slope = num(coef(fit)[2]), slope_ci = num(ci[2, ]),
    slope_p = num(summary(fit)$coefficients[2, 4]),
    call = "d <- meas - ref; qt(p, n - 1, ncp = qnorm(1 - (1 - cover)/2) * sqrt(n)); lm(d ~ (meas + ref)/2)")
}

# --- repeatability: base R aov and qchisq -----------------------------------
for (i in 1:5) {
  ns <- c(5, 12, 30, 80, 20)[i]
  m <- sample(2:4, ns, replace = TRUE)
  m[sample(ns, 1)] <- 1
  sid <- factor(rep(seq_len(ns), m))
  v <- rnorm(ns, 30, 8)[as.integer(sid)] + rnorm(length(sid), 0, 1.3)
  level <- c(0.95, 0.9)[(i - 1) %% 2 + 1]
  tab <- anova(aov(v ~ sid))
  msw <- tab["Residuals", "Mean Sq"]; df <- tab["Residuals", "Df"]
  wsd <- sqrt(msw); a <- 1 - level
  cases[[length(cases) + 1]] <- list(
    kind = "rc", id = paste0("rc_", i), subject = as.integer(sid), value = v,
    confidence_level = level, wsd = wsd, df = df,
    rc = qnorm(0.975) * sqrt(2) * wsd,
    rc_ci = qnorm(0.975) * sqrt(2) * wsd * sqrt(df / qchisq(c(1 - a / 2, a / 2), df)),
    call = "anova(aov(v ~ subject)): Residuals Mean Sq and Df; qchisq")
}

# Landis & Koch (1977): multiple sclerosis diagnoses of Westlund & Kurland (1953), as R
# vcd's MSPatients (rows New Orleans neurologist, columns Winnipeg neurologist)
ms <- list(
  Winnipeg = matrix(c(38, 5, 0, 1, 33, 11, 3, 0, 10, 14, 5, 6, 3, 7, 3, 10), 4, byrow = TRUE),
  `New Orleans` = matrix(c(5, 3, 0, 0, 3, 11, 4, 0, 2, 13, 3, 4, 1, 2, 4, 14), 4, byrow = TRUE))
for (nm in names(ms)) {
  ck <- cohen.kappa(ms[[nm]])
  cases[[length(cases) + 1]] <- list(
    kind = "landis_koch", id = paste0("landis_koch_", nm), patients = nm, table = ms[[nm]],
    kappa = num(ck$kappa), var_kappa = num(ck$var.kappa), ci = num(ck$confid[1, c(1, 3)]),
    weighted_quadratic = num(ck$weighted.kappa),
    call = "psych::cohen.kappa(table)")
}

pv <- function(p) as.character(packageVersion(p))
meta <- list(
  R = R.version.string,
  packages = list(psych = pv("psych"), epiR = pv("epiR"), jsonlite = pv("jsonlite"),
                  dplyr = pv("dplyr")),
  irrCAC = "kgwet/irrCAC 7fb7509236672b8601c96366ca720f12a0d5bb7b (1.4), R/weights.gen.r + R/agree.coeff3.raw.r, round masked",
  irr = "cran/irr 3229aa564b28a83db755d7329fd621e523aaf997 (0.84.1), R/kappam.fleiss.R, R/kripp.alpha.R",
  seed = 20260611,
  command = "Rscript make_reference.R IRRCAC_DIR IRR_DIR > agreement_reference.json")
cat(toJSON(list(meta = meta, cases = cases), auto_unbox = TRUE, digits = NA, matrix = "rowmajor",
           na = "null"))
