// The age payload: a 16-byte nonce, then STREAM (ChaCha20-Poly1305 over 64 KiB chunks, nonce =
// 11-byte big-endian chunk counter || final-chunk flag) under a key derived from the file key.
#include <algorithm>
#include <array>
#include <cstring>

#include "bundle/age_format.hpp"

namespace kf::age {
namespace {

using PayloadNonce = std::array<std::uint8_t, kPayloadNonceSize>;

AeadNonce chunk_nonce(std::uint64_t counter, bool final) {
  AeadNonce nonce{};
  for (std::size_t i = 0; i < sizeof counter; ++i)
    nonce[10 - i] = static_cast<std::uint8_t>(counter >> (8 * i));
  nonce[11] = final ? 1 : 0;
  return nonce;
}

std::size_t chunks_for_plaintext(std::size_t size) {
  return size == 0 ? 1 : (size + kChunkSize - 1) / kChunkSize;
}

Result<ChaChaPoly> payload_cipher(std::span<const std::uint8_t> file_key,
                                  std::span<const std::uint8_t> nonce, bool encrypt) {
  KF_TRY_ASSIGN(SecretBytes key, hkdf_sha256(file_key, nonce, "payload"));
  return ChaChaPoly::create(key, encrypt);
}

}  // namespace

Result<std::size_t> check_payload_layout(std::size_t payload_size) {
  if (payload_size < kPayloadNonceSize)
    return fail(ExitCode::integrity, "truncated age file: the payload nonce is missing");
  std::size_t body = payload_size - kPayloadNonceSize;
  if (body == 0) return fail(ExitCode::integrity, "truncated age file: the payload has no chunks");
  std::size_t chunks = (body + kSealedChunkSize - 1) / kSealedChunkSize;
  std::size_t last = body - (chunks - 1) * kSealedChunkSize;
  if (last < kTagSize)
    return fail(ExitCode::integrity,
                "truncated age file: payload chunk {} is shorter than its 16-byte tag", chunks);
  if (last == kTagSize && chunks > 1)
    return fail(ExitCode::integrity,
                "invalid age payload: chunk {} is an empty final chunk, which only an empty "
                "file may have",
                chunks);
  return body - chunks * kTagSize;
}

std::size_t sealed_payload_size(std::size_t plaintext_size) {
  return kPayloadNonceSize + plaintext_size + chunks_for_plaintext(plaintext_size) * kTagSize;
}

Result<void> seal_payload(std::span<const std::uint8_t> file_key,
                          std::span<const std::uint8_t> plaintext, std::vector<std::uint8_t>& out) {
  PayloadNonce nonce;
  KF_CHECK(random_bytes(nonce));
  KF_TRY_ASSIGN(ChaChaPoly aead, payload_cipher(file_key, nonce, true));

  std::size_t start = out.size();
  out.resize(start + sealed_payload_size(plaintext.size()));
  std::memcpy(out.data() + start, nonce.data(), nonce.size());
  std::uint8_t* sealed = out.data() + start + nonce.size();
  std::size_t chunks = chunks_for_plaintext(plaintext.size());
  for (std::size_t i = 0; i < chunks; ++i) {
    auto chunk =
        plaintext.subspan(i * kChunkSize, std::min(kChunkSize, plaintext.size() - i * kChunkSize));
    KF_CHECK(aead.seal(chunk_nonce(i, i + 1 == chunks), chunk, sealed));
    sealed += chunk.size() + kTagSize;
  }
  return {};
}

Result<SecretBytes> open_payload(std::span<const std::uint8_t> file_key,
                                 std::span<const std::uint8_t> payload) {
  KF_TRY_ASSIGN(std::size_t plaintext_size, check_payload_layout(payload.size()));
  auto nonce = payload.first(kPayloadNonceSize);
  auto body = payload.subspan(kPayloadNonceSize);
  KF_TRY_ASSIGN(ChaChaPoly aead, payload_cipher(file_key, nonce, false));

  // Decrypted straight into the result, which nobody sees unless every chunk is authentic; on
  // failure the cleansing allocator wipes what was decrypted so far.
  SecretBytes plaintext(plaintext_size);
  std::size_t chunks = (body.size() + kSealedChunkSize - 1) / kSealedChunkSize;
  for (std::size_t i = 0; i < chunks; ++i) {
    std::size_t offset = i * kSealedChunkSize;
    auto sealed = body.subspan(offset, std::min(kSealedChunkSize, body.size() - offset));
    std::uint8_t* out = plaintext_size == 0 ? nullptr : plaintext.data() + i * kChunkSize;
    if (!aead.open(chunk_nonce(i, i + 1 == chunks), sealed, out))
      return fail(ExitCode::integrity,
                  "payload chunk {} failed authentication (tampered or truncated)", i + 1);
  }
  return plaintext;
}

}  // namespace kf::age
