# Synod: every target sets up what it needs on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
JOBS   ?= 2

# etcd's API as .proto files; Python code generated from them into a git-ignored package.
PROTO_DIR := src/synod/api/proto
GEN_DIR   := src/synod/api/gen
PROTOS    := $(wildcard $(PROTO_DIR)/*/*.proto)
GEN_STAMP := $(GEN_DIR)/.generated
PROTO_PACKAGES := etcdserverpb mvccpb authpb

.PHONY: help setup etcd proto run sim test check unit sweep soak chaos bench clean

help:
	@echo "make run    a local 3-member cluster serving etcd's API on 2379 (Ctrl-C stops it)"
	@echo "make sim    simulated 5-node cluster under faults, with a readable summary"
	@echo "make test   every check and test (what CI runs)"
	@echo "make check  format, lint, types and import contracts"
	@echo "make soak   long seed sweeps (3, 5 and 7 nodes) and long chaos runs on both engines"
	@echo "make chaos  real 5-member clusters under kill, pause, partition, member faults; checked"
	@echo "make bench  simulator, checker, keyspace benchmarks, Synod against etcd, Raft against Paxos"
	@echo "make proto  regenerate src/synod/api/gen from the .proto files (every target does)"

setup: $(STAMP) $(GEN_STAMP)

# etcd 3.4 server and etcdctl (Debian's packages), the reference the API is tested against;
# iproute2 and iptables (ip, tc, iptables), which `synod chaos --net netns` needs as root.
# Order-only below: installing them never forces the venv to be rebuilt.
etcd:
	@if ! command -v etcd >/dev/null || ! command -v etcdctl >/dev/null \
		|| ! command -v ip >/dev/null || ! command -v tc >/dev/null \
		|| ! command -v iptables >/dev/null; then \
		apt-get update && apt-get install -y etcd-server etcd-client iproute2 iptables; \
	fi

$(STAMP): pyproject.toml | etcd
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

proto: $(GEN_STAMP)

# protoc writes imports as `from mvccpb import ...`; they are rewritten to the package path.
$(GEN_STAMP): $(PROTOS) $(STAMP)
	rm -rf $(GEN_DIR)
	mkdir -p $(GEN_DIR)
	$(BIN)/python -m grpc_tools.protoc -I $(PROTO_DIR) \
		--plugin=protoc-gen-mypy=$(BIN)/protoc-gen-mypy \
		--plugin=protoc-gen-mypy_grpc=$(BIN)/protoc-gen-mypy_grpc \
		--python_out=$(GEN_DIR) --grpc_python_out=$(GEN_DIR) \
		--mypy_out=quiet:$(GEN_DIR) --mypy_grpc_out=quiet:$(GEN_DIR) $(PROTOS)
	sed -i -E 's/^from ($(subst $() ,|,$(PROTO_PACKAGES))) import /from synod.api.gen.\1 import /' \
		$(GEN_DIR)/*/*.py $(GEN_DIR)/*/*.pyi
	echo '"""Generated from src/synod/api/proto by make; not in git."""' > $(GEN_DIR)/__init__.py
	for package in $(PROTO_PACKAGES); do cp $(GEN_DIR)/__init__.py $(GEN_DIR)/$$package/; done
	@touch $(GEN_STAMP)

# A local cluster in the foreground, data in ./synod-data (run again to resume it).
run: setup
	$(BIN)/synod up --nodes 3 --data-dir synod-data

sim: setup
	$(BIN)/synod sim --engine raft --nodes 5 --seed 42 --ticks 3000 --verbose

check: setup
	$(BIN)/ruff format --check src tests
	$(BIN)/ruff check src tests
	$(BIN)/mypy
	$(BIN)/lint-imports

unit: setup
	$(BIN)/pytest -q

# The default sweep, part of `make test`: 400 Raft seeds over 3 and 5 nodes with swarm faults,
# 200 whose nodes run the real write-ahead log on simulated disks with disk faults, and 200
# seeds of the Multi-Paxos engine.
sweep: setup
	$(BIN)/synod sim --engine raft --nodes 3 --seeds 1-250 --ticks 4000 --jobs $(JOBS)
	$(BIN)/synod sim --engine raft --nodes 5 --seeds 1-150 --ticks 4000 --jobs $(JOBS)
	$(BIN)/synod sim --engine raft --nodes 3 --seeds 1-200 --ticks 3000 --disk wal --jobs $(JOBS)
	$(BIN)/synod sim --engine paxos --nodes 3 --seeds 1-200 --ticks 3000 --jobs $(JOBS)

test: check unit sweep

# Long sweeps, on fresh seeds: Raft over 3, 5 and 7 nodes (2,100 seeds) and over the real
# write-ahead log with disk faults (2,000); Multi-Paxos over 3 and 5 nodes (1,400) and over
# the write-ahead log (1,000); then ten-minute chaos runs on real 5-member clusters of each
# engine, every fault type, register and bank workloads (docs/chaos.md).
soak: setup
	$(BIN)/synod sim --engine raft --nodes 3 --seeds 1001-2000 --ticks 6000 --jobs $(JOBS)
	$(BIN)/synod sim --engine raft --nodes 5 --seeds 2001-2800 --ticks 6000 --jobs $(JOBS)
	$(BIN)/synod sim --engine raft --nodes 7 --seeds 3001-3300 --ticks 6000 --jobs $(JOBS)
	$(BIN)/synod sim --engine raft --nodes 3 --seeds 5001-6500 --ticks 4000 --disk wal --jobs $(JOBS)
	$(BIN)/synod sim --engine raft --nodes 5 --seeds 6501-7000 --ticks 4000 --disk wal --jobs $(JOBS)
	$(BIN)/synod sim --engine paxos --nodes 3 --seeds 1001-2000 --ticks 6000 --jobs $(JOBS)
	$(BIN)/synod sim --engine paxos --nodes 5 --seeds 2001-2400 --ticks 6000 --jobs $(JOBS)
	$(BIN)/synod sim --engine paxos --nodes 3 --seeds 5001-6000 --ticks 4000 --disk wal --jobs $(JOBS)
	$(BIN)/synod chaos --engine raft --nodes 5 --time 600 --workload register --seed 101 --out chaos-out/soak-raft-register
	$(BIN)/synod chaos --engine raft --nodes 5 --time 600 --workload bank --seed 102 --out chaos-out/soak-raft-bank
	$(BIN)/synod chaos --engine paxos --nodes 5 --time 600 --workload register --seed 201 --out chaos-out/soak-paxos-register
	$(BIN)/synod chaos --engine paxos --nodes 5 --time 600 --workload bank --seed 202 --out chaos-out/soak-paxos-bank

# Jepsen-style runs on real processes (docs/chaos.md): every fault type, each workload, then
# the same runner against a real etcd cluster. Reports land in chaos-out/<run>/report.html.
chaos: setup
	$(BIN)/synod chaos --nodes 5 --time 60 --workload register --seed 1 --out chaos-out/register
	$(BIN)/synod chaos --nodes 5 --time 60 --workload bank --seed 2 --out chaos-out/bank
	$(BIN)/synod chaos --target etcd --nodes 5 --time 60 --workload register --seed 3 --out chaos-out/etcd-register

bench: setup
	$(BIN)/python -m synod.cli.bench
	$(BIN)/python -m synod.storage.bench
	$(BIN)/python -m synod.cli.cluster_bench --write docs/benchmarks.md
	$(BIN)/python -m synod.cli.cluster_bench --engines raft,paxos --scale 0.5 --write docs/raft-vs-paxos.md

clean:
	rm -rf $(VENV) $(GEN_DIR) build dist .mypy_cache .pytest_cache .ruff_cache
