#pragma once

#include "core/error.hpp"
#include "pki/keyset.hpp"
#include "pki/manifest.hpp"

// The three key sets of a CA rotation without downtime (keyfleet rotate --new-ca). Each is the
// next generation of `options.out`, written as create-keys --force writes one (the previous set
// archived to DIR/archive/NNNNNN, the directory's key set id kept), its manifest saying the phase
// ("ca_phase") and the CAs it trusts ("trusted_cas", in ca.crt's order):
//
//   trust   ca.crt holds the new CA then the old one, truststore.p12 both; ca.key is the new CA's
//           key. agent.crt, agent.key, keystore.p12 and storepass are the previous generation's,
//           byte for byte: a node on trust still presents the old CA's certificate, and accepts
//           both.
//   leaf    a new agent key and certificate (options.hosts, days, common_name, organization,
//           key_type) issued by the new CA; ca.crt and ca.key carried byte for byte, both CAs in
//           truststore.p12.
//   retire  ca.crt and truststore.p12 hold the new CA alone; the agent's files and ca.key are
//           carried byte for byte.
//
// Every carried file is checked against the previous generation's manifest (size and SHA-256)
// first, and is read from DIR/archive/NNNNNN when an interrupted run already moved it there. The
// previous generation must be the phase before (for trust: a generated set outside a CA rotation,
// or one whose rotation finished): else refused (exit 4), nothing written. options.force must be
// set: there is always a set to replace.
namespace kf {

Result<CreatedKeyset> create_ca_phase_keyset(const CreateKeysOptions& options, CaPhase phase);

}  // namespace kf
