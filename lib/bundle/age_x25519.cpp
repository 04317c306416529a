#include "bundle/age_x25519.hpp"

#include "bundle/age.hpp"

#include <algorithm>
#include <cstring>

#include "bundle/bech32.hpp"
#include "pki/ossl.hpp"

namespace kf::age {
namespace {

constexpr std::string_view kLabel = "age-encryption.org/v1/X25519";
constexpr std::string_view kRecipientHrp = "age";
constexpr std::string_view kIdentityHrp = "AGE-SECRET-KEY-";
constexpr std::size_t kWrappedKeySize = kFileKeySize + kTagSize;

Result<ossl::PkeyPtr> private_key(std::span<const std::uint8_t> scalar) {
  ossl::PkeyPtr key(
      EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, scalar.data(), scalar.size()));
  if (!key) return fail_openssl(ExitCode::failure, "cannot load an X25519 secret key");
  return key;
}

Result<X25519PublicKey> public_key_of(std::span<const std::uint8_t> scalar) {
  KF_TRY_ASSIGN(ossl::PkeyPtr key, private_key(scalar));
  X25519PublicKey out{};
  std::size_t size = out.size();
  if (EVP_PKEY_get_raw_public_key(key.get(), out.data(), &size) != 1 || size != out.size())
    return fail_openssl(ExitCode::failure, "cannot compute an X25519 public key");
  return out;
}

// X25519(scalar, point). OpenSSL 3.0 refuses to derive an all-zero secret (the point has low
// order); newer versions might return it. Either way it is the spec's all-zero check, and the
// share is at fault: a header failure.
Result<SecretBytes> shared_secret(std::span<const std::uint8_t> scalar,
                                  std::span<const std::uint8_t> point) {
  KF_TRY_ASSIGN(ossl::PkeyPtr ours, private_key(scalar));
  ossl::PkeyPtr theirs(
      EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, point.data(), point.size()));
  if (!theirs) return fail_openssl(ExitCode::failure, "cannot load an X25519 public key");
  ossl::PkeyCtxPtr ctx(EVP_PKEY_CTX_new(ours.get(), nullptr));
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1 ||
      EVP_PKEY_derive_set_peer(ctx.get(), theirs.get()) != 1)
    return fail_openssl(ExitCode::failure, "cannot set up X25519");
  SecretBytes secret(kX25519KeySize);
  std::size_t size = secret.size();
  if (EVP_PKEY_derive(ctx.get(), secret.data(), &size) != 1) {
    return fail(ExitCode::integrity,
                "invalid age header: the X25519 share is a low-order point, so the shared secret "
                "is all zero ({})",
                openssl_error());
  }
  if (size != secret.size() ||
      std::all_of(secret.begin(), secret.end(), [](std::uint8_t b) { return b == 0; }))
    return fail(ExitCode::integrity,
                "invalid age header: the X25519 share is a low-order point, so the shared secret "
                "is all zero");
  return secret;
}

Result<SecretBytes> wrap_key(std::span<const std::uint8_t> secret,
                             std::span<const std::uint8_t> share,
                             std::span<const std::uint8_t> recipient) {
  std::array<std::uint8_t, 2 * kX25519KeySize> salt{};
  std::memcpy(salt.data(), share.data(), kX25519KeySize);
  std::memcpy(salt.data() + kX25519KeySize, recipient.data(), kX25519KeySize);
  return hkdf_sha256(secret, salt, kLabel);
}

}  // namespace

Result<X25519Recipient> parse_recipient(std::string_view text) {
  auto bad = [&](std::string_view why) {
    std::string shown(text.substr(0, 80));
    return fail(ExitCode::usage, "\"{}\" is not an age X25519 recipient (age1...): {}", shown, why);
  };
  auto decoded = bech32::decode(text);
  if (!decoded) return bad(decoded.error().message);
  if (decoded->hrp != kRecipientHrp) return bad("it does not start with \"age1\" in lower case");
  auto bytes = bech32::to_bytes(decoded->values);
  if (!bytes || bytes->size() != kX25519KeySize) return bad("it does not hold a 32-byte key");
  X25519Recipient out;
  std::copy(bytes->begin(), bytes->end(), out.public_key.begin());
  return out;
}

