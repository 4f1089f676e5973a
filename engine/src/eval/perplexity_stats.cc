// The statistics of perplexity and KL-divergence runs (docs/perplexity.md, "What is
// computed"), with llama-perplexity's arithmetic: max-shifted float exponentials summed in
// double, float log-probability compression.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "rwkv/engine/perplexity.h"

namespace rwkv::engine {

MeanAndError MeanWithError(double sum, double sum2, uint64_t count) {
  if (count < 1) return {};
  const double n = static_cast<double>(count);
  const double mean = sum / n;
  double var = sum2 / n - mean * mean;
  const double error = var > 0 && count > 10 ? std::sqrt(var / (n - 1)) : 0.0;
  return {mean, error};
}

double MeanCovariance(double sum_a, double sum_b, double sum_ab, uint64_t count) {
  if (count < 10) return 0.0;
  const double n = static_cast<double>(count);
  return (sum_ab / n - (sum_a / n) * (sum_b / n)) / (n - 1.0);
}

double NllStats::Ppl() const { return std::exp(MeanNll()); }

double NllStats::PplError() const {
  if (count < 2) return 0.0;
  const double n = static_cast<double>(count);
  const double mean = nll / n;
  const double var = nll2 / n - mean * mean;
  if (!(var > 0)) return 0.0;
  return std::exp(mean) * std::sqrt(var / (n - 1));
}

namespace {

float MaxOf(std::span<const float> v) {
  float m = v[0];
  for (size_t i = 1; i < v.size(); ++i) m = std::max(m, v[i]);
  return m;
}

double SumExp(std::span<const float> v, float max_logit) {
  double sum = 0.0;
  for (float x : v) sum += std::exp(x - max_logit);
  return sum;
}

}  // namespace

double TokenNll(std::span<const float> logits, int32_t token) {
  const float max_logit = MaxOf(logits);
  const double sum_exp = SumExp(logits, max_logit);
  return -(static_cast<double>(logits[static_cast<size_t>(token)] - max_logit) - std::log(sum_exp));
}

double CompressLogProbs(std::span<const float> logits, int32_t token, std::span<uint16_t> row) {
  float max_logit = logits[0], min_logit = logits[0];
  for (size_t i = 1; i < logits.size(); ++i) {
    max_logit = std::max(max_logit, logits[i]);
    min_logit = std::min(min_logit, logits[i]);
  }
  min_logit = std::max(min_logit, max_logit - 16);
  const double sum_exp = SumExp(logits, max_logit);
  const float log_sum_exp = static_cast<float>(std::log(sum_exp));
  const float min_log_prob = min_logit - max_logit - log_sum_exp;
  const float scale = (max_logit - min_logit) / 65535.f;
  std::memcpy(row.data(), &scale, sizeof(float));
  std::memcpy(row.data() + 2, &min_log_prob, sizeof(float));
  uint16_t* q = row.data() + 4;
  std::fill(q, row.data() + row.size(), uint16_t{0});
  if (scale > 0) {
    const float inv_scale = 1 / scale;
    for (size_t i = 0; i < logits.size(); ++i) {
      if (logits[i] > min_logit) {
        q[i] = static_cast<uint16_t>(
            std::min(65535.f, std::nearbyint(inv_scale * (logits[i] - min_logit))));
      }
    }
  }
  return -(static_cast<double>(logits[static_cast<size_t>(token)] - max_logit) - std::log(sum_exp));
}

double AddKldPosition(std::span<const float> logits, std::span<const uint16_t> row, int32_t token,
                      KldStats& stats, float* p_diff_out) {
  float max_logit = logits[0];
  size_t imax = 0;
  for (size_t i = 1; i < logits.size(); ++i) {
    if (logits[i] > max_logit) {
      max_logit = logits[i];
      imax = i;
    }
  }
  const double sum_exp = SumExp(logits, max_logit);
  const float log_sum_exp = static_cast<float>(std::log(sum_exp));
  float scale, min_log_prob;
  std::memcpy(&scale, row.data(), sizeof(float));
  std::memcpy(&min_log_prob, row.data() + 2, sizeof(float));
  const uint16_t* base = row.data() + 4;
  const size_t tok = static_cast<size_t>(token);

  stats.q.Add(-(static_cast<double>(logits[tok] - max_logit) - std::log(sum_exp)));
  const float nll = max_logit + log_sum_exp - logits[tok];
  stats.sum_nll += nll;
  stats.sum_nll2 += static_cast<double>(nll) * nll;
  const float nll_base = -(scale * base[tok] + min_log_prob);
  stats.sum_nll_base += nll_base;
  stats.sum_nll_base2 += static_cast<double>(nll_base) * nll_base;
  stats.sum_nll_nll_base += static_cast<double>(nll) * nll_base;

  const float log_norm = max_logit + log_sum_exp;  // ln q_i = logits[i] − log_norm
  double kld = 0;
  size_t imax_base = 0;
  float base_max = 0;
  for (size_t i = 0; i < logits.size(); ++i) {
    const float lp_base = scale * base[i] + min_log_prob;
    if (i == 0 || lp_base > base_max) {
      base_max = lp_base;
      imax_base = i;
    }
    if (lp_base > -16.f) {
      kld += std::exp(lp_base) * (lp_base - logits[i] + log_norm);
    }
  }
  stats.sum_kld += kld;
  stats.sum_kld2 += kld * kld;
  ++stats.count;
  // A tie in the 16-bit row (the two entries within one step, ~1e-4 in ln p) counts as the
  // same top token: the row cannot tell which of them is higher.
  if (imax == imax_base || base[imax] == base[imax_base]) ++stats.n_same_top;

  const float p_diff = std::exp(-nll) - std::exp(-nll_base);
  stats.sum_p_diff += p_diff;
  const double p_diff2 = static_cast<double>(p_diff) * p_diff;
  stats.sum_p_diff2 += p_diff2;
  stats.sum_p_diff4 += p_diff2 * p_diff2;
  stats.max_p_diff = std::max(stats.max_p_diff, std::fabs(p_diff));
  if (p_diff_out != nullptr) *p_diff_out = p_diff;
  return kld;
}

double Percentile(std::span<const float> sorted, double fraction) {
  if (fraction <= 0) return sorted.front();
  if (fraction >= 1) return sorted.back();
  double p = fraction * static_cast<double>(sorted.size() - 1);
  const size_t ip = static_cast<size_t>(p);
  p -= static_cast<double>(ip);
  return (1 - p) * sorted[ip] + p * sorted[std::min(ip + 1, sorted.size() - 1)];
}

double Median(std::span<const float> sorted) {
  const size_t n = sorted.size();
  return n % 2 == 0 ? 0.5 * (static_cast<double>(sorted[n / 2]) + sorted[n / 2 - 1])
                    : sorted[n / 2];
}

namespace {

Spread SpreadOf(std::vector<float> values) {
  Spread r;
  if (values.empty()) return r;
  std::sort(values.begin(), values.end());
  const std::span<const float> v(values);
  r.max = v.back();
  r.p999 = Percentile(v, 0.999);
  r.p99 = Percentile(v, 0.99);
  r.p95 = Percentile(v, 0.95);
  r.p90 = Percentile(v, 0.90);
  r.median = Median(v);
  r.p10 = Percentile(v, 0.10);
  r.p05 = Percentile(v, 0.05);
  r.p01 = Percentile(v, 0.01);
  r.min = v.front();
  return r;
}

}  // namespace

KldSummary SummarizeKld(const KldStats& s, std::vector<float> kld_values,
                        std::vector<float> p_diff_values) {
  KldSummary r;
  r.count = s.count;
  if (s.count == 0) return r;
  const MeanAndError ln_q = MeanWithError(s.sum_nll, s.sum_nll2, s.count);
  const MeanAndError ln_base = MeanWithError(s.sum_nll_base, s.sum_nll_base2, s.count);
  r.ppl_q = {std::exp(ln_q.mean), std::exp(ln_q.mean) * ln_q.error};
  r.ppl_base = {std::exp(ln_base.mean), std::exp(ln_base.mean) * ln_base.error};
  const double cov = MeanCovariance(s.sum_nll, s.sum_nll_base, s.sum_nll_nll_base, s.count);
  const double denom = ln_q.error * ln_base.error;
  r.ln_ppl_correlation = denom > 0 ? cov / denom : 0.0;
  const double ratio_var = ln_q.error * ln_q.error + ln_base.error * ln_base.error - 2.0 * cov;
  r.ln_ppl_ratio = {ln_q.mean - ln_base.mean, std::sqrt(std::max(0.0, ratio_var))};
  r.ppl_ratio = {std::exp(r.ln_ppl_ratio.value),
                 std::exp(r.ln_ppl_ratio.value) * r.ln_ppl_ratio.error};
  const double ppl_cov = r.ppl_q.value * r.ppl_base.value * cov;
  const double diff_var =
      r.ppl_q.error * r.ppl_q.error + r.ppl_base.error * r.ppl_base.error - 2.0 * ppl_cov;
  r.ppl_diff = {r.ppl_q.value - r.ppl_base.value, std::sqrt(std::max(0.0, diff_var))};

  const MeanAndError kld = MeanWithError(s.sum_kld, s.sum_kld2, s.count);
  r.kld = {kld.mean, kld.error};
  r.kld_spread = SpreadOf(std::move(kld_values));
  const MeanAndError pd = MeanWithError(s.sum_p_diff, s.sum_p_diff2, s.count);
  r.p_diff_mean = {pd.mean, pd.error};
  r.p_diff_spread = SpreadOf(std::move(p_diff_values));
  const MeanAndError mse = MeanWithError(s.sum_p_diff2, s.sum_p_diff4, s.count);
  const double rms = std::sqrt(mse.mean);
  r.p_diff_rms = {rms, rms > 0 ? 0.5 / rms * mse.error : 0.0};
  const double n = static_cast<double>(s.count);
  const double top = static_cast<double>(s.n_same_top) / n;
  r.same_top = {top, s.count > 1 ? std::sqrt(top * (1.0 - top) / (n - 1)) : 0.0};
  return r;
}

}  // namespace rwkv::engine
