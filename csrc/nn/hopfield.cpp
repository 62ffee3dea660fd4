// statmech::nn::Hopfield, HopfieldPooling and HopfieldLayer: thin shells over the modern Hopfield
// operators that hold the projections and defaults. The arithmetic mirrors
// python/statmech/nn/hopfield.py line for line, so equal parameters give equal outputs.

#include <statmech/modern_hopfield.h>
#include <statmech/nn/hopfield.h>

#include <torch/nn/init.h>
#include <torch/nn/functional/activation.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace statmech::nn {
namespace {

constexpr const char* kHopfield = "statmech::nn::Hopfield";

double inverse_softplus(double y) {
  // log(exp(y) - 1), stable for large y
  return y > 20 ? y : std::log(std::expm1(y));
}

} // namespace

HopfieldImpl::HopfieldImpl(HopfieldOptions options_) : options(std::move(options_)) {
  reset();
}

void HopfieldImpl::reset() {
  const auto& o = options;
  const int64_t heads = o.num_heads();
  TORCH_CHECK(o.input_size() > 0, kHopfield, ": input_size must be > 0, got ", o.input_size());
  TORCH_CHECK(heads > 0, kHopfield, ": num_heads must be > 0, got ", heads);
  const int64_t stored_size = o.stored_size().value_or(o.input_size());
  const int64_t value_size = o.value_size().value_or(stored_size);
  if (o.hidden_size().has_value()) {
    head_dim = *o.hidden_size();
  } else if (!o.state_projection()) {
    head_dim = o.input_size();
  } else if (!o.stored_projection()) {
    head_dim = stored_size;
  } else {
    TORCH_CHECK(
        o.input_size() % heads == 0, kHopfield, ": input_size (", o.input_size(), ") must be divisible by num_heads (",
        heads, ") unless hidden_size is given");
    head_dim = o.input_size() / heads;
  }
  TORCH_CHECK(head_dim > 0, kHopfield, ": hidden_size must be > 0, got ", head_dim);
  TORCH_CHECK(
      o.state_projection() || o.input_size() == head_dim, kHopfield,
      ": without the state projection the head dimension hidden_size (", head_dim, ") must equal input_size (",
      o.input_size(), ")");
  TORCH_CHECK(
      o.stored_projection() || stored_size == head_dim, kHopfield,
      ": without the stored projection the head dimension hidden_size (", head_dim, ") must equal stored_size (",
      stored_size, ")");
  pattern_dim = o.pattern_size().value_or(o.value_projection() ? head_dim : value_size);
  TORCH_CHECK(pattern_dim > 0, kHopfield, ": pattern_size must be > 0, got ", pattern_dim);
  TORCH_CHECK(
      o.value_projection() || value_size == pattern_dim, kHopfield,
      ": without the value projection pattern_size (", pattern_dim, ") must equal value_size (", value_size, ")");
  TORCH_CHECK(o.update_steps() >= 0, kHopfield, ": update_steps must be >= 0, got ", o.update_steps());
  TORCH_CHECK(o.eps() >= 0, kHopfield, ": eps must be >= 0, got ", o.eps());
  TORCH_CHECK(o.dropout() >= 0 && o.dropout() < 1, kHopfield, ": dropout must be in [0, 1), got ", o.dropout());
  TORCH_CHECK(
      o.separation() == "softmax" || o.separation() == "sparsemax" || o.separation() == "entmax15", kHopfield,
      ": separation must be \"softmax\", \"sparsemax\" or \"entmax15\", got \"", o.separation(), "\"");

  std::vector<double> betas = o.head_betas();
  if (betas.empty()) {
    betas.assign(heads, o.beta().value_or(1.0 / std::sqrt(static_cast<double>(head_dim))));
  }
  TORCH_CHECK(
      static_cast<int64_t>(betas.size()) == heads, kHopfield, ": head_betas must have one entry per head (",
      heads, "), got ", betas.size());
  for (double b : betas) {
    TORCH_CHECK(b > 0 && std::isfinite(b), kHopfield, ": beta must be > 0 (an inverse temperature), got ", b);
  }
  if (o.learn_beta()) {
    std::vector<double> raw(betas.size());
    std::transform(betas.begin(), betas.end(), raw.begin(), inverse_softplus);
    raw_beta = register_parameter("raw_beta", torch::tensor(raw, torch::kFloat));
  } else {
    fixed_beta = register_buffer("beta", torch::tensor(betas, torch::kFloat));
  }

  const int64_t hidden = heads * head_dim;
  if (o.state_projection()) {
    state_proj = register_module(
        "state_proj", torch::nn::Linear(torch::nn::LinearOptions(o.input_size(), hidden).bias(o.bias())));
  }
  if (o.stored_projection()) {
    stored_proj = register_module(
        "stored_proj", torch::nn::Linear(torch::nn::LinearOptions(stored_size, hidden).bias(o.bias())));
  }
  if (o.value_projection()) {
    value_proj = register_module(
        "value_proj", torch::nn::Linear(torch::nn::LinearOptions(value_size, heads * pattern_dim).bias(o.bias())));
  }
  if (o.out_projection()) {
    out_proj = register_module(
        "out_proj",
        torch::nn::Linear(
            torch::nn::LinearOptions(heads * pattern_dim, o.output_size().value_or(o.input_size())).bias(o.bias())));
  }
  if (o.normalize_state()) {
    state_norm = register_module("state_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.input_size()})));
  }
  if (o.normalize_stored()) {
    stored_norm = register_module("stored_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({stored_size})));
  }
  if (o.normalize_value()) {
    value_norm = register_module("value_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({value_size})));
  }
  reset_parameters();
}

void HopfieldImpl::reset_parameters() {
  torch::NoGradGuard guard;
  for (auto* proj : {&state_proj, &stored_proj, &value_proj, &out_proj}) {
    if (!proj->is_empty()) {
      torch::nn::init::xavier_uniform_((*proj)->weight);
      if ((*proj)->bias.defined()) {
        (*proj)->bias.zero_();
      }
    }
  }
  for (auto* norm : {&state_norm, &stored_norm, &value_norm}) {
    if (!norm->is_empty()) {
      (*norm)->reset_parameters();
    }
  }
}

void HopfieldImpl::pretty_print(std::ostream& stream) const {
  const auto& o = options;
  stream << "statmech::nn::Hopfield(input_size=" << o.input_size() << ", num_heads=" << o.num_heads()
         << ", hidden_size=" << head_dim << ", pattern_size=" << pattern_dim << ", update_steps=" << o.update_steps()
         << ", separation=" << o.separation() << (o.learn_beta() ? ", learn_beta=true" : "") << ")";
}

torch::Tensor HopfieldImpl::effective_beta() const {
  return options.learn_beta() ? torch::nn::functional::softplus(raw_beta) : fixed_beta;
}

torch::Tensor HopfieldImpl::heads(const torch::Tensor& x, torch::nn::Linear proj, int64_t dim) const {
  const int64_t batch = x.size(0), count = x.size(1), heads = options.num_heads();
  if (proj.is_empty()) {
    return x.unsqueeze(1).expand({batch, heads, count, x.size(2)});
  }
  return proj(x).reshape({batch, count, heads, dim}).transpose(1, 2);
}

std::tuple<torch::Tensor, torch::Tensor, torch::Tensor, torch::Tensor> HopfieldImpl::project(
    const torch::Tensor& state, const torch::Tensor& stored, const torch::Tensor& value, bool need_value,
    const torch::Tensor& mask, const torch::Tensor& stored_mask) {
  TORCH_CHECK(state.dim() == 3, kHopfield, ": state must be 3-D [B, L, input_size] (batch_first) or [L, B, input_size], got shape ", state.sizes());
  const bool bf = options.batch_first();
  torch::Tensor s = bf ? state : state.transpose(0, 1);
  torch::Tensor k = stored.defined() ? (bf ? stored : stored.transpose(0, 1)) : s;
  torch::Tensor v = value.defined() ? (bf ? value : value.transpose(0, 1)) : (stored.defined() ? k : s);
  const int64_t stored_size = options.stored_size().value_or(options.input_size());
  const int64_t value_size = options.value_size().value_or(stored_size);
  for (const auto& [name, x, size] : {std::tuple<const char*, const torch::Tensor&, int64_t>{"state", s, options.input_size()},
                                      {"stored", k, stored_size}, {"value", v, value_size}}) {
    TORCH_CHECK(
        (!need_value && std::string(name) == "value") || (x.dim() == 3 && x.size(2) == size), kHopfield, ": ", name, " must be 3-D with ", size,
        " features in its last dimension, got shape ", x.sizes());
  }
  if (!state_norm.is_empty()) {
    s = state_norm(s);
  }
  if (!stored_norm.is_empty()) {
    k = stored_norm(k);
  }
  if (need_value && !value_norm.is_empty()) {
    v = value_norm(v);
  }
  torch::Tensor q_heads = heads(s, state_proj, head_dim);
  torch::Tensor k_heads = heads(k, stored_proj, head_dim);
  torch::Tensor v_heads = need_value ? heads(v, value_proj, pattern_dim) : torch::Tensor();

  torch::Tensor combined = mask;
  if (stored_mask.defined()) {
    TORCH_CHECK(
        stored_mask.scalar_type() == torch::kBool && stored_mask.dim() == 2 && stored_mask.size(0) == k.size(0) &&
            stored_mask.size(1) == k.size(1),
        kHopfield, ": stored_mask must be a bool tensor [B, S] = [", k.size(0), ", ", k.size(1), "], got ",
        stored_mask.scalar_type(), " of shape ", stored_mask.sizes());
    const auto takes_part = stored_mask.view({k.size(0), 1, 1, k.size(1)});
    if (!combined.defined()) {
      combined = takes_part;
    } else if (combined.scalar_type() == torch::kBool) {
      combined = combined.logical_and(takes_part);
    } else {
      combined = combined.masked_fill(takes_part.logical_not(), -std::numeric_limits<double>::infinity());
    }
  }
  return {q_heads, k_heads, v_heads, combined};
}

static std::optional<torch::Tensor> optional_mask(const torch::Tensor& mask) {
  return mask.defined() ? std::optional<torch::Tensor>(mask) : std::nullopt;
}

torch::Tensor HopfieldImpl::forward(
    const torch::Tensor& state, const torch::Tensor& stored, const torch::Tensor& value, const torch::Tensor& mask,
    const torch::Tensor& stored_mask, std::optional<at::Generator> generator) {
  auto [q, k, v, m] = project(state, stored, value, true, mask, stored_mask);
  const auto& o = options;
  const torch::Tensor retrieved = statmech::hopfield_retrieval(
      q, k, v, effective_beta(), o.update_steps(), o.eps(), optional_mask(m), o.separation(),
      is_training() ? o.dropout() : 0.0, std::move(generator));
  torch::Tensor out = retrieved.transpose(1, 2).reshape({q.size(0), q.size(2), o.num_heads() * pattern_dim});
  if (!out_proj.is_empty()) {
    out = out_proj(out);
  }
  return o.batch_first() ? out : out.transpose(0, 1);
}

torch::Tensor HopfieldImpl::association(
    const torch::Tensor& state, const torch::Tensor& stored, const torch::Tensor& mask, const torch::Tensor& stored_mask) {
  auto [q, k, v, m] = project(state, stored, {}, false, mask, stored_mask);
  const auto& o = options;
  return std::get<1>(
      statmech::hopfield_retrieval_explicit(q, k, k, effective_beta(), o.update_steps(), o.eps(), optional_mask(m), o.separation()));
}

torch::Tensor HopfieldImpl::energy(
    const torch::Tensor& state, const torch::Tensor& stored, const torch::Tensor& mask, const torch::Tensor& stored_mask) {
  auto [q, k, v, m] = project(state, stored, {}, false, mask, stored_mask);
  return statmech::hopfield_energy(q, k, effective_beta(), optional_mask(m));
}

// ---- HopfieldPooling ---------------------------------------------------------------------------

HopfieldPoolingImpl::HopfieldPoolingImpl(HopfieldPoolingOptions options_) : options(std::move(options_)) {
  reset();
}

void HopfieldPoolingImpl::reset() {
  TORCH_CHECK(
      options.num_queries() > 0, "statmech::nn::HopfieldPooling: num_queries must be > 0, got ", options.num_queries());
  hopfield = register_module("hopfield", Hopfield(options.hopfield()));
  queries = register_parameter("queries", torch::empty({options.num_queries(), options.hopfield().input_size()}));
  reset_parameters();
}

void HopfieldPoolingImpl::reset_parameters() {
  torch::NoGradGuard guard;
  hopfield->reset_parameters();
  queries.normal_(0.0, 1.0 / std::sqrt(static_cast<double>(options.hopfield().input_size())));
}

torch::Tensor HopfieldPoolingImpl::batched_queries(const torch::Tensor& stored) const {
  const bool bf = options.hopfield().batch_first();
  TORCH_CHECK(stored.dim() == 3, "statmech::nn::HopfieldPooling: stored must be 3-D, got shape ", stored.sizes());
  const int64_t batch = stored.size(bf ? 0 : 1);
  const auto q = queries.unsqueeze(0).expand({batch, queries.size(0), queries.size(1)});
  return bf ? q : q.transpose(0, 1);
}

torch::Tensor HopfieldPoolingImpl::forward(
    const torch::Tensor& stored, const torch::Tensor& value, const torch::Tensor& mask, const torch::Tensor& stored_mask,
    std::optional<at::Generator> generator) {
  return hopfield->forward(batched_queries(stored), stored, value, mask, stored_mask, std::move(generator));
}

torch::Tensor HopfieldPoolingImpl::association(
    const torch::Tensor& stored, const torch::Tensor& mask, const torch::Tensor& stored_mask) {
  return hopfield->association(batched_queries(stored), stored, mask, stored_mask);
}

torch::Tensor HopfieldPoolingImpl::energy(
    const torch::Tensor& stored, const torch::Tensor& mask, const torch::Tensor& stored_mask) {
  return hopfield->energy(batched_queries(stored), stored, mask, stored_mask);
}

// ---- HopfieldLayer -----------------------------------------------------------------------------

HopfieldLayerImpl::HopfieldLayerImpl(HopfieldLayerOptions options_) : options(std::move(options_)) {
  reset();
}

void HopfieldLayerImpl::reset() {
  TORCH_CHECK(
      options.num_patterns() > 0, "statmech::nn::HopfieldLayer: num_patterns must be > 0, got ",
      options.num_patterns());
  const auto& h = options.hopfield();
  const int64_t stored_size = h.stored_size().value_or(h.input_size());
  const int64_t value_size = h.value_size().value_or(stored_size);
  hopfield = register_module("hopfield", Hopfield(h));
  patterns = register_parameter("patterns", torch::empty({options.num_patterns(), stored_size}));
  if (options.separate_values()) {
    values = register_parameter("values", torch::empty({options.num_patterns(), value_size}));
  } else {
    TORCH_CHECK(
        value_size == stored_size, "statmech::nn::HopfieldLayer: without separate_values the patterns are their own "
        "values, so value_size (", value_size, ") must equal stored_size (", stored_size, ")");
  }
  reset_parameters();
}

void HopfieldLayerImpl::reset_parameters() {
  torch::NoGradGuard guard;
  hopfield->reset_parameters();
  patterns.normal_(0.0, 1.0 / std::sqrt(static_cast<double>(patterns.size(1))));
  if (values.defined()) {
    values.normal_(0.0, 1.0 / std::sqrt(static_cast<double>(values.size(1))));
  }
}

std::pair<torch::Tensor, torch::Tensor> HopfieldLayerImpl::memory(const torch::Tensor& state) const {
  const bool bf = options.hopfield().batch_first();
  TORCH_CHECK(state.dim() == 3, "statmech::nn::HopfieldLayer: state must be 3-D, got shape ", state.sizes());
  const int64_t batch = state.size(bf ? 0 : 1);
  auto expand = [&](const torch::Tensor& t) {
    const auto e = t.unsqueeze(0).expand({batch, t.size(0), t.size(1)});
    return bf ? e : e.transpose(0, 1);
  };
  const auto stored = expand(patterns);
  return {stored, values.defined() ? expand(values) : stored};
}

torch::Tensor HopfieldLayerImpl::forward(
    const torch::Tensor& state, const torch::Tensor& mask, std::optional<at::Generator> generator) {
  auto [stored, value] = memory(state);
  return hopfield->forward(state, stored, value, mask, {}, std::move(generator));
}

torch::Tensor HopfieldLayerImpl::association(const torch::Tensor& state, const torch::Tensor& mask) {
  return hopfield->association(state, memory(state).first, mask);
}

torch::Tensor HopfieldLayerImpl::energy(const torch::Tensor& state, const torch::Tensor& mask) {
  return hopfield->energy(state, memory(state).first, mask);
}

} // namespace statmech::nn
