# ratelimit: one entry point. All output goes to $(O) (default build/).
#   make            set up dependencies (Debian 12), build BPF objects, skeletons, C++
#   make test       build, then run every test through ctest
#   make fuzz       run the libFuzzer harnesses longer (FUZZ_SECONDS each, default 600)
#   make bench      benchmarks (see scripts/bench/)
#   make soak       10-minute soak of the daemon (tests/integration/test_soak.sh; SOAK_SECONDS=600)
#   sudo make demo  the lab demo
#   make install    install daemon, CLI, unit and default config
#   make clean
O ?= build
BPF_OUT := $(O)/bpf
ARCH_TRIPLE := $(shell $(CC) -dumpmachine 2>/dev/null || echo x86_64-linux-gnu)
CLANG ?= clang
BPFTOOL ?= $(shell command -v bpftool 2>/dev/null || echo /usr/sbin/bpftool)
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_BUILD_TYPE ?= RelWithDebInfo
SANITIZE ?= OFF
SETUP_STAMP := $(O)/.setup-done

BPF_CFLAGS := -O2 -g -target bpf -mcpu=v3 -Wall -Wextra -Werror \
	-Iinclude -Ibpf -Ibpf/lib -I/usr/include/$(ARCH_TRIPLE)
BPF_SRCS := $(wildcard bpf/*.bpf.c) $(wildcard tests/bpf/progs/*.bpf.c) $(wildcard scripts/bench/progs/*.bpf.c)
BPF_OBJS := $(addprefix $(BPF_OUT)/,$(notdir $(BPF_SRCS:.bpf.c=.bpf.o)))
BPF_SKELS := $(BPF_OBJS:.bpf.o=.skel.h)
BPF_DEPS := include/ratelimit/abi.h $(wildcard bpf/lib/*.h) $(wildcard scripts/bench/progs/*.h)

vpath %.bpf.c bpf tests/bpf/progs scripts/bench/progs

.DELETE_ON_ERROR:
.SECONDARY: $(BPF_OBJS)
.PHONY: all setup bpf cxx test bench demo install clean sanitize soak fuzz

all: setup bpf cxx

setup: $(SETUP_STAMP)
$(SETUP_STAMP): scripts/setup.sh
	bash scripts/setup.sh
	@mkdir -p $(O) && touch $@

bpf: $(SETUP_STAMP) $(BPF_SKELS)

$(BPF_OUT)/%.bpf.o: %.bpf.c $(BPF_DEPS) | $(SETUP_STAMP)
	@mkdir -p $(BPF_OUT)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BPF_OUT)/%.skel.h: $(BPF_OUT)/%.bpf.o
	$(BPFTOOL) gen skeleton $< name $(subst -,_,$*) > $@

cxx: bpf
	cmake -S . -B $(O) -DCMAKE_BUILD_TYPE=$(CMAKE_BUILD_TYPE) -DBPF_OUT=$(abspath $(BPF_OUT)) \
		-DRL_SANITIZE=$(SANITIZE) > $(O)/cmake-configure.log || (cat $(O)/cmake-configure.log; false)
	cmake --build $(O) -j $(JOBS)

test: all
	cd $(O) && ctest --output-on-failure --no-tests=error --timeout 600 $(CTEST_ARGS)

FUZZ_SECONDS ?= 600
fuzz: all
	cd $(O) && RL_FUZZ_SECONDS=$(FUZZ_SECONDS) ctest -L fuzz --output-on-failure --timeout $$(( $(FUZZ_SECONDS) + 300 ))

sanitize:
	$(MAKE) O=build-sanitize SANITIZE=ON CMAKE_BUILD_TYPE=Debug test

SOAK_SECONDS ?= 600
soak: all
	SOAK_SECONDS=$(SOAK_SECONDS) bash tests/integration/test_soak.sh $(O) $(CURDIR)

bench: all
	bash scripts/bench/run.sh $(O)

demo: all
	bash scripts/demo.sh $(O)

install: all
	install -D -m 0755 $(O)/controller/ratelimitd $(DESTDIR)/usr/sbin/ratelimitd
	install -D -m 0755 $(O)/controller/ratelimitctl $(DESTDIR)/usr/sbin/ratelimitctl
	install -D -m 0644 deploy/systemd/ratelimitd.service $(DESTDIR)/lib/systemd/system/ratelimitd.service
	install -D -m 0644 deploy/config/ratelimit.yaml $(DESTDIR)/etc/ratelimit/ratelimit.yaml.example
	install -D -m 0644 deploy/completion/ratelimitctl.bash $(DESTDIR)/usr/share/bash-completion/completions/ratelimitctl

clean:
	rm -rf $(O) build-sanitize
