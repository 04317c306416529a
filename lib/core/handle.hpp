#pragma once

#include <memory>

// Owners for C library handles (OpenSSL, libssh, libarchive, libc): each lives in a
// std::unique_ptr whose deleter is the library's own free function, so no error path leaks one.
//   using X509Ptr = kf::Handle<X509, X509_free>;
namespace kf {

template <auto free_fn>
struct FreeWith {
  template <class T>
  void operator()(T* p) const {
    free_fn(p);
  }
};

template <class T, auto free_fn>
using Handle = std::unique_ptr<T, FreeWith<free_fn>>;

}  // namespace kf
