# keyfleet: the README's commands. `make demo` and `make test` work on a fresh Debian 12 machine.
BUILD      ?= build
ASAN_BUILD ?= build-asan
PACKAGE_BUILD ?= build-package
PREFIX     ?= /usr/local
JOBS       ?= $(shell nproc)
CMAKE_ARGS ?=

.PHONY: all build deps test unit-test asan-test install package format lint fuzz demo bench clean \
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
# clang 16 reports __cpp_concepts 201907, which hides GCC 12's <expected>; its concepts are complete
# enough for libstdc++'s use, so announce C++20 concepts (the fuzz build does the same).
TIDY_ARGS = -extra-arg=-U__cpp_concepts -extra-arg=-D__cpp_concepts=202002L

format:
	@scripts/deps.sh lint
	clang-format -i $(SOURCES)

# clang-tidy's findings go to stdout between one command line per file: on failure, show them alone.
lint: build
	@scripts/deps.sh lint
	clang-format --dry-run --Werror $(SOURCES)
	run-clang-tidy-16 -quiet -j $(JOBS) -p $(BUILD) $(TIDY_ARGS) '^$(CURDIR)/(lib|bin)/' \
	  >$(BUILD)/clang-tidy.log 2>&1 \
	  || { grep -v -e '^clang-tidy-16 ' -e 'warnings\? generated\.$$' $(BUILD)/clang-tidy.log; false; }

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
