# Reference values for validation.stats.planning (tests/stats/planning).
#
# Run from the repository root:
#   Rscript tests/stats/planning/planning_reference.R > tests/stats/planning/planning_reference.json
# Uses only packages Debian bookworm ships (r-cran-proc, r-cran-epir, r-cran-jsonlite) and base R.
suppressPackageStartupMessages({
  library(pROC)
  library(epiR)
  library(jsonlite)
})

# ---------------------------------------------------------------- precision (Buderer 1996)
# epiR::epi.ssdxsesp: n = z^2 Se (1 - Se) / (epsilon^2 Py); Py = 1 gives the cases of the class.
precision <- list()
for (se in c(0.7, 0.8, 0.85, 0.9, 0.95, 0.98)) {
  for (eps in c(0.03, 0.05, 0.07, 0.1)) {
    for (py in c(0.05, 0.2, 0.5)) {
      for (cl in c(0.9, 0.95, 0.99)) {
        precision[[length(precision) + 1]] <- list(
          expected = se, half_width = eps, prevalence = py, confidence_level = cl,
          n_fractional = epi.ssdxsesp(test = se, type = "se", Py = 1, epsilon = eps,
                                      error = "absolute", nfractional = TRUE,
                                      conf.level = cl),
          n_epir = epi.ssdxsesp(test = se, type = "se", Py = 1, epsilon = eps,
                                error = "absolute", nfractional = FALSE, conf.level = cl),
          total_fractional = epi.ssdxsesp(test = se, type = "se", Py = py, epsilon = eps,
                                          error = "absolute", nfractional = TRUE,
                                          conf.level = cl),
          total_epir = epi.ssdxsesp(test = se, type = "se", Py = py, epsilon = eps,
                                    error = "absolute", nfractional = FALSE, conf.level = cl))
      }
    }
  }
}

# ---------------------------------------------------------------- goal (lower bound > goal)
# Exact power: sum of dbinom over the counts whose Clopper-Pearson lower bound (qbeta, as in
# binom.test) exceeds the goal; spot-checked against binom.test itself below.
cp_power <- function(n, p, g, cl) {
  a <- (1 - cl) / 2
  x <- 0:n
  low <- ifelse(x == 0, 0, qbeta(a, x, n - x + 1))
  sum(dbinom(x[low > g], n, p))
}
normal_n <- function(p, g, cl, pw) {
  za <- qnorm(1 - (1 - cl) / 2)
  ((za * sqrt(g * (1 - g)) + qnorm(pw) * sqrt(p * (1 - p))) / (p - g))^2
}
goal <- list()
goal_designs <- list(c(0.9, 0.8, 0.8, 0.95), c(0.9, 0.8, 0.9, 0.95), c(0.95, 0.85, 0.8, 0.95),
                     c(0.85, 0.75, 0.9, 0.95), c(0.8, 0.7, 0.8, 0.95), c(0.97, 0.9, 0.8, 0.95),
                     c(0.92, 0.85, 0.8, 0.90), c(0.9, 0.75, 0.8, 0.99), c(0.6, 0.5, 0.8, 0.95),
                     c(0.99, 0.95, 0.8, 0.95))
for (d in goal_designs) {
  p <- d[1]; g <- d[2]; pw <- d[3]; cl <- d[4]
  n0 <- normal_n(p, g, cl, pw)
  top <- max(64, 6 * ceiling(n0))
  curve <- sapply(1:top, cp_power, p = p, g = g, cl = cl)
  ok <- curve >= pw
  first <- which(ok)[1]
  stable <- NA
  for (m in 1:floor(top / 2)) if (all(ok[m:(2 * m)])) { stable <- m; break }
  goal[[length(goal) + 1]] <- list(
    expected = p, goal = g, power = pw, confidence_level = cl, normal_unrounded = n0,
    normal_power_at_n = pnorm((sqrt(ceiling(n0)) * (p - g) - qnorm(1 - (1 - cl) / 2) *
                                 sqrt(g * (1 - g))) / sqrt(p * (1 - p))),
    exact_n = first, exact_power = curve[first], exact_n_stable = stable,
    curve = curve[1:min(top, 2 * stable + 10)])
}
# binom.test itself for a few (x, n): the lower bound compared with the goal
binom_test_bounds <- list()
for (nx in list(c(50, 45), c(60, 54), c(61, 55), c(120, 108), c(200, 171), c(7, 7))) {
  binom_test_bounds[[length(binom_test_bounds) + 1]] <- list(
    n = nx[1], x = nx[2],
    low95 = binom.test(nx[2], nx[1], conf.level = 0.95)$conf.int[1],
    low90 = binom.test(nx[2], nx[1], conf.level = 0.90)$conf.int[1])
}

# ---------------------------------------------------------------- one AUC (pROC power.roc.test)
auc_n <- list()
for (auc in c(0.6, 0.7, 0.73, 0.8, 0.9, 0.95)) {
  for (kappa in c(0.5, 1, 1.7, 3)) {
    for (pw in c(0.8, 0.9, 0.95)) {
      for (alt in c("two.sided", "one.sided")) {
        r <- power.roc.test(auc = auc, sig.level = 0.05, power = pw, kappa = kappa,
                            alternative = alt)
        auc_n[[length(auc_n) + 1]] <- list(auc = auc, kappa = kappa, power = pw,
                                           alternative = alt, sig.level = 0.05,
                                           ncases = r$ncases, ncontrols = r$ncontrols)
      }
    }
  }
}
auc_power <- list()
for (nn in list(c(41, 72), c(20, 20), c(50, 150), c(100, 60), c(12, 30))) {
  for (auc in c(0.65, 0.73, 0.85)) {
    for (alt in c("two.sided", "one.sided")) {
      for (sig in c(0.05, 0.01)) {
        r <- power.roc.test(ncases = nn[1], ncontrols = nn[2], auc = auc, sig.level = sig,
                            alternative = alt)
        auc_power[[length(auc_power) + 1]] <- list(ncases = nn[1], ncontrols = nn[2],
                                                   auc = auc, alternative = alt,
                                                   sig.level = sig, power = r$power)
      }
    }
  }
}

