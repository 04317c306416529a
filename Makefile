# keyfleet: the README's commands. `make demo` and `make test` work on a fresh Debian 12 machine.
BUILD      ?= build
ASAN_BUILD ?= build-asan
PACKAGE_BUILD ?= build-package
PREFIX     ?= /usr/local
JOBS       ?= $(shell nproc)
CMAKE_ARGS ?=

.PHONY: all build deps test unit-test asan-test install package format lint analyze fuzz demo bench clean \
        completion

all: build

# `package` too: the test suite builds the Debian package and runs lintian on it.
deps:
	@scripts/deps.sh build test package

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_ARGS)

build: $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

test: deps build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

# The same suites built with AddressSanitizer and UndefinedBehaviorSanitizer.
asan-test: deps
	cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DKEYFLEET_SANITIZE=ON $(CMAKE_ARGS)
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --test-dir $(ASAN_BUILD) --output-on-failure -j $(JOBS)

install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

# The Debian package: a Release build for /usr with Debian's flags (dpkg-buildflags: -O2, hardening),
# packed by CPack (keyfleet_VERSION-1_ARCH.deb in $(PACKAGE_BUILD)/), then checked by lintian.
PACKAGE_CXXFLAGS = $$(dpkg-buildflags --get CXXFLAGS) $$(dpkg-buildflags --get CPPFLAGS)
package:
	@scripts/deps.sh build package
	CFLAGS="$$(dpkg-buildflags --get CFLAGS) $$(dpkg-buildflags --get CPPFLAGS)" \
	CXXFLAGS="$(PACKAGE_CXXFLAGS)" LDFLAGS="$$(dpkg-buildflags --get LDFLAGS)" \
	  cmake -S . -B $(PACKAGE_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
	  -DCMAKE_CXX_FLAGS_RELEASE=-DNDEBUG -DCMAKE_C_FLAGS_RELEASE=-DNDEBUG -DKEYFLEET_TESTS=OFF \
	  -DKEYFLEET_DEVELOPER=OFF $(CMAKE_ARGS)
	cmake --build $(PACKAGE_BUILD) -j $(JOBS)
	cd $(PACKAGE_BUILD) && cpack
	lintian --fail-on error $(PACKAGE_BUILD)/keyfleet_*.deb
	@ls $(PACKAGE_BUILD)/keyfleet_*.deb

# Regenerates completion/ from the parser (a unit test fails when they drift apart).
completion: build
	$(BUILD)/keyfleet completion bash > completion/keyfleet.bash
	$(BUILD)/keyfleet completion zsh > completion/_keyfleet
	$(BUILD)/keyfleet completion fish > completion/keyfleet.fish

SOURCES = $(shell git ls-files '*.cpp' '*.hpp')
# clang 22 deprecates std::get_temporary_buffer in C++23, which GCC 12's <algorithm> still calls:
# a finding in the system's headers about the system's headers. clang's -Wconversion includes
# -Wsign-conversion, GCC's (the compiler, whose warnings are errors) does not for C++: the
# conversions the build checks are GCC's.
TIDY_ARGS = -extra-arg=-Wno-deprecated-declarations -extra-arg=-Wno-sign-conversion
TIDY_FILES = '^$(CURDIR)/(lib|bin)/'

format:
	@scripts/deps.sh lint
	clang-format -i $(SOURCES)

# clang-tidy's findings go to stdout between one command line per file: on failure, show them alone.
# clang-tidy 22 (bookworm-security) rather than 16: half the time on the same files, so the checks
# below fit in CI (about 12 CPU-minutes for lib/ and bin/).
lint: build
	@scripts/deps.sh lint
	clang-format --dry-run --Werror $(SOURCES)
	run-clang-tidy-22 -quiet -j $(JOBS) -p $(BUILD) $(TIDY_ARGS) $(TIDY_FILES) \
	  >$(BUILD)/clang-tidy.log 2>&1 \
	  || { grep -v -e '^\[ *[0-9]*/[0-9]*\]' -e 'warnings\? generated\.$$' $(BUILD)/clang-tidy.log; false; }

# The static analyzer (clang-analyzer-*): path-sensitive, about 40 CPU-minutes for lib/ and bin/,
# so not in CI's time budget; run it before a release and after changing ownership or error paths.
analyze: build
	@scripts/deps.sh lint
	run-clang-tidy-22 -quiet -j $(JOBS) -p $(BUILD) $(TIDY_ARGS) \
	  -checks='-*,clang-analyzer-*,-clang-analyzer-optin.*' $(TIDY_FILES) \
	  >$(BUILD)/clang-analyzer.log 2>&1 \
	  || { grep -v -e '^\[ *[0-9]*/[0-9]*\]' -e 'warnings\? generated\.$$' $(BUILD)/clang-analyzer.log; false; }

fuzz:
	@scripts/deps.sh build fuzz
	scripts/fuzz.sh

demo: deps build
	scripts/demo.sh $(BUILD)/keyfleet

bench: deps build
	@scripts/deps.sh bench
	bench/run.sh $(BUILD)/keyfleet

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(PACKAGE_BUILD) build-fuzz
