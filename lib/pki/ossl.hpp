#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "core/error.hpp"
#include "core/secret.hpp"

// Owners for OpenSSL handles: every one lives in a std::unique_ptr whose deleter is the library's
// own free function, so no error path leaks (or, for keys, leaves uncleansed) a handle.
namespace kf::ossl {

template <auto free_fn>
struct Deleter {
  template <class T>
  void operator()(T* p) const {
    free_fn(p);
  }
};

using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509_free>>;
using X509NamePtr = std::unique_ptr<X509_NAME, Deleter<X509_NAME_free>>;
using X509ExtPtr = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION_free>>;
using X509StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, Deleter<X509_STORE_CTX_free>>;
using Pkcs12Ptr = std::unique_ptr<PKCS12, Deleter<PKCS12_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO_free_all>>;
using BignumPtr = std::unique_ptr<BIGNUM, Deleter<BN_free>>;
using Asn1IntegerPtr = std::unique_ptr<ASN1_INTEGER, Deleter<ASN1_INTEGER_free>>;
using Asn1ObjectPtr = std::unique_ptr<ASN1_OBJECT, Deleter<ASN1_OBJECT_free>>;
using GeneralNamesPtr = std::unique_ptr<GENERAL_NAMES, Deleter<GENERAL_NAMES_free>>;
using GeneralNamePtr = std::unique_ptr<GENERAL_NAME, Deleter<GENERAL_NAME_free>>;
using Asn1OctetStringPtr = std::unique_ptr<ASN1_OCTET_STRING, Deleter<ASN1_OCTET_STRING_free>>;

// The STACK_OF macros are typed functions, not plain free functions: wrap them.
struct X509StackDeleter {
  void operator()(STACK_OF(X509) * s) const { sk_X509_pop_free(s, X509_free); }
};
using X509StackPtr = std::unique_ptr<STACK_OF(X509), X509StackDeleter>;

struct SafebagStackDeleter {
  void operator()(STACK_OF(PKCS12_SAFEBAG) * s) const {
    sk_PKCS12_SAFEBAG_pop_free(s, PKCS12_SAFEBAG_free);
  }
};
using SafebagStackPtr = std::unique_ptr<STACK_OF(PKCS12_SAFEBAG), SafebagStackDeleter>;

struct Pkcs7StackDeleter {
  void operator()(STACK_OF(PKCS7) * s) const { sk_PKCS7_pop_free(s, PKCS7_free); }
};
using Pkcs7StackPtr = std::unique_ptr<STACK_OF(PKCS7), Pkcs7StackDeleter>;

// A memory BIO; `secure` puts its buffer on the secure heap (when one is set up) and in any case
// makes OpenSSL cleanse it when freed, for PEM-encoded private keys.
inline Result<BioPtr> memory_bio(bool secure = false) {
  BioPtr bio(BIO_new(secure ? BIO_s_secmem() : BIO_s_mem()));
  if (!bio) return fail_openssl(ExitCode::failure, "cannot allocate a memory BIO");
  return bio;
}

// A read-only BIO over `data`, which must outlive it.
inline Result<BioPtr> read_bio(std::span<const std::uint8_t> data) {
  BioPtr bio(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
  if (!bio) return fail_openssl(ExitCode::failure, "cannot allocate a memory BIO");
  return bio;
}

inline std::string bio_text(BIO* bio) {
  char* data = nullptr;
  long size = BIO_get_mem_data(bio, &data);
  return size > 0 ? std::string(data, static_cast<std::size_t>(size)) : std::string();
}

inline SecretString bio_secret_text(BIO* bio) {
  char* data = nullptr;
  long size = BIO_get_mem_data(bio, &data);
  return size > 0 ? SecretString(data, static_cast<std::size_t>(size)) : SecretString();
}

}  // namespace kf::ossl
