#pragma once

#include <ctime>
#include <span>
#include <string>
#include <vector>

#include <boost/filesystem/path.hpp>

#include "core/error.hpp"
#include "pki/ossl.hpp"

namespace kf {

// Certificates start this long before "now": a node whose clock lags the operator's by a few
// minutes must not reject a set that was just made ("certificate is not yet valid").
inline constexpr std::time_t kBackdateSeconds = std::time_t{5} * 60;
inline constexpr int kSerialBits = 128;

struct CaSpec {
  std::string common_name;
  std::string organization;  // empty: no O attribute
  std::time_t now = 0;
  int days = 0;
};

// A self-signed CA: basicConstraints critical CA:TRUE pathlen:0 (it signs only the agent
// certificate), keyUsage critical keyCertSign+cRLSign, subjectKeyIdentifier. See certs/ca.cnf.
Result<ossl::X509Ptr> make_ca_cert(EVP_PKEY& ca_key, const CaSpec& spec);

struct AgentSpec {
  std::vector<std::string> hosts;  // validated hosts: DNS names and IP literals, all in the SAN
  std::string common_name;
  std::string organization;  // empty: no O attribute
  std::time_t now = 0;
  int days = 0;
};

// The agent certificate every node shares: basicConstraints critical CA:FALSE, keyUsage critical
// digitalSignature (+keyEncipherment for RSA), EKU serverAuth+clientAuth, SKI/AKI, and the SAN
// with every host. See certs/agent.cnf.
Result<ossl::X509Ptr> make_agent_cert(EVP_PKEY& agent_key, const AgentSpec& spec, X509& ca_cert,
                                      EVP_PKEY& ca_key);

// "sha256:<hex of the DER certificate>".
std::string fingerprint(const X509& cert);
Result<std::string> cert_pem(const X509& cert);
Result<ossl::X509Ptr> parse_cert_pem(std::span<const std::uint8_t> pem, std::string_view origin);
Result<ossl::X509Ptr> read_cert(const boost::filesystem::path& path);

Result<std::time_t> not_after(const X509& cert);

// Every certificate of a PEM file, in order: ca.crt holds more than one while a CA is replaced.
// No certificate, or bytes that are not PEM certificates, fail with `origin` named.
Result<std::vector<ossl::X509Ptr>> parse_certs_pem(std::span<const std::uint8_t> pem,
                                                   std::string_view origin);

// The subject as one line, RFC 2253 ("CN=keyfleet agent,O=Example").
std::string subject_line(const X509& cert);

// Whole days from `now` to `until`, rounded down: 0 on the last day, negative once past.
long days_between(std::time_t now, std::time_t until);

// The longest validity create-keys accepts for either certificate, in days (100 years).
inline constexpr int kMaxDays = 36525;

}  // namespace kf
