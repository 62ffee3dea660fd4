#pragma once

// The mathematical constants of the dual-activation core, the calculator and the initialisers, in
// one place (double precision, correctly rounded).

namespace statmech::constants {

inline constexpr double kPi = 3.14159265358979323846;
inline constexpr double kSqrtTwo = 1.41421356237309504880;
inline constexpr double kInvSqrtTwoPi = 0.39894228040143267793994605993438; // 1 / sqrt(2 pi)
inline constexpr double kTwoOverSqrtPi = 1.1283791670955125738961589031215; // 2 / sqrt(pi)
// SELU's constants as in torch.nn.SELU (Klambauer et al. 2017).
inline constexpr double kSeluScale = 1.0507009873554804934193349852946;
inline constexpr double kSeluAlpha = 1.6732632423543772848170429916717;

} // namespace statmech::constants
