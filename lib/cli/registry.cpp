#include <vector>

#include "cli/command.hpp"
#include "cli/commands.hpp"
#include "fleet/node_report.hpp"

namespace kf::cli {

std::span<const Command> commands() {
  static const std::vector<Command> table = {
      // Add new commands here, in the order an operator uses them. docs/json.md and
      // docs/keyfleet-output.schema.json describe each one's JSON fields.
      {"inventory",
       "Show the nodes of an inventory (TOML or Ansible) as keyfleet resolves them",
       setup_inventory,
       {"inventory", "format", "ssh_config", "selected", "total", "warnings", "nodes"}},
      {"create-keys",
       "Create a key set: CA, agent certificate, PKCS#12 stores",
       setup_create_keys,
       {"out", "archived_to", "manifest"}},
      {"pull",
       "Take a node's existing key directory as a key set, digest-checked",
       setup_pull,
       {"node", "path", "resolved_path", "out", "archived_to", "manifest"}},
      {"keygen",
       "Create an age identity file for a deploy host; print its recipient",
       setup_keygen,
       {"file", "recipient"}},
      {"bundle",
       "Seal a key set in an encrypted, authenticated bundle (age v1)",
       setup_bundle,
       {"path", "sha256", "generation", "size", "sealed_with", "work_factor", "recipients",
        "files"}},
      {"inspect",
       "Show a bundle's digest and how it is sealed, and with its key its manifest",
       setup_inspect,
       {"path", "size", "sha256", "sealed_with", "work_factor", "x25519_recipients",
        "authenticated", "manifest"}},
      {"unpack",
       "Install a bundle into a local key directory, atomically",
       setup_unpack,
       {"dest", "action", "detail", "generation", "previous", "files", "pruned", "removed_foreign",
        "reused", "adopted", "warnings"}},
      {"push",
       "Stage, check and install a bundle on every node over SSH, atomically",
       setup_push,
       {},
       true},
      {"rotate",
       "Rotate a key directory on every node in one resumable run (--keep-ca, --new-ca, "
       "--emergency)",
       setup_rotate,
       {"keys", "mode", "resumed", "phase", "rotation"},
       true},
      {"verify",
       "Check every node holds the expected key set, file by file",
       setup_verify,
       {},
       true},
      {"status",
       "Show each node's generation, certificates and days to expiry (read-only)",
       setup_status,
       {"warn_days", "rotation"},
       true},
      {"cleanup",
       "Wipe staged bundle copies and prune old generations on every node",
       setup_cleanup,
       {"local"},
       true},
      {"rollback",
       "Switch every node back to its previous (or a given) generation",
       setup_rollback,
       {},
       true},
      {"audit",
       "Show or verify the audit log of every command that changed key material",
       setup_audit,
       {"file", "count", "records"}},
  };
  return table;
}

nlohmann::ordered_json json_skeleton(const Command& command) {
  nlohmann::ordered_json fields =
      command.fleet ? to_json(FleetReport{}) : nlohmann::ordered_json::object();
  for (std::string_view name : command.json_fields) fields[std::string(name)] = nullptr;
  return fields;
}

}  // namespace kf::cli
