#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace kf {

// Cleanses memory with OPENSSL_cleanse (which the optimizer may not elide).
void cleanse(void* data, std::size_t size);

// An allocator that wipes every block before giving it back, so secrets do not survive in freed
// heap memory, including the old buffers a growing vector or string leaves behind.
template <class T>
struct CleansingAllocator {
  using value_type = T;
  CleansingAllocator() noexcept = default;
  template <class U>
  CleansingAllocator(const CleansingAllocator<U>&) noexcept {}
  T* allocate(std::size_t n) { return std::allocator<T>{}.allocate(n); }
  void deallocate(T* p, std::size_t n) noexcept {
    cleanse(p, n * sizeof(T));
    std::allocator<T>{}.deallocate(p, n);
  }
  template <class U>
  bool operator==(const CleansingAllocator<U>&) const noexcept {
    return true;
  }
};

// Secret bytes (file keys, plaintext tars, private keys) and secret text (passphrases, store
// passwords). Note: std::string's small-string buffer lives inside the object; SecretString wipes
// it in its destructor too.
using SecretBytes = std::vector<std::uint8_t, CleansingAllocator<std::uint8_t>>;

class SecretString
    : public std::basic_string<char, std::char_traits<char>, CleansingAllocator<char>> {
 public:
  using Base = std::basic_string<char, std::char_traits<char>, CleansingAllocator<char>>;
  using Base::Base;
  SecretString(const SecretString&) = default;
  SecretString(SecretString&&) noexcept = default;
  SecretString& operator=(const SecretString&) = default;
  SecretString& operator=(SecretString&&) noexcept = default;
  ~SecretString() { wipe(); }
  void wipe() {
    cleanse(data(), capacity());
    clear();
  }
  [[nodiscard]] std::string_view view() const { return {data(), size()}; }
};

inline std::span<const std::uint8_t> as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// Makes this process unfit to leak secrets through a core dump or ptrace by other users:
// RLIMIT_CORE 0 and PR_SET_DUMPABLE 0. Call before any secret is read or made.
void disable_core_dumps();

}  // namespace kf
