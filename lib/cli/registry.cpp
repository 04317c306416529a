#include <vector>

#include "cli/command.hpp"
#include "cli/commands.hpp"

namespace kf::cli {

std::span<const Command> commands() {
  static const std::vector<Command> table = {
      // Add new commands here, in the order an operator uses them.
      {"inventory", "Show the nodes of an inventory (TOML or Ansible) as keyfleet resolves them",
       setup_inventory},
      {"create-keys", "Create a key set: CA, agent certificate, PKCS#12 stores", setup_create_keys},
      {"pull", "Take a node's existing key directory as a key set, digest-checked", setup_pull},
      {"keygen", "Create an age identity file for a deploy host; print its recipient",
       setup_keygen},
      {"bundle", "Seal a key set in an encrypted, authenticated bundle (age v1)", setup_bundle},
      {"inspect", "Show a bundle's digest and how it is sealed, and with its key its manifest",
       setup_inspect},
      {"unpack", "Install a bundle into a local key directory, atomically", setup_unpack},
      {"push", "Stage, check and install a bundle on every node over SSH, atomically", setup_push},
      {"verify", "Check every node holds the expected key set, file by file", setup_verify},
      {"status", "Show each node's generation, certificates and days to expiry (read-only)",
       setup_status},
      {"cleanup", "Wipe staged bundle copies and prune old generations on every node",
       setup_cleanup},
      {"rollback", "Switch every node back to its previous (or a given) generation",
       setup_rollback},
      {"audit", "Show or verify the audit log of every command that changed key material",
       setup_audit},
  };
  return table;
}

}  // namespace kf::cli