std::string format_recipient(const X25519Recipient& recipient) {
  // Only fails for an invalid hrp, and "age" is valid.
  auto text = bech32::encode(kRecipientHrp, bech32::to_values(recipient.public_key));
  return text ? std::string(text->view()) : std::string();
}

Result<X25519Identity> parse_identity(std::string_view text) {
  auto bad = [](std::string_view why) {
    return fail(ExitCode::usage, "not an age X25519 identity (AGE-SECRET-KEY-1...): {}", why);
  };
  if (text.starts_with("AGE-SECRET-KEY-PQ-"))
    return bad("post-quantum (ML-KEM) identities are not supported");
  if (text.starts_with("AGE-PLUGIN-")) return bad("age plugin identities are not supported");
  auto decoded = bech32::decode(text);
  if (!decoded) return bad(decoded.error().message);
  if (decoded->hrp != kIdentityHrp)
    return bad("it does not start with \"AGE-SECRET-KEY-1\" in upper case");
  auto bytes = bech32::to_bytes(decoded->values);
  if (!bytes || bytes->size() != kX25519KeySize) return bad("it does not hold a 32-byte key");
  X25519Identity out;
  out.scalar = std::move(*bytes);
  KF_TRY_ASSIGN(out.public_key, public_key_of(out.scalar));
  return out;
}

Result<SecretString> format_identity(const X25519Identity& identity) {
  return bech32::encode(kIdentityHrp, bech32::to_values(identity.scalar));
}

Result<X25519Identity> generate_identity() {
  X25519Identity out;
  out.scalar.resize(kX25519KeySize);
  KF_CHECK(random_bytes(out.scalar));
  KF_TRY_ASSIGN(out.public_key, public_key_of(out.scalar));
  return out;
}

X25519Recipient recipient_of(const X25519Identity& identity) {
  return X25519Recipient{identity.public_key};
}

Result<Stanza> make_x25519_stanza(std::span<const std::uint8_t> file_key,
                                  const X25519Recipient& recipient) {
  if (file_key.size() != kFileKeySize)
    return fail(ExitCode::failure, "an age file key is 16 bytes, not {}", file_key.size());
  KF_TRY_ASSIGN(X25519Identity ephemeral, generate_identity());
  auto secret = shared_secret(ephemeral.scalar, recipient.public_key);
  if (!secret && secret.error().code != ExitCode::integrity)
    return std::unexpected(std::move(secret.error()));
  if (!secret)
    return fail(ExitCode::usage, "recipient {} is a low-order point, not a usable X25519 key",
                format_recipient(recipient));
  KF_TRY_ASSIGN(SecretBytes key, wrap_key(*secret, ephemeral.public_key, recipient.public_key));
  KF_TRY_ASSIGN(ChaChaPoly aead, ChaChaPoly::create(key, true));
  Stanza stanza{{std::string(kX25519Type), encode_base64(ephemeral.public_key)},
                std::vector<std::uint8_t>(kWrappedKeySize)};
  KF_CHECK(aead.seal(AeadNonce{}, file_key, stanza.body.data()));
  return stanza;
}

Result<void> check_x25519_stanza(const Stanza& stanza) {
  if (stanza.args.size() != 2)
    return fail(ExitCode::integrity,
                "invalid age header: an X25519 stanza needs 1 argument (the share), not {}",
                stanza.args.size() - 1);
  auto share = decode_base64(stanza.args[1]);
  if (!share || share->size() != kX25519KeySize)
    return fail(ExitCode::integrity,
                "invalid age header: the X25519 share is not the canonical base64 of 32 bytes");
  // Checked before any decryption so a partitioning oracle cannot probe with odd-sized bodies.
  if (stanza.body.size() != kWrappedKeySize)
    return fail(ExitCode::integrity,
                "invalid age header: the X25519 stanza body is {} bytes instead of {}",
                stanza.body.size(), kWrappedKeySize);
  return {};
}

