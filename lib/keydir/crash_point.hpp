#pragma once

#include <array>
#include <string_view>

// Test hook: when the environment variable KEYFLEET_TEST_CRASH_AT names one of these steps, the
// process raises SIGKILL right after it, so tests can check that a crash there leaves `current`
// on a complete generation. The key directory's install and prune, and rotate, read it; it
// carries no data.
namespace kf::keydir {

inline constexpr std::string_view kCrashAtVariable = "KEYFLEET_TEST_CRASH_AT";
inline constexpr std::array<std::string_view, 9> kInstallSteps = {
    "locked",             // DEST/.lock taken
    "leftovers-removed",  // temporaries of an earlier crash removed
    "temp-created",       // generations/.tmp-XXXX created, empty
    "file-written",       // its files written, not yet fsynced as a directory
    "files-synced",       // every file and the directory fsynced
    "link-created",       // current.tmp-XXXX -> generations/... made
    "current-switched",   // the generation renamed into place and current switched to it
    "pruning",            // one old generation renamed away for deletion
    "done",               // everything finished
};

// keyfleet rotate's steps (fleet/rotate.hpp), for the same test of its journal: a rotation killed
// there and run again ends on the generations it planned.
inline constexpr std::array<std::string_view, 4> kRotateSteps = {
    "rotate-planned",      // DIR/rotation.json holds the plan, no key set made yet
    "rotate-keyset-made",  // the phase's key set written in DIR, not yet sealed
    "rotate-sealed",       // its bundle written in DIR and recorded, no node touched yet
    "rotate-phase-done",   // the phase recorded done, its bundle not yet wiped
};

void crash_point(std::string_view step);

}  // namespace kf::keydir
