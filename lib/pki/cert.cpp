#include "pki/cert.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>

#include "core/files.hpp"
#include "core/hostname.hpp"
#include "pki/key.hpp"

namespace kf {
namespace {

constexpr std::size_t kMaxCertFileSize = std::size_t{1024} * 1024;

// The profiles, in the order they are added. certs/ca.cnf and certs/agent.cnf say the same in
// OpenSSL's config syntax (tests/unit/pki_profile_test.cpp keeps them in step).
constexpr const char* kCaBasicConstraints = "critical,CA:TRUE,pathlen:0";
constexpr const char* kCaKeyUsage = "critical,keyCertSign,cRLSign";
constexpr const char* kAgentBasicConstraints = "critical,CA:FALSE";
// RSA key exchange (TLS 1.2 without ECDHE) encrypts the premaster secret to the certificate's key.
constexpr const char* kAgentKeyUsageRsa = "critical,digitalSignature,keyEncipherment";
constexpr const char* kAgentKeyUsage = "critical,digitalSignature";
constexpr const char* kAgentExtendedKeyUsage = "serverAuth,clientAuth";

Result<void> set_serial(X509& cert) {
  ossl::BignumPtr bn(BN_new());
  // Top bit set: every serial is exactly 128 bits long (127 random), positive, and far from the
  // 20-octet limit of RFC 5280.
  if (!bn || BN_rand(bn.get(), kSerialBits, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY) != 1 ||
      BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(&cert)) == nullptr) {
    return fail_openssl(ExitCode::failure, "cannot make a random serial number");
  }
  return {};
}

Result<ossl::X509NamePtr> make_name(const std::string& common_name,
                                    const std::string& organization) {
  ossl::X509NamePtr name(X509_NAME_new());
  if (!name) return fail_openssl(ExitCode::failure, "cannot allocate a certificate name");
  auto add = [&](const char* field, const std::string& value) {
    return X509_NAME_add_entry_by_txt(name.get(), field, MBSTRING_UTF8,
                                      reinterpret_cast<const unsigned char*>(value.c_str()), -1, -1,
                                      0) == 1;
  };
  if (!organization.empty() && !add("O", organization)) {
    return fail_openssl(ExitCode::usage, fmt::format("cannot use organization '{}'", organization));
  }
  if (!add("CN", common_name)) {
    return fail_openssl(ExitCode::usage, fmt::format("cannot use common name '{}'", common_name));
  }
  return name;
}

Result<ossl::X509Ptr> new_cert(EVP_PKEY& key, const X509_NAME& subject, std::time_t now, int days) {
  ossl::X509Ptr cert(X509_new());
  if (!cert) return fail_openssl(ExitCode::failure, "cannot allocate a certificate");
  KF_CHECK(set_serial(*cert));
  if (X509_set_version(cert.get(), X509_VERSION_3) != 1 ||
      X509_set_subject_name(cert.get(), &subject) != 1 ||
      ASN1_TIME_adj(X509_getm_notBefore(cert.get()), now - kBackdateSeconds, 0, 0) == nullptr ||
      ASN1_TIME_adj(X509_getm_notAfter(cert.get()), now, days, 0) == nullptr ||
      X509_set_pubkey(cert.get(), &key) != 1) {
    return fail_openssl(ExitCode::failure, "cannot fill in the certificate");
  }
  return cert;
}

Result<void> add_extension(X509& cert, X509V3_CTX& ctx, int nid, const char* value) {
  ossl::X509ExtPtr ext(X509V3_EXT_nconf_nid(nullptr, &ctx, nid, value));
  if (!ext || X509_add_ext(&cert, ext.get(), -1) != 1) {
    return fail_openssl(ExitCode::failure,
                        fmt::format("cannot add the extension {} = {}", OBJ_nid2sn(nid), value));
  }
  return {};
}

Result<void> add_subject_alt_names(X509& cert, const std::vector<std::string>& hosts) {
  ossl::GeneralNamesPtr names(GENERAL_NAMES_new());
  if (!names) return fail_openssl(ExitCode::failure, "cannot allocate the subjectAltName");
  for (const auto& host : hosts) {
    KF_TRY_ASSIGN(HostKind kind, classify_host(host));
    ossl::GeneralNamePtr name(GENERAL_NAME_new());
    if (!name) return fail_openssl(ExitCode::failure, "cannot allocate a subjectAltName entry");
    if (kind == HostKind::dns) {
      ASN1_IA5STRING* dns = ASN1_IA5STRING_new();
      if (dns == nullptr || ASN1_STRING_set(dns, host.data(), static_cast<int>(host.size())) != 1) {
        ASN1_IA5STRING_free(dns);
        return fail_openssl(ExitCode::failure, fmt::format("cannot encode the DNS name {}", host));
      }
      GENERAL_NAME_set0_value(name.get(), GEN_DNS, dns);
    } else {
      ASN1_OCTET_STRING* ip = a2i_IPADDRESS(host.c_str());
      if (ip == nullptr) {
        return fail_openssl(ExitCode::failure, fmt::format("cannot encode the address {}", host));
      }
      GENERAL_NAME_set0_value(name.get(), GEN_IPADD, ip);
    }
    if (sk_GENERAL_NAME_push(names.get(), name.get()) == 0) {
      return fail_openssl(ExitCode::failure, "cannot grow the subjectAltName");
    }
    (void)name.release();  // the stack owns it now
  }
  // Not critical: the subject DN is not empty (RFC 5280 4.2.1.6).
  if (X509_add1_ext_i2d(&cert, NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT) != 1) {
    return fail_openssl(ExitCode::failure, "cannot add the subjectAltName");
  }
  return {};
}

Result<void> sign(X509& cert, EVP_PKEY& key) {
  if (X509_sign(&cert, &key, signing_digest(key)) <= 0) {
    return fail_openssl(ExitCode::failure, "cannot sign the certificate");
  }
  return {};
}

}  // namespace

