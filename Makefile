# Synod: every target sets up what it needs on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
JOBS   ?= 2

.PHONY: help setup run test check unit sweep soak bench clean

help:
	@echo "make run    simulated 5-node cluster under faults, with a readable summary"
	@echo "make test   every check and test (what CI runs)"
	@echo "make check  format, lint, types and import contracts"
	@echo "make soak   long seed sweeps (3, 5 and 7 nodes)"
	@echo "make bench  simulator, checker and write-ahead log benchmarks"

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/synod sim --engine raft --nodes 5 --seed 42 --ticks 3000 --verbose

check: $(STAMP)
	$(BIN)/ruff format --check src tests
	$(BIN)/ruff check src tests
	$(BIN)/mypy
	$(BIN)/lint-imports

unit: $(STAMP)
	$(BIN)/pytest -q

# The default sweep, part of `make test`: 400 seeds over 3 and 5 nodes with swarm faults,
# and 200 seeds whose nodes run the real write-ahead log on simulated disks with disk faults.
sweep: $(STAMP)
	$(BIN)/synod sim --engine raft --nodes 3 --seeds 1-250 --ticks 4000 --jobs $(JOBS)
	$(BIN)/synod sim --engine raft --nodes 5 --seeds 1-150 --ticks 4000 --jobs $(JOBS)
	$(BIN)/synod sim --engine raft --nodes 3 --seeds 1-200 --ticks 3000 --disk wal --jobs $(JOBS)

test: check unit sweep

# Long sweeps, on fresh seeds: 2,100 seeds over 3, 5 and 7 nodes.
soak: $(STAMP)
	$(BIN)/synod sim --engine raft --nodes 3 --seeds 1001-2000 --ticks 6000 --jobs $(JOBS)
	$(BIN)/synod sim --engine raft --nodes 5 --seeds 2001-2800 --ticks 6000 --jobs $(JOBS)
	$(BIN)/synod sim --engine raft --nodes 7 --seeds 3001-3300 --ticks 6000 --jobs $(JOBS)

bench: $(STAMP)
	$(BIN)/python -m synod.cli.bench
	$(BIN)/python -m synod.storage.bench

clean:
	rm -rf $(VENV) build dist .mypy_cache .pytest_cache .ruff_cache
