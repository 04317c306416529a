#include "pki/cert_check.hpp"

#include <string>

#include <openssl/err.h>
#include <openssl/x509_vfy.h>

#include "core/hostname.hpp"

namespace kf {
namespace {

using StorePtr = std::unique_ptr<X509_STORE, ossl::Deleter<X509_STORE_free>>;

Result<void> check_chain(X509& leaf, std::span<X509* const> intermediates,
                         std::span<const ossl::X509Ptr> anchors, std::time_t now) {
  StorePtr store(X509_STORE_new());
  ossl::X509StackPtr untrusted(sk_X509_new_null());
  ossl::X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!store || !untrusted || !ctx) {
    return fail_openssl(ExitCode::failure, "cannot allocate a certificate store");
  }
  for (const auto& anchor : anchors) {
    if (X509_STORE_add_cert(store.get(), anchor.get()) != 1) {
      return fail_openssl(ExitCode::failure, "cannot add a CA certificate to the store");
    }
  }
  for (X509* cert : intermediates) {
    if (X509_up_ref(cert) != 1 || sk_X509_push(untrusted.get(), cert) == 0) {
      return fail_openssl(ExitCode::failure, "cannot hold the served chain");
    }
  }
  if (X509_STORE_CTX_init(ctx.get(), store.get(), &leaf, untrusted.get()) != 1) {
    return fail_openssl(ExitCode::failure, "cannot set up the chain check");
  }
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  X509_VERIFY_PARAM_set_time(param, now);
  X509_VERIFY_PARAM_set_purpose(param, X509_PURPOSE_SSL_SERVER);
  if (X509_verify_cert(ctx.get()) != 1) {
    int error = X509_STORE_CTX_get_error(ctx.get());
    ERR_clear_error();
    return fail(ExitCode::integrity, "the served chain does not verify against ca.crt: {}",
                X509_verify_cert_error_string(error));
  }
  return {};
}

Result<void> check_name(X509& leaf, std::string_view host) {
  const std::string name(host);
  auto kind = classify_host(name);
  int rc = kind && *kind != HostKind::dns
               ? X509_check_ip_asc(&leaf, name.c_str(), 0)
               : X509_check_host(&leaf, name.data(), name.size(),
                                 X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, nullptr);
  if (rc == 1) return {};
  ERR_clear_error();
  return fail(ExitCode::integrity, "the served certificate does not name {} in its subjectAltName",
              host);
}

}  // namespace

Result<void> check_server_certificate(X509& leaf, std::span<X509* const> intermediates,
                                      std::span<const ossl::X509Ptr> anchors, std::string_view host,
                                      std::time_t now) {
  KF_CHECK(check_chain(leaf, intermediates, anchors, now));
  return check_name(leaf, host);
}

}  // namespace kf
