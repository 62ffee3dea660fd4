#pragma once

// Checks shared by the sparsemax / entmax15 kernels and their meta kernels.

#include <ATen/core/Tensor.h>

namespace statmech::hopfield {

// Validates a separation input and returns `dim` wrapped to [0, input.dim()).
int64_t check_separation_input(const char* op, const at::Tensor& input, int64_t dim);

// Validates (grad, output) of a separation backward and returns the wrapped dim.
int64_t check_separation_backward(const char* op, const at::Tensor& grad, const at::Tensor& output, int64_t dim);

} // namespace statmech::hopfield
