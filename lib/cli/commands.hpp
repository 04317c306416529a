#pragma once

#include "cli/command.hpp"

// One setup function per command; each lives in its own cli/cmd_<name>.cpp.
namespace kf::cli {

Action setup_inventory(CLI::App& sub);
Action setup_create_keys(CLI::App& sub);
Action setup_pull(CLI::App& sub);
Action setup_bundle(CLI::App& sub);
Action setup_inspect(CLI::App& sub);
Action setup_unpack(CLI::App& sub);
Action setup_push(CLI::App& sub);
Action setup_rotate(CLI::App& sub);
Action setup_rollback(CLI::App& sub);
Action setup_verify(CLI::App& sub);
Action setup_status(CLI::App& sub);
Action setup_cleanup(CLI::App& sub);
Action setup_keygen(CLI::App& sub);
Action setup_audit(CLI::App& sub);

}  // namespace kf::cli
