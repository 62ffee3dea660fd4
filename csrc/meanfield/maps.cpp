// The variance and correlation maps.

#include <statmech/meanfield.h>

#include "csrc/meanfield/argument_checks.h"
#include <statmech/dual_activation.h>

namespace statmech::meanfield {

double q_map(double q, double sigma_w2, double sigma_b2, const Activation& activation) {
  detail::check_positive_variance("q_map", "q", q);
  detail::check_positive_variance("q_map", "sigma_w2", sigma_w2);
  detail::check_nonnegative_variance("q_map", "sigma_b2", sigma_b2);
  return sigma_w2 * dual::moments(activation, q).second + sigma_b2;
}

double c_map(double c, double q, double sigma_w2, double sigma_b2, const Activation& activation) {
  detail::check_correlation("c_map", "c", c);
  detail::check_positive_variance("c_map", "q", q);
  detail::check_positive_variance("c_map", "sigma_w2", sigma_w2);
  detail::check_nonnegative_variance("c_map", "sigma_b2", sigma_b2);
  const double next_variance = sigma_w2 * dual::moments(activation, q).second + sigma_b2;
  return (sigma_w2 * dual::kernel(activation, q, q, c).value + sigma_b2) / next_variance;
}

} // namespace statmech::meanfield
