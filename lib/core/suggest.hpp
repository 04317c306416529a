#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace kf {

// Levenshtein distance, for "did you mean".
std::size_t edit_distance(std::string_view a, std::string_view b);

// The closest candidate within a distance that still reads as a typo (about a third of the word).
std::optional<std::string> closest_match(std::string_view word,
                                         std::span<const std::string_view> candidates);

}  // namespace kf
