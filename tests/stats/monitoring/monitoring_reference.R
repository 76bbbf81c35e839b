# Reference values for validation.stats.monitoring (tests/stats/monitoring).
#
# Run from the repository root:
#   Rscript tests/stats/monitoring/monitoring_reference.R > tests/stats/monitoring/monitoring_reference.json
# Uses Debian bookworm's r-cran-spc (0.6.7, S. Knoth) and r-cran-jsonlite; no random numbers,
# so a rerun gives the same file byte for byte.
suppressPackageStartupMessages({
  library(spc)
  library(jsonlite)
})

# ---------------------------------------------------------------- Poisson CUSUM (integer chain)
# S = max(0, S + m X - km), signal when S > hm; X ~ Poisson(mu). Checks radval's integer
# CUSUM chain, which the Bernoulli CUSUM uses with a Bernoulli X.
pois_cusum <- list()
for (d in list(c(0.5, 60, 300, 100), c(1.0, 150, 400, 100), c(0.2, 3, 20, 10),
               c(2.5, 35, 80, 10), c(0.05, 8, 250, 100), c(4, 5, 9, 1))) {
  pois_cusum[[length(pois_cusum) + 1]] <- list(
    mu = d[1], km = d[2], hm = d[3], m = d[4],
    arl = unname(pois.cusum.arl(d[1], d[2], d[3], d[4])))
}

# ---------------------------------------------------------------- Bernoulli EWMA (Gan 1990)
# p.ewma.arl with n = 1 (a Bernoulli indicator), r.mode = "round" (half up) and the limit
# (N - 0.5) / d.res, whose grid index is N = ceiling(ucl * d.res).
p_ewma <- list()
for (d in list(c(0.1, 300, 1000, 0.1, 0.1), c(0.1, 300, 1000, 0.2, 0.1),
               c(0.05, 230, 1000, 0.1, 0.1), c(0.05, 230, 1000, 0.25, 0.1),
               c(0.2, 60, 100, 0.15, 0.15), c(0.02, 90, 500, 0.05, 0.05),
               c(0.3, 8000, 10000, 0.3, 0.3), c(1.0, 500, 1000, 0.1, 0.1))) {
  lam <- d[1]; N <- d[2]; res <- d[3]; p <- d[4]; z0 <- d[5]
  p_ewma[[length(p_ewma) + 1]] <- list(
    lambda = lam, ucl_num = N, d_res = res, p = p, z0 = z0,
    arl = unname(p.ewma.arl(lam, (N - 0.5) / res, 1, p, z0, d.res = res, r.mode = "round")))
}

# ---------------------------------------------------------------- normal CUSUM (Page 1954)
xcusum <- list()
for (d in list(c(0.5, 4, 0), c(0.5, 4, 1), c(0.5, 5, 0), c(0.25, 8, 0), c(0.25, 8, 0.5),
               c(1, 2.5, 0), c(1, 2.5, 2))) {
  xcusum[[length(xcusum) + 1]] <- list(k = d[1], h = d[2], mu = d[3],
                                       arl = unname(xcusum.arl(d[1], d[2], d[3])))
}
xcusum_crit <- list()
for (d in list(c(0.5, 500), c(0.5, 1000), c(0.25, 370.4), c(1, 200))) {
  xcusum_crit[[length(xcusum_crit) + 1]] <- list(k = d[1], L0 = d[2],
                                                 h = unname(xcusum.crit(d[1], d[2])))
}

# ---------------------------------------------------------------- one-sided normal EWMA
xewma <- list()
for (d in list(c(0.1, 2.8, 0, 0), c(0.1, 2.8, 1, 0), c(0.05, 2.5, 0, 0), c(0.2, 3, 0.5, 0),
               c(0.1, 2.8, 0, -1), c(0.3, 3, 0, -0.5))) {
  xewma[[length(xewma) + 1]] <- list(
    lambda = d[1], c = d[2], mu = d[3], zr = d[4],
    arl = unname(xewma.arl(d[1], d[2], d[3], zr = d[4], sided = "one")))
}
xewma_crit <- list()
for (d in list(c(0.1, 500, 0), c(0.05, 1000, 0), c(0.2, 370.4, 0), c(0.1, 500, -1))) {
  xewma_crit[[length(xewma_crit) + 1]] <- list(
    lambda = d[1], L0 = d[2], zr = d[3],
    c = unname(xewma.crit(d[1], d[2], zr = d[3], sided = "one")))
}

out <- list(
  meta = list(
    script = "tests/stats/monitoring/monitoring_reference.R",
    command = paste("Rscript tests/stats/monitoring/monitoring_reference.R >",
                    "tests/stats/monitoring/monitoring_reference.json"),
    r_version = R.version.string,
    packages = list(spc = as.character(packageVersion("spc")),
                    jsonlite = as.character(packageVersion("jsonlite"))),
    platform = R.version$platform),
  pois_cusum = pois_cusum, p_ewma = p_ewma, xcusum = xcusum, xcusum_crit = xcusum_crit,
  xewma = xewma, xewma_crit = xewma_crit)
cat(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "\n")