Result<std::optional<SecretBytes>> unwrap_x25519(const Stanza& stanza,
                                                 const X25519Identity& identity) {
  if (stanza.args.empty() || stanza.args[0] != kX25519Type) return std::nullopt;
  KF_CHECK(check_x25519_stanza(stanza));
  auto share = decode_base64(stanza.args[1]);
  KF_TRY_ASSIGN(SecretBytes secret, shared_secret(identity.scalar, *share));
  KF_TRY_ASSIGN(SecretBytes key, wrap_key(secret, *share, identity.public_key));
  KF_TRY_ASSIGN(ChaChaPoly aead, ChaChaPoly::create(key, false));
  SecretBytes file_key(kFileKeySize);
  if (!aead.open(AeadNonce{}, stanza.body, file_key.data())) return std::nullopt;
  return file_key;
}

Result<std::vector<std::uint8_t>> encrypt_x25519(std::span<const std::uint8_t> plaintext,
                                                 std::span<const X25519Recipient> recipients) {
  if (recipients.empty()) return fail(ExitCode::usage, "no recipient to encrypt to");
  SecretBytes file_key(kFileKeySize);
  KF_CHECK(random_bytes(file_key));
  std::vector<Stanza> stanzas;
  for (const X25519Recipient& recipient : recipients) {
    KF_TRY_ASSIGN(Stanza stanza, make_x25519_stanza(file_key, recipient));
    stanzas.push_back(std::move(stanza));
  }
  KF_TRY_ASSIGN(auto file, seal_file(stanzas, file_key, plaintext));
  // Never write what every reader, this one included, would refuse to open.
  if (file.size() > kMaxFileSize)
    return fail(ExitCode::failure,
                "the encrypted file would be {} bytes, above the limit of {} bytes", file.size(),
                kMaxFileSize);
  return file;
}

Result<SecretBytes> decrypt_x25519(std::span<const std::uint8_t> file,
                                   std::span<const X25519Identity> identities) {
  if (file.size() > kMaxFileSize)
    return fail(ExitCode::integrity, "the age file is {} bytes, above the limit of {} bytes",
                file.size(), kMaxFileSize);
  KF_TRY_ASSIGN(Header header, parse_header(file));
  std::size_t tried = 0;
  for (const Stanza& stanza : header.stanzas) {
    if (stanza.args[0] == "scrypt" && header.stanzas.size() > 1)
      return fail(ExitCode::integrity,
                  "invalid age header: an scrypt stanza must be the only stanza, but there are {}",
                  header.stanzas.size());
    if (stanza.args[0] == "scrypt")
      return fail(ExitCode::integrity,
                  "the file is encrypted with a passphrase (scrypt), not to X25519 recipients");
    if (stanza.args[0] != kX25519Type) continue;  // grease and other types: skipped, as age does
    KF_CHECK(check_x25519_stanza(stanza));
    ++tried;
  }
  KF_CHECK(check_payload_layout(file.size() - header.size));
  for (const Stanza& stanza : header.stanzas) {
    for (const X25519Identity& identity : identities) {
      KF_TRY_ASSIGN(auto file_key, unwrap_x25519(stanza, identity));
      if (file_key) return open_with_file_key(file, header, *file_key);
    }
  }
  return fail(ExitCode::integrity,
              "no identity matched: {} identit{} tried against {} X25519 stanza{} ({} of other "
              "types skipped)",
              identities.size(), identities.size() == 1 ? "y" : "ies", tried, tried == 1 ? "" : "s",
              header.stanzas.size() - tried);
}

}  // namespace kf::age