# detectable AUC (pROC solves with uniroot at its default tolerance, about 1e-4)
auc_detectable <- list()
for (nn in list(c(41, 72), c(20, 20), c(50, 150), c(100, 60))) {
  for (pw in c(0.8, 0.95)) {
    for (alt in c("two.sided", "one.sided")) {
      r <- power.roc.test(ncases = nn[1], ncontrols = nn[2], sig.level = 0.05, power = pw,
                          alternative = alt)
      auc_detectable[[length(auc_detectable) + 1]] <- list(
        ncases = nn[1], ncontrols = nn[2], power = pw, alternative = alt, sig.level = 0.05,
        auc = as.numeric(r$auc))
    }
  }
}

# ---------------------------------------------------------------- two AUCs (binormal list)
paired_auc <- list()
paired_designs <- list(
  list(A1 = 2.6, B1 = 1, A2 = 1.9, B2 = 1, rn = 0.6, ra = 0.6),  # O&M 1997 ex. 2, full AUC
  list(A1 = 1.5, B1 = 1, A2 = 1.2, B2 = 1, rn = 0.5, ra = 0.5),
  list(A1 = 1.8, B1 = 0.8, A2 = 1.4, B2 = 1.2, rn = 0.3, ra = 0.7),
  list(A1 = 1.2, B1 = 1.5, A2 = 1.0, B2 = 0.7, rn = 0.4, ra = 0.2),
  list(A1 = 2.0, B1 = 1, A2 = 2.2, B2 = 1, rn = 0.8, ra = 0.6))
for (pl in paired_designs) {
  pl$delta <- pnorm(pl$A1 / sqrt(1 + pl$B1^2)) - pnorm(pl$A2 / sqrt(1 + pl$B2^2))
  for (kappa in c(1, 2)) {
    for (alt in c("two.sided", "one.sided")) {
      r <- power.roc.test(pl, power = 0.8, sig.level = 0.05, kappa = kappa, alternative = alt)
      rp <- power.roc.test(pl, power = NULL, sig.level = 0.05, ncases = 80,
                           ncontrols = 80 * kappa, alternative = alt)
      paired_auc[[length(paired_auc) + 1]] <- c(pl, list(
        kappa = kappa, alternative = alt, sig.level = 0.05, power = 0.8, ncases = r$ncases,
        ncontrols = r$ncontrols, power_at_80 = rp$power))
    }
  }
}

# ---------------------------------------------------------------- paired proportions
# Connor (1987) closed form in base R, and the restricted MLE of the discordance under
# p10 - p01 = delta0 found numerically (optimize over p01 on the profile log-likelihood).
connor_n <- function(p10, p01, alpha, pw, sided) {
  psi <- p10 + p01; d <- p10 - p01
  za <- qnorm(1 - alpha / sided)
  ((za * sqrt(psi) + qnorm(pw) * sqrt(psi - d^2)) / d)^2
}
connor <- list()
for (cell in list(c(0.05, 0.45), c(0.10, 0.05), c(0.12, 0.04), c(0.2, 0.1), c(0.03, 0.08))) {
  for (sided in c(1, 2)) {
    connor[[length(connor) + 1]] <- list(p10 = cell[1], p01 = cell[2], alpha = 0.05,
                                         power = 0.8, sided = sided,
                                         n = connor_n(cell[1], cell[2], 0.05, 0.8, sided))
  }
}
restricted <- list()
for (cell in list(c(0.7, 0.1, 0.08, 0.12), c(0.6, 0.15, 0.15, 0.1), c(0.8, 0.05, 0.1, 0.05),
                  c(0.5, 0.2, 0.1, 0.2))) {
  for (delta0 in c(-0.05, -0.1, -0.02)) {
    a <- cell[1]; b <- cell[2]; c <- cell[3]; d <- cell[4]
    prof <- function(q) b * log(q + delta0) + c * log(q) + (a + d) * log(1 - 2 * q - delta0)
    lo <- max(0, -delta0) + 1e-12; hi <- (1 - delta0) / 2 - 1e-12
    q <- optimize(prof, c(lo, hi), maximum = TRUE, tol = 1e-13)$maximum
    restricted[[length(restricted) + 1]] <- list(p11 = a, p10 = b, p01 = c, p00 = d,
                                                 delta0 = delta0, p01_restricted = q,
                                                 var0 = 2 * q + delta0 - delta0^2)
  }
}

cat(toJSON(list(
  meta = list(
    script = "tests/stats/planning/planning_reference.R",
    command = paste("Rscript tests/stats/planning/planning_reference.R >",
                    "tests/stats/planning/planning_reference.json"),
    r_version = R.version.string,
    packages = list(pROC = as.character(packageVersion("pROC")),
                    epiR = as.character(packageVersion("epiR")),
                    jsonlite = as.character(packageVersion("jsonlite"))),
    platform = R.version$platform),
  precision = precision, goal = goal, binom_test_bounds = binom_test_bounds,
  auc_n = auc_n, auc_power = auc_power, auc_detectable = auc_detectable,
  paired_auc = paired_auc, connor = connor, restricted = restricted),
  auto_unbox = TRUE, digits = NA, pretty = FALSE))
cat("\n")