Result<ossl::X509Ptr> make_ca_cert(EVP_PKEY& ca_key, const CaSpec& spec) {
  KF_TRY_ASSIGN(auto name, make_name(spec.common_name, spec.organization));
  KF_TRY_ASSIGN(auto cert, new_cert(ca_key, *name, spec.now, spec.days));
  if (X509_set_issuer_name(cert.get(), name.get()) != 1) {
    return fail_openssl(ExitCode::failure, "cannot set the CA's issuer name");
  }
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
  KF_CHECK(add_extension(*cert, ctx, NID_basic_constraints, kCaBasicConstraints));
  KF_CHECK(add_extension(*cert, ctx, NID_key_usage, kCaKeyUsage));
  KF_CHECK(add_extension(*cert, ctx, NID_subject_key_identifier, "hash"));
  KF_CHECK(sign(*cert, ca_key));
  return cert;
}

Result<ossl::X509Ptr> make_agent_cert(EVP_PKEY& agent_key, const AgentSpec& spec, X509& ca_cert,
                                      EVP_PKEY& ca_key) {
  if (spec.hosts.empty()) return fail(ExitCode::usage, "the agent certificate needs a host");
  KF_TRY_ASSIGN(auto name, make_name(spec.common_name, spec.organization));
  KF_TRY_ASSIGN(auto cert, new_cert(agent_key, *name, spec.now, spec.days));
  if (X509_set_issuer_name(cert.get(), X509_get_subject_name(&ca_cert)) != 1) {
    return fail_openssl(ExitCode::failure, "cannot set the agent certificate's issuer name");
  }
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, &ca_cert, cert.get(), nullptr, nullptr, 0);
  KF_CHECK(add_extension(*cert, ctx, NID_basic_constraints, kAgentBasicConstraints));
  KF_CHECK(add_extension(*cert, ctx, NID_key_usage,
                         is_rsa(agent_key) ? kAgentKeyUsageRsa : kAgentKeyUsage));
  KF_CHECK(add_extension(*cert, ctx, NID_ext_key_usage, kAgentExtendedKeyUsage));
  KF_CHECK(add_extension(*cert, ctx, NID_subject_key_identifier, "hash"));
  KF_CHECK(add_extension(*cert, ctx, NID_authority_key_identifier, "keyid:always"));
  KF_CHECK(add_subject_alt_names(*cert, spec.hosts));
  KF_CHECK(sign(*cert, ca_key));
  return cert;
}

std::string fingerprint(const X509& cert) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_digest(&cert, EVP_sha256(), digest, &len) != 1) std::abort();  // SHA-256 cannot fail
  return "sha256:" + to_hex(std::span<const std::uint8_t>(digest, len));
}

Result<std::string> cert_pem(const X509& cert) {
  KF_TRY_ASSIGN(auto bio, ossl::memory_bio());
  if (PEM_write_bio_X509(bio.get(), &cert) != 1) {
    return fail_openssl(ExitCode::failure, "cannot encode the certificate as PEM");
  }
  return ossl::bio_text(bio.get());
}

Result<ossl::X509Ptr> parse_cert_pem(std::span<const std::uint8_t> pem, std::string_view origin) {
  KF_TRY_ASSIGN(auto bio, ossl::read_bio(pem));
  ossl::X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) {
    return fail_openssl(ExitCode::usage, fmt::format("{}: not a PEM certificate", origin));
  }
  return cert;
}

Result<ossl::X509Ptr> read_cert(const boost::filesystem::path& path) {
  KF_TRY_ASSIGN(auto pem, read_file(path, kMaxCertFileSize));
  return parse_cert_pem(pem, path.string());
}

Result<std::time_t> not_after(const X509& cert) {
  std::tm tm{};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(&cert), &tm) != 1) {
    return fail_openssl(ExitCode::usage, "cannot read the certificate's notAfter");
  }
  return timegm(&tm);
}

Result<std::vector<ossl::X509Ptr>> parse_certs_pem(std::span<const std::uint8_t> pem,
                                                   std::string_view origin) {
  KF_TRY_ASSIGN(auto bio, ossl::read_bio(pem));
  std::vector<ossl::X509Ptr> certs;
  for (;;) {
    ossl::X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!cert) break;
    certs.push_back(std::move(cert));
  }
  // The loop ends at the first thing that is not a certificate: the end of the file (no further
  // BEGIN line) is the only good reason.
  unsigned long why = ERR_peek_last_error();
  bool at_end = ERR_GET_LIB(why) == ERR_LIB_PEM && ERR_GET_REASON(why) == PEM_R_NO_START_LINE;
  if (!at_end) {
    return fail_openssl(ExitCode::integrity,
                        fmt::format("{}: a damaged certificate after {} good one{}", origin,
                                    certs.size(), certs.size() == 1 ? "" : "s"));
  }
  ERR_clear_error();
  if (certs.empty()) return fail(ExitCode::integrity, "{}: no PEM certificate", origin);
  return certs;
}

std::string subject_line(const X509& cert) {
  auto bio = ossl::memory_bio();
  if (!bio) return {};
  X509_NAME_print_ex(bio->get(), X509_get_subject_name(&cert), 0,
                     XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
  return ossl::bio_text(bio->get());
}

long days_between(std::time_t now, std::time_t until) {
  constexpr std::time_t kDay = 86400;
  std::time_t seconds = until - now;
  // Rounded towards minus infinity: a certificate past its date by a second has -1 days.
  std::time_t days = seconds / kDay - ((seconds % kDay) < 0 ? 1 : 0);
  return static_cast<long>(days);
}

}  // namespace kf
