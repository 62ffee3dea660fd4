// Loads a scripted model (made by make_model.py) that calls torch.ops.statmech.rbm_free_energy and
// checks its output against the closed form. Deliberately includes no statmech header.
//   jit_consumer MODEL.pt
#include <torch/script.h>

#include <cmath>
#include <cstdio>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s MODEL.pt\n", argv[0]);
    return 2;
  }
  try {
    torch::jit::Module model = torch::jit::load(argv[1]);
    // With zero couplings and biases every hidden unit contributes softplus(0) = log 2, so
    // F(v) = -hidden * log 2 for every v.
    const int64_t batch = 3, visible = 5, hidden = 4;
    const auto v = torch::bernoulli(torch::full({batch, visible}, 0.5, torch::kFloat64));
    const auto free_energy = model.forward({v, torch::zeros({visible, hidden}, torch::kFloat64),
                                            torch::zeros({visible}, torch::kFloat64),
                                            torch::zeros({hidden}, torch::kFloat64)})
                                 .toTensor();
    const auto expected = torch::full({batch}, -hidden * std::log(2.0), torch::kFloat64);
    if (!torch::allclose(free_energy, expected, 1e-12, 1e-12)) {
      std::fprintf(stderr, "jit_consumer: wrong free energy\n");
      return 1;
    }
  } catch (const c10::Error& e) {
    std::fprintf(stderr, "jit_consumer: %s\n", e.what_without_backtrace());
    return 1;
  }
  std::puts("jit_consumer: the scripted model ran torch.ops.statmech.rbm_free_energy");
  return 0;
}
